//! Loom models of the pools' cap protocols: every interleaving of two or three
//! threads taking and returning at the cap. Run with
//! `RUSTFLAGS="--cfg turbo_loom" cargo test --release --test loom` (`cargo xtask ci`
//! does).

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]
#![cfg(turbo_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use turbo_pool::{BytePool, ObjectPool, PooledBuf};

/// An object that knows whether someone holds it.
struct Token {
    held: Arc<AtomicBool>,
}

fn token_pool(capacity: usize, created: Arc<AtomicUsize>) -> ObjectPool<Token> {
    ObjectPool::with_reset(
        capacity,
        move || {
            created.fetch_add(1, Ordering::SeqCst);
            Token {
                held: Arc::new(AtomicBool::new(false)),
            }
        },
        |_token: &mut Token| {},
    )
}

fn hold_and_return(pool: &ObjectPool<Token>, owned: bool) {
    let check = |token: &Token| {
        assert!(
            !token.held.swap(true, Ordering::SeqCst),
            "an object was handed to two holders"
        );
        token.held.store(false, Ordering::SeqCst);
    };
    if owned {
        check(&pool.get_owned());
    } else {
        check(&pool.get());
    }
}

#[test]
fn object_pool_cap_and_exclusive_hand_out() {
    loom::model(|| {
        let created = Arc::new(AtomicUsize::new(0));
        let pool = token_pool(1, Arc::clone(&created));
        // Start with one idle object so that threads race for it.
        drop(pool.get());
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let pool = pool.clone();
                thread::spawn(move || {
                    hold_and_return(&pool, i == 0);
                    assert!(pool.len() <= 1);
                })
            })
            .collect();
        hold_and_return(&pool, false);
        for t in threads {
            t.join().unwrap();
        }
        let stats = pool.stats();
        assert!(stats.idle <= 1, "cap exceeded: {}", stats.idle);
        assert_eq!(
            created.load(Ordering::SeqCst) as u64,
            stats.idle as u64 + stats.discarded,
            "an object was lost"
        );
    });
}

#[test]
fn byte_pool_budget_under_contention() {
    loom::model(|| {
        // Two classes share a budget that fits only one of the two buffers: the
        // split at build time gives the 1 KiB class no slot.
        let pool = BytePool::builder()
            .max_buffer_size(1024)
            .max_idle_per_class(1)
            .max_idle_bytes(1024)
            .build()
            .unwrap();
        let small = pool.rent_owned(256).unwrap();
        let large = pool.rent(1024).unwrap();
        let other = pool.clone();
        let t = thread::spawn(move || drop(small));
        drop(large);
        t.join().unwrap();
        let stats = other.stats();
        assert!(
            stats.idle_bytes <= 1024,
            "budget exceeded: {}",
            stats.idle_bytes
        );
        assert_eq!(stats.returned + stats.discarded, 2, "a buffer was lost");
    });
}

#[test]
fn owned_guards_race_for_one_slot() {
    loom::model(|| {
        let created = Arc::new(AtomicUsize::new(0));
        let pool = token_pool(1, Arc::clone(&created));
        drop(pool.get());
        let other = pool.clone();
        let t = thread::spawn(move || hold_and_return(&other, true));
        hold_and_return(&pool, true);
        t.join().unwrap();
        let stats = pool.stats();
        assert!(stats.idle <= 1);
        assert_eq!(
            created.load(Ordering::SeqCst) as u64,
            stats.idle as u64 + stats.discarded,
            "an object was lost"
        );
    });
}

/// Holds `buf` for a moment, asserting that no other holder in `holders` has the
/// same allocation at the same time.
fn hold_exclusively(buf: PooledBuf<'_>, holders: &[AtomicUsize; 2], me: usize) {
    let address = buf.as_ptr() as usize;
    holders[me].store(address, Ordering::SeqCst);
    for (other, holder) in holders.iter().enumerate() {
        if other != me {
            assert_ne!(
                holder.load(Ordering::SeqCst),
                address,
                "a buffer was handed to two holders"
            );
        }
    }
    holders[me].store(0, Ordering::SeqCst);
    drop(buf);
}

/// A pool with one class (256 B) of one slot.
fn one_slot_pool() -> BytePool {
    BytePool::builder()
        .max_buffer_size(256)
        .max_idle_per_class(1)
        .build()
        .unwrap()
}

#[test]
fn byte_pool_slots_at_the_cap() {
    loom::model(|| {
        // One class with one slot, one idle buffer: a borrowed renter (which
        // keeps the slot locked while it holds the buffer) and an owned one
        // (which empties the slot) race for it and for the slot on return.
        // (Three threads here take loom minutes; the object pool model has three.)
        let pool = one_slot_pool();
        drop(pool.rent(100).unwrap());
        let holders = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let t = {
            let pool = pool.clone();
            let holders = Arc::clone(&holders);
            thread::spawn(move || {
                hold_exclusively(pool.rent_owned(100).unwrap(), &holders, 1);
                assert!(pool.stats().idle_buffers <= 1);
            })
        };
        hold_exclusively(pool.rent(100).unwrap(), &holders, 0);
        t.join().unwrap();
        let stats = pool.stats();
        assert!(
            stats.idle_buffers <= 1,
            "cap exceeded: {}",
            stats.idle_buffers
        );
        assert!(stats.idle_bytes <= 256);
        assert_eq!(
            stats.misses,
            stats.idle_buffers as u64 + stats.discarded,
            "a buffer was lost: every one made is idle or was freed"
        );
        assert_eq!(stats.hits + stats.misses, stats.returned + stats.discarded);
    });
}

#[test]
fn byte_pool_lent_slot_and_owned_return() {
    loom::model(|| {
        // A borrowed buffer keeps its slot locked while an owned one comes back
        // on another thread: the owned one must not take the lent slot.
        let pool = one_slot_pool();
        let owned = pool.rent_owned(10).unwrap();
        let lent = pool.rent(10).unwrap();
        let other = pool.clone();
        let t = thread::spawn(move || {
            drop(owned);
            assert!(other.stats().idle_buffers <= 1);
        });
        drop(lent);
        t.join().unwrap();
        let stats = pool.stats();
        assert_eq!(stats.idle_buffers, 1);
        assert_eq!((stats.misses, stats.returned, stats.discarded), (2, 1, 1));
    });
}
