//! The priority queue end to end: strict admission order, load shedding, both stop
//! modes, stop racing calls, and cancellation of queued requests.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use proptest::prelude::*;
use tower::{Layer, Service, ServiceExt, service_fn};
use turbo_limit::{BoxError, LimitError, Priority, PriorityQueueLayer, StopMode};

/// The layer's refusal inside a [`BoxError`]; panics on any other error.
fn refusal<T>(result: Result<T, BoxError>) -> Result<T, LimitError> {
    result.map_err(|error| match error.downcast_ref::<LimitError>() {
        Some(refusal) => refusal.clone(),
        None => panic!("not a LimitError: {error}"),
    })
}

fn request(path: &str, priority: Priority) -> Request<()> {
    let mut request = Request::get(format!("http://q.test{path}"))
        .body(())
        .unwrap();
    request.extensions_mut().insert(priority);
    request
}

fn ok_body() -> Full<Bytes> {
    Full::new(Bytes::from_static(b"ok"))
}

fn poll_once<F: Future>(future: &mut Pin<Box<F>>) -> Poll<F::Output> {
    future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs requests `plan` behind one blocked slot, then opens it; returns the order
/// in which the inner service saw them.
fn admission_order(plan: &[(Priority, usize)]) -> Vec<usize> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let mut service = PriorityQueueLayer::builder()
        .max_in_flight(1)
        .max_queued(plan.len())
        .build()
        .layer(service_fn(move |request: Request<()>| {
            let id: usize = request.uri().path()[1..].parse().unwrap_or(usize::MAX);
            log.lock().unwrap().push(id);
            async { Ok::<_, Infallible>(Response::new(ok_body())) }
        }));
    let mut blocker = Box::pin(service.call(request("/blocker", Priority::Critical)));
    let held = match poll_once(&mut blocker) {
        Poll::Ready(Ok(response)) => response,
        _ => unreachable!("the slot is free"),
    };
    let mut waiting: Vec<_> = plan
        .iter()
        .map(|(priority, id)| {
            let mut future = Box::pin(service.call(request(&format!("/{id}"), *priority)));
            assert!(poll_once(&mut future).is_pending());
            future
        })
        .collect();
    drop(held);
    // Each admitted request completes and drops its response, freeing the slot.
    while !waiting.is_empty() {
        let before = waiting.len();
        waiting.retain_mut(|future| match poll_once(future) {
            Poll::Ready(result) => {
                drop(result.unwrap());
                false
            }
            Poll::Pending => true,
        });
        assert!(
            waiting.len() < before,
            "some request must be admitted each round"
        );
    }
    let mut order = seen.lock().unwrap().clone();
    order.retain(|id| *id != usize::MAX);
    order
}

proptest! {
    #[test]
    fn admission_is_strict_priority_then_arrival(priorities in prop::collection::vec(0..Priority::COUNT, 1..40)) {
        let plan: Vec<(Priority, usize)> =
            priorities.iter().enumerate().map(|(id, rank)| (Priority::ALL[*rank], id)).collect();
        let mut expected = plan.clone();
        expected.sort_by_key(|(priority, id)| (priority.rank(), *id));
        let expected: Vec<usize> = expected.into_iter().map(|(_, id)| id).collect();
        prop_assert_eq!(admission_order(&plan), expected);
    }
}

#[test]
fn a_full_queue_sheds_load_at_once() {
    let layer = PriorityQueueLayer::builder()
        .max_in_flight(1)
        .max_queued(2)
        .max_queued_in_class(Priority::Low, 1)
        .build();
    let handle = layer.handle();
    let mut service = layer.layer(service_fn(|_r: Request<()>| async {
        Ok::<_, Infallible>(Response::new(ok_body()))
    }));
    let mut first = Box::pin(service.call(request("/1", Priority::Normal)));
    let held = match poll_once(&mut first) {
        Poll::Ready(Ok(response)) => response,
        _ => unreachable!(),
    };
    let mut low = Box::pin(service.call(request("/2", Priority::Low)));
    assert!(poll_once(&mut low).is_pending());
    let mut second_low = Box::pin(service.call(request("/3", Priority::Low)));
    assert!(matches!(
        poll_once(&mut second_low).map(refusal),
        Poll::Ready(Err(LimitError::QueueFull))
    ));
    let mut high = Box::pin(service.call(request("/4", Priority::High)));
    assert!(poll_once(&mut high).is_pending());
    let mut overflow = Box::pin(service.call(request("/5", Priority::Critical)));
    assert!(matches!(
        poll_once(&mut overflow).map(refusal),
        Poll::Ready(Err(LimitError::QueueFull))
    ));
    let stats = handle.stats();
    assert_eq!(
        (stats.rejected, stats.total_depth(), stats.in_flight),
        (2, 2, 1)
    );
    drop((held, low, high));
    assert_eq!(handle.stats().total_depth(), 0);
    assert_eq!(handle.stats().in_flight, 0);
}

#[test]
fn cancelling_a_queued_request_at_any_poll_frees_its_place() {
    let layer = PriorityQueueLayer::builder().max_in_flight(1).build();
    let handle = layer.handle();
    let mut service = layer.layer(service_fn(|_r: Request<()>| async {
        Ok::<_, Infallible>(Response::new(ok_body()))
    }));
    let mut first = Box::pin(service.call(request("/1", Priority::Normal)));
    let held = match poll_once(&mut first) {
        Poll::Ready(Ok(response)) => response,
        _ => unreachable!(),
    };
    for polls in 0..4 {
        let mut queued = Box::pin(service.call(request("/2", Priority::High)));
        for _ in 0..polls {
            assert!(poll_once(&mut queued).is_pending());
        }
        drop(queued);
        assert_eq!(handle.stats().total_depth(), 0, "after {polls} polls");
    }
    drop(held);
    let stats = handle.stats();
    assert_eq!((stats.in_flight, stats.total_depth()), (0, 0));
    // The slot is really free: a new request gets through at once.
    let mut next = Box::pin(service.call(request("/3", Priority::Low)));
    assert!(matches!(poll_once(&mut next), Poll::Ready(Ok(_))));
}

#[tokio::test(flavor = "current_thread")]
async fn stop_in_both_modes_with_work_queued_and_in_flight() {
    for mode in [StopMode::Drain, StopMode::CancelPending] {
        let layer = PriorityQueueLayer::builder().max_in_flight(1).build();
        let handle = layer.handle();
        let service = layer.layer(service_fn(|_r: Request<()>| async {
            Ok::<_, Infallible>(Response::new(ok_body()))
        }));
        let in_flight = service
            .clone()
            .oneshot(request("/1", Priority::Normal))
            .await
            .unwrap();
        let queued = tokio::spawn(service.clone().oneshot(request("/2", Priority::Low)));
        tokio::task::yield_now().await;
        assert_eq!(handle.stats().total_depth(), 1);

        let stop = tokio::spawn(handle.stop(mode));
        tokio::task::yield_now().await;
        assert!(!stop.is_finished());
        let late = service
            .clone()
            .oneshot(request("/3", Priority::Critical))
            .await;
        assert!(matches!(refusal(late), Err(LimitError::Closed)));

        drop(in_flight);
        let outcome = queued.await.unwrap();
        match mode {
            StopMode::Drain => drop(outcome.unwrap()),
            StopMode::CancelPending => {
                assert!(matches!(refusal(outcome), Err(LimitError::QueueStopped)))
            }
        }
        stop.await.unwrap();
        handle.stop(mode).await; // idempotent
        assert!(handle.is_stopped());
        assert_eq!(handle.stats().in_flight, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_races_safely_with_calls() {
    let layer = PriorityQueueLayer::builder()
        .max_in_flight(4)
        .max_queued(10_000)
        .build();
    let handle = layer.handle();
    let service = layer.layer(service_fn(|_r: Request<()>| async {
        tokio::task::yield_now().await;
        Ok::<_, Infallible>(Response::new(ok_body()))
    }));
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..2_000usize {
        let service = service.clone();
        calls.spawn(async move {
            service
                .oneshot(request(
                    &format!("/{i}"),
                    Priority::ALL[i % Priority::COUNT],
                ))
                .await
                .map(drop)
        });
        if i == 1_000 {
            let handle = handle.clone();
            calls.spawn(async move {
                handle.stop(StopMode::CancelPending).await;
                Ok(())
            });
        }
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(result) = calls.join_next().await {
        match result.unwrap() {
            Ok(()) => ok += 1,
            Err(error) => match error.downcast_ref::<LimitError>() {
                Some(LimitError::Closed | LimitError::QueueStopped) => refused += 1,
                _ => panic!("unexpected error {error}"),
            },
        }
    }
    assert_eq!(ok + refused, 2_001);
    handle.stop(StopMode::Drain).await;
    let stats = handle.stats();
    assert_eq!((stats.in_flight, stats.total_depth()), (0, 0));
}
