//! Cancelled creates: a `create` future dropped at any poll leaves no file and no
//! registry entry once `drain_deletions` resolves, even when its blocking step was
//! already running. Cancelled writes: the bytes a running write puts on disk are
//! counted even though its caller went away.

mod temp_support;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use temp_support::shard_files;
use turbo_audio::temp::TempFileManager;

/// Polls `future` `polls` times (yielding to the runtime in between) and drops it;
/// returns whether it finished first.
async fn poll_then_drop<F: Future>(future: F, polls: usize) -> bool {
    let mut future = pin!(future);
    for _ in 0..polls {
        let ready = future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready();
        if ready {
            return true;
        }
        tokio::task::yield_now().await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_dropped_at_every_poll_leave_nothing_after_a_drain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manager = TempFileManager::builder()
        .root(dir.path())
        .io_limit(2)
        .build()
        .expect("build");
    let mut cancelled = 0;
    for round in 0..200 {
        // 64 creates at once so some wait for an I/O permit and some are inside
        // the blocking create when they are dropped.
        let mut tasks = Vec::new();
        for task in 0..64usize {
            let manager = manager.clone();
            let polls = (round + task) % 6;
            tasks.push(tokio::spawn(async move {
                poll_then_drop(manager.create(Some("ogg"), "cancel"), polls).await
            }));
        }
        for task in tasks {
            if !task.await.expect("task") {
                cancelled += 1;
            }
        }
    }
    assert!(
        cancelled > 0,
        "some creates were dropped before they finished"
    );
    manager.drain_deletions().await;
    assert_eq!(
        shard_files(manager.root()),
        Vec::<std::path::PathBuf>::new()
    );
    let metrics = manager.metrics();
    assert_eq!(metrics.active_files, 0, "{metrics:?}");
    assert_eq!(metrics.created, metrics.deleted, "{metrics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dropped_while_running_still_counts_its_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manager = TempFileManager::builder()
        .root(dir.path())
        .build()
        .expect("build");
    // Large enough that the write is usually still running when the poll loop
    // below sees it in flight; a round where it finished first is tried again.
    let chunk = vec![7u8; 16 << 20];
    let mut caught = 0;
    for _ in 0..20 {
        let mut file = manager.create(Some("ogg"), "cancel").await.expect("create");
        let finished = {
            let mut write = pin!(file.write(&chunk));
            loop {
                if write
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                    .is_ready()
                {
                    break true;
                }
                if manager.metrics().io_in_flight > 0 {
                    break false;
                }
                tokio::task::yield_now().await;
            }
            // The write future is dropped here, mid-write when `!finished`.
        };
        while manager.metrics().io_in_flight > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let on_disk = std::fs::metadata(file.path()).expect("metadata").len();
        let metrics = manager.metrics();
        assert_eq!(metrics.bytes_on_disk, on_disk, "{metrics:?}");
        if !finished {
            caught += 1;
        }
        drop(file);
        manager.drain_deletions().await;
        assert_eq!(manager.metrics().bytes_on_disk, 0);
    }
    assert!(caught > 0, "no write was dropped while it ran");
}
