//! Loom models of the priority semaphore: acquire, cancel, release, close and
//! close-if-idle (the host limit's eviction) under every interleaving. A lost permit
//! shows up as a deadlock (loom reports it), a permit granted twice as two holders
//! at once. Run with
//! `RUSTFLAGS="--cfg turbo_loom" cargo test --release --test loom` (`cargo xtask ci`).

#![cfg(turbo_loom)]
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use turbo_limit::{AcquireError, Priority, PrioritySemaphore, StopMode};

fn hold(semaphore: &PrioritySemaphore, priority: Priority, holders: &AtomicUsize) {
    let permit = loom::future::block_on(semaphore.acquire(priority)).unwrap();
    assert_eq!(
        holders.fetch_add(1, Ordering::SeqCst),
        0,
        "two holders of one permit"
    );
    holders.fetch_sub(1, Ordering::SeqCst);
    drop(permit);
}

#[test]
fn one_permit_two_waiters_and_a_release() {
    loom::model(|| {
        let semaphore = PrioritySemaphore::new(1);
        let holders = Arc::new(AtomicUsize::new(0));
        let first = semaphore.try_acquire().unwrap();
        let threads: Vec<_> = [Priority::Low, Priority::Critical]
            .into_iter()
            .map(|priority| {
                let semaphore = semaphore.clone();
                let holders = Arc::clone(&holders);
                thread::spawn(move || hold(&semaphore, priority, &holders))
            })
            .collect();
        drop(first);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(semaphore.available_permits(), 1);
    });
}

#[test]
fn a_cancelled_waiter_passes_its_grant_on() {
    loom::model(|| {
        let semaphore = PrioritySemaphore::new(1);
        let holders = Arc::new(AtomicUsize::new(0));
        let first = semaphore.try_acquire().unwrap();
        let quitter = {
            let semaphore = semaphore.clone();
            thread::spawn(move || {
                let mut acquire = semaphore.acquire(Priority::Critical);
                let polled = Pin::new(&mut acquire).poll(&mut Context::from_waker(Waker::noop()));
                // Whatever happened (queued, granted meanwhile, or a permit at once),
                // walking away must leave the permit for the other waiter.
                drop(polled);
                drop(acquire);
            })
        };
        let waiter = {
            let semaphore = semaphore.clone();
            let holders = Arc::clone(&holders);
            thread::spawn(move || hold(&semaphore, Priority::Low, &holders))
        };
        drop(first);
        quitter.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(semaphore.available_permits(), 1);
        assert_eq!(semaphore.stats().total_waiting(), 0);
    });
}

#[test]
fn close_cancels_waiters_and_keeps_holders() {
    loom::model(|| {
        let semaphore = PrioritySemaphore::new(1);
        let first = semaphore.try_acquire().unwrap();
        let waiter = {
            let semaphore = semaphore.clone();
            thread::spawn(move || loom::future::block_on(semaphore.acquire(Priority::High)).err())
        };
        semaphore.close(StopMode::CancelPending);
        let outcome = waiter.join().unwrap();
        // Either it queued and was cancelled, or it arrived after the close.
        assert!(matches!(
            outcome,
            Some(AcquireError::Cancelled) | Some(AcquireError::Closed)
        ));
        drop(first);
        assert_eq!(semaphore.available_permits(), 1);
        assert!(matches!(
            Pin::new(&mut semaphore.idle()).poll(&mut Context::from_waker(Waker::noop())),
            Poll::Ready(())
        ));
    });
}

/// A request through the host map: under the shard lock, take the host's entry (or
/// create it) and try for a permit. In the crate the handle is cloned under the lock
/// and tried after it; eviction then sees the clone in the reference count, which
/// trying under the lock stands in for here.
fn through_map(map: &Mutex<Option<PrioritySemaphore>>) -> Option<turbo_limit::PriorityPermit> {
    let mut entry = map.lock().unwrap();
    let semaphore = entry.get_or_insert_with(|| PrioritySemaphore::new(1));
    semaphore.try_acquire().ok()
}

/// Holds `permit` for a moment, checking nobody else holds a permit of the host.
fn hold_one(permit: Option<turbo_limit::PriorityPermit>, holders: &AtomicUsize) -> bool {
    let Some(permit) = permit else {
        // No permit free: a real request would wait, which the other models cover.
        return false;
    };
    assert_eq!(
        holders.fetch_add(1, Ordering::SeqCst),
        0,
        "two semaphores admitted requests for one host"
    );
    holders.fetch_sub(1, Ordering::SeqCst);
    drop(permit);
    true
}

/// The host limit's per-thread cache against eviction: a request holding a cached
/// handle to the host's semaphore, an eviction (close-if-idle, then removal, under
/// the shard lock) and a second request that may create the host's new entry. The
/// host's limit is 1 across old and new semaphore together.
///
/// The cached handle is a strong clone here (loom's `Arc` has no weak handles) and
/// the eviction skips the crate's reference-count check: the worst case, as if the
/// cache's upgrade had not been visible to it. Only the semaphore word orders them.
#[test]
fn an_evicted_semaphore_never_admits_beside_its_successor() {
    loom::model(|| {
        let map = Arc::new(Mutex::new(Some(PrioritySemaphore::new(1))));
        let holders = Arc::new(AtomicUsize::new(0));
        let cached = map.lock().unwrap().clone().unwrap();

        let hit = {
            let map = Arc::clone(&map);
            let holders = Arc::clone(&holders);
            thread::spawn(move || {
                // A refused cached handle (evicted, or no permit free) falls back
                // to the map, as `HostLimiter::cached_permit` does.
                let permit = cached.try_acquire().ok().or_else(|| through_map(&map));
                hold_one(permit, &holders)
            })
        };
        let evict = {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                let mut entry = map.lock().unwrap();
                if entry.as_ref().is_some_and(PrioritySemaphore::close_if_idle) {
                    *entry = None;
                    true
                } else {
                    false
                }
            })
        };
        let other = {
            let map = Arc::clone(&map);
            let holders = Arc::clone(&holders);
            thread::spawn(move || hold_one(through_map(&map), &holders))
        };

        let hit_ran = hit.join().unwrap();
        let evicted = evict.join().unwrap();
        let other_ran = other.join().unwrap();
        // With nobody holding anything, at least one request got through.
        assert!(hit_ran || other_ran);
        let entry = map.lock().unwrap();
        if let Some(semaphore) = entry.as_ref() {
            // The live entry is open with its permit back, whether it is the
            // original (eviction found it busy) or its successor.
            assert!(!semaphore.is_closed());
            assert_eq!(semaphore.available_permits(), 1);
        } else {
            assert!(evicted, "only an eviction removes the entry");
        }
    });
}
