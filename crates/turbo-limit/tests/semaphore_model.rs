//! The priority semaphore against an exact model, over random sequences of acquire,
//! poll, cancel (drop a waiter), release, close and close-if-idle. After every step the free
//! permits, the queue depth per class and every waiter's outcome must match.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use proptest::prelude::*;
use turbo_limit::{Acquire, AcquireError, Priority, PriorityPermit, PrioritySemaphore, StopMode};

#[derive(Debug, Clone)]
enum Op {
    Acquire(usize),
    Poll(usize),
    Cancel(usize),
    Release(usize),
    Close(bool),
    CloseIfIdle,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..Priority::COUNT).prop_map(Op::Acquire),
        3 => any::<usize>().prop_map(Op::Poll),
        2 => any::<usize>().prop_map(Op::Cancel),
        3 => any::<usize>().prop_map(Op::Release),
        1 => any::<bool>().prop_map(Op::Close),
        1 => Just(Op::CloseIfIdle),
    ]
}

fn poll(acquire: &mut Acquire) -> Poll<Result<PriorityPermit, AcquireError>> {
    Pin::new(acquire).poll(&mut Context::from_waker(Waker::noop()))
}

#[derive(Default)]
struct Model {
    free: usize,
    queue: BTreeMap<(usize, u64), u64>,
    granted: HashSet<u64>,
    cancelled: HashSet<u64>,
    closed: bool,
}

impl Model {
    fn release(&mut self) {
        match self.queue.pop_first() {
            Some((_, id)) => {
                self.granted.insert(id);
            }
            None => self.free += 1,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_the_model(permits in 1usize..4, ops in prop::collection::vec(op(), 1..120)) {
        let semaphore = PrioritySemaphore::new(permits);
        let mut model = Model { free: permits, ..Model::default() };
        let mut waiters: Vec<(u64, usize, Acquire)> = Vec::new();
        let mut held: Vec<PriorityPermit> = Vec::new();
        let mut next_id = 0u64;
        let mut next_seq = 0u64;

        for op in ops {
            match op {
                Op::Acquire(rank) => {
                    let mut acquire = semaphore.acquire(Priority::ALL[rank]);
                    let polled = poll(&mut acquire);
                    if model.closed {
                        prop_assert!(matches!(polled, Poll::Ready(Err(AcquireError::Closed))));
                    } else if model.free > 0 {
                        prop_assert!(model.queue.is_empty());
                        match polled {
                            Poll::Ready(Ok(permit)) => held.push(permit),
                            other => prop_assert!(false, "expected a permit, got {:?}", other.map(|r| r.err())),
                        }
                        model.free -= 1;
                    } else {
                        prop_assert!(polled.is_pending());
                        model.queue.insert((rank, next_seq), next_id);
                        waiters.push((next_id, rank, acquire));
                        next_id += 1;
                        next_seq += 1;
                    }
                }
                Op::Poll(i) if !waiters.is_empty() => {
                    let index = i % waiters.len();
                    let id = waiters[index].0;
                    let polled = poll(&mut waiters[index].2);
                    if model.granted.remove(&id) {
                        match polled {
                            Poll::Ready(Ok(permit)) => held.push(permit),
                            _ => prop_assert!(false, "waiter {} was granted", id),
                        }
                        drop(waiters.swap_remove(index));
                    } else if model.cancelled.remove(&id) {
                        prop_assert!(matches!(polled, Poll::Ready(Err(AcquireError::Cancelled))));
                        drop(waiters.swap_remove(index));
                    } else {
                        prop_assert!(polled.is_pending(), "waiter {} must still wait", id);
                    }
                }
                Op::Cancel(i) if !waiters.is_empty() => {
                    let (id, rank, acquire) = waiters.swap_remove(i % waiters.len());
                    drop(acquire);
                    if model.granted.remove(&id) {
                        // Granted but never seen: the permit is passed on.
                        model.release();
                    } else if !model.cancelled.remove(&id) {
                        let key = model.queue.iter().find(|(_, v)| **v == id).map(|(k, _)| *k).unwrap();
                        prop_assert_eq!(key.0, rank);
                        model.queue.remove(&key);
                    }
                }
                Op::Release(i) if !held.is_empty() => {
                    drop(held.swap_remove(i % held.len()));
                    model.release();
                }
                Op::Close(cancel) => {
                    semaphore.close(if cancel { StopMode::CancelPending } else { StopMode::Drain });
                    model.closed = true;
                    if cancel {
                        let queued: Vec<u64> = model.queue.values().copied().collect();
                        model.queue.clear();
                        model.cancelled.extend(queued);
                    }
                }
                Op::CloseIfIdle => {
                    // Idle: every permit free (so nobody waits), and not closed yet.
                    let idle = !model.closed && model.free == permits;
                    prop_assert_eq!(semaphore.close_if_idle(), idle);
                    model.closed |= idle;
                }
                _ => {}
            }
            let stats = semaphore.stats();
            prop_assert_eq!(stats.closed, model.closed);
            prop_assert_eq!(semaphore.available_permits(), model.free);
            for rank in 0..Priority::COUNT {
                let depth = model.queue.keys().filter(|(r, _)| *r == rank).count();
                prop_assert_eq!(stats.waiting[rank], depth, "class {}", rank);
            }
            prop_assert_eq!(
                model.free + held.len() + model.granted.len(),
                permits,
                "a permit was lost or duplicated"
            );
        }
        drop(waiters);
        drop(held);
        prop_assert_eq!(semaphore.available_permits(), permits);
        prop_assert_eq!(semaphore.stats().total_waiting(), 0);
    }
}

#[test]
fn waiters_are_served_by_class_then_arrival() {
    let semaphore = PrioritySemaphore::new(1);
    let held = semaphore.try_acquire().unwrap();
    let order = [
        Priority::Low,
        Priority::Normal,
        Priority::Critical,
        Priority::Low,
        Priority::High,
        Priority::Critical,
    ];
    let mut waiters: Vec<(usize, Acquire)> = order
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut acquire = semaphore.acquire(*p);
            assert!(poll(&mut acquire).is_pending());
            (i, acquire)
        })
        .collect();
    let mut served = Vec::new();
    let mut permit = Some(held);
    while !waiters.is_empty() {
        drop(permit.take());
        let mut granted = None;
        for (position, (arrival, acquire)) in waiters.iter_mut().enumerate() {
            if let Poll::Ready(result) = poll(acquire) {
                granted = Some((position, *arrival, result.unwrap()));
                break;
            }
        }
        let (position, arrival, next) = granted.expect("one waiter is granted per release");
        drop(waiters.remove(position));
        served.push(arrival);
        permit = Some(next);
    }
    assert_eq!(served, vec![2, 5, 4, 1, 0, 3]);
}
