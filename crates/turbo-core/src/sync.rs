//! Synchronization primitives, swapped for loom's models under `--cfg turbo_loom`,
//! so that `tests/loom.rs` checks the pool's in-flight count, idle wake-up and
//! close protocols exactly as they ship.

#[cfg(not(turbo_loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

#[cfg(turbo_loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

/// Locks `mutex`, ignoring poisoning: no critical section in this crate runs user
/// code or can leave the state half-updated.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Placed between a `SeqCst` write and a `SeqCst` read of another location, in
/// the flag-then-check protocols (`idle` against a release, close against a
/// release), where one of two threads must see the other's write.
///
/// A no-op in a normal build: `SeqCst` accesses are already in one total order
/// that every thread agrees on, which is what those protocols need (and on x86
/// the locked add or swap before it is a full barrier anyway). Loom models
/// `SeqCst` accesses as only acquire/release (its documentation lists this as a
/// source of false alarms) but models `SeqCst` fences fully, so under loom this
/// is a fence, which restores exactly the ordering the normal build has.
#[inline(always)]
pub(crate) fn seq_cst_between() {
    #[cfg(turbo_loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}

/// Spins this many times before yielding the thread.
#[cfg(not(turbo_loom))]
const SPINS_BEFORE_YIELD: u32 = 64;

/// One round of waiting for a lock held a few stores long: spin briefly, then
/// yield so that a holder that was preempted gets the core back.
#[cfg(not(turbo_loom))]
pub(crate) fn wait_a_little(spins: &mut u32) {
    if *spins < SPINS_BEFORE_YIELD {
        *spins += 1;
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Under loom every failed attempt yields: loom only lets another thread run at
/// a yield, and a spin loop without one never ends.
#[cfg(turbo_loom)]
pub(crate) fn wait_a_little(_spins: &mut u32) {
    loom::thread::yield_now();
}

/// A small number that stays the same for the calling thread, handed out in the
/// order threads first ask: threads started together get different numbers, so
/// per-thread shards indexed by it are written by one thread each.
#[cfg(not(turbo_loom))]
pub(crate) fn thread_index() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::thread_local! {
        static INDEX: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    }
    INDEX.with(|index| index_or_next(index, &NEXT))
}

/// Under loom the numbers restart with every explored execution (loom's own
/// thread-local and static), so that each replay is deterministic.
#[cfg(turbo_loom)]
pub(crate) fn thread_index() -> usize {
    loom::lazy_static! {
        static ref NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    }
    loom::thread_local! {
        static INDEX: std::cell::Cell<Option<usize>> = std::cell::Cell::new(None);
    }
    INDEX.with(|index| index_or_next(index, &NEXT))
}

/// The thread's number, or the next free one, remembered, on its first call.
fn index_or_next(
    index: &std::cell::Cell<Option<usize>>,
    next: &std::sync::atomic::AtomicUsize,
) -> usize {
    match index.get() {
        Some(known) => known,
        None => {
            // Only uniqueness matters, not order with other memory.
            let fresh = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            index.set(Some(fresh));
            fresh
        }
    }
}

/// Nothing in a normal build. Under loom, a tracked allocation that loom reports
/// as leaked at the end of an execution: embedded in the pool and in each
/// context, it makes a reference cycle that keeps either alive fail the model.
#[cfg(not(turbo_loom))]
pub(crate) struct LeakProbe;

#[cfg(turbo_loom)]
pub(crate) struct LeakProbe(#[allow(dead_code)] loom::sync::Arc<()>);

impl LeakProbe {
    pub(crate) fn new() -> Self {
        #[cfg(not(turbo_loom))]
        let probe = Self;
        #[cfg(turbo_loom)]
        let probe = Self(loom::sync::Arc::new(()));
        probe
    }
}
