//! [`InFlight`]: how many contexts a pool has leased, counted without a shared
//! cache line.
//!
//! One counter that every lease increments and every release decrements is a
//! cache line that both cores write on every request: with two worker threads the
//! line moves between them twice a request, which cost more than the rest of the
//! layer's bookkeeping together (`docs/benchmarks.md`, "core"). Instead each
//! thread counts its rents and releases in its own shard, and a reader sums them.
//!
//! Both counts only grow, and a context's release always comes after its rent
//! (the lease carries it from one to the other). A reader that sums every
//! shard's releases first and every shard's rents afterwards therefore gets at
//! most the releases and at least the rents of the instant between the two
//! passes; when the two sums are equal, nothing was leased at that instant. That
//! is exact enough for `ContextPool::idle` and the close protocol, where "no
//! lease is out" must never be reported while one is.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering, thread_index};

/// The most shards a pool keeps: enough for one per core on large machines; more
/// threads than shards share them (each update is still one atomic add).
const MAX_SHARDS: usize = 64;

/// One thread's counts; each sits in a [`CachePadded`], alone on its cache lines
/// (128 bytes on x86_64, which fetches lines in adjacent pairs, and on aarch64).
#[derive(Default)]
struct Shard {
    rents: AtomicU64,
    releases: AtomicU64,
}

/// Rents and releases of a pool's contexts, sharded by thread.
pub(crate) struct InFlight {
    shards: Box<[CachePadded<Shard>]>,
}

impl InFlight {
    /// Counters with a shard per available core (a power of two, at most
    /// [`MAX_SHARDS`]).
    pub(crate) fn new() -> Self {
        #[cfg(not(turbo_loom))]
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        // Two shards are enough for loom to see rents and releases land on
        // different ones; more would only multiply the interleavings.
        #[cfg(turbo_loom)]
        let cores: usize = 2;
        let count = cores.next_power_of_two().min(MAX_SHARDS);
        Self {
            shards: (0..count).map(|_| CachePadded::default()).collect(),
        }
    }

    fn shard(&self) -> &Shard {
        // The length is a power of two: the mask keeps the index in range.
        &self.shards[thread_index() & (self.shards.len() - 1)]
    }

    /// Counts a context leased. `SeqCst` (free on x86, where every atomic add is
    /// a full barrier) so that every reader below sees the counts in one order.
    pub(crate) fn rent(&self) {
        self.shard().rents.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a context returned. `SeqCst`: the caller then checks whether
    /// someone waits for idle or the pool closed, and the waiter or the closer
    /// writes its flag and then reads these counts; one of the two sees the other.
    pub(crate) fn release(&self) {
        self.shard().releases.fetch_add(1, Ordering::SeqCst);
    }

    /// Contexts leased at an instant during the call: exact when no lease starts
    /// or ends meanwhile, 0 only if there was such an instant with none leased.
    pub(crate) fn leased(&self) -> u64 {
        // Releases first, then rents: see the module docs for why this order
        // can never show 0 while a lease is out.
        let releases = self.sum(|shard| &shard.releases);
        let rents = self.sum(|shard| &shard.rents);
        rents.wrapping_sub(releases)
    }

    fn sum(&self, counter: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| counter(shard).load(Ordering::SeqCst))
            .fold(0, u64::wrapping_add)
    }
}

#[cfg(all(test, not(turbo_loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_across_threads() {
        let counts = InFlight::new();
        assert_eq!(counts.leased(), 0);
        counts.rent();
        counts.rent();
        // A lease released on another thread lands in another shard.
        std::thread::scope(|scope| {
            scope.spawn(|| counts.release());
        });
        assert_eq!(counts.leased(), 1);
        counts.release();
        assert_eq!(counts.leased(), 0);
    }

    #[test]
    fn shards_do_not_share_a_cache_line() {
        let counts = InFlight::new();
        // At least a 64-byte line apart everywhere, 128 bytes where lines are
        // fetched in pairs.
        let line = if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            128
        } else {
            64
        };
        assert!(std::mem::align_of::<CachePadded<Shard>>() >= line);
        if let [first, second, ..] = &counts.shards[..] {
            let gap = (second as *const CachePadded<Shard> as usize)
                - (first as *const CachePadded<Shard> as usize);
            assert!(gap >= line, "shards {gap} bytes apart");
        }
    }
}
