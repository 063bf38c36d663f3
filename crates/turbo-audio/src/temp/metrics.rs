//! Counters and the metrics snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A point-in-time view of a [`TempFileManager`](super::TempFileManager).
///
/// Counters (`created`, `deleted`, ...) only grow; gauges (`active_files`,
/// `io_in_flight`, ...) are the value at the moment of the snapshot. Fields are
/// read one at a time, so under load they need not add up exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TempMetrics {
    /// Registered temp files (created, not yet deleted or kept).
    pub active_files: usize,
    /// Bytes written to the registered temp files.
    pub bytes_on_disk: u64,
    /// I/O operations waiting for a slot of the I/O limit.
    pub io_queue_depth: usize,
    /// I/O operations running in a slot of the I/O limit.
    pub io_in_flight: usize,
    /// The most I/O operations ever in flight at once; never above the limit.
    pub io_in_flight_peak: usize,
    /// Temp files created.
    pub created: u64,
    /// Temp files deleted by the deletion queue (including ones already gone).
    pub deleted: u64,
    /// Temp files kept with [`TempFile::keep`](super::TempFile::keep).
    pub kept: u64,
    /// Deletion attempts that failed and were scheduled again.
    pub retries: u64,
    /// Deletions given up after the retry bound; the files are left for the
    /// next startup sweep.
    pub failures: u64,
    /// Deletions scheduled and not yet finished or given up.
    pub pending_deletions: usize,
    /// How long the oldest pending deletion has waited: the cleanup lag.
    pub oldest_pending_deletion: Option<Duration>,
    /// Sweeps run (the startup sweep and every [`sweep`](super::TempFileManager::sweep)).
    pub sweeps: u64,
    /// Files and symlinks the sweeps removed.
    pub swept_files: u64,
    /// Problems the sweeps reported (and skipped).
    pub sweep_errors: u64,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Temp files of ended sessions removed.
    pub removed_files: u64,
    /// Symlinks found in the shards or the sessions directory and removed
    /// (the link, never its target).
    pub removed_symlinks: u64,
    /// Lock files of ended sessions removed.
    pub removed_sessions: u64,
    /// Temp files left because their session is alive.
    pub live_files: u64,
    /// Entries that are not the manager's (foreign names, directories) and
    /// were left alone.
    pub skipped: u64,
    /// Steps that failed (permissions, vanished paths); each was logged at WARN
    /// and skipped.
    pub errors: u64,
}

/// The manager's counters, updated with relaxed atomics.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) created: AtomicU64,
    pub(crate) deleted: AtomicU64,
    pub(crate) kept: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) bytes_on_disk: AtomicU64,
    pub(crate) sweeps: AtomicU64,
    pub(crate) swept_files: AtomicU64,
    pub(crate) sweep_errors: AtomicU64,
}

impl Stats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_sweep(&self, report: &SweepReport) {
        Self::bump(&self.sweeps);
        self.swept_files.fetch_add(
            report.removed_files + report.removed_symlinks,
            Ordering::Relaxed,
        );
        self.sweep_errors
            .fetch_add(report.errors, Ordering::Relaxed);
    }
}
