//! Temp-file churn raced against `tempfile::NamedTempFile` in the same run.
//!
//! One operation is: create a temp file, write 64 KiB, delete it. Each case
//! runs it from 1, 8 or 64 concurrent Tokio tasks on one runtime; criterion
//! reports the time per operation, so a lower figure is more throughput.
//!
//! - `ours`: [`TempFileManager::create_with`] (create and write the 64 KiB in
//!   one blocking call, as the pipeline stores a download's first chunk), drop
//!   (the deletion queue removes it), with the default I/O limit (4) on; the
//!   measured time includes draining the deletions.
//! - `tempfile_named`: what an async program does without the manager: each
//!   operation in one `spawn_blocking` call, `NamedTempFile::new_in` + write +
//!   drop (which unlinks), unbounded, in one flat directory.
//!
//! Both use directories under the system temp directory.

// criterion's macros generate undocumented public items in this bench binary.
#![allow(missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use turbo_audio::temp::TempFileManager;

const CHUNK: usize = 64 * 1024;

/// Splits `iters` operations over `tasks` tasks, remainder on the first ones.
fn share(iters: u64, tasks: u64, task: u64) -> u64 {
    iters / tasks + u64::from(task < iters % tasks)
}

fn ours(runtime: &Runtime, manager: &TempFileManager, tasks: u64, iters: u64) -> Duration {
    runtime.block_on(async {
        let started = Instant::now();
        let mut handles = Vec::new();
        for task in 0..tasks {
            let manager = manager.clone();
            handles.push(tokio::spawn(async move {
                let chunk = bytes::Bytes::from(vec![0x5Au8; CHUNK]);
                for _ in 0..share(iters, tasks, task) {
                    let file = manager
                        .create_with(Some("mp3"), "bench", chunk.clone())
                        .await
                        .expect("create");
                    drop(file);
                }
            }));
        }
        for handle in handles {
            handle.await.expect("task");
        }
        manager.drain_deletions().await;
        started.elapsed()
    })
}

fn peer(runtime: &Runtime, dir: &Path, tasks: u64, iters: u64) -> Duration {
    let dir: Arc<PathBuf> = Arc::new(dir.to_path_buf());
    runtime.block_on(async {
        let started = Instant::now();
        let mut handles = Vec::new();
        for task in 0..tasks {
            let dir = Arc::clone(&dir);
            handles.push(tokio::spawn(async move {
                let chunk = Arc::new(vec![0x5Au8; CHUNK]);
                for _ in 0..share(iters, tasks, task) {
                    let dir = Arc::clone(&dir);
                    let chunk = Arc::clone(&chunk);
                    tokio::task::spawn_blocking(move || {
                        let mut file = tempfile::NamedTempFile::new_in(dir.as_path())?;
                        file.write_all(&chunk)?;
                        drop(file);
                        Ok::<_, std::io::Error>(())
                    })
                    .await
                    .expect("join")
                    .expect("named temp file");
                }
            }));
        }
        for handle in handles {
            handle.await.expect("task");
        }
        started.elapsed()
    })
}

fn churn(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ours_dir = tempfile::tempdir().expect("tempdir");
    let peer_dir = tempfile::tempdir().expect("tempdir");
    let manager = {
        let _enter = runtime.enter();
        TempFileManager::builder()
            .root(ours_dir.path())
            .build()
            .expect("manager")
    };
    for tasks in [1u64, 8, 64] {
        let mut group = c.benchmark_group(format!("tempfile_churn_{tasks}"));
        group.bench_function("ours", |b| {
            b.iter_custom(|iters| ours(&runtime, &manager, tasks, iters))
        });
        group.bench_function("tempfile_named", |b| {
            b.iter_custom(|iters| peer(&runtime, peer_dir.path(), tasks, iters))
        });
        group.finish();
    }
}

criterion_group!(benches, churn);
criterion_main!(benches);
