//! Every path returns the context to the pool: body finished, body dropped after any
//! number of frames, response future dropped at any poll, inner error, inner panic.
//! And a reused context never leaks an earlier request's state.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Empty;
use proptest::prelude::*;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};
use turbo_core::{
    BodyEnd, BodyGuard, ContextLayer, ContextPool, EventKind, FieldValue, GuardedBody,
    RequestContext, TimelineSnapshot,
};

/// A body that is pending once before each of its frames.
struct SlowBody {
    frames: VecDeque<Bytes>,
    ready: bool,
    fail_at_end: bool,
}

impl Body for SlowBody {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
        if !self.ready {
            self.ready = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ready = false;
        match self.frames.pop_front() {
            Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
            None if self.fail_at_end => Poll::Ready(Some(Err("connection reset"))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && !self.fail_at_end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.frames.iter().map(|f| f.len() as u64).sum())
    }
}

/// A future that is pending `delay` times, then yields `output`.
struct Delayed<T> {
    delay: usize,
    output: Option<T>,
}

impl<T: Unpin> Future for Delayed<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.delay > 0 {
            self.delay -= 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.output.take().unwrap())
    }
}

#[derive(Clone)]
struct SlowService {
    delay: usize,
    frames: usize,
    fail: bool,
}

impl Service<Request<()>> for SlowService {
    type Response = Response<SlowBody>;
    type Error = &'static str;
    type Future = Delayed<Result<Response<SlowBody>, &'static str>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let ctx = RequestContext::of(&request).unwrap();
        ctx.record(EventKind::TransportSent);
        let output = if self.fail {
            Err("refused")
        } else {
            Ok(Response::new(SlowBody {
                frames: (0..self.frames)
                    .map(|i| Bytes::from(vec![i as u8; 8]))
                    .collect(),
                ready: false,
                fail_at_end: false,
            }))
        };
        Delayed {
            delay: self.delay,
            output: Some(output),
        }
    }
}

fn request() -> Request<()> {
    Request::get("http://example.com/").body(()).unwrap()
}

fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn dropping_the_future_at_every_poll_returns_the_context() {
    const DELAY: usize = 4;
    for drop_after in 0..=DELAY {
        let pool = ContextPool::new(2);
        let mut service = ContextLayer::with_pool(pool.clone()).layer(SlowService {
            delay: DELAY,
            frames: 2,
            fail: false,
        });
        let mut future = service.call(request());
        for _ in 0..drop_after {
            assert!(poll_once(&mut future).is_pending());
        }
        assert_eq!(pool.stats().leased, 1);
        drop(future);
        assert_eq!(pool.stats().leased, 0, "dropped after {drop_after} polls");
    }
}

#[test]
fn dropping_the_body_after_any_frame_returns_the_context() {
    const FRAMES: usize = 3;
    for frames_read in 0..=FRAMES + 1 {
        let pool = ContextPool::new(2);
        let mut service = ContextLayer::with_pool(pool.clone()).layer(SlowService {
            delay: 1,
            frames: FRAMES,
            fail: false,
        });
        let mut future = service.call(request());
        let response = loop {
            if let Poll::Ready(result) = poll_once(&mut future) {
                break result.unwrap();
            }
        };
        let snapshot = TimelineSnapshot::of(&response).cloned().unwrap();
        let mut body = response.into_body();
        let mut read = 0;
        while read < frames_read {
            match Pin::new(&mut body).poll_frame(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(Some(frame)) => {
                    frame.unwrap();
                    read += 1;
                }
                Poll::Ready(None) => break,
                Poll::Pending => {}
            }
        }
        let finished_early = read >= FRAMES;
        drop(body);
        assert_eq!(pool.stats().leased, 0, "dropped after {frames_read} frames");
        let finished = snapshot.finished().unwrap();
        let last = *finished.timeline.kinds().last().unwrap();
        if finished_early {
            assert_eq!(last, EventKind::BodyFinished);
        } else {
            assert_eq!(last, EventKind::Cancelled, "after {frames_read} frames");
        }
    }
}

#[test]
fn inner_error_returns_the_context() {
    let pool = ContextPool::new(2);
    let mut service = ContextLayer::with_pool(pool.clone()).layer(SlowService {
        delay: 1,
        frames: 0,
        fail: true,
    });
    let mut future = service.call(request());
    let result = loop {
        if let Poll::Ready(result) = poll_once(&mut future) {
            break result;
        }
    };
    assert_eq!(result.err(), Some("refused"));
    assert_eq!(pool.stats().leased, 0);
}

#[derive(Clone)]
struct Panics {
    in_call: bool,
}

impl Service<Request<()>> for Panics {
    type Response = Response<SlowBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<SlowBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<()>) -> Self::Future {
        if self.in_call {
            panic!("inner service panics in call");
        }
        Box::pin(async { panic!("inner service panics in its future") })
    }
}

#[test]
fn inner_panic_returns_the_context() {
    for in_call in [true, false] {
        let pool = ContextPool::new(2);
        let mut service = ContextLayer::with_pool(pool.clone()).layer(Panics { in_call });
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut future = service.call(request());
            let _ = poll_once(&mut future);
        }));
        assert!(outcome.is_err(), "the panic propagates");
        assert_eq!(pool.stats().leased, 0, "panic in call: {in_call}");
    }
}

#[test]
fn a_stale_handle_cannot_touch_the_next_request() {
    let pool = ContextPool::new(1);
    let first = Request::get("http://first.example/").body(()).unwrap();
    let (lease, stale) = pool.lease(&first);
    drop(lease);
    let second = Request::get("http://second.example/").body(()).unwrap();
    let (lease, current) = pool.lease(&second);
    stale.record(EventKind::Custom("from the first request"));
    assert!(stale.request_id().is_none() && stale.host().is_none());
    assert!(current.timeline().unwrap().is_empty());
    assert_eq!(current.host().unwrap().host(), "second.example");
    drop(lease);
    assert_eq!(pool.stats().pool.created, 1, "one context served both");
}

/// Counts how each guard ended.
#[derive(Clone, Default)]
struct Ends {
    complete: Arc<AtomicUsize>,
    error: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

struct CountingGuard(Ends);

impl BodyGuard for CountingGuard {
    fn finish(self, end: BodyEnd) {
        let counter = match end {
            BodyEnd::Complete => &self.0.complete,
            BodyEnd::Error => &self.0.error,
            BodyEnd::Dropped => &self.0.dropped,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

impl Ends {
    fn counts(&self) -> (usize, usize, usize) {
        (
            self.complete.load(Ordering::SeqCst),
            self.error.load(Ordering::SeqCst),
            self.dropped.load(Ordering::SeqCst),
        )
    }
}

fn drain<B: Body + Unpin>(body: &mut B) -> usize {
    let mut frames = 0;
    loop {
        match Pin::new(&mut *body).poll_frame(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Some(Ok(_))) => frames += 1,
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => return frames,
            Poll::Pending => {}
        }
    }
}

#[test]
fn guarded_body_releases_exactly_once_per_path() {
    let slow = |frames: usize, fail: bool| SlowBody {
        frames: (0..frames).map(|_| Bytes::from_static(b"abcd")).collect(),
        ready: false,
        fail_at_end: fail,
    };

    let ends = Ends::default();
    let mut body = GuardedBody::new(slow(2, false), CountingGuard(ends.clone()));
    assert_eq!(body.size_hint().exact(), Some(8));
    assert_eq!(drain(&mut body), 2);
    // Polling past the end and dropping must not release again.
    let _ = drain(&mut body);
    drop(body);
    assert_eq!(ends.counts(), (1, 0, 0));

    let ends = Ends::default();
    let mut body = GuardedBody::new(slow(1, true), CountingGuard(ends.clone()));
    assert_eq!(drain(&mut body), 1);
    drop(body);
    assert_eq!(ends.counts(), (0, 1, 0));

    let ends = Ends::default();
    drop(GuardedBody::new(
        slow(3, false),
        CountingGuard(ends.clone()),
    ));
    assert_eq!(ends.counts(), (0, 0, 1));

    // A body that is already at its end releases at once and reports it.
    let ends = Ends::default();
    let body = GuardedBody::new(
        http_body_util::Empty::<Bytes>::new(),
        CountingGuard(ends.clone()),
    );
    assert!(body.is_end_stream() && !body.is_guarded());
    assert_eq!(ends.counts(), (1, 0, 0));
    drop(body);
    assert_eq!(ends.counts(), (1, 0, 0));
}

#[derive(Debug, Clone)]
struct PlannedRequest {
    host: u8,
    events: Vec<(u8, u64)>,
    /// How many later requests run before the caller reads and drops this
    /// request's snapshot: 0 lets the context reuse its snapshot cell, more makes
    /// it take a spare or a new one, and the late drop hands the cell back.
    keep_for: u8,
}

fn planned() -> impl Strategy<Value = PlannedRequest> {
    (
        any::<u8>(),
        prop::collection::vec((0u8..4, any::<u64>()), 0..12),
        0u8..4,
    )
        .prop_map(|(host, events, keep_for)| PlannedRequest {
            host,
            events,
            keep_for,
        })
}

const NAMES: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

/// Checks that `snapshot` holds exactly request `index`'s host and events, then a
/// single terminal event.
fn check_snapshot(
    index: usize,
    request_plan: &PlannedRequest,
    snapshot: &TimelineSnapshot,
) -> Result<(), TestCaseError> {
    let finished = snapshot.finished().unwrap();
    let host = finished.host.clone().unwrap();
    prop_assert_eq!(host.host(), format!("host{}.example", request_plan.host));
    let events: Vec<_> = finished.timeline.iter().collect();
    prop_assert_eq!(events.len(), request_plan.events.len() + 1);
    for (event, (name, value)) in events.iter().zip(&request_plan.events) {
        prop_assert_eq!(event.kind, EventKind::Custom(NAMES[*name as usize]));
        prop_assert_eq!(event.field("value"), Some(FieldValue::U64(*value)));
        prop_assert_eq!(event.field("request"), Some(FieldValue::U64(index as u64)));
    }
    Ok(())
}

proptest! {
    /// Random requests through a pool of one context: each snapshot holds exactly
    /// its own request's events, fields and host, however the previous one ended
    /// and however long the callers keep their snapshots, and shows nothing before
    /// its request ends (a reused cell still holds an earlier request's timeline).
    #[test]
    fn reuse_never_leaks_state(plan in prop::collection::vec(planned(), 1..20)) {
        let pool = ContextPool::new(1);
        let mut held: Vec<(usize, TimelineSnapshot)> = Vec::new();
        for (index, request_plan) in plan.iter().enumerate() {
            let uri = format!("http://host{}.example/", request_plan.host);
            let request = Request::get(uri.as_str()).body(()).unwrap();
            let (lease, ctx) = pool.lease(&request);
            for (name, value) in &request_plan.events {
                ctx.record_with(
                    EventKind::Custom(NAMES[*name as usize]),
                    &[("value", FieldValue::U64(*value)), ("request", FieldValue::U64(index as u64))],
                );
            }
            let snapshot = ctx.snapshot().unwrap();
            prop_assert!(snapshot.finished().is_none(), "request {} has not ended", index);
            match index % 3 {
                0 => lease.finish(BodyEnd::Complete),
                1 => lease.finish(BodyEnd::Error),
                _ => drop(lease),
            }
            held.push((index, snapshot));
            // Callers whose time is up read their snapshot and let it go.
            let mut still_held = Vec::new();
            for (owner, snapshot) in held {
                if owner + usize::from(plan[owner].keep_for) <= index {
                    check_snapshot(owner, &plan[owner], &snapshot)?;
                } else {
                    still_held.push((owner, snapshot));
                }
            }
            held = still_held;
        }
        prop_assert_eq!(pool.stats().leased, 0);
        prop_assert_eq!(pool.stats().pool.created, 1);
        for (owner, snapshot) in &held {
            check_snapshot(*owner, &plan[*owner], snapshot)?;
        }
    }
}

#[test]
fn an_empty_body_ends_the_request_with_its_headers() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pool = ContextPool::new(1);
    let service = ServiceBuilder::new()
        .layer(ContextLayer::with_pool(pool.clone()))
        .service(service_fn(|_request: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        }));
    let response = rt.block_on(service.oneshot(request())).unwrap();
    // Already back in the pool: nothing is left for the body to release.
    assert_eq!(pool.stats().leased, 0);
    assert!(!response.body().is_guarded());
    let finished = TimelineSnapshot::of(&response).unwrap().finished().unwrap();
    let events: Vec<_> = finished.timeline.iter().collect();
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::HeadersReceived, EventKind::BodyFinished]
    );
    assert_eq!(events[0].at, events[1].at, "one instant for both");
}

#[test]
fn idle_resolves_when_the_last_context_returns() {
    let pool = ContextPool::new(2);
    let (first, _) = pool.lease(&request());
    let (second, _) = pool.lease(&request());
    let mut idle = Box::pin(pool.idle());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(idle.as_mut().poll(&mut cx).is_pending());
    drop(first);
    assert!(
        idle.as_mut().poll(&mut cx).is_pending(),
        "one context is still out"
    );
    drop(second);
    assert!(idle.as_mut().poll(&mut cx).is_ready());
}

/// A waker that counts its wakes, to see that a release wakes an idle waiter.
struct CountingWaker(AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn leases_rented_and_returned_on_different_threads_are_counted_exactly() {
    // Leases are counted per thread: a lease returned on another thread than the
    // one that rented it lands in another thread's release count.
    let pool = ContextPool::new(4);
    let woken = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    let mut idle = Box::pin(pool.idle());
    let leases: Vec<_> = (0..8).map(|_| pool.lease(&request()).0).collect();
    assert_eq!(pool.stats().leased, 8);
    assert!(idle.as_mut().poll(&mut cx).is_pending());
    std::thread::scope(|scope| {
        let mut leases = leases.into_iter();
        for _ in 0..4 {
            let batch: Vec<_> = leases.by_ref().take(2).collect();
            let pool = &pool;
            scope.spawn(move || {
                // Each thread also rents and returns some of its own.
                for _ in 0..100 {
                    drop(pool.lease(&request()));
                }
                drop(batch);
            });
        }
    });
    assert_eq!(pool.stats().leased, 0);
    assert!(
        woken.0.load(Ordering::SeqCst) >= 1,
        "the last release woke the waiter"
    );
    assert!(idle.as_mut().poll(&mut cx).is_ready());
}

#[test]
fn a_lease_outliving_every_pool_handle_still_completes() {
    let pool = ContextPool::new(2);
    let idle = pool.idle();
    let (lease, ctx) = pool.lease(&request());
    let snapshot = ctx.snapshot().unwrap();
    drop(pool);
    // The pool closed, but the request still runs and publishes its timeline.
    ctx.record(EventKind::Custom("after_close"));
    drop(lease);
    assert!(!ctx.is_live());
    assert_eq!(
        snapshot.finished().unwrap().timeline.kinds(),
        [EventKind::Custom("after_close"), EventKind::Cancelled]
    );
    // Awaiting idle needs no handle: the lease has ended.
    let mut idle = Box::pin(idle);
    assert!(
        idle.as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    );
}
