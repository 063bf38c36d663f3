//! The deletion queue: dropped temp files are removed in the background, with
//! bounded retries and capped exponential backoff.
//!
//! A deletion that still fails after the bound is reported (a WARN event and
//! the `failures` counter) and the file is left for the next startup sweep; it
//! is never an error for the request that owned the file, which has already
//! succeeded.

use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::Notify;
use tracing::warn;

use super::error::TempOp;
use super::manager::Shared;
use super::metrics::Stats;
use super::registry::{FileMeta, TempFileState};

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
}

impl Pending {
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    pub(crate) fn oldest(&self) -> Option<Duration> {
        self.since.iter().map(|entry| entry.value().elapsed()).max()
    }

    /// Resolves once nothing is pending.
    pub(crate) async fn drained(&self) {
        loop {
            let mut notified = pin!(self.drained.notified());
            // Registered before the check, so a wake-up between the check and
            // the await is not lost.
            notified.as_mut().enable();
            if self.len() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Marks one deletion finished when dropped: after the last attempt, or when
/// the runtime shuts down and drops the task unfinished (the file is then left
/// for the next startup sweep).
struct PendingGuard {
    shared: Arc<Shared>,
    meta: Arc<FileMeta>,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.registry.remove(self.meta.id);
        shared
            .stats
            .bytes_on_disk
            .fetch_sub(self.meta.size(), Ordering::Relaxed);
        shared.pending.since.remove(&self.meta.id);
        if shared.pending.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.pending.drained.notify_waiters();
        }
    }
}

/// Schedules the deletion of a dropped temp file. Never blocks: the work runs
/// on the manager's runtime.
pub(crate) fn schedule(shared: &Arc<Shared>, meta: Arc<FileMeta>) {
    meta.set_state(TempFileState::PendingDeletion);
    shared.pending.since.insert(meta.id, Instant::now());
    shared.pending.count.fetch_add(1, Ordering::AcqRel);
    let guard = PendingGuard {
        shared: Arc::clone(shared),
        meta,
    };
    // If the runtime is shutting down the task is dropped unrun, which drops
    // the guard: the deletion is given up, not leaked in the counts.
    drop(shared.runtime.spawn(delete(guard)));
}

async fn delete(guard: PendingGuard) {
    let shared = &guard.shared;
    let path = &guard.meta.path;
    let policy = shared.retry;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let fs = Arc::clone(&shared.fs);
        let target = path.clone();
        let result = shared
            .io
            .run(TempOp::Remove, path, move || fs.remove_file(&target))
            .await;
        let error = match result {
            // Already gone counts as deleted: the goal is that it is gone.
            Ok(Ok(())) => None,
            Ok(Err(error)) if error.kind() == io::ErrorKind::NotFound => None,
            Ok(Err(error)) => Some(error),
            Err(worker) => Some(io::Error::other(worker.to_string())),
        };
        let Some(error) = error else {
            Stats::bump(&shared.stats.deleted);
            return;
        };
        if attempt > policy.retries {
            Stats::bump(&shared.stats.failures);
            warn!(
                path = %path.display(),
                op = "remove",
                error_kind = ?error.kind(),
                error = %error,
                attempt,
                owner = %guard.meta.owner,
                "temp-file deletion gave up; left for the next startup sweep"
            );
            return;
        }
        Stats::bump(&shared.stats.retries);
        let delay = policy.delay(attempt);
        warn!(
            path = %path.display(),
            op = "remove",
            error_kind = ?error.kind(),
            error = %error,
            attempt,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "temp-file deletion failed; will retry"
        );
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
