//! Faults against a real server: a reset mid-body, a slow body past its deadline,
//! a refused connection, 5xx, a panicking user layer. After each, permits, slots
//! and contexts are all back.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use tower::Service;
use turbo_client::transport::{MockTransport, RequestBody};
use turbo_client::{ErrorKind, TurboClient};

#[tokio::test(flavor = "current_thread")]
async fn a_reset_mid_body_is_a_body_error_and_releases_everything() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder().build().unwrap();
    let response = client.get(&server.url(0, "/reset")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let timeline = response.timeline().cloned().unwrap();
    let error = response.bytes().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Body, "{error}");
    assert!(client.stats().is_quiescent(), "{:?}", client.stats());
    let kinds = timeline.finished().unwrap().timeline.kinds();
    assert_eq!(kinds.last(), Some(&turbo_client::EventKind::Failed));
}

#[tokio::test(flavor = "current_thread")]
async fn a_slow_body_times_out_and_releases_everything() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    // Twenty chunks 100 ms apart cannot fit in 500 ms, and the headers come at
    // once, so even a loaded machine gets them well inside the deadline.
    let response = client
        .get(&server.url(0, "/slow-body/100"))
        .send()
        .await
        .unwrap();
    let error = response.bytes().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(client.stats().is_quiescent());

    // A per-request deadline applies to the headers too.
    let error = client
        .get(&server.url(0, "/sleep/500"))
        .timeout(Duration::from_millis(30))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(client.stats().is_quiescent());
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_connection_is_a_connect_error() {
    // A socket bound to a free port that never listens: connections to it are
    // refused, and holding it keeps a parallel test (or the kernel's choice of
    // a source port) off that port for the whole test.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let client = TurboClient::builder().build().unwrap();
    let error = client
        .get(&format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connect, "{error}");
    assert!(client.stats().is_quiescent());
}

#[tokio::test(flavor = "current_thread")]
async fn server_errors_are_responses_until_asked() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder().build().unwrap();
    let response = client
        .get(&server.url(0, "/status/503"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let error = response.error_for_status().unwrap_err();
    assert_eq!(
        (error.kind(), error.status_code()),
        (
            ErrorKind::Status,
            Some(http::StatusCode::SERVICE_UNAVAILABLE)
        )
    );
    assert!(client.stats().is_quiescent());
}

#[tokio::test(flavor = "current_thread")]
async fn bad_urls_are_invalid_requests() {
    let client = TurboClient::builder().build().unwrap();
    for url in ["not a url", "/relative/path", "ftp://example.com/"] {
        let error = client.get(url).send().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{url}: {error}");
    }
    let error = client
        .get("http://example.com/")
        .header("bad header", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    assert!(client.stats().is_quiescent());
}

/// A user layer whose service panics in `call` once when told to, and marks the
/// clone that panicked: a marked clone that serves another request panics again.
#[derive(Clone)]
struct PanicOnce<S> {
    inner: S,
    arm: Arc<AtomicBool>,
    panicked_here: bool,
}

impl<S> Service<Request<RequestBody>> for PanicOnce<S>
where
    S: Service<Request<RequestBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<RequestBody>) -> S::Future {
        assert!(!self.panicked_here, "a clone that panicked served again");
        if self.arm.swap(false, Ordering::SeqCst) {
            self.panicked_here = true;
            panic!("injected panic in a user layer");
        }
        self.inner.call(request)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_stack_clone_that_panicked_is_not_lent_again() {
    let arm = Arc::new(AtomicBool::new(false));
    let layer_arm = arm.clone();
    let client = TurboClient::builder()
        .transport(MockTransport::ok(Bytes::from_static(b"ok")))
        .layer(tower::layer::layer_fn(move |inner| PanicOnce {
            inner,
            arm: layer_arm.clone(),
            panicked_here: false,
        }))
        .build()
        .unwrap();
    client.get("http://a.test/").send().await.unwrap();
    arm.store(true, Ordering::SeqCst);
    let panicked = {
        let client = client.clone();
        tokio::spawn(async move { client.get("http://a.test/").send().await.map(|_| ()) })
    }
    .await;
    assert!(panicked.unwrap_err().is_panic());
    // The same thread asks the pool again: a clone put back by the unwinding
    // would be the one it hands out.
    for _ in 0..8 {
        let response = client.get("http://a.test/").send().await.unwrap();
        assert_eq!(&response.bytes().await.unwrap()[..], b"ok");
    }
}
