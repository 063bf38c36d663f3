//! The deletion queue: dropped temp files are removed in the background, in
//! batches, with bounded retries and capped exponential backoff.
//!
//! A drop pushes the file onto a queue and, if no drainer is running, spawns
//! one. The drainer takes up to [`BATCH`] files at a time and removes them in
//! one blocking call under one I/O permit, so a flood of drops costs one trip
//! to the blocking pool per batch rather than per file. A file whose removal
//! fails leaves the batch for a retry task of its own, which sleeps the backoff
//! delay between attempts.
//!
//! A deletion that still fails after the bound is reported (a WARN event and
//! the `failures` counter) and the file is left for the next startup sweep; it
//! is never an error for the request that owned the file, which has already
//! succeeded.

use std::io;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::Notify;
use tracing::warn;

use super::error::TempOp;
use super::manager::Shared;
use super::metrics::Stats;
use super::registry::{FileMeta, TempFileState};

/// Most files one drainer removes per blocking call.
const BATCH: usize = 64;

/// Most queued files a create removes in its own blocking call, before it makes
/// its file. Under churn the deletions then run in every I/O slot instead of the
/// drainer's one: measured at 64 tasks, the drainer alone fell behind (about 300
/// files pending on average) and the final drain ran on one core. Each create
/// removes more than the one file it will leave, so a backlog shrinks while
/// creates come; with none coming, the drainer does it all.
pub(crate) const PIGGYBACK: usize = 4;

/// Retry policy of the deletion queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Attempts after the first.
    pub(crate) retries: u32,
    pub(crate) base: Duration,
    pub(crate) cap: Duration,
}

impl RetryPolicy {
    /// The delay after failed attempt `attempt` (1-based): `base * 2^(attempt-1)`,
    /// at most `cap`.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }
}

/// Deletions scheduled and not yet finished.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    since: DashMap<u64, Instant>,
    count: AtomicUsize,
    drained: Notify,
    /// Files waiting for the drainer.
    queue: Mutex<Vec<Arc<FileMeta>>>,
    /// Whether a drainer task is running (or spawned).
    draining: AtomicBool,
    /// Creates whose blocking step has not finished: a create whose caller went
    /// away still makes its file and then schedules its deletion, so a drain
    /// waits for it too.
    creating: AtomicUsize,
}

/// Counts one create as in flight until dropped; see [`Pending::creating`].
pub(crate) struct CreateHold(Arc<Shared>);

impl CreateHold {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        shared.pending.creating.fetch_add(1, Ordering::AcqRel);
        CreateHold(Arc::clone(shared))
    }
}

impl Drop for CreateHold {
    fn drop(&mut self) {
        let pending = &self.0.pending;
        if pending.creating.fetch_sub(1, Ordering::SeqCst) == 1
            && pending.count.load(Ordering::SeqCst) == 0
        {
            pending.drained.notify_waiters();
        }
    }
}

impl Pending {
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    pub(crate) fn oldest(&self) -> Option<Duration> {
        self.since.iter().map(|entry| entry.value().elapsed()).max()
    }

    /// Resolves once nothing is pending and no create is still running.
    pub(crate) async fn drained(&self) {
        loop {
            let mut notified = pin!(self.drained.notified());
            // Registered before the check, so a wake-up between the check and
            // the await is not lost.
            notified.as_mut().enable();
            if self.len() == 0 && self.creating.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The queue; a panic while it was held cannot leave it inconsistent (it
    /// is only pushed to and drained), so poisoning is ignored.
    fn queue(&self) -> MutexGuard<'_, Vec<Arc<FileMeta>>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Ends one deletion, whatever its outcome: the file leaves the registry and
/// the pending counts.
fn settle(shared: &Shared, meta: &FileMeta) {
    shared.registry.remove(meta.id);
    shared
        .stats
        .bytes_on_disk
        .fetch_sub(meta.size(), Ordering::Relaxed);
    shared.pending.since.remove(&meta.id);
    // SeqCst here and in `CreateHold::drop`: each side writes its counter and
    // reads the other's, and only a total order guarantees one of them sees both
    // at zero and notifies.
    if shared.pending.count.fetch_sub(1, Ordering::SeqCst) == 1
        && shared.pending.creating.load(Ordering::SeqCst) == 0
    {
        shared.pending.drained.notify_waiters();
    }
}

/// Schedules the deletion of a dropped temp file. Never blocks: the work runs
/// on the manager's runtime.
pub(crate) fn schedule(shared: &Arc<Shared>, meta: Arc<FileMeta>) {
    meta.set_state(TempFileState::PendingDeletion);
    let pending = &shared.pending;
    pending.since.insert(meta.id, Instant::now());
    pending.count.fetch_add(1, Ordering::AcqRel);
    pending.queue().push(meta);
    if !pending.draining.swap(true, Ordering::AcqRel) {
        let drainer = Drainer {
            shared: Arc::clone(shared),
            batch: Vec::new(),
            finished: false,
        };
        // If the runtime is shutting down the task is dropped unrun, and the
        // drainer's drop gives the queued deletions up.
        drop(shared.runtime.spawn(drainer.run()));
    }
}

/// Removes up to `most` queued files on this thread, which is a blocking one
/// already inside the I/O limit: a create does this before its own file (see
/// [`PIGGYBACK`]). A removal that fails goes to the same retry path as one that
/// failed in the drainer's batch.
pub(crate) fn remove_some(shared: &Arc<Shared>, most: usize) {
    let taken: Vec<Arc<FileMeta>> = {
        let mut queue = shared.pending.queue();
        let take = queue.len().min(most);
        // The oldest first, as the drainer takes them.
        queue.drain(..take).collect()
    };
    for meta in taken {
        match failure(shared.fs.remove_file(&meta.path)) {
            None => {
                Stats::bump(&shared.stats.deleted);
                settle(shared, &meta);
            }
            Some(error) => failed(shared, meta, &error, 1),
        }
    }
}

/// The one task that empties the queue.
struct Drainer {
    shared: Arc<Shared>,
    batch: Vec<Arc<FileMeta>>,
    /// Set when the loop ends normally; otherwise the task was dropped by a
    /// runtime shutting down.
    finished: bool,
}

impl Drainer {
    async fn run(mut self) {
        loop {
            {
                let mut queue = self.shared.pending.queue();
                let take = queue.len().min(BATCH);
                self.batch.extend(queue.drain(..take));
            }
            if self.batch.is_empty() {
                let pending = &self.shared.pending;
                pending.draining.store(false, Ordering::Release);
                // A drop between the empty check and the store saw a drainer
                // running and spawned none: pick its file up here.
                if !pending.queue().is_empty() && !pending.draining.swap(true, Ordering::AcqRel) {
                    continue;
                }
                self.finished = true;
                return;
            }
            self.remove_batch().await;
        }
    }

    async fn remove_batch(&mut self) {
        let shared = Arc::clone(&self.shared);
        let paths: Vec<PathBuf> = self.batch.iter().map(|meta| meta.path.clone()).collect();
        let fs = Arc::clone(&shared.fs);
        let result = shared
            .io
            .run_with(
                shared.io.drain_lane(),
                TempOp::Remove,
                &shared.root,
                move || {
                    paths
                        .iter()
                        .map(|path| fs.remove_file(path))
                        .collect::<Vec<_>>()
                },
            )
            .await;
        match result {
            Ok(results) => {
                for (meta, result) in self.batch.drain(..).zip(results) {
                    match failure(result) {
                        None => {
                            Stats::bump(&shared.stats.deleted);
                            settle(&shared, &meta);
                        }
                        Some(error) => failed(&shared, meta, &error, 1),
                    }
                }
            }
            Err(worker) => {
                let error = io::Error::other(worker.to_string());
                for meta in self.batch.drain(..) {
                    failed(&shared, meta, &error, 1);
                }
            }
        }
    }
}

impl Drop for Drainer {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Dropped unfinished: the runtime is shutting down and nothing will
        // run these deletions; give them up, leaving the files for the sweep.
        // `draining` is cleared first: a file scheduled from now on starts a
        // drainer of its own instead of waiting for this one, and the loop takes
        // whatever was queued before, so nothing is left pending for ever.
        let shared = &self.shared;
        shared.pending.draining.store(false, Ordering::SeqCst);
        let mut abandoned = std::mem::take(&mut self.batch);
        loop {
            abandoned.append(&mut shared.pending.queue());
            if abandoned.is_empty() {
                break;
            }
            for meta in abandoned.drain(..) {
                settle(shared, &meta);
            }
        }
    }
}

/// `None` when the removal reached its goal (removed, or already gone).
fn failure(result: io::Result<()>) -> Option<io::Error> {
    match result {
        Ok(()) => None,
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => Some(error),
    }
}

/// Handles failed attempt `attempt` of removing `meta`: retries it later, or
/// gives it up after the bound.
fn failed(shared: &Arc<Shared>, meta: Arc<FileMeta>, error: &io::Error, attempt: u32) {
    let path = &meta.path;
    if attempt > shared.retry.retries {
        Stats::bump(&shared.stats.failures);
        warn!(
            path = %path.display(),
            op = "remove",
            error_kind = ?error.kind(),
            error = %error,
            attempt,
            owner = %meta.owner,
            "temp-file deletion gave up; left for the next startup sweep"
        );
        settle(shared, &meta);
        return;
    }
    Stats::bump(&shared.stats.retries);
    let delay = shared.retry.delay(attempt);
    warn!(
        path = %path.display(),
        op = "remove",
        error_kind = ?error.kind(),
        error = %error,
        attempt,
        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        "temp-file deletion failed; will retry"
    );
    let retry = Retry {
        shared: Arc::clone(shared),
        meta: Some(meta),
    };
    drop(shared.runtime.spawn(retry.run(attempt + 1, delay)));
}

/// One file's retries, after its first attempt in a batch failed.
struct Retry {
    shared: Arc<Shared>,
    /// Taken when the retry ends normally; still here if the runtime dropped
    /// the task, and then settled by the drop.
    meta: Option<Arc<FileMeta>>,
}

impl Retry {
    async fn run(mut self, attempt: u32, delay: Duration) {
        tokio::time::sleep(delay).await;
        let shared = Arc::clone(&self.shared);
        let Some(meta) = self.meta.clone() else {
            return;
        };
        let fs = Arc::clone(&shared.fs);
        let target = meta.path.clone();
        let result = shared
            .io
            .run(TempOp::Remove, &meta.path, move || fs.remove_file(&target))
            .await
            .unwrap_or_else(|worker| Err(io::Error::other(worker.to_string())));
        self.meta = None;
        match failure(result) {
            None => {
                Stats::bump(&shared.stats.deleted);
                settle(&shared, &meta);
            }
            Some(error) => failed(&shared, meta, &error, attempt),
        }
    }
}

impl Drop for Retry {
    fn drop(&mut self) {
        if let Some(meta) = self.meta.take() {
            settle(&self.shared, &meta);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{File, Metadata};
    use std::path::Path;

    use super::super::TempFileManager;
    use super::super::fs::{OsFs, TempFs};
    use super::*;

    /// [`OsFs`] whose first `failing` removals fail with `EACCES`.
    #[derive(Debug)]
    struct FlakyRemoves {
        failing: AtomicUsize,
        removes: AtomicUsize,
    }

    impl TempFs for FlakyRemoves {
        fn create_dir(&self, path: &Path) -> io::Result<()> {
            OsFs.create_dir(path)
        }
        fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata> {
            OsFs.symlink_metadata(path)
        }
        fn create_new(&self, path: &Path) -> io::Result<File> {
            OsFs.create_new(path)
        }
        fn write_all(&self, file: &mut File, path: &Path, buf: &[u8]) -> io::Result<()> {
            OsFs.write_all(file, path, buf)
        }
        fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
            OsFs.sync_data(file, path)
        }
        fn open_read(&self, path: &Path) -> io::Result<File> {
            OsFs.open_read(path)
        }
        fn remove_file(&self, path: &Path) -> io::Result<()> {
            self.removes.fetch_add(1, Ordering::SeqCst);
            let failing = self
                .failing
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    left.checked_sub(1)
                });
            if failing.is_ok() {
                return Err(io::Error::from_raw_os_error(13));
            }
            OsFs.remove_file(path)
        }
        fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
            OsFs.read_dir(path)
        }
        fn open_lock_file(&self, path: &Path, create_new: bool) -> io::Result<File> {
            OsFs.open_lock_file(path, create_new)
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            OsFs.rename(from, to)
        }
    }

    #[test]
    fn a_create_removes_queued_files_and_its_failures_are_retried() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = Arc::new(FlakyRemoves {
            failing: AtomicUsize::new(2),
            removes: AtomicUsize::new(0),
        });
        let manager = {
            let _enter = runtime.enter();
            TempFileManager::builder()
                .root(dir.path())
                .retry_backoff(Duration::from_millis(1), Duration::from_millis(4))
                .fs(Arc::clone(&fs) as Arc<dyn TempFs>)
                .build()
                .expect("build")
        };
        runtime.block_on(async {
            let pending = &manager.shared().pending;
            // As if a drainer were already scheduled: the drops below queue
            // their files and start none, so only the next create can take them.
            pending.draining.store(true, Ordering::SeqCst);
            let first = manager.create(Some("ogg"), "a").await.expect("first");
            let second = manager.create(Some("ogg"), "b").await.expect("second");
            let paths = [first.path().to_path_buf(), second.path().to_path_buf()];
            drop((first, second));
            assert_eq!(pending.len(), 2);
            assert_eq!(fs.removes.load(Ordering::SeqCst), 0);

            let third = manager.create(Some("ogg"), "c").await.expect("third");
            // Both queued files were tried inside the create's own blocking
            // call; both failed once and went to the retry path.
            assert_eq!(fs.removes.load(Ordering::SeqCst), 2);
            assert!(pending.queue().is_empty());
            let metrics = manager.metrics();
            assert_eq!((metrics.retries, metrics.deleted), (2, 0), "{metrics:?}");
            assert!(paths.iter().all(|path| path.exists()));

            pending.draining.store(false, Ordering::SeqCst);
            drop(third);
            manager.drain_deletions().await;
            assert!(paths.iter().all(|path| !path.exists()));
            let metrics = manager.metrics();
            assert_eq!(
                (metrics.deleted, metrics.retries, metrics.failures),
                (3, 2, 0),
                "{metrics:?}"
            );
            assert_eq!(metrics.active_files, 0, "{metrics:?}");
        });
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            retries: 40,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(100),
        };
        let delays: Vec<u128> = (1..=6).map(|a| policy.delay(a).as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 100, 100]);
        assert_eq!(policy.delay(40), Duration::from_millis(100));
    }
}
