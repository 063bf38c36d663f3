//! A per-thread cache of host semaphores, so that a request to a host this thread
//! saw recently skips the host map's shard lock (two contended read-modify-writes)
//! and its hash.
//!
//! Requests keyed by the default key function are cached by their URI's scheme and
//! authority as written: the key is a function of those two alone, so a hit also
//! skips deriving the [`HostKey`] (splitting off the port, lowercasing), which cost
//! as much as the map lookup. Keys that come from a request context or a custom key
//! function are cached by the key itself.
//!
//! # Why a cached handle can never break the limit
//!
//! The cache holds **weak** handles, so it never keeps an entry from being evicted
//! (eviction requires the map's handle to be the only strong one). A hit upgrades
//! its handle and takes a permit with the semaphore's own compare-and-swap. Eviction
//! closes the semaphore with
//! [`close_if_idle`](crate::PrioritySemaphore::close_if_idle), a compare-and-swap on
//! the same word that succeeds only while every permit is free and nobody waits,
//! and removes the entry under the same shard lock. Both are read-modify-writes of
//! one atomic word, so one is ordered first: either the hit took its permit first
//! (the eviction then sees a permit held and keeps the entry), or the eviction came
//! first (the hit's acquisition fails on `CLOSED` and the request goes through the
//! map, where a new entry may be created). An evicted semaphore therefore never
//! admits a request once a second semaphore for its host can exist.
//!
//! A hit that finds no free permit also goes through the map: only requests that
//! took a permit use a cached handle, so waiters always hold a strong handle taken
//! under the shard lock, which eviction sees.
//!
//! # Bounds
//!
//! At most [`CAPACITY`] hosts per thread and kind of key; a cache is emptied when it
//! is full (simple, and a flood of new hosts misses anyway). A weak handle keeps only the
//! allocation of an evicted semaphore (a few hundred bytes), not its entry. One slot
//! per host: two limiters that share a host on one thread replace each other's slot
//! (correct, only slower).

use std::cell::RefCell;
use std::collections::HashMap;

use http::Uri;
use http::uri::Scheme;
use turbo_core::HostKey;

use crate::semaphore::{PrioritySemaphore, WeakSemaphore};

/// Hosts cached per thread: enough for a client talking to dozens of hosts at once.
pub(crate) const CAPACITY: usize = 128;

/// What a cached request is keyed by.
#[derive(Clone, Copy)]
pub(crate) enum CacheKey<'a> {
    /// The URI, whose scheme and authority determine the default key.
    Uri(&'a Uri),
    /// A key from the request context or a custom key function.
    Host(&'a HostKey),
}

/// A semaphore cached for limiter `limiter`.
struct Slot {
    limiter: u64,
    semaphore: WeakSemaphore,
}

/// A semaphore cached by URI authority, for the URI's exact scheme.
struct UriSlot {
    scheme: Scheme,
    slot: Slot,
}

type Hasher = foldhash::fast::RandomState;

/// The cache of one thread.
struct HostCache {
    by_host: HashMap<HostKey, Slot, Hasher>,
    by_authority: HashMap<Box<str>, UriSlot, Hasher>,
    /// Calls seen by this thread, to pace idle sweeps; kept here so that counting
    /// shares the cache's thread-local access.
    calls: u64,
}

std::thread_local! {
    static CACHE: RefCell<HostCache> = RefCell::new(HostCache {
        by_host: HashMap::with_hasher(Hasher::default()),
        by_authority: HashMap::with_hasher(Hasher::default()),
        calls: 0,
    });
}

/// What [`lookup`] found.
pub(crate) struct Lookup {
    /// The cached semaphore of `key` for this limiter, if any and still alive.
    pub(crate) semaphore: Option<PrioritySemaphore>,
    /// Whether this call is the thread's `EVERY`-th: time to consider a sweep.
    pub(crate) sweep_turn: bool,
}

impl Slot {
    fn upgrade(&self, limiter: u64) -> Option<PrioritySemaphore> {
        if self.limiter == limiter {
            self.semaphore.upgrade()
        } else {
            None
        }
    }
}

/// Counts a call of limiter `limiter` and looks up `key`.
///
/// `EVERY` is a constant so that the sweep pacing compiles to a mask: as a
/// run-time argument it was a 64-bit division on every request (no gain showed
/// in the bench, since only a predicted branch waits on it, but it is work for
/// nothing).
pub(crate) fn lookup<const EVERY: u64>(limiter: u64, key: CacheKey<'_>) -> Lookup {
    CACHE
        .try_with(|cache| {
            let mut cache = cache.borrow_mut();
            cache.calls = cache.calls.wrapping_add(1);
            let sweep_turn = cache.calls % EVERY == 0;
            let semaphore = match key {
                CacheKey::Host(key) => cache.by_host.get(key).and_then(|s| s.upgrade(limiter)),
                CacheKey::Uri(uri) => uri
                    .authority()
                    .and_then(|authority| cache.by_authority.get(authority.as_str()))
                    .filter(|s| uri.scheme() == Some(&s.scheme))
                    .and_then(|s| s.slot.upgrade(limiter)),
            };
            Lookup {
                semaphore,
                sweep_turn,
            }
        })
        // The thread is exiting and its cache is gone: look up in the map.
        .unwrap_or(Lookup {
            semaphore: None,
            sweep_turn: false,
        })
}

/// Remembers `semaphore` as `key`'s for limiter `limiter` on this thread.
pub(crate) fn remember(limiter: u64, key: CacheKey<'_>, semaphore: &PrioritySemaphore) {
    let slot = Slot {
        limiter,
        semaphore: semaphore.downgrade(),
    };
    let _ = CACHE.try_with(|cache| {
        let mut cache = cache.borrow_mut();
        match key {
            CacheKey::Host(key) => insert_bounded(&mut cache.by_host, key, HostKey::clone, slot),
            CacheKey::Uri(uri) => {
                if let (Some(authority), Some(scheme)) = (uri.authority(), uri.scheme()) {
                    let slot = UriSlot {
                        scheme: scheme.clone(),
                        slot,
                    };
                    insert_bounded(
                        &mut cache.by_authority,
                        authority.as_str(),
                        |a: &str| Box::from(a),
                        slot,
                    );
                }
            }
        }
    });
}

/// Inserts or replaces `key`'s slot, first emptying a full map; `owned` makes
/// the map's copy of a new key.
fn insert_bounded<K, Q, V>(
    map: &mut HashMap<K, V, Hasher>,
    key: &Q,
    owned: impl FnOnce(&Q) -> K,
    value: V,
) where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if let Some(slot) = map.get_mut(key) {
        *slot = value;
        return;
    }
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(owned(key), value);
}
