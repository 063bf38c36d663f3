//! Under a parallel create/write/delete churn, the file I/O in flight never
//! exceeds the configured limit.

mod temp_support;

use std::time::Duration;

use temp_support::{FaultFs, shard_files};
use turbo_audio::temp::TempFileManager;

const LIMIT: usize = 3;
const TASKS: usize = 32;
const ROUNDS: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn churn_never_exceeds_the_io_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = FaultFs::new();
    // Each I/O call lasts a little, so calls overlap whenever the limit allows.
    fs.set_delay(Duration::from_millis(1));
    let manager = TempFileManager::builder()
        .root(dir.path())
        .io_limit(LIMIT)
        .fs(fs.clone())
        .build()
        .expect("build");
    let chunk = vec![0xA5u8; 16 * 1024];
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let manager = manager.clone();
        let chunk = chunk.clone();
        tasks.push(tokio::spawn(async move {
            let mut most_queued = 0;
            for _ in 0..ROUNDS {
                let mut file = manager
                    .create(Some("wav"), &format!("churn-{task}"))
                    .await
                    .expect("create");
                file.write(&chunk).await.expect("write");
                file.write(&chunk).await.expect("write");
                file.finish().await.expect("finish");
                let metrics = manager.metrics();
                assert!(metrics.io_in_flight <= LIMIT, "{metrics:?}");
                most_queued = most_queued.max(metrics.io_queue_depth);
                drop(file);
            }
            most_queued
        }));
    }
    let mut most_queued = 0;
    for task in tasks {
        most_queued = most_queued.max(task.await.expect("task"));
    }
    manager.drain_deletions().await;

    // Observed independently, inside the file system, not by the limiter.
    assert!(
        fs.max_in_flight() <= LIMIT,
        "{} in flight",
        fs.max_in_flight()
    );
    // The churn did saturate the limit, so the bound was actually exercised.
    assert_eq!(fs.max_in_flight(), LIMIT);
    assert!(most_queued > 0, "32 tasks against 3 permits must queue");
    let metrics = manager.metrics();
    assert!(metrics.io_in_flight_peak <= LIMIT, "{metrics:?}");
    let total = (TASKS * ROUNDS) as u64;
    assert_eq!((metrics.created, metrics.deleted), (total, total));
    assert_eq!((metrics.io_in_flight, metrics.io_queue_depth), (0, 0));
    assert!(shard_files(manager.root()).is_empty());
}
