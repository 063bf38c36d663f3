//! Synchronization primitives, swapped for loom's models under `--cfg turbo_loom`.
//!
//! Every lock and atomic of the pools comes from here, so the loom
//! models in `tests/loom.rs` exercise exactly the code that ships.

#[cfg(not(turbo_loom))]
pub(crate) use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
};

#[cfg(turbo_loom)]
pub(crate) use loom::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
};

/// Locks `mutex`, ignoring poisoning.
///
/// No critical section in this crate runs user code, so a poisoned lock can only
/// come from an allocation failure inside `Vec::push`; the protected state is
/// still consistent in that case.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
