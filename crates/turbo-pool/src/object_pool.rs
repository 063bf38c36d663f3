//! [`ObjectPool`]: a bounded pool of reusable objects, reset before reuse.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::search::{OBJECT_HINT, bump, search_order};
use crate::sync::{Arc, AtomicBool, AtomicU64, Ordering};
use crate::try_lock::{TryLock, TryLockGuard};

/// Returns an object to a clean state before the pool hands it out again.
///
/// Implementations must clear everything a previous holder could have left behind:
/// collections, flags, identifiers, cached references. Keep allocations (for example
/// `Vec::clear` rather than a new `Vec`), since keeping them is the point of pooling.
pub trait Reset {
    /// Clears `self` for its next holder.
    fn reset(&mut self);
}

type Factory<T> = Box<dyn Fn() -> T + Send + Sync>;
type Resetter<T> = Box<dyn Fn(&mut T) + Send + Sync>;

/// A bounded, thread-safe pool of reusable objects.
///
/// The pool has `capacity` slots, each holding at most one idle object.
/// [`get`](Self::get) locks a free slot with a non-blocking `try_lock` and lends its
/// object in place; the guard resets the object and unlocks the slot when it drops.
/// When every slot is busy, `get` makes an extra object that is not in any slot; on
/// return it takes an empty slot if one is free and is dropped (and counted)
/// otherwise. So no interleaving can leave more than `capacity` idle objects, and an
/// object is always in exactly one place: its slot, guarded by that slot's lock, or
/// one guard.
///
/// Each slot sits on its own cache line and each thread starts its search at the
/// slot it used last, so threads that take and return objects at the same time do
/// not fight over one lock or one counter.
///
/// Cloning the pool is cheap and shares the same slots.
///
/// # Examples
///
/// ```
/// use turbo_pool::{ObjectPool, Reset};
///
/// #[derive(Default)]
/// struct Scratch {
///     lines: Vec<String>,
/// }
///
/// impl Reset for Scratch {
///     fn reset(&mut self) {
///         self.lines.clear();
///     }
/// }
///
/// let pool = ObjectPool::new(8, Scratch::default);
/// {
///     let mut scratch = pool.get();
///     scratch.lines.push("first tenant".to_owned());
/// } // back in the pool, reset
/// assert!(pool.get().lines.is_empty());
/// assert_eq!(pool.stats().reused, 1);
/// ```
pub struct ObjectPool<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    slots: Box<[Slot<T>]>,
    create: Factory<T>,
    reset: Resetter<T>,
    /// Objects made while every slot was busy.
    overflow_created: AtomicU64,
    discarded: AtomicU64,
    detached: AtomicU64,
    reset_panics: AtomicU64,
}

/// One place for an idle object, on its own cache line.
///
/// The counters are atomics so that `stats` and `len` can read them without taking
/// the lock (a guard may hold it for a long time), but only the lock holder writes
/// them, with a plain load and store: counting costs no read-modify-write.
#[repr(align(64))]
struct Slot<T> {
    state: TryLock<SlotState<T>>,
    /// Whether an object is idle here; written by the lock holder.
    idle: AtomicBool,
    created: AtomicU64,
    reused: AtomicU64,
    returned: AtomicU64,
}

struct SlotState<T> {
    value: Option<T>,
}

/// A snapshot of an [`ObjectPool`]'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolStats {
    /// The most idle objects the pool keeps.
    pub capacity: usize,
    /// Idle objects at the moment of the snapshot.
    pub idle: usize,
    /// Objects made by the factory because no idle object was free.
    pub created: u64,
    /// Hand-outs served by an idle object.
    pub reused: u64,
    /// Objects reset and kept on return.
    pub returned: u64,
    /// Objects dropped on return because no slot was free.
    pub discarded: u64,
    /// Objects taken out for good with `detach`.
    pub detached: u64,
    /// Returns whose reset step panicked; the object was dropped, not kept.
    pub reset_panics: u64,
}

impl<T: Reset + Send + 'static> ObjectPool<T> {
    /// Creates a pool that keeps at most `capacity` idle objects, makes new ones
    /// with `create`, and resets them with [`Reset::reset`].
    ///
    /// A capacity of zero is allowed: every object is then dropped on return.
    pub fn new(capacity: usize, create: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self::with_reset(capacity, create, T::reset)
    }
}

impl<T: Send + 'static> ObjectPool<T> {
    /// Creates a pool with an explicit reset step, for types that do not
    /// implement [`Reset`] or that need a different policy.
    ///
    /// The reset step must not panic; if it does, the object is dropped instead of
    /// kept and the panic is counted in [`PoolStats::reset_panics`].
    pub fn with_reset(
        capacity: usize,
        create: impl Fn() -> T + Send + Sync + 'static,
        reset: impl Fn(&mut T) + Send + Sync + 'static,
    ) -> Self {
        let slots = (0..capacity)
            .map(|_| Slot {
                state: TryLock::new(SlotState { value: None }),
                idle: AtomicBool::new(false),
                created: AtomicU64::new(0),
                reused: AtomicU64::new(0),
                returned: AtomicU64::new(0),
            })
            .collect();
        Self {
            shared: Arc::new(Shared {
                slots,
                create: Box::new(create),
                reset: Box::new(reset),
                overflow_created: AtomicU64::new(0),
                discarded: AtomicU64::new(0),
                detached: AtomicU64::new(0),
                reset_panics: AtomicU64::new(0),
            }),
        }
    }

    /// Takes an idle object, or creates one, behind a guard that borrows the pool.
    ///
    /// The object stays in its slot while lent, so this is the cheapest way to use
    /// the pool: one lock acquisition and one release.
    pub fn get(&self) -> Pooled<'_, T> {
        let shared = &*self.shared;
        let mut order = search_order(&OBJECT_HINT, shared.slots.len());
        while let Some(index) = order.next() {
            let slot = &shared.slots[index];
            let Some(mut state) = slot.state.try_lock() else {
                continue;
            };
            if state.value.is_some() {
                bump(&slot.reused);
            } else {
                bump(&slot.created);
                state.value = Some((shared.create)());
            }
            slot.idle.store(false, Ordering::Relaxed);
            order.remember(index);
            return Pooled {
                held: Some(Held::Slot { state, slot }),
                shared,
            };
        }
        Pooled {
            held: Some(Held::Overflow(shared.create_overflow())),
            shared,
        }
    }

    /// Takes an idle object, or creates one, behind a guard that owns a handle to
    /// the pool, so it can move across tasks and outlive this `ObjectPool` value.
    ///
    /// The object leaves its slot; on return it goes to whichever slot is empty
    /// then, or is dropped if none is.
    pub fn get_owned(&self) -> OwnedPooled<T> {
        OwnedPooled {
            value: Some(self.take()),
            shared: Arc::clone(&self.shared),
        }
    }

    /// Takes an idle object, or creates one, with no guard at all: the caller owns
    /// it and offers it back with [`put`](Self::put) (or drops it).
    ///
    /// For owners that already keep a handle to the pool elsewhere, this saves the
    /// reference count that [`get_owned`](Self::get_owned)'s guard holds: two atomic
    /// read-modify-writes per round trip.
    ///
    /// ```
    /// use turbo_pool::ObjectPool;
    ///
    /// let pool = ObjectPool::with_reset(2, Vec::<u8>::new, Vec::clear);
    /// let mut scratch = pool.take();
    /// scratch.extend_from_slice(b"request");
    /// pool.put(scratch); // reset, then kept
    /// assert!(pool.take().is_empty());
    /// assert_eq!(pool.stats().reused, 1);
    /// ```
    pub fn take(&self) -> T {
        let shared = &*self.shared;
        let mut order = search_order(&OBJECT_HINT, shared.slots.len());
        while let Some(index) = order.next() {
            let slot = &shared.slots[index];
            // Only slots that looked idle are worth locking here.
            if !slot.idle.load(Ordering::Relaxed) {
                continue;
            }
            let Some(mut state) = slot.state.try_lock() else {
                continue;
            };
            if let Some(value) = state.value.take() {
                bump(&slot.reused);
                slot.idle.store(false, Ordering::Relaxed);
                drop(state);
                order.remember(index);
                return value;
            }
        }
        shared.create_overflow()
    }

    /// Offers an object to the pool as if a guard had returned it: it is reset,
    /// then kept if an empty slot is free.
    pub fn put(&self, value: T) {
        self.shared.give_back(value);
    }

    /// The number of idle objects.
    ///
    /// Approximate: other threads may take or return objects at any moment, so the
    /// value can be stale as soon as it is read, and it is summed over the slots one
    /// after another. It never blocks and is safe to call from any thread, even one
    /// that holds a guard of this pool.
    pub fn len(&self) -> usize {
        self.shared
            .slots
            .iter()
            .filter(|slot| slot.idle.load(Ordering::Relaxed))
            .count()
    }

    /// Whether no object is idle; approximate in the same way as [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most idle objects this pool keeps.
    pub fn capacity(&self) -> usize {
        self.shared.slots.len()
    }

    /// A snapshot of the counters; approximate while other threads use the pool,
    /// exact once they are quiet. Never blocks.
    pub fn stats(&self) -> PoolStats {
        let shared = &*self.shared;
        let mut stats = PoolStats {
            capacity: shared.slots.len(),
            idle: self.len(),
            created: shared.overflow_created.load(Ordering::Relaxed),
            discarded: shared.discarded.load(Ordering::Relaxed),
            detached: shared.detached.load(Ordering::Relaxed),
            reset_panics: shared.reset_panics.load(Ordering::Relaxed),
            ..PoolStats::default()
        };
        for slot in shared.slots.iter() {
            stats.created += slot.created.load(Ordering::Relaxed);
            stats.reused += slot.reused.load(Ordering::Relaxed);
            stats.returned += slot.returned.load(Ordering::Relaxed);
        }
        stats
    }
}

impl<T> Clone for ObjectPool<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> fmt::Debug for ObjectPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectPool")
            .field("capacity", &self.shared.slots.len())
            .finish_non_exhaustive()
    }
}

impl<T> Shared<T> {
    fn create_overflow(&self) -> T {
        self.overflow_created.fetch_add(1, Ordering::Relaxed);
        (self.create)()
    }

    /// Runs the reset step, catching a panic so that a guard's drop never aborts.
    fn reset_value(&self, value: &mut T) -> bool {
        let ok = catch_unwind(AssertUnwindSafe(|| (self.reset)(value))).is_ok();
        if !ok {
            self.reset_panics.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Resets an object that has no slot and keeps it in an empty one, if any.
    fn give_back(&self, mut value: T) {
        if !self.reset_value(&mut value) {
            return;
        }
        for index in search_order(&OBJECT_HINT, self.slots.len()) {
            let slot = &self.slots[index];
            // A slot that looks idle holds an object: skip it without locking.
            if slot.idle.load(Ordering::Relaxed) {
                continue;
            }
            let Some(mut state) = slot.state.try_lock() else {
                continue;
            };
            if state.value.is_some() {
                continue;
            }
            state.value = Some(value);
            bump(&slot.returned);
            slot.idle.store(true, Ordering::Relaxed);
            return;
        }
        self.discarded.fetch_add(1, Ordering::Relaxed);
        // Dropped here, outside every lock: dropping may run user code.
    }
}

enum Held<'a, T> {
    /// Lent in place: the guard holds the slot's lock.
    Slot {
        state: TryLockGuard<'a, SlotState<T>>,
        slot: &'a Slot<T>,
    },
    /// Made while every slot was busy.
    Overflow(T),
}

/// An object borrowed from an [`ObjectPool`]; it goes back to the pool on drop.
pub struct Pooled<'a, T> {
    /// `None` only after `detach` or `drop` took it.
    held: Option<Held<'a, T>>,
    shared: &'a Shared<T>,
}

impl<T> Pooled<'_, T> {
    /// Takes the object out of the pool for good: it will not be reset or
    /// returned, and the pool counts it as detached.
    pub fn detach(mut self) -> T {
        self.shared.detached.fetch_add(1, Ordering::Relaxed);
        match self.held.take() {
            Some(Held::Slot { mut state, .. }) => match state.value.take() {
                Some(value) => value,
                None => unreachable!("a lent slot always holds its object"),
            },
            Some(Held::Overflow(value)) => value,
            None => unreachable!("the object is only taken by drop or detach"),
        }
    }
}

impl<T> Deref for Pooled<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.held {
            Some(Held::Slot { state, .. }) => match &state.value {
                Some(value) => value,
                None => unreachable!("a lent slot always holds its object"),
            },
            Some(Held::Overflow(value)) => value,
            None => unreachable!("the object is only taken by drop or detach"),
        }
    }
}

impl<T> DerefMut for Pooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.held {
            Some(Held::Slot { state, .. }) => match &mut state.value {
                Some(value) => value,
                None => unreachable!("a lent slot always holds its object"),
            },
            Some(Held::Overflow(value)) => value,
            None => unreachable!("the object is only taken by drop or detach"),
        }
    }
}

impl<T> Drop for Pooled<'_, T> {
    fn drop(&mut self) {
        match self.held.take() {
            Some(Held::Slot { mut state, slot }) => {
                // Reset in place, still under the slot's lock, then let go.
                let reset_ok = match &mut state.value {
                    Some(value) => self.shared.reset_value(value),
                    None => false,
                };
                if reset_ok {
                    bump(&slot.returned);
                    slot.idle.store(true, Ordering::Relaxed);
                } else {
                    let broken = state.value.take();
                    drop(state);
                    drop(broken);
                }
            }
            Some(Held::Overflow(value)) => self.shared.give_back(value),
            None => {}
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Pooled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// An object taken from an [`ObjectPool`] with [`get_owned`](ObjectPool::get_owned);
/// it goes back to the pool on drop, even if every `ObjectPool` handle is gone.
pub struct OwnedPooled<T> {
    /// `None` only after `detach` or `drop` took it.
    value: Option<T>,
    shared: Arc<Shared<T>>,
}

impl<T> OwnedPooled<T> {
    /// Takes the object out of the pool for good: it will not be reset or
    /// returned, and the pool counts it as detached.
    pub fn detach(mut self) -> T {
        self.shared.detached.fetch_add(1, Ordering::Relaxed);
        match self.value.take() {
            Some(value) => value,
            None => unreachable!("the object is only taken by drop or detach"),
        }
    }
}

impl<T> Deref for OwnedPooled<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.value {
            Some(value) => value,
            None => unreachable!("the object is only taken by drop or detach"),
        }
    }
}

impl<T> DerefMut for OwnedPooled<T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.value {
            Some(value) => value,
            None => unreachable!("the object is only taken by drop or detach"),
        }
    }
}

impl<T> Drop for OwnedPooled<T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            self.shared.give_back(value);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedPooled<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, not(turbo_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[derive(Default, Debug)]
    struct Bag {
        items: Vec<u32>,
    }

    impl Reset for Bag {
        fn reset(&mut self) {
            self.items.clear();
        }
    }

    #[test]
    fn reuses_and_resets() {
        let pool = ObjectPool::new(2, Bag::default);
        {
            let mut bag = pool.get();
            bag.items.extend([1, 2, 3]);
        }
        assert_eq!(pool.len(), 1);
        let bag = pool.get();
        assert!(bag.items.is_empty(), "reset must run before reuse");
        assert!(bag.items.capacity() >= 3, "reset keeps the allocation");
        let stats = pool.stats();
        assert_eq!((stats.created, stats.reused, stats.returned), (1, 1, 1));
    }

    #[test]
    fn full_pool_discards_and_counts() {
        let pool = ObjectPool::new(1, Bag::default);
        let a = pool.get();
        let b = pool.get();
        drop(a);
        drop(b);
        let stats = pool.stats();
        assert_eq!(stats.idle, 1);
        assert_eq!(stats.discarded, 1);
        assert_eq!(stats.created, 2);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let pool = ObjectPool::new(0, Bag::default);
        drop(pool.get());
        assert_eq!(pool.len(), 0);
        assert_eq!(pool.stats().discarded, 1);
    }

    #[test]
    fn detach_takes_the_object_for_good() {
        let pool = ObjectPool::new(4, Bag::default);
        let mut bag = pool.get();
        bag.items.push(7);
        let owned = bag.detach();
        assert_eq!(owned.items, vec![7]);
        assert_eq!(pool.len(), 0);
        assert_eq!(pool.stats().detached, 1);
    }

    #[test]
    fn owned_guard_outlives_the_pool_handle() {
        let pool = ObjectPool::new(4, Bag::default);
        let probe = pool.clone();
        let mut guard = pool.get_owned();
        drop(pool);
        guard.items.push(1);
        drop(guard);
        assert_eq!(probe.len(), 1);
    }

    #[test]
    fn guard_dropped_while_unwinding_returns_the_object() {
        let pool = ObjectPool::new(4, Bag::default);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut bag = pool.get();
            bag.items.push(42);
            panic!("tenant panics while holding the object");
        }));
        assert!(result.is_err());
        assert_eq!(pool.len(), 1);
        assert!(pool.get().items.is_empty());
    }

    #[test]
    fn panicking_reset_drops_the_object_and_counts() {
        let calls = Arc::new(AtomicU32::new(0));
        let seen = Arc::clone(&calls);
        let pool = ObjectPool::with_reset(4, Bag::default, move |_bag: &mut Bag| {
            seen.fetch_add(1, Ordering::Relaxed);
            panic!("broken reset");
        });
        drop(pool.get());
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(pool.len(), 0);
        assert_eq!(pool.stats().reset_panics, 1);
    }

    #[test]
    fn cap_holds_under_threads() {
        let pool = ObjectPool::new(3, Bag::default);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..2_000 {
                        let mut held: Vec<_> = (0..(i % 5)).map(|_| pool.get()).collect();
                        for guard in &mut held {
                            guard.items.push(i);
                        }
                        assert!(pool.len() <= 3);
                    }
                });
            }
        });
        let stats = pool.stats();
        assert!(stats.idle <= 3);
        assert_eq!(
            stats.created,
            stats.idle as u64 + stats.discarded,
            "every created object is idle or was discarded"
        );
    }
}
