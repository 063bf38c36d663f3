//! [`TryLock`]: the smallest lock the object pool needs, also offered to callers
//! whose critical sections are a few stores long (turbo-core's request contexts).
//!
//! A slot of the pool is only ever *tried*: a taker that finds it busy moves on to
//! the next slot instead of waiting. That lets the lock be one flag: taking it is a
//! single atomic swap and releasing it a plain release store, half the atomic
//! read-modify-writes of a general mutex, which must detect sleeping waiters on
//! unlock. `tests/loom.rs` checks the protocol under every interleaving, with loom's
//! `UnsafeCell` reporting any access made without the lock.

use std::ops::{Deref, DerefMut};

use crate::sync::{AtomicBool, Ordering};

#[cfg(turbo_loom)]
use loom::cell::{MutPtr, UnsafeCell};

/// `std::cell::UnsafeCell` with loom's access-tracking API.
#[cfg(not(turbo_loom))]
struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(turbo_loom))]
impl<T> UnsafeCell<T> {
    fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    fn get_mut(&self) -> MutPtr<T> {
        MutPtr(self.0.get())
    }
}

/// A raw pointer into an [`UnsafeCell`]; loom's version tracks the access.
#[cfg(not(turbo_loom))]
struct MutPtr<T>(*mut T);

#[cfg(not(turbo_loom))]
impl<T> MutPtr<T> {
    /// # Safety
    ///
    /// The caller must have exclusive access to the cell while the borrow lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn deref(&self) -> &mut T {
        // SAFETY: guaranteed by the caller.
        unsafe { &mut *self.0 }
    }

    /// Calls `f` with the raw pointer, as loom's `MutPtr::with` does.
    fn with<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0)
    }
}

/// A value behind a flag that at most one [`TryLockGuard`] holds at a time.
///
/// Taking it is one atomic swap and releasing it a plain store, where a general
/// mutex pays a second read-modify-write on unlock to find sleeping waiters. It
/// never waits: a caller that must have the value retries (and should yield), so
/// it suits data held for a few instructions and rarely contended.
///
/// ```
/// use turbo_pool::TryLock;
///
/// let lock = TryLock::new(Vec::new());
/// let mut guard = lock.try_lock().expect("nobody holds it");
/// guard.push(1);
/// assert!(lock.try_lock().is_none(), "held until the guard drops");
/// drop(guard);
/// assert_eq!(*lock.try_lock().expect("free again"), [1]);
/// ```
pub struct TryLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one guard at a time (the flag is
// taken with an acquire swap and released with a release store), so sharing the
// lock across threads only ever moves `T` between them: `T: Send` is enough.
unsafe impl<T: Send> Send for TryLock<T> {}
// SAFETY: as above; no `&T` is ever shared between two threads at once.
unsafe impl<T: Send> Sync for TryLock<T> {}

impl<T> TryLock<T> {
    /// A free lock around `value`.
    pub fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock if it is free, without waiting.
    pub fn try_lock(&self) -> Option<TryLockGuard<'_, T>> {
        // Read before swapping, so that scanning past busy slots does not pull
        // their cache lines into exclusive state; a stale `true` only skips a slot.
        // Loom mis-orders a read-modify-write that follows a relaxed load of the
        // same atomic (tokio-rs/loom#282), so its models run the plain swap.
        #[cfg(not(turbo_loom))]
        if self.locked.load(Ordering::Relaxed) {
            return None;
        }
        #[cfg(not(turbo_loom))]
        if self.locked.swap(true, Ordering::Acquire) {
            return None;
        }
        // A failed swap rewrites the `true` it read, right after the write it
        // read in the modification order, so it cannot outlast the holder's
        // unlock. Loom orders a store only after what its own thread has seen and
        // can place that rewrite after the unlock, then show the lock held for
        // ever (a later try_lock of the holder itself fails). A failed
        // compare-exchange writes nothing: the same outcome, without the
        // false alarm.
        #[cfg(turbo_loom)]
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        Some(TryLockGuard {
            lock: self,
            value: Some(self.value.get_mut()),
        })
    }
}

/// Exclusive access to a [`TryLock`]'s value; releases the lock on drop.
pub struct TryLockGuard<'a, T> {
    lock: &'a TryLock<T>,
    /// Always `Some` until drop; dropped before the flag is released, so loom sees
    /// the access end before another thread can start one.
    value: Option<MutPtr<T>>,
}

impl<T> TryLockGuard<'_, T> {
    fn ptr(&self) -> &MutPtr<T> {
        match &self.value {
            Some(ptr) => ptr,
            None => unreachable!("the pointer is only taken in drop"),
        }
    }
}

impl<T> Deref for TryLockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock, so no other guard can reach the
        // value; `&self` means no `&mut` from `deref_mut` is live, so the only
        // other borrows are shared ones from this guard; the borrow is made
        // through a `*const T` (never a `&mut T`) and cannot outlive the guard.
        unsafe { &*self.ptr().with(|ptr| ptr.cast_const()) }
    }
}

impl<T> DerefMut for TryLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, so no other guard can reach the
        // value, and `&mut self` makes this the only borrow made through the
        // guard; the returned borrow cannot outlive the guard.
        unsafe { self.ptr().deref() }
    }
}

impl<'a, T> TryLockGuard<'a, T> {
    /// Keeps the lock but gives up access to the value, for a holder that must be
    /// `Send`/`Sync` (the guard's pointer is neither) and only needs the value
    /// again to release it: [`Lease::into_guard`] turns it back.
    pub(crate) fn into_lease(mut self) -> Lease<'a, T> {
        let lock = self.lock;
        // End the access (loom tracks it) but not the lock: forgetting the guard
        // skips its release store; it owns nothing else that needs dropping.
        self.value = None;
        std::mem::forget(self);
        Lease { lock }
    }
}

/// A held [`TryLock`] without access to its value: one flag's worth of
/// ownership, safe to move and share across threads because it holds no pointer
/// into the value. Releases the lock on drop.
pub(crate) struct Lease<'a, T> {
    lock: &'a TryLock<T>,
}

impl<'a, T> Lease<'a, T> {
    /// Access to the value again, still under the same lock.
    pub(crate) fn into_guard(self) -> TryLockGuard<'a, T> {
        let lock = self.lock;
        std::mem::forget(self);
        TryLockGuard {
            lock,
            value: Some(lock.value.get_mut()),
        }
    }
}

impl<T> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

impl<T> Drop for TryLockGuard<'_, T> {
    fn drop(&mut self) {
        // Under loom, dropping the pointer ends its tracked access; it must end
        // before the flag lets another holder in.
        self.value = None;
        self.lock.locked.store(false, Ordering::Release);
    }
}

impl<T> std::fmt::Debug for TryLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The value is not shown: reading it would need the lock.
        f.debug_struct("TryLock")
            .field("locked", &self.locked.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for TryLockGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, turbo_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    #[test]
    fn one_holder_at_a_time() {
        loom::model(|| {
            let lock = Arc::new(TryLock::new(0u32));
            let other = Arc::clone(&lock);
            let t = loom::thread::spawn(move || {
                for _ in 0..2 {
                    if let Some(mut guard) = other.try_lock() {
                        *guard += 1;
                    }
                }
            });
            for _ in 0..2 {
                if let Some(mut guard) = lock.try_lock() {
                    *guard += 1;
                }
            }
            t.join().unwrap();
        });
    }

    #[test]
    fn a_lease_keeps_the_lock_until_turned_back() {
        loom::model(|| {
            let lock = Arc::new(TryLock::new(0u32));
            let mut guard = lock.try_lock().unwrap();
            *guard += 1;
            let lease = guard.into_lease();
            assert!(lock.try_lock().is_none(), "a lease holds the lock");
            let other = Arc::clone(&lock);
            let t = loom::thread::spawn(move || {
                // Gets in only after the lease is turned back into a guard
                // and released: never while the lease holds the flag.
                if let Some(mut guard) = other.try_lock() {
                    *guard += 10;
                }
            });
            // Loom's `UnsafeCell` reports the other thread's write if it ever
            // overlaps this access: the lease must keep it out until here.
            let mut guard = lease.into_guard();
            *guard += 1;
            drop(guard);
            t.join().unwrap();
            // No try_lock after the join: loom can give a swap after a join a
            // value older than the release store it must see (tokio-rs/loom#389,
            // #282), which fails the lock for no reason in the model.
        });
    }

    #[test]
    fn one_holder_at_a_time_three_threads() {
        loom::model(|| {
            let lock = Arc::new(TryLock::new(0u32));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let other = Arc::clone(&lock);
                    loom::thread::spawn(move || {
                        if let Some(mut guard) = other.try_lock() {
                            *guard += 1;
                        }
                    })
                })
                .collect();
            if let Some(mut guard) = lock.try_lock() {
                *guard += 1;
            }
            for t in threads {
                t.join().unwrap();
            }
        });
    }
}

#[cfg(all(test, not(turbo_loom)))]
mod tests {
    use super::*;

    #[test]
    fn two_shared_borrows_of_one_guard_read_the_value() {
        // Two live `&T` from one guard: under Miri this fails if `deref` goes
        // through a `&mut T` (each shared borrow would alias a unique one).
        let lock = TryLock::new(vec![1, 2]);
        let mut guard = lock.try_lock().expect("free");
        guard.push(3);
        let first: &Vec<i32> = &guard;
        let second: &Vec<i32> = &guard;
        assert_eq!(first, &[1, 2, 3]);
        assert_eq!(second.len(), 3);
        assert_eq!(first, second);
    }
}
