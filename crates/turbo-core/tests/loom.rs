//! Loom models of the context pool's atomic protocols: the per-thread in-flight
//! count that `ContextPool::idle` reads, its wake-up, and the close that breaks
//! the reference cycle between a pool and its idle contexts. Run with
//! `RUSTFLAGS="--cfg turbo_loom" cargo test --release -p turbo-core --test loom`
//! (`cargo xtask ci` does).
//!
//! Under loom the pool and every context carry a loom-tracked allocation (module
//! `sync`, `LeakProbe`), so an execution that ends with either still alive fails
//! with "Arc leaked".

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]
#![cfg(turbo_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use turbo_core::ContextPool;

fn request() -> http::Request<()> {
    http::Request::get("http://example.com/").body(()).unwrap()
}

/// A lease rented on one thread and released on another, while a second lease,
/// rented before the first is released, keeps the pool busy throughout: idle must
/// not resolve before the second lease ends, and must resolve once it has (a lost
/// wake-up leaves `block_on` waiting for ever, which loom reports as a deadlock).
#[test]
fn idle_waits_for_every_lease_and_then_resolves() {
    loom::model(|| {
        let pool = ContextPool::new(2);
        let (first, _first_ctx) = pool.lease(&request());
        let last_is_ending = Arc::new(AtomicBool::new(false));
        let worker = {
            let (pool, last_is_ending) = (pool.clone(), Arc::clone(&last_is_ending));
            thread::spawn(move || {
                let (second, _second_ctx) = pool.lease(&request());
                drop(first);
                last_is_ending.store(true, Ordering::SeqCst);
                drop(second);
            })
        };
        loom::future::block_on(pool.idle());
        assert!(
            last_is_ending.load(Ordering::SeqCst),
            "idle resolved while a lease was out"
        );
        worker.join().unwrap();
        assert_eq!(pool.stats().leased, 0);
    });
}

/// Two leases released at once on two other threads while idle is awaited: it
/// resolves only after both requests have published their timelines, and the
/// release that ends the last one wakes it whichever finishes first.
#[test]
fn idle_waits_for_concurrent_releases() {
    loom::model(|| {
        let pool = ContextPool::new(2);
        let (first, first_ctx) = pool.lease(&request());
        let (second, second_ctx) = pool.lease(&request());
        let snapshots = [
            first_ctx.snapshot().unwrap(),
            second_ctx.snapshot().unwrap(),
        ];
        let workers = [first, second].map(|lease| thread::spawn(move || drop(lease)));
        loom::future::block_on(pool.idle());
        assert!(
            snapshots.iter().all(|s| s.is_finished()),
            "idle resolved before a request ended"
        );
        for worker in workers {
            worker.join().unwrap();
        }
    });
}

/// The last handle drops while a lease returns its context on another thread:
/// whatever the interleaving, the context does not stay idle in the closed pool
/// (which would keep both alive through each other), so loom finds nothing
/// leaked at the end.
#[test]
fn a_pool_closed_while_a_lease_returns_is_freed() {
    loom::model(|| {
        let pool = ContextPool::new(1);
        let (lease, ctx) = pool.lease(&request());
        let worker = thread::spawn(move || drop(lease));
        drop(pool);
        worker.join().unwrap();
        // A stale handle keeps its context, and so the pool, until it drops.
        assert!(!ctx.is_live());
    });
}

/// A context returned to an open pool goes back for the next request, and the
/// pool with its idle context is freed once its last handle drops, whichever
/// thread drops it.
#[test]
fn an_idle_pool_is_freed_by_its_last_handle() {
    loom::model(|| {
        let pool = ContextPool::new(1);
        drop(pool.lease(&request()));
        assert_eq!(pool.stats().pool.idle, 1);
        let other = pool.clone();
        let worker = thread::spawn(move || drop(other));
        drop(pool);
        worker.join().unwrap();
    });
}
