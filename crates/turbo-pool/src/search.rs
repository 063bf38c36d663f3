//! Where a thread starts looking in an array of try-locked slots.
//!
//! Both pools keep idle items in fixed arrays of slots that are only ever *tried*.
//! Each thread starts its search at the slot it used last, so threads that take and
//! return at the same time settle on different slots instead of racing for the
//! first one, and a single thread finds the slot it just emptied (or filled) on its
//! first try.

use std::cell::Cell;
use std::thread::LocalKey;

use crate::sync::{AtomicU64, Ordering};

/// A thread's last slot, one per kind of pool (object slots and byte slots index
/// different arrays, so they keep separate hints).
pub(crate) type Hint = LocalKey<Cell<usize>>;

std::thread_local! {
    /// The last slot this thread used in an `ObjectPool`.
    pub(crate) static OBJECT_HINT: Cell<usize> = const { Cell::new(0) };
    /// The last slot this thread used in a `BytePool` class.
    pub(crate) static BYTE_HINT: Cell<usize> = const { Cell::new(0) };
}

/// Adds one to a counter that only the holder of its slot's lock writes: a plain
/// load and store, no read-modify-write.
#[inline]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Slot indices in the order to try them: from the thread's last slot, wrapping.
#[inline]
pub(crate) fn search_order(hint: &'static Hint, len: usize) -> SearchOrder {
    #[cfg(not(turbo_loom))]
    let start = hint.with(Cell::get);
    // Loom replays each interleaving and needs every run to be deterministic.
    #[cfg(turbo_loom)]
    let start = 0;
    let start = if start < len { start } else { 0 };
    SearchOrder {
        hint,
        start,
        len,
        offset: 0,
    }
}

/// An iterator over slot indices; see [`search_order`].
pub(crate) struct SearchOrder {
    #[cfg_attr(turbo_loom, allow(dead_code))]
    hint: &'static Hint,
    start: usize,
    len: usize,
    offset: usize,
}

impl SearchOrder {
    /// Makes `index` the thread's starting slot next time, if it is not already.
    #[inline]
    pub(crate) fn remember(&self, index: usize) {
        if index != self.start {
            #[cfg(not(turbo_loom))]
            self.hint.with(|last| last.set(index));
        }
    }
}

impl Iterator for SearchOrder {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.offset == self.len {
            return None;
        }
        let index = self.start + self.offset;
        self.offset += 1;
        Some(if index < self.len {
            index
        } else {
            index - self.len
        })
    }
}

#[cfg(all(test, not(turbo_loom)))]
mod tests {
    use super::*;

    #[test]
    fn visits_every_slot_once_from_the_hint() {
        OBJECT_HINT.with(|hint| hint.set(2));
        let order: Vec<usize> = search_order(&OBJECT_HINT, 4).collect();
        assert_eq!(order, vec![2, 3, 0, 1]);
    }

    #[test]
    fn a_stale_hint_past_the_end_starts_at_zero() {
        BYTE_HINT.with(|hint| hint.set(9));
        let order: Vec<usize> = search_order(&BYTE_HINT, 3).collect();
        assert_eq!(order, vec![0, 1, 2]);
    }

    #[test]
    fn remember_moves_the_hint() {
        BYTE_HINT.with(|hint| hint.set(0));
        search_order(&BYTE_HINT, 4).remember(3);
        assert_eq!(BYTE_HINT.with(Cell::get), 3);
    }
}
