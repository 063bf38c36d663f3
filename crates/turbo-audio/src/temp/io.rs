//! The I/O concurrency limit: every write, sync and delete takes a permit and
//! runs on Tokio's blocking pool, so a flood of downloads queues here instead
//! of thrashing the directory.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use super::error::{TempError, TempOp};

/// Counts and bounds file I/O.
#[derive(Debug)]
pub(crate) struct IoLimit {
    /// The runtime the manager was built in: blocking calls go to its pool even
    /// when the caller's future is polled by another executor (a game thread's
    /// `block_on`), where `tokio::task::spawn_blocking` would panic.
    runtime: Handle,
    permits: Arc<Semaphore>,
    /// One of the `limit` permits, kept for the deletion drainer when the limit
    /// is 2 or more: behind a flood of creates, deletions would otherwise wait
    /// their turn while finished files pile up on disk. The total stays `limit`.
    drain_permit: Option<Arc<Semaphore>>,
    counters: Arc<IoCounters>,
}

#[derive(Debug, Default)]
pub(crate) struct IoCounters {
    /// Operations waiting for a permit.
    pub(crate) queued: AtomicUsize,
    /// Operations holding a permit (running or about to run).
    pub(crate) in_flight: AtomicUsize,
    /// The most ever in flight at once.
    pub(crate) peak: AtomicUsize,
}

/// Decrements a counter when dropped, so a cancelled wait or a finished
/// blocking task always gives its count back.
struct CountGuard<'a>(&'a AtomicUsize);

impl Drop for CountGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One in-flight operation; gives its count back when dropped, which happens
/// when the blocking closure finishes or is dropped unrun at shutdown.
struct InFlight(Arc<IoCounters>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl IoLimit {
    pub(crate) fn new(limit: usize, runtime: Handle) -> Self {
        Self {
            runtime,
            permits: Arc::new(Semaphore::new(if limit >= 2 { limit - 1 } else { limit })),
            drain_permit: (limit >= 2).then(|| Arc::new(Semaphore::new(1))),
            counters: Arc::default(),
        }
    }

    pub(crate) fn counters(&self) -> &IoCounters {
        &self.counters
    }

    /// Runs `work` on the blocking pool once a permit is free.
    ///
    /// The permit and the in-flight count move into the blocking closure: if
    /// the caller's future is dropped mid-way, the work still finishes and only
    /// then releases its permit, so the limit holds for real I/O, not futures.
    pub(crate) async fn run<T, F>(&self, op: TempOp, path: &Path, work: F) -> Result<T, TempError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.run_with(&self.permits, op, path, work).await
    }

    /// The permits the deletion drainer runs on: its reserved one, or the shared
    /// ones when the limit is 1.
    pub(crate) fn drain_permits(&self) -> &Arc<Semaphore> {
        self.drain_permit.as_ref().unwrap_or(&self.permits)
    }

    /// [`run`](Self::run) on `permits` (see [`drain_permits`](Self::drain_permits)).
    pub(crate) async fn run_with<T, F>(
        &self,
        permits: &Arc<Semaphore>,
        op: TempOp,
        path: &Path,
        work: F,
    ) -> Result<T, TempError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = {
            self.counters.queued.fetch_add(1, Ordering::Relaxed);
            let _queued = CountGuard(&self.counters.queued);
            Arc::clone(permits)
                .acquire_owned()
                .await
                .map_err(|_| TempError::Worker {
                    op,
                    path: path.to_path_buf(),
                })?
        };
        let now = self.counters.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.counters.peak.fetch_max(now, Ordering::Relaxed);
        let in_flight = InFlight(Arc::clone(&self.counters));
        let task = self.runtime.spawn_blocking(move || {
            // Dropped after `work`, in reverse order: count first, then permit,
            // so the count never shows more than the permits allow.
            let _permit = permit;
            let _in_flight = in_flight;
            work()
        });
        task.await.map_err(|_| TempError::Worker {
            op,
            path: path.to_path_buf(),
        })
    }
}
