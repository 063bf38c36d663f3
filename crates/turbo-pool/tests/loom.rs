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
use turbo_pool::{BytePool, ObjectPool};

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
        // Two classes share a budget that fits only one of the two buffers.
        let pool = BytePool::builder()
            .max_buffer_size(1024)
            .max_idle_per_class(1)
            .max_idle_bytes(1024)
            .build()
            .unwrap();
        let small = pool.rent(256).unwrap();
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
