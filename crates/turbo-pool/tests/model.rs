//! Property tests: both pools against a simple model, over random operation
//! sequences. Idle counts and idle bytes never pass their caps, no object is held
//! twice, and the pools' counts match the model exactly (single thread).

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use turbo_pool::{BytePool, ObjectPool, PooledBuf, Reset};

#[derive(Debug)]
struct Tagged {
    id: u64,
    dirty: bool,
}

impl Reset for Tagged {
    fn reset(&mut self) {
        self.dirty = false;
    }
}

#[derive(Debug, Clone)]
enum ObjOp {
    Get,
    Return(usize),
    Detach(usize),
}

fn obj_op() -> impl Strategy<Value = ObjOp> {
    prop_oneof![
        3 => Just(ObjOp::Get),
        3 => any::<usize>().prop_map(ObjOp::Return),
        1 => any::<usize>().prop_map(ObjOp::Detach),
    ]
}

proptest! {
    #[test]
    fn object_pool_accounts_for_every_object(capacity in 0usize..5, ops in prop::collection::vec(obj_op(), 1..200)) {
        let next_id = Arc::new(AtomicU64::new(0));
        let ids = Arc::clone(&next_id);
        let pool = ObjectPool::new(capacity, move || Tagged { id: ids.fetch_add(1, Ordering::Relaxed), dirty: false });
        let mut held = Vec::new();
        let mut owned = Vec::new();
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                ObjOp::Get if step % 2 == 0 => {
                    let mut guard = pool.get();
                    prop_assert!(!guard.dirty, "a handed-out object is always reset");
                    guard.dirty = true;
                    held.push(guard);
                }
                ObjOp::Get => {
                    let mut guard = pool.get_owned();
                    prop_assert!(!guard.dirty, "a handed-out object is always reset");
                    guard.dirty = true;
                    owned.push(guard);
                }
                ObjOp::Return(i) if i % 2 == 0 && !held.is_empty() => {
                    drop(held.swap_remove(i % held.len()));
                }
                ObjOp::Return(i) if !owned.is_empty() => {
                    drop(owned.swap_remove(i % owned.len()));
                }
                ObjOp::Detach(i) if i % 2 == 0 && !held.is_empty() => {
                    prop_assert!(held.swap_remove(i % held.len()).detach().dirty);
                }
                ObjOp::Detach(i) if !owned.is_empty() => {
                    prop_assert!(owned.swap_remove(i % owned.len()).detach().dirty);
                }
                _ => {}
            }
            let stats = pool.stats();
            let in_use: Vec<u64> = held.iter().map(|g| g.id).chain(owned.iter().map(|g| g.id)).collect();
            let unique: HashSet<u64> = in_use.iter().copied().collect();
            prop_assert_eq!(unique.len(), in_use.len(), "an object is held twice");
            prop_assert!(stats.idle <= capacity, "idle {} above cap {}", stats.idle, capacity);
            prop_assert_eq!(stats.idle, pool.len());
            prop_assert_eq!(
                stats.created,
                stats.idle as u64 + in_use.len() as u64 + stats.discarded + stats.detached,
                "an object was lost or counted twice"
            );
            prop_assert_eq!(stats.created, next_id.load(Ordering::Relaxed));
        }
    }
}

#[derive(Debug, Clone)]
enum ByteOp {
    Rent(usize),
    RentOwned(usize),
    IntoOwned(usize),
    Return(usize),
    FreezeAndDrop(usize),
    Write(usize, u16),
}

fn byte_op() -> impl Strategy<Value = ByteOp> {
    prop_oneof![
        3 => (1usize..300_000).prop_map(ByteOp::Rent),
        2 => (1usize..300_000).prop_map(ByteOp::RentOwned),
        1 => any::<usize>().prop_map(ByteOp::IntoOwned),
        3 => any::<usize>().prop_map(ByteOp::Return),
        1 => any::<usize>().prop_map(ByteOp::FreezeAndDrop),
        2 => (any::<usize>(), any::<u16>()).prop_map(|(i, n)| ByteOp::Write(i, n)),
    ]
}

proptest! {
    #[test]
    fn byte_pool_respects_its_caps(
        per_class in 0usize..4,
        max_idle_bytes in 0usize..600_000,
        ops in prop::collection::vec(byte_op(), 1..150),
    ) {
        let pool = BytePool::builder()
            .max_buffer_size(256 * 1024)
            .max_idle_per_class(per_class)
            .max_idle_bytes(max_idle_bytes)
            .build()
            .unwrap();
        let mut held: Vec<PooledBuf> = Vec::new();
        for op in ops {
            match op {
                ByteOp::Rent(len) => {
                    let buf = pool.rent(len).unwrap();
                    prop_assert!(buf.capacity() >= len);
                    prop_assert!(buf.is_empty());
                    held.push(buf);
                }
                ByteOp::RentOwned(len) => {
                    let buf = pool.rent_owned(len).unwrap();
                    prop_assert!(buf.capacity() >= len);
                    prop_assert!(buf.is_empty());
                    held.push(buf);
                }
                ByteOp::IntoOwned(i) if !held.is_empty() => {
                    let index = i % held.len();
                    let buf = held.swap_remove(index).into_owned();
                    held.push(buf);
                }
                ByteOp::Return(i) if !held.is_empty() => drop(held.swap_remove(i % held.len())),
                ByteOp::FreezeAndDrop(i) if !held.is_empty() => {
                    drop(held.swap_remove(i % held.len()).freeze())
                }
                ByteOp::Write(i, n) if !held.is_empty() => {
                    let index = i % held.len();
                    let buf = &mut held[index];
                    let room = buf.capacity() - buf.len();
                    buf.extend_from_slice(&vec![7u8; (n as usize).min(room)]);
                }
                _ => {}
            }
            let stats = pool.stats();
            prop_assert!(stats.idle_bytes <= max_idle_bytes, "{} > {}", stats.idle_bytes, max_idle_bytes);
            for class in &stats.classes {
                prop_assert!(class.idle <= per_class);
            }
        }
        drop(held);
        let stats = pool.stats();
        prop_assert!(stats.idle_bytes <= max_idle_bytes);
        prop_assert_eq!(stats.hits + stats.misses, stats.returned + stats.discarded,
            "every pooled rent came back (kept or freed)");
    }
}
