//! No request hangs by default: the read-idle timeout (30 s unless set) fails a
//! request that makes no progress before its head or in its body, and never cuts a
//! body that keeps moving. Each wait is guarded by an outer bound so a regression
//! fails the test instead of hanging it.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use turbo_client::transport::MockTransport;
use turbo_client::{Elapsed, ErrorKind, TurboClient};

/// Fails the test if `future` takes longer than a minute: a hang, not a timing.
async fn bounded<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("the request hung")
}

fn elapsed(error: &turbo_client::Error) -> Elapsed {
    let source = std::error::Error::source(error).expect("a source");
    *source.downcast_ref::<Elapsed>().expect("an Elapsed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_fails_the_request() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .read_idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = bounded(client.get(server.url(0, "/sleep/3600000")).send())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(elapsed(&error).is_idle());
    assert!(error.to_string().contains("no progress"), "{error}");
    assert!(common::eventually(|| client.stats().is_quiescent()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_after_the_head_fails_the_read() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .read_idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let response = bounded(client.get(server.url(0, "/stall-body")).send())
        .await
        .unwrap();
    let error = bounded(response.bytes()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(common::eventually(|| client.stats().is_quiescent()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_that_keeps_moving_is_never_cut() {
    let server = common::start(&["127.0.0.1"]).await;
    // 20 chunks 100 ms apart: 2 s in all, far past the 300 ms idle time, but
    // never 300 ms without a chunk.
    let client = TurboClient::builder()
        .read_idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let response = bounded(client.get(server.url(0, "/slow-body/100")).send())
        .await
        .unwrap();
    let body = bounded(response.bytes()).await.unwrap();
    assert!(body.starts_with(b"chunk 0\n") && body.ends_with(b"chunk 19\n"));
    assert!(client.stats().is_quiescent());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_default_read_idle_timeout_is_30_seconds() {
    // The mock answers after an hour of (paused, auto-advancing) time.
    let client = TurboClient::builder()
        .transport(
            MockTransport::ok(Bytes::from_static(b"late")).with_latency(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    let error = client.get("http://a.test/").send().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    let elapsed = elapsed(&error);
    assert!(elapsed.is_idle());
    assert_eq!(elapsed.limit(), Duration::from_secs(30));

    // Turned off: the hour passes and the answer arrives.
    let patient = TurboClient::builder()
        .transport(
            MockTransport::ok(Bytes::from_static(b"late")).with_latency(Duration::from_secs(3600)),
        )
        .read_idle_timeout(Duration::MAX)
        .build()
        .unwrap();
    let response = patient.get("http://a.test/").send().await.unwrap();
    assert_eq!(&response.bytes().await.unwrap()[..], b"late");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_total_deadline_still_applies_and_says_so() {
    let client = TurboClient::builder()
        .transport(
            MockTransport::ok(Bytes::from_static(b"late")).with_latency(Duration::from_secs(20)),
        )
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let error = client.get("http://a.test/").send().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    let elapsed = elapsed(&error);
    assert!(!elapsed.is_idle());
    assert_eq!(elapsed.limit(), Duration::from_secs(5));
}
