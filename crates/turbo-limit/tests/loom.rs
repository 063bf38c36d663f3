//! Loom models of the priority semaphore: acquire, cancel, release and close under
//! every interleaving. A lost permit shows up as a deadlock (loom reports it), a
//! permit granted twice as two holders at once. Run with
//! `RUSTFLAGS="--cfg turbo_loom" cargo test --release --test loom` (`cargo xtask ci`).

#![cfg(turbo_loom)]
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
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
