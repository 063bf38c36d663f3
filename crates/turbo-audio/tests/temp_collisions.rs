//! Zero collisions: 10,000 concurrent creates across 64 tasks.

mod temp_support;

use std::collections::HashSet;

use temp_support::{session_files, shard_files};
use turbo_audio::temp::TempFileManager;

const TASKS: usize = 64;
const FILES: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_creates_never_collide_and_all_are_cleaned_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manager = TempFileManager::builder()
        .root(dir.path())
        .build()
        .expect("build");
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let manager = manager.clone();
        // Spread FILES over TASKS with the remainder on the first tasks.
        let count = FILES / TASKS + usize::from(task < FILES % TASKS);
        tasks.push(tokio::spawn(async move {
            let mut files = Vec::with_capacity(count);
            for _ in 0..count {
                let file = manager
                    .create(Some("mp3"), &format!("task-{task}"))
                    .await
                    .expect("create");
                files.push(file);
            }
            files
        }));
    }
    let mut files = Vec::with_capacity(FILES);
    for task in tasks {
        files.extend(task.await.expect("task"));
    }
    assert_eq!(files.len(), FILES);
    let names: HashSet<_> = files.iter().map(|file| file.path().to_path_buf()).collect();
    assert_eq!(names.len(), FILES, "every name distinct");
    let on_disk: HashSet<_> = shard_files(manager.root()).into_iter().collect();
    assert_eq!(on_disk, names, "every file present, nothing else");
    assert_eq!(manager.metrics().active_files, FILES);

    drop(files);
    manager.drain_deletions().await;
    assert!(shard_files(manager.root()).is_empty(), "root emptied");
    let metrics = manager.metrics();
    assert_eq!(
        (metrics.created, metrics.deleted),
        (FILES as u64, FILES as u64)
    );
    assert_eq!((metrics.active_files, metrics.failures), (0, 0));
    // Only this session's lock file is left in the root.
    assert_eq!(session_files(manager.root()).len(), 1);
}
