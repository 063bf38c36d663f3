//! turbo's layers side by side with tower's and tower-http's, over hyper-util's
//! client and a real loopback hyper server: each test checks what the composed
//! stack does (statuses, bodies, errors found by `downcast_ref`, permits released,
//! a permit per hop or attempt), not only that it compiles.

#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
use turbo_core::ContextLayer;
use turbo_limit::{HostConcurrencyLimitLayer, HostLimiter, LimitError, PriorityQueueLayer};

use common::{GZIP_TEXT, RetryUnavailable, eventually, start};

type Transport = Client<HttpConnector, Full<Bytes>>;

fn transport() -> Transport {
    Client::builder(TokioExecutor::new()).build_http()
}

fn get(url: &str) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::default()).unwrap()
}

fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// The in-flight count of the host at `url`'s authority.
fn in_flight_at(limiter: &HostLimiter, addr: std::net::SocketAddr) -> usize {
    let authority = addr.to_string();
    limiter
        .stats()
        .hosts
        .iter()
        .filter(|host| host.host.to_string().contains(&authority))
        .map(|host| host.in_flight)
        .sum()
}

async fn quiescent(limiter: &HostLimiter) -> bool {
    eventually(|| {
        let stats = limiter.stats();
        stats.in_flight() == 0 && stats.waiting() == 0
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_http_timeout_outside_answers_408_and_releases_the_permit() {
    let server = start(&["127.0.0.1"]).await;
    let hosts = HostConcurrencyLimitLayer::new(2);
    let limiter = hosts.limiter().clone();
    let service = ServiceBuilder::new()
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(100),
        ))
        .layer(ContextLayer::new())
        .layer(hosts)
        .layer(PriorityQueueLayer::new(8))
        .service(transport());
    let response = service
        .clone()
        .oneshot(get(&server.url(0, "/sleep/5000")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(
        quiescent(&limiter).await,
        "the timed-out request kept its permit"
    );
    let response = service.oneshot(get(&server.url(0, "/ok"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_timeout_outside_a_waiting_request_and_inside_over_the_transport() {
    let server = start(&["127.0.0.1"]).await;
    let hosts = HostConcurrencyLimitLayer::new(1);
    let limiter = hosts.limiter().clone();
    let limited = ServiceBuilder::new()
        .layer(ContextLayer::new())
        .layer(hosts)
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(
            200,
        )))
        .service(transport());

    // Inside, over the transport: the stall's `Elapsed` passes through turbo's
    // layers unchanged.
    let error = limited
        .clone()
        .oneshot(get(&server.url(0, "/sleep/5000")))
        .await
        .unwrap_err();
    assert!(error.is::<tower::timeout::error::Elapsed>(), "{error}");
    assert!(quiescent(&limiter).await);

    // Outside, around a request that waits for its host: it gives up in line.
    let held = limited
        .clone()
        .oneshot(get(&server.url(0, "/ok")))
        .await
        .unwrap();
    let outer = ServiceBuilder::new()
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(
            100,
        )))
        .service(limited);
    let error = outer.oneshot(get(&server.url(0, "/ok"))).await.unwrap_err();
    assert!(error.is::<tower::timeout::error::Elapsed>(), "{error}");
    assert_eq!(limiter.stats().waiting(), 0, "the waiter left the line");
    drop(held);
    assert!(quiescent(&limiter).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_redirect_outside_takes_each_hops_own_host_permit() {
    let server = start(&["127.0.0.1", "127.0.0.2"]).await;
    let hosts = HostConcurrencyLimitLayer::new(1);
    let limiter = hosts.limiter().clone();
    let service = ServiceBuilder::new()
        .layer(tower_http::follow_redirect::FollowRedirectLayer::new())
        .layer(ContextLayer::new())
        .layer(hosts)
        .service(transport());
    let target = server.url(1, "/echo-header/host");
    let url = server.url(0, &format!("/redirect?to={target}"));
    let response = service.clone().oneshot(get(&url)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The final hop's body holds host B's permit; host A's hop has ended and its
    // permit is free, so A takes another request at once despite its limit of 1.
    assert_eq!(in_flight_at(&limiter, server.addrs[1]), 1);
    assert_eq!(in_flight_at(&limiter, server.addrs[0]), 0);
    let other = service
        .clone()
        .oneshot(get(&server.url(0, "/ok")))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        body,
        server.addrs[1].to_string().as_bytes(),
        "served by host B"
    );
    drop(other);
    assert!(quiescent(&limiter).await);
    assert_eq!(server.occupancy.total(server.addrs[0].ip()), 2);
    assert_eq!(server.occupancy.total(server.addrs[1].ip()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decompression_outside_decodes_gzip_and_the_permit_lasts_to_the_body_end() {
    let server = start(&["127.0.0.1"]).await;
    let hosts = HostConcurrencyLimitLayer::new(2);
    let limiter = hosts.limiter().clone();
    let service = ServiceBuilder::new()
        .layer(tower_http::decompression::DecompressionLayer::new())
        .layer(ContextLayer::new())
        .layer(hosts)
        .service(transport());
    let response = service.oneshot(get(&server.url(0, "/gzip"))).await.unwrap();
    assert!(
        response
            .headers()
            .get(http::header::CONTENT_ENCODING)
            .is_none()
    );
    assert_eq!(limiter.stats().in_flight(), 1, "held until the body ends");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, GZIP_TEXT.repeat(20).as_bytes());
    assert!(quiescent(&limiter).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_outside_and_set_request_header_inside_see_each_request() {
    let server = start(&["127.0.0.1"]).await;
    let responses = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&responses);
    let hosts = HostConcurrencyLimitLayer::new(2);
    let limiter = hosts.limiter().clone();
    let service = ServiceBuilder::new()
        .layer(tower_http::trace::TraceLayer::new_for_http().on_response(
            move |response: &Response<_>, _latency: Duration, _span: &tracing::Span| {
                assert_eq!(response.status(), StatusCode::OK);
                seen.fetch_add(1, Ordering::SeqCst);
            },
        ))
        .layer(ContextLayer::new())
        .layer(hosts)
        .layer(PriorityQueueLayer::new(4))
        .layer(tower_http::set_header::SetRequestHeaderLayer::overriding(
            http::header::HeaderName::from_static("x-turbo-hop"),
            http::HeaderValue::from_static("signed"),
        ))
        .service(transport());
    for _ in 0..3 {
        let response = service
            .clone()
            .oneshot(get(&server.url(0, "/echo-header/x-turbo-hop")))
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"signed");
    }
    assert_eq!(responses.load(Ordering::SeqCst), 3);
    assert!(quiescent(&limiter).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_panic_outside_answers_500_and_everything_is_released() {
    let server = start(&["127.0.0.1"]).await;
    let context = ContextLayer::new();
    let contexts = context.pool().clone();
    let hosts = HostConcurrencyLimitLayer::new(2);
    let limiter = hosts.limiter().clone();
    let inner = transport();
    let panicking = tower::service_fn(move |request: Request<Full<Bytes>>| {
        assert!(request.uri().path() != "/panic", "the inner service panics");
        inner.clone().oneshot(request)
    });
    let service = ServiceBuilder::new()
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(context)
        .layer(hosts)
        .layer(PriorityQueueLayer::new(4))
        .service(panicking);
    let response = service
        .clone()
        .oneshot(get(&server.url(0, "/panic")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(quiescent(&limiter).await);
    assert_eq!(
        contexts.stats().leased,
        0,
        "the context went back to its pool"
    );
    let response = service.oneshot(get(&server.url(0, "/ok"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_outside_takes_a_permit_per_attempt() {
    let server = start(&["127.0.0.1"]).await;
    // One permit: the second attempt gets through only if the first gave its
    // permit back when its 503 was dropped.
    let hosts = HostConcurrencyLimitLayer::new(1);
    let limiter = hosts.limiter().clone();
    let service = ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(RetryUnavailable {
            left: 1,
            backoff: Duration::ZERO,
        }))
        .layer(ContextLayer::new())
        .layer(hosts)
        .service(transport());
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        service.oneshot(get(&server.url(0, "/fail-once/a"))),
    )
    .await
    .expect("the retry waited for the first attempt's permit")
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        server.occupancy.total(server.addrs[0].ip()),
        2,
        "two attempts"
    );
    drop(response);
    assert!(quiescent(&limiter).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_shed_and_concurrency_limit_inside_shed_typed_through_the_host_limit() {
    let server = start(&["127.0.0.1", "127.0.0.2"]).await;
    let hosts = HostConcurrencyLimitLayer::new(4);
    let limiter = hosts.limiter().clone();
    let mut service = ServiceBuilder::new()
        .layer(hosts)
        .layer(tower::load_shed::LoadShedLayer::new())
        .layer(tower::limit::ConcurrencyLimitLayer::new(1))
        .service(transport());
    // One slow request holds the concurrency limit's only permit.
    service.ready().await.unwrap();
    let slow = tokio::spawn(service.call(get(&server.url(0, "/sleep/300"))));
    tokio::task::yield_now().await;
    service.ready().await.unwrap();
    let error = service
        .call(get(&server.url(1, "/ok")))
        .await
        .expect_err("shed while the limit below is full");
    assert!(error.is::<tower::load_shed::error::Overloaded>(), "{error}");
    let response = slow.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    assert!(quiescent(&limiter).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_outside_keeps_refusals_typed_and_inside_is_not_held_by_waiters() {
    let server = start(&["127.0.0.1", "127.0.0.2"]).await;

    // Inside: a `Buffer` of one slot below the host limit. Host A is saturated and
    // has waiters; none of them holds the buffer's slot, so host B goes through.
    let hosts = HostConcurrencyLimitLayer::new(1);
    let limiter = hosts.limiter().clone();
    let mut service = ServiceBuilder::new()
        .layer(hosts)
        .layer(tower::buffer::BufferLayer::new(1))
        .service(transport());
    service.ready().await.unwrap();
    let held = service.call(get(&server.url(0, "/ok"))).await.unwrap();
    let mut waiters = Vec::new();
    for _ in 0..3 {
        service.ready().await.unwrap();
        let mut waiter = Box::pin(service.call(get(&server.url(0, "/ok"))));
        assert!(poll_once(&mut waiter).is_pending());
        waiters.push(waiter);
    }
    let other = tokio::time::timeout(Duration::from_secs(10), async {
        service.ready().await.unwrap();
        service.call(get(&server.url(1, "/ok"))).await.unwrap()
    })
    .await
    .expect("host B was held up behind host A's waiters");
    assert_eq!(other.status(), StatusCode::OK);
    drop((held, other));
    for waiter in waiters {
        drop(waiter.await.unwrap());
    }
    assert!(quiescent(&limiter).await);

    // Outside: a refusal of the host limit crosses the buffer still typed.
    limiter.shutdown(turbo_limit::StopMode::Drain).await;
    let outer = tower::buffer::Buffer::new(service, 8);
    let error = outer.oneshot(get(&server.url(0, "/ok"))).await.unwrap_err();
    assert_eq!(
        error.downcast_ref::<LimitError>(),
        Some(&LimitError::Closed),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_convert_with_map_err_and_question_mark() {
    async fn fetch(
        service: impl Service<
            Request<Full<Bytes>>,
            Response = Response<impl http_body::Body>,
            Error = BoxError,
        >,
        url: &str,
    ) -> Result<StatusCode, BoxError> {
        let response = service.oneshot(get(url)).await?;
        Ok(response.status())
    }

    let server = start(&["127.0.0.1"]).await;
    let service = ServiceBuilder::new()
        .map_err(Into::<BoxError>::into)
        .layer(ContextLayer::new())
        .layer(HostConcurrencyLimitLayer::new(2))
        .layer(PriorityQueueLayer::new(2))
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(10)))
        .service(transport());
    assert_eq!(
        fetch(service.clone(), &server.url(0, "/ok")).await.unwrap(),
        StatusCode::OK
    );
    let error = fetch(service, "/relative").await.unwrap_err();
    assert!(
        matches!(
            error.downcast_ref::<LimitError>(),
            Some(LimitError::InvalidHost(_))
        ),
        "{error}"
    );
}
