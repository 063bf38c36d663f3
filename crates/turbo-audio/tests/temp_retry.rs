//! The deletion queue: bounded retries with growing delays, and failures that
//! are reported without failing the request that owned the file.

mod temp_support;

use std::time::Duration;

use temp_support::{Call, Captured, FaultFs, current_thread};
use turbo_audio::temp::{TempFileManager, TempFileState};

const EBUSY: i32 = 16;
const EACCES: i32 = 13;

/// The `delay_ms` fields of the captured retry events, in order.
fn delays(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|line| line.split("delay_ms=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter_map(|value| value.parse().ok())
        .collect()
}

#[test]
fn a_delete_that_fails_three_times_is_retried_with_growing_delays_and_succeeds() {
    let runtime = current_thread();
    let captured = Captured::default();
    let _guard = captured.install();
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = FaultFs::new();
        let manager = TempFileManager::builder()
            .root(dir.path())
            .fs(fs.clone())
            .delete_retries(5)
            .retry_backoff(Duration::from_millis(5), Duration::from_millis(500))
            .build()
            .expect("build");
        let mut file = manager.create(Some("mp3"), "req-1").await.expect("create");
        file.write(b"audio").await.expect("write");
        let path = file.path().to_path_buf();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        fs.fail(Call::Remove, &name, EBUSY, Some(3));
        drop(file);
        // While the retries wait, the lag is visible.
        tokio::task::yield_now().await;
        let metrics = manager.metrics();
        assert_eq!(metrics.pending_deletions, 1);
        assert!(metrics.oldest_pending_deletion.is_some(), "{metrics:?}");
        let listed = manager.files();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].state, TempFileState::PendingDeletion);
        assert_eq!((listed[0].owner.as_str(), listed[0].size), ("req-1", 5));
        manager.drain_deletions().await;

        assert!(!path.exists());
        let attempts = fs.removes().iter().filter(|p| **p == path).count();
        assert_eq!(attempts, 4, "three failures then success");
        let metrics = manager.metrics();
        assert_eq!(
            (metrics.retries, metrics.failures, metrics.deleted),
            (3, 0, 1)
        );
        assert_eq!(metrics.active_files, 0);
    });
    let log = captured.text();
    assert_eq!(delays(&log), [5, 10, 20], "{log}");
    assert!(log.contains("WARN"), "{log}");
    assert!(
        log.contains("op=\"remove\"") || log.contains("op=remove"),
        "{log}"
    );
    assert!(log.contains("attempt=3"), "{log}");
    assert!(!log.contains("gave up"), "{log}");
}

#[test]
fn a_delete_that_always_fails_stops_at_the_bound_and_is_reported() {
    let runtime = current_thread();
    let captured = Captured::default();
    let _guard = captured.install();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = runtime.block_on(async {
        let fs = FaultFs::new();
        let manager = TempFileManager::builder()
            .root(dir.path())
            .fs(fs.clone())
            .delete_retries(4)
            .retry_backoff(Duration::from_millis(2), Duration::from_millis(4))
            .build()
            .expect("build");
        // The "request": download, finish, hand the result on. It succeeds
        // whatever the cleanup does later.
        let request = async {
            let mut file = manager.create(Some("ogg"), "req-2").await?;
            file.write(b"audio").await?;
            let size = file.finish().await?;
            let path = file.path().to_path_buf();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            fs.fail(Call::Remove, &name, EACCES, None);
            Ok::<_, turbo_audio::temp::TempError>((size, path))
        };
        let (size, path) = request.await.expect("the request succeeded");
        assert_eq!(size, 5);
        manager.drain_deletions().await;

        let attempts = fs.removes().iter().filter(|p| **p == path).count();
        assert_eq!(attempts, 5, "first attempt plus four retries, then stop");
        let metrics = manager.metrics();
        assert_eq!(
            (metrics.retries, metrics.failures, metrics.deleted),
            (4, 1, 0)
        );
        assert_eq!(metrics.pending_deletions, 0);
        assert!(path.exists(), "left for the next startup sweep");
        path
    });
    let log = captured.text();
    assert_eq!(delays(&log), [2, 4, 4, 4], "capped: {log}");
    assert!(log.contains("gave up"), "{log}");
    assert!(log.contains("attempt=5"), "{log}");
    assert!(log.contains("PermissionDenied"), "{log}");
    assert!(log.contains(&path.display().to_string()), "{log}");

    // The next startup sweep removes what the queue could not (the session
    // ended, so its lock file is gone).
    runtime.block_on(async {
        let next = TempFileManager::builder()
            .root(dir.path())
            .build()
            .expect("build");
        assert!(!path.exists());
        assert_eq!(next.metrics().swept_files, 1);
    });
}
