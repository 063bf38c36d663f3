//! Synchronization primitives, swapped for loom's models under `--cfg turbo_loom`,
//! so that `tests/loom.rs` checks the semaphore protocol exactly as it ships.

#[cfg(not(turbo_loom))]
pub(crate) use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

#[cfg(turbo_loom)]
pub(crate) use loom::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

/// Locks `mutex`, ignoring poisoning: no critical section in this crate runs user
/// code or can leave the state half-updated.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
