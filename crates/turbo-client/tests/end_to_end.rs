//! The end-to-end deadline counts the waits for a host and a slot, and the body:
//! a request stuck behind a busy host fails in line and leaves it, and a body that
//! outlasts the deadline fails.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use turbo_client::{Elapsed, ErrorKind, TurboClient};

fn elapsed(error: &turbo_client::Error) -> Elapsed {
    let source = std::error::Error::source(error).expect("a source");
    *source.downcast_ref::<Elapsed>().expect("an Elapsed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_host_counts_and_the_waiter_leaves_the_line() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .max_per_host(1)
        .end_to_end_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    // Its unread body holds the host's only permit.
    let held = client.get(server.url(0, "/ok")).send().await.unwrap();
    let error = tokio::time::timeout(
        Duration::from_secs(60),
        client.get(server.url(0, "/ok")).send(),
    )
    .await
    .expect("the waiter hung")
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    let elapsed = elapsed(&error);
    assert!(!elapsed.is_idle());
    assert_eq!(elapsed.limit(), Duration::from_millis(300));
    assert_eq!(
        client.stats().hosts.waiting(),
        0,
        "the waiter left the line"
    );
    drop(held);
    assert!(common::eventually(|| client.stats().is_quiescent()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_counts_too() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .end_to_end_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    // 20 chunks 100 ms apart: 2 s.
    let response = client
        .get(server.url(0, "/slow-body/100"))
        .send()
        .await
        .unwrap();
    let error = tokio::time::timeout(Duration::from_secs(60), response.bytes())
        .await
        .expect("the body read hung")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(common::eventually(|| client.stats().is_quiescent()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_shutdown_returns_with_a_held_response_and_cancels_waiters() {
    let server = common::start(&["127.0.0.1"]).await;
    let hook_ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ran = std::sync::Arc::clone(&hook_ran);
    let client = TurboClient::builder()
        .max_per_host(1)
        .on_shutdown(move || ran.store(true, std::sync::atomic::Ordering::SeqCst))
        .build()
        .unwrap();
    // The caller holds this response's body unread: a plain drain would wait for it.
    let held = client.get(server.url(0, "/ok")).send().await.unwrap();
    let waiter = tokio::spawn(client.get(server.url(0, "/ok")).send());
    assert!(common::eventually(|| client.stats().hosts.waiting() == 1).await);

    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        client.shutdown_timeout(turbo_client::StopMode::Drain, Duration::from_millis(200)),
    )
    .await
    .expect("the bounded shutdown hung");
    assert_eq!(
        outcome,
        turbo_client::ShutdownOutcome::TimedOut { in_flight: 1 }
    );
    let error = waiter.await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::QueueStopped, "{error}");
    assert!(client.is_closed());
    assert!(!hook_ran.load(std::sync::atomic::Ordering::SeqCst));

    drop(held);
    client.shutdown(turbo_client::StopMode::Drain).await;
    assert!(hook_ran.load(std::sync::atomic::Ordering::SeqCst));
}
