//! [`Lock`]: the lock around a request context and a snapshot cell.

use turbo_pool::{TryLock, TryLockGuard};

use crate::sync::wait_a_little;

/// A lock for data held a few stores long and rarely contended: a request's
/// context is touched by its own request's layers, one after another, and only by
/// chance by a stale handle at the same moment.
///
/// It is turbo-pool's loom-checked [`TryLock`] (one atomic swap to take, a plain
/// store to release) with a wait loop: a request takes three such locks, and
/// `std::sync::Mutex` would pay one more read-modify-write on each release. A
/// waiter spins briefly, then yields, so a holder that was preempted gets the core
/// back.
pub(crate) struct Lock<T>(TryLock<T>);

impl<T> Lock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(TryLock::new(value))
    }

    /// Waits until the lock is free, then takes it.
    pub(crate) fn lock(&self) -> TryLockGuard<'_, T> {
        let mut spins = 0;
        loop {
            if let Some(guard) = self.0.try_lock() {
                return guard;
            }
            wait_a_little(&mut spins);
        }
    }
}

#[cfg(all(test, not(turbo_loom)))]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn waiters_take_turns() {
        let counter = Arc::new(Lock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        // A read then a write under one guard: lost updates would
                        // show if two holders overlapped.
                        let mut guard = counter.lock();
                        let seen = *guard;
                        *guard = seen + 1;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(*counter.lock(), 40_000);
    }
}
