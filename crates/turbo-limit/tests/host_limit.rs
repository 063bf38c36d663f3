//! The per-host limit end to end through tower: enforcement under real
//! concurrency, priority among one host's waiters, cancellation at every poll point,
//! bounded memory under a flood of hosts, and both shutdown modes.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::{Layer, Service, ServiceExt, service_fn};
use turbo_limit::{BoxError, HostConcurrencyLimitLayer, LimitError, Priority, StopMode};

/// The layer's refusal inside a [`BoxError`]; panics on any other error.
fn refusal<T>(result: Result<T, BoxError>) -> Result<T, LimitError> {
    result.map_err(|error| match error.downcast_ref::<LimitError>() {
        Some(refusal) => refusal.clone(),
        None => panic!("not a LimitError: {error}"),
    })
}

/// A body with one frame: not at its end until read, so it holds its permit.
type Body = Full<Bytes>;

fn body() -> Body {
    Full::new(Bytes::from_static(b"ok"))
}

fn request(uri: &str, priority: Priority) -> Request<()> {
    let mut request = Request::get(uri).body(()).unwrap();
    request.extensions_mut().insert(priority);
    request
}

fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// Records, per host, how many calls are inside the inner service at once.
#[derive(Clone, Default)]
struct Occupancy {
    current: Arc<Mutex<HashMap<String, (usize, usize)>>>,
}

impl Occupancy {
    fn enter(&self, host: &str) {
        let mut map = self.current.lock().unwrap();
        let entry = map.entry(host.to_owned()).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(entry.0);
    }

    fn leave(&self, host: &str) {
        self.current.lock().unwrap().get_mut(host).unwrap().0 -= 1;
    }

    fn max(&self) -> HashMap<String, usize> {
        self.current
            .lock()
            .unwrap()
            .iter()
            .map(|(h, (_, max))| (h.clone(), *max))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_host_ever_exceeds_its_limit() {
    const HOSTS: usize = 50;
    const PER_HOST: usize = 1_000;
    const LIMIT: usize = 4;
    let occupancy = Occupancy::default();
    let seen = occupancy.clone();
    let inner = service_fn(move |request: Request<()>| {
        let occupancy = seen.clone();
        async move {
            let host = request.uri().host().unwrap().to_owned();
            occupancy.enter(&host);
            // A pseudo-random number of scheduler round trips stands in for latency.
            let spins = (request.uri().path().len() * 7 + host.len()) % 5;
            for _ in 0..spins {
                tokio::task::yield_now().await;
            }
            occupancy.leave(&host);
            Ok::<_, Infallible>(Response::new(body()))
        }
    });
    let layer = HostConcurrencyLimitLayer::builder()
        .max_per_host(LIMIT)
        .build();
    let limiter = layer.limiter().clone();
    let service = layer.layer(inner);
    let mut tasks = tokio::task::JoinSet::new();
    for host in 0..HOSTS {
        for index in 0..PER_HOST {
            let service = service.clone();
            let uri = format!("http://host{host}.test/{}", "x".repeat(index % 13));
            tasks.spawn(async move {
                service
                    .oneshot(request(&uri, Priority::Normal))
                    .await
                    .map(drop)
            });
        }
    }
    let mut completed = 0;
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
        completed += 1;
    }
    assert_eq!(completed, HOSTS * PER_HOST);
    let max = occupancy.max();
    assert_eq!(max.len(), HOSTS);
    for (host, peak) in max {
        assert!(peak <= LIMIT, "{host} reached {peak} in flight");
    }
    let stats = limiter.stats();
    assert_eq!((stats.in_flight(), stats.waiting()), (0, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn one_hosts_waiters_are_served_by_priority() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&order);
    let inner = service_fn(move |request: Request<()>| {
        seen.lock().unwrap().push(request.uri().path().to_owned());
        async { Ok::<_, Infallible>(Response::new(body())) }
    });
    let service = HostConcurrencyLimitLayer::builder()
        .max_per_host(1)
        .build()
        .layer(inner);
    let blocker = service
        .clone()
        .oneshot(request("http://h.test/blocker", Priority::Low))
        .await
        .unwrap();
    let plan = [
        ("/low-1", Priority::Low),
        ("/normal", Priority::Normal),
        ("/critical-1", Priority::Critical),
        ("/high", Priority::High),
        ("/low-2", Priority::Low),
        ("/critical-2", Priority::Critical),
    ];
    let mut tasks = Vec::new();
    for (path, priority) in plan {
        let service = service.clone();
        let uri = format!("http://h.test{path}");
        tasks.push(tokio::spawn(async move {
            service.oneshot(request(&uri, priority)).await.map(drop)
        }));
        // Let it reach the queue before the next one arrives.
        tokio::task::yield_now().await;
    }
    drop(blocker);
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        *order.lock().unwrap(),
        [
            "/blocker",
            "/critical-1",
            "/critical-2",
            "/high",
            "/normal",
            "/low-1",
            "/low-2"
        ]
    );
}

/// An inner service whose future is pending a given number of times.
#[derive(Clone)]
struct Slow {
    polls: usize,
}

struct SlowFuture {
    left: usize,
}

impl Future for SlowFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.left == 0 {
            return Poll::Ready(Ok(Response::new(body())));
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Service<Request<()>> for Slow {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = SlowFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<()>) -> SlowFuture {
        SlowFuture { left: self.polls }
    }
}

#[test]
fn dropping_at_every_poll_point_releases_everything() {
    const INNER_POLLS: usize = 3;
    let layer = HostConcurrencyLimitLayer::builder().max_per_host(1).build();
    let limiter = layer.limiter().clone();
    let mut service = layer.layer(Slow { polls: INNER_POLLS });

    // While waiting: a blocked host, a waiter dropped after k polls.
    let mut blocker = service.call(request("http://h.test/", Priority::Normal));
    let held = loop {
        if let Poll::Ready(result) = poll_once(&mut blocker) {
            break result.unwrap();
        }
    };
    for k in 0..4 {
        let mut waiter = service.call(request("http://h.test/", Priority::High));
        for _ in 0..k {
            let _ = poll_once(&mut waiter);
        }
        drop(waiter);
        let host = limiter
            .stats()
            .hosts
            .into_iter()
            .find(|h| h.host.host() == "h.test")
            .unwrap();
        assert_eq!(
            host.waiting, 0,
            "waiter dropped after {k} polls left the queue"
        );
        assert_eq!(host.in_flight, 1);
    }
    drop(held);

    // While holding: the permit is taken at the first poll; drop after k more.
    for k in 0..=INNER_POLLS + 1 {
        let mut future = service.call(request("http://free.test/", Priority::Normal));
        let mut response = None;
        for _ in 0..=k {
            if let Poll::Ready(result) = poll_once(&mut future) {
                response = Some(result.unwrap());
                break;
            }
        }
        drop(future);
        drop(response);
        let host = limiter
            .stats()
            .hosts
            .into_iter()
            .find(|h| h.host.host() == "free.test")
            .unwrap();
        assert_eq!(host.in_flight, 0, "dropped after {k} polls");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn memory_stays_bounded_under_a_flood_of_hosts() {
    const CAP: usize = 64;
    let layer = HostConcurrencyLimitLayer::builder().max_hosts(CAP).build();
    let limiter = layer.limiter().clone();
    let mut service = layer.layer(service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response::new(body()))
    }));
    for host in 0..100_000u32 {
        let uri = format!("http://h{host}.flood.test/");
        service
            .ready()
            .await
            .unwrap()
            .call(request(&uri, Priority::Normal))
            .await
            .unwrap();
        assert!(limiter.tracked_hosts() <= CAP);
    }
    let stats = limiter.stats();
    assert!(
        stats.evictions >= 100_000 - CAP as u64,
        "evictions {}",
        stats.evictions
    );
    assert_eq!(stats.rejected_hosts, 0, "idle hosts always made room");
}

#[tokio::test(flavor = "current_thread")]
async fn too_many_busy_hosts_is_a_typed_error() {
    let layer = HostConcurrencyLimitLayer::builder().max_hosts(2).build();
    let service = layer.layer(service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response::new(body()))
    }));
    let a = service
        .clone()
        .oneshot(request("http://a.test/", Priority::Normal))
        .await
        .unwrap();
    let b = service
        .clone()
        .oneshot(request("http://b.test/", Priority::Normal))
        .await
        .unwrap();
    let refused = service
        .clone()
        .oneshot(request("http://c.test/", Priority::Normal))
        .await;
    assert!(matches!(
        refusal(refused),
        Err(LimitError::TooManyHosts { limit: 2 })
    ));
    drop(a);
    // An idle host makes room.
    service
        .oneshot(request("http://c.test/", Priority::Normal))
        .await
        .unwrap();
    drop(b);
}

#[tokio::test(flavor = "current_thread")]
async fn idle_hosts_are_swept_and_busy_ones_kept() {
    let layer = HostConcurrencyLimitLayer::builder().build();
    let limiter = layer.limiter().clone();
    let service = layer.layer(service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response::new(body()))
    }));
    for host in ["a", "b", "c"] {
        service
            .clone()
            .oneshot(request(&format!("http://{host}.test/"), Priority::Normal))
            .await
            .unwrap();
    }
    let busy = service
        .clone()
        .oneshot(request("http://busy.test/", Priority::Normal))
        .await
        .unwrap();
    assert_eq!(limiter.tracked_hosts(), 4);
    limiter.sweep(); // marks: used since the last sweep
    assert_eq!(limiter.tracked_hosts(), 4);
    limiter.sweep(); // unused for a whole period: gone
    assert_eq!(
        limiter.tracked_hosts(),
        1,
        "only the host with a request in flight stays"
    );
    drop(busy);
    limiter.sweep();
    limiter.sweep();
    assert_eq!(limiter.tracked_hosts(), 0);
    assert_eq!(limiter.stats().evictions, 4);
}

#[test]
fn relative_uris_are_refused_not_pooled_together() {
    let mut service = HostConcurrencyLimitLayer::default().layer(Slow { polls: 0 });
    let mut future = service.call(Request::get("/relative").body(()).unwrap());
    assert!(matches!(
        poll_once(&mut future).map(refusal),
        Poll::Ready(Err(LimitError::InvalidHost(_)))
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_drains_or_cancels_waiters_and_refuses_new_work() {
    for mode in [StopMode::Drain, StopMode::CancelPending] {
        let layer = HostConcurrencyLimitLayer::builder().max_per_host(1).build();
        let limiter = layer.limiter().clone();
        let service = layer.layer(service_fn(|_request: Request<()>| async {
            Ok::<_, Infallible>(Response::new(body()))
        }));
        let in_flight = service
            .clone()
            .oneshot(request("http://h.test/", Priority::Normal))
            .await
            .unwrap();
        let waiter = tokio::spawn(
            service
                .clone()
                .oneshot(request("http://h.test/", Priority::Normal)),
        );
        tokio::task::yield_now().await;
        assert_eq!(limiter.stats().waiting(), 1);

        let shutdown = tokio::spawn(limiter.shutdown(mode));
        tokio::task::yield_now().await;
        assert!(!shutdown.is_finished(), "a request is still in flight");
        let refused = service
            .clone()
            .oneshot(request("http://h.test/", Priority::Normal))
            .await;
        assert!(matches!(refusal(refused), Err(LimitError::Closed)));

        drop(in_flight);
        let waited = waiter.await.unwrap();
        match mode {
            StopMode::Drain => drop(waited.unwrap()),
            StopMode::CancelPending => {
                assert!(matches!(refusal(waited), Err(LimitError::QueueStopped)))
            }
        }
        shutdown.await.unwrap();
        // Idempotent: a second shutdown completes at once.
        limiter.shutdown(mode).await;
        assert_eq!(limiter.stats().in_flight(), 0);
    }
}

/// The per-thread cache: a host this thread cached and that was then evicted must
/// be looked up again, and its new entry must enforce the limit (the evicted
/// semaphore, still reachable from the cache, must not admit anyone).
#[test]
fn an_evicted_host_in_this_threads_cache_gets_a_new_limited_entry() {
    let layer = HostConcurrencyLimitLayer::builder().max_per_host(1).build();
    let limiter = layer.limiter().clone();
    let mut service = layer.layer(Slow { polls: 0 });
    let first = poll_once(&mut service.call(request("http://h.test/", Priority::Normal)));
    assert!(matches!(first, Poll::Ready(Ok(_))));
    drop(first);
    limiter.sweep();
    limiter.sweep();
    assert_eq!(limiter.tracked_hosts(), 0, "idle and unused: evicted");

    let held = poll_once(&mut service.call(request("http://h.test/", Priority::Normal)));
    assert!(matches!(held, Poll::Ready(Ok(_))));
    assert_eq!(limiter.tracked_hosts(), 1, "a new entry");
    assert_eq!(limiter.stats().in_flight(), 1);
    let mut second = service.call(request("http://h.test/", Priority::Normal));
    assert!(poll_once(&mut second).is_pending(), "the limit of 1 holds");
    drop(held);
    assert!(matches!(poll_once(&mut second), Poll::Ready(Ok(_))));
}

/// Requests served from the per-thread cache still count as use for the idle
/// sweep: a host used between two sweeps stays tracked.
#[test]
fn cache_hits_keep_a_host_from_being_swept_as_idle() {
    let layer = HostConcurrencyLimitLayer::builder().build();
    let limiter = layer.limiter().clone();
    let mut service = layer.layer(Slow { polls: 0 });
    for _ in 0..3 {
        let response = poll_once(&mut service.call(request("http://h.test/", Priority::Normal)));
        assert!(matches!(response, Poll::Ready(Ok(_))));
        drop(response);
        limiter.sweep();
        assert_eq!(limiter.tracked_hosts(), 1, "used since the previous sweep");
    }
    limiter.sweep();
    assert_eq!(limiter.tracked_hosts(), 0, "unused for a whole period");
}

#[test]
fn a_refused_request_gives_back_what_the_inner_readiness_reserved() {
    // tower's ConcurrencyLimit(1) below: its `poll_ready` takes the one permit,
    // which only its `call` or its drop gives back.
    let inner = tower::limit::ConcurrencyLimit::new(
        service_fn(|_: Request<()>| std::future::ready(Ok::<_, Infallible>(Response::new(body())))),
        1,
    );
    let mut first = HostConcurrencyLimitLayer::builder().build().layer(inner);
    let mut second = first.clone();
    assert!(matches!(poll_once(&mut first.ready()), Poll::Ready(Ok(_))));
    // No authority: refused at `call`, the inner service never called.
    let mut refused = first.call(request("/relative", Priority::Normal));
    assert!(matches!(
        poll_once(&mut refused).map(refusal),
        Poll::Ready(Err(LimitError::InvalidHost(_)))
    ));
    // `first` lives on, as an idle clone in a pool would: the permit its readiness
    // took must be free again for every other clone.
    assert!(
        matches!(poll_once(&mut second.ready()), Poll::Ready(Ok(_))),
        "the refused clone still holds the inner permit"
    );
    drop(first);
}

/// The timeline of a request that got its permit at once, and of one that waited
/// for it: the wait's start, then the permit with how long the wait took.
#[tokio::test(flavor = "current_thread")]
async fn waits_and_permits_are_recorded_on_the_requests_timeline() {
    use http_body_util::BodyExt;
    use turbo_core::{ContextLayer, EventKind, FieldValue, TimelineSnapshot};

    let service = tower::ServiceBuilder::new()
        .layer(ContextLayer::new())
        .layer(HostConcurrencyLimitLayer::builder().max_per_host(1).build())
        .service(service_fn(|_request: Request<()>| async {
            Ok::<_, Infallible>(Response::new(body()))
        }));

    // The first request to a host goes through the host map; the next ones on this
    // thread take their permit through the thread's cache. Both paths record.
    let warm = service
        .clone()
        .oneshot(request("http://a.test/0", Priority::Normal))
        .await
        .unwrap();
    let warm_timeline = TimelineSnapshot::of(&warm).cloned().unwrap();
    warm.into_body().collect().await.unwrap();
    assert_eq!(
        warm_timeline.finished().unwrap().timeline.kinds()[0],
        EventKind::PermitAcquired
    );

    let first = service
        .clone()
        .oneshot(request("http://a.test/1", Priority::Normal))
        .await
        .unwrap();
    let mut second = Box::pin(
        service
            .clone()
            .oneshot(request("http://a.test/2", Priority::Normal)),
    );
    assert!(
        poll_once(&mut second).is_pending(),
        "the host's one permit is held"
    );

    let first_timeline = TimelineSnapshot::of(&first).cloned().unwrap();
    first.into_body().collect().await.unwrap();
    let second = second.await.unwrap();
    let second_timeline = TimelineSnapshot::of(&second).cloned().unwrap();
    second.into_body().collect().await.unwrap();

    // Without a custom key function the limit keys requests by their context's host,
    // so the finished timeline names the host the permits were for.
    let host = turbo_core::HostKey::from_uri(&"http://a.test/".parse().unwrap()).unwrap();
    assert_eq!(first_timeline.finished().unwrap().host, Some(host.clone()));
    assert_eq!(second_timeline.finished().unwrap().host, Some(host));
    let first = first_timeline.finished().unwrap().timeline;
    assert_eq!(
        first.kinds(),
        [
            EventKind::PermitAcquired,
            EventKind::HeadersReceived,
            EventKind::BodyFinished
        ]
    );
    assert!(
        first
            .find(EventKind::PermitAcquired)
            .unwrap()
            .field("waited")
            .is_none(),
        "an immediate permit has no wait to report"
    );
    let second = second_timeline.finished().unwrap().timeline;
    assert_eq!(
        second.kinds(),
        [
            EventKind::PermitWaitStarted,
            EventKind::PermitAcquired,
            EventKind::HeadersReceived,
            EventKind::BodyFinished
        ]
    );
    assert!(matches!(
        second
            .find(EventKind::PermitAcquired)
            .unwrap()
            .field("waited"),
        Some(FieldValue::Duration(_))
    ));
}

/// A request waiting for its host holds no readiness of the service inside: with
/// tower's `ConcurrencyLimit(1)` below the host limit and one host saturated with
/// waiters, a request to another host still goes straight through, and each
/// waiter readies its own clone once its host has room.
#[test]
fn waiting_requests_hold_no_readiness_of_the_inner_service() {
    let inner = tower::limit::ConcurrencyLimit::new(
        service_fn(|_: Request<()>| std::future::ready(Ok::<_, Infallible>(Response::new(body())))),
        1,
    );
    let layer = HostConcurrencyLimitLayer::builder().max_per_host(1).build();
    let limiter = layer.limiter().clone();
    let mut service = layer.layer(inner);

    // Host A: one response whose body holds A's only permit.
    assert!(matches!(
        poll_once(&mut service.ready()),
        Poll::Ready(Ok(_))
    ));
    let Poll::Ready(Ok(held)) =
        poll_once(&mut service.call(request("http://a.test/", Priority::Normal)))
    else {
        panic!("the first request to a.test goes straight through");
    };
    // Three more for A, each made ready (taking the inner permit) and then called:
    // they wait for A's permit.
    let mut waiters = Vec::new();
    for _ in 0..3 {
        assert!(
            matches!(poll_once(&mut service.ready()), Poll::Ready(Ok(_))),
            "an earlier waiter kept the inner service's one permit"
        );
        let mut waiter = service.call(request("http://a.test/", Priority::Normal));
        assert!(poll_once(&mut waiter).is_pending());
        waiters.push(waiter);
    }
    assert_eq!(limiter.stats().waiting(), 3);

    // Host B is not held up behind them.
    assert!(
        matches!(poll_once(&mut service.ready()), Poll::Ready(Ok(_))),
        "a waiter for a.test holds the inner permit, blocking b.test"
    );
    let b = poll_once(&mut service.call(request("http://b.test/", Priority::Normal)));
    assert!(
        matches!(b, Poll::Ready(Ok(_))),
        "b.test did not complete at once"
    );
    drop(b);

    // A's permit comes back: the first waiter readies its own clone and completes.
    drop(held);
    let first = poll_once(&mut waiters[0]);
    assert!(
        matches!(first, Poll::Ready(Ok(_))),
        "the first waiter did not proceed"
    );
    assert!(poll_once(&mut waiters[1]).is_pending());
    drop(first);
    drop(waiters);
    assert_eq!(limiter.stats().in_flight(), 0);
    assert_eq!(limiter.stats().waiting(), 0);
}
