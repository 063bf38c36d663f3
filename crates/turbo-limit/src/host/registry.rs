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

use crate::host::cache::{self, CacheKey};
use crate::semaphore::{PriorityPermit, PrioritySemaphore, SemaphoreStats, StopMode};

/// Derives the key a request is limited under from its URI.
pub type KeyFn = Arc<dyn Fn(&Uri) -> Result<HostKey, HostKeyError> + Send + Sync>;

/// Sweeps for idle hosts are considered every this many calls (per thread), and run
/// when the idle time has passed: reading the clock on every call would cost more
/// than the sweep. Calls are counted in the thread's host cache (a shared counter
/// would be one more contended read-modify-write per request).
const SWEEP_EVERY_CALLS: u64 = 256;

/// Tells limiters apart in the per-thread host cache (an address could be reused
/// by a later limiter).
static NEXT_LIMITER_ID: AtomicU64 = AtomicU64::new(0);

/// The host map's hasher: host keys are short, and SipHash was about 5 % of a
/// request. foldhash's per-map random seed keeps collisions unpredictable, and the
/// map never holds more than `max_hosts` entries.
type MapHasher = foldhash::fast::RandomState;

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
    id: u64,
    config: HostLimitConfig,
    /// One semaphore per host. Whether a host was used since the previous sweep is
    /// a mark in its semaphore's word, set by every acquisition.
    hosts: DashMap<HostKey, PrioritySemaphore, MapHasher>,
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
                id: NEXT_LIMITER_ID.fetch_add(1, Ordering::Relaxed),
                config,
                hosts: DashMap::with_hasher(MapHasher::default()),
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

    /// The fast path of a call: a permit from the semaphore this thread cached for
    /// `key`, if it has one, the semaphore is still live (not evicted) and a permit
    /// is free. `None` means "go through [`semaphore`](Self::semaphore)", which
    /// also reports a shutdown. Counts the call for the idle sweeps.
    pub(crate) fn cached_permit(&self, key: CacheKey<'_>) -> Option<PriorityPermit> {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::SeqCst) {
            return None;
        }
        let found = cache::lookup::<SWEEP_EVERY_CALLS>(shared.id, key);
        if found.sweep_turn {
            self.sweep_if_due();
        }
        // An evicted semaphore is closed, so this fails and the request is looked
        // up again (see the cache module for why that ordering is airtight).
        found.semaphore?.try_acquire_owned().ok()
    }

    /// A handle to the semaphore of `key`'s entry, created if needed, and
    /// remembered in this thread's cache under `cache_key` (which `key` was derived
    /// from). The handle keeps the entry from being evicted until it and every
    /// permit and wait made from it are gone.
    pub(crate) fn semaphore(
        &self,
        key: &HostKey,
        cache_key: CacheKey<'_>,
    ) -> Result<PrioritySemaphore, EntryError> {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::SeqCst) {
            return Err(EntryError::Closed);
        }
        if let Some(entry) = shared.hosts.get(key) {
            let semaphore = entry.value().clone();
            drop(entry);
            cache::remember(shared.id, cache_key, &semaphore);
            return Ok(semaphore);
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
            .or_insert_with(|| PrioritySemaphore::without_admission_count(limit))
            .clone();
        // A shutdown that began after the check above may have missed this entry
        // while closing the others; close it here so it cannot admit anyone.
        if shared.closed.load(Ordering::SeqCst) {
            semaphore.close(StopMode::CancelPending);
            return Err(EntryError::Closed);
        }
        cache::remember(shared.id, cache_key, &semaphore);
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
    /// "Nobody holds" takes two checks, both under the shard's write lock:
    /// - the map's handle is the only strong reference: a request that went
    ///   through the map holds a handle cloned under the read lock from lookup
    ///   until its permit is released or its wait ends, so it is always seen;
    /// - [`close_if_idle`](PrioritySemaphore::close_if_idle) succeeds: a request
    ///   that took its permit from a per-thread cache (a weak handle upgraded
    ///   without the lock, which the first check may miss) is ordered by the
    ///   semaphore word itself. The evicted semaphore is left closed, so a cached
    ///   handle to it can never admit anyone once a new entry for the host exists.
    ///
    /// Entries closed by a shutdown are dropped once nobody holds them.
    fn evict(&self, force: bool) {
        let mut evicted = 0;
        self.shared.hosts.retain(|_, semaphore| {
            if !semaphore.is_unshared() {
                // In use: its acquisitions left the mark, so it survives the
                // next sweep too.
                return true;
            }
            if !force && semaphore.take_used_mark() {
                return true;
            }
            if semaphore.is_closed() || semaphore.close_if_idle() {
                evicted += 1;
                return false;
            }
            true
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
                let stats: SemaphoreStats = item.value().stats();
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
                let semaphore = item.value().clone();
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
