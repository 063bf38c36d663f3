//! [`HostLimiter`]: one priority semaphore per host, bounded in number.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use http::Uri;
use turbo_core::{HostKey, HostKeyError};

use crate::semaphore::{PrioritySemaphore, SemaphoreStats, StopMode};

/// Derives the key a request is limited under from its URI.
pub type KeyFn = Arc<dyn Fn(&Uri) -> Result<HostKey, HostKeyError> + Send + Sync>;

/// Sweeps for idle hosts are considered every this many calls (per thread), and run
/// when the idle time has passed: reading the clock on every call would cost more
/// than the sweep.
const SWEEP_EVERY_CALLS: u64 = 256;

std::thread_local! {
    /// Calls seen by this thread: a shared counter would be one more contended
    /// read-modify-write per request.
    static CALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts a call; true on every `SWEEP_EVERY_CALLS`-th call of this thread.
fn count_call_is_sweep_turn() -> bool {
    CALLS.with(|calls| {
        let n = calls.get().wrapping_add(1);
        calls.set(n);
        n % SWEEP_EVERY_CALLS == 0
    })
}

/// One tracked host.
struct HostEntry {
    semaphore: PrioritySemaphore,
    /// Set on every use, cleared by each sweep: an entry that is still clear at
    /// the next sweep and that nobody holds has been idle for a whole sweep period.
    used: AtomicBool,
}

/// The settings of a [`HostLimiter`].
#[derive(Clone)]
pub(crate) struct HostLimitConfig {
    pub(crate) default_limit: usize,
    pub(crate) overrides: HashMap<HostKey, usize>,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_hosts: usize,
    pub(crate) key_fn: Option<KeyFn>,
}

/// The shared state of a [`HostConcurrencyLimitLayer`](crate::HostConcurrencyLimitLayer):
/// its hosts, their semaphores, and the controls to inspect and shut them down.
///
/// Cloning is cheap and shares the state.
#[derive(Clone)]
pub struct HostLimiter {
    shared: Arc<Shared>,
}

struct Shared {
    config: HostLimitConfig,
    hosts: DashMap<HostKey, HostEntry>,
    closed: AtomicBool,
    started: Instant,
    last_sweep_ms: AtomicU64,
    evictions: AtomicU64,
    rejected_hosts: AtomicU64,
}

/// One host in a [`HostLimitStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostStats {
    /// The host.
    pub host: HostKey,
    /// Its limit.
    pub limit: usize,
    /// Requests holding a permit now.
    pub in_flight: usize,
    /// Requests waiting now.
    pub waiting: usize,
    /// Requests that had to wait, since the entry was created.
    pub total_waits: u64,
}

/// A snapshot of a [`HostLimiter`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HostLimitStats {
    /// Tracked hosts, busiest first.
    pub hosts: Vec<HostStats>,
    /// Entries removed because they were idle.
    pub evictions: u64,
    /// Requests refused with `TooManyHosts`.
    pub rejected_hosts: u64,
    /// Whether the limiter is shut down.
    pub closed: bool,
}

impl HostLimitStats {
    /// Requests holding a permit, over all hosts.
    pub fn in_flight(&self) -> usize {
        self.hosts.iter().map(|h| h.in_flight).sum()
    }

    /// Requests waiting, over all hosts.
    pub fn waiting(&self) -> usize {
        self.hosts.iter().map(|h| h.waiting).sum()
    }
}

/// Why a request could not get a host entry.
pub(crate) enum EntryError {
    Closed,
    TooManyHosts(usize),
}

impl HostLimiter {
    pub(crate) fn new(config: HostLimitConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                hosts: DashMap::new(),
                closed: AtomicBool::new(false),
                started: Instant::now(),
                last_sweep_ms: AtomicU64::new(0),
                evictions: AtomicU64::new(0),
                rejected_hosts: AtomicU64::new(0),
            }),
        }
    }

    /// The key for `uri`: the custom key function's, or scheme + host + port.
    pub(crate) fn key_for(&self, uri: &Uri) -> Result<HostKey, HostKeyError> {
        match &self.shared.config.key_fn {
            Some(key_fn) => key_fn(uri),
            None => HostKey::from_uri(uri),
        }
    }

    pub(crate) fn has_key_fn(&self) -> bool {
        self.shared.config.key_fn.is_some()
    }

    /// A handle to the semaphore of `key`'s entry, created if needed. The handle
    /// keeps the entry from being evicted until it and every permit and wait made
    /// from it are gone.
    pub(crate) fn semaphore(&self, key: &HostKey) -> Result<PrioritySemaphore, EntryError> {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::SeqCst) {
            return Err(EntryError::Closed);
        }
        if count_call_is_sweep_turn() {
            self.sweep_if_due();
        }
        if let Some(entry) = shared.hosts.get(key) {
            // Read first: writing the flag on every call would bounce the entry's
            // cache line between cores for nothing.
            if !entry.used.load(Ordering::Relaxed) {
                entry.used.store(true, Ordering::Relaxed);
            }
            return Ok(entry.semaphore.clone());
        }
        self.sweep_if_due();
        if shared.hosts.len() >= shared.config.max_hosts {
            // At the cap, idle hosts go first, whatever their age.
            self.evict(true);
            if shared.hosts.len() >= shared.config.max_hosts {
                shared.rejected_hosts.fetch_add(1, Ordering::Relaxed);
                return Err(EntryError::TooManyHosts(shared.config.max_hosts));
            }
        }
        let limit = shared
            .config
            .overrides
            .get(key)
            .copied()
            .unwrap_or(shared.config.default_limit);
        let semaphore = shared
            .hosts
            .entry(key.clone())
            .or_insert_with(|| HostEntry {
                semaphore: PrioritySemaphore::without_admission_count(limit),
                used: AtomicBool::new(true),
            })
            .semaphore
            .clone();
        // A shutdown that began after the check above may have missed this entry
        // while closing the others; close it here so it cannot admit anyone.
        if shared.closed.load(Ordering::SeqCst) {
            semaphore.close(StopMode::CancelPending);
            return Err(EntryError::Closed);
        }
        Ok(semaphore)
    }

    fn sweep_if_due(&self) {
        let shared = &*self.shared;
        let now_ms = shared.started.elapsed().as_millis() as u64;
        let last = shared.last_sweep_ms.load(Ordering::Relaxed);
        let period = shared.config.idle_timeout.as_millis() as u64;
        if now_ms.saturating_sub(last) >= period
            && shared
                .last_sweep_ms
                .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.evict(false);
        }
    }

    /// Removes idle entries: with `force`, every entry nobody holds; otherwise
    /// those that also went unused since the previous sweep.
    ///
    /// "Nobody holds" means the map's semaphore handle is its only reference,
    /// checked under the shard's write lock: every request holds a reference from
    /// lookup (a handle cloned under the read lock) until its permit is released,
    /// so an entry seen unshared cannot be in use or about to be.
    fn evict(&self, force: bool) {
        let mut evicted = 0;
        self.shared.hosts.retain(|_, entry| {
            if !entry.semaphore.is_unshared() {
                entry.used.store(true, Ordering::Relaxed);
                return true;
            }
            let used = entry.used.swap(false, Ordering::Relaxed);
            let keep = used && !force;
            if !keep {
                evicted += 1;
            }
            keep
        });
        self.shared.evictions.fetch_add(evicted, Ordering::Relaxed);
    }

    /// Runs an idle sweep now: entries nobody holds that went unused since the
    /// previous sweep are removed. Sweeps also run on their own every idle-timeout
    /// period, driven by calls; this is for callers with their own timer.
    pub fn sweep(&self) {
        self.evict(false);
    }

    /// Hosts tracked now.
    pub fn tracked_hosts(&self) -> usize {
        self.shared.hosts.len()
    }

    /// A snapshot of every host.
    pub fn stats(&self) -> HostLimitStats {
        let mut hosts: Vec<HostStats> = self
            .shared
            .hosts
            .iter()
            .map(|item| {
                let stats: SemaphoreStats = item.value().semaphore.stats();
                HostStats {
                    host: item.key().clone(),
                    limit: stats.permits,
                    in_flight: stats.in_use,
                    waiting: stats.total_waiting(),
                    total_waits: stats.waited,
                }
            })
            .collect();
        hosts.sort_by_key(|h| std::cmp::Reverse(h.in_flight + h.waiting));
        HostLimitStats {
            hosts,
            evictions: self.shared.evictions.load(Ordering::Relaxed),
            rejected_hosts: self.shared.rejected_hosts.load(Ordering::Relaxed),
            closed: self.shared.closed.load(Ordering::SeqCst),
        }
    }

    /// Whether [`shutdown`](Self::shutdown) has been called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Stops new requests (they fail with [`LimitError::Closed`](crate::LimitError::Closed)),
    /// then with [`StopMode::Drain`] lets waiting requests run, or with
    /// [`StopMode::CancelPending`] fails them with
    /// [`LimitError::QueueStopped`](crate::LimitError::QueueStopped); completes when no
    /// request holds a permit or waits. Idempotent, and safe to race with new calls.
    ///
    /// Permits outlive the map: a request that finishes after its host entry was
    /// removed releases into its own semaphore, never into a torn-down map.
    pub fn shutdown(&self, mode: StopMode) -> impl Future<Output = ()> + Send + 'static {
        self.shared.closed.store(true, Ordering::SeqCst);
        let idle: Vec<_> = self
            .shared
            .hosts
            .iter()
            .map(|item| {
                let semaphore = item.value().semaphore.clone();
                semaphore.close(mode);
                semaphore.idle()
            })
            .collect();
        async move {
            for wait in idle {
                wait.await;
            }
        }
    }
}

impl fmt::Debug for HostLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostLimiter")
            .field("tracked_hosts", &self.tracked_hosts())
            .field("default_limit", &self.shared.config.default_limit)
            .field("max_hosts", &self.shared.config.max_hosts)
            .field("closed", &self.is_closed())
            .finish()
    }
}
