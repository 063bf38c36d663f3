//! The client's own retries over loopback servers: what is retried (503, 429 with
//! `Retry-After`, a connection closed before any response byte), what is not
//! (non-idempotent methods, streamed bodies, a `Retry-After` past the cap, past the
//! budget), that nothing is held while a retry waits, and that the retry is on the
//! attempt's timeline.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turbo_client::transport::RequestBody;
use turbo_client::{EVENT_RETRY, FieldValue, RetryPolicy, TurboClient};

fn quick() -> RetryPolicy {
    RetryPolicy::default().base_backoff(Duration::from_millis(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_is_retried_and_the_retry_is_on_the_timeline() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder().retry(quick()).build().unwrap();
    let response = client
        .get(server.url(0, "/fail-once/get"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.occupancy.total(server.addrs[0].ip()), 2);
    let timeline = response.timeline().cloned().unwrap();
    response.bytes().await.unwrap();
    let finished = timeline.finished().unwrap();
    let first = finished.timeline.find(EVENT_RETRY).unwrap();
    assert_eq!(first.field("attempt"), Some(FieldValue::U64(2)));
    assert_eq!(first.field("reason"), Some(FieldValue::Str("503")));
    assert!(client.stats().is_quiescent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_is_not_retried_unless_asked_and_streams_never_are() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder().retry(quick()).build().unwrap();
    let response = client
        .post(server.url(0, "/fail-once/post"))
        .body("form")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    let eager = TurboClient::builder()
        .retry(quick().non_idempotent(true))
        .build()
        .unwrap();
    let response = eager
        .post(server.url(0, "/fail-once/post-2"))
        .body("form")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    struct Once(Option<Bytes>);
    impl futures_core::Stream for Once {
        type Item = Result<Bytes, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.take().map(Ok))
        }
    }
    let response = eager
        .post(server.url(0, "/fail-once/stream"))
        .body(RequestBody::from_stream(Once(Some(Bytes::from_static(
            b"x",
        )))))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a stream is sent once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_up_to_the_cap() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .retry(quick().max_backoff(Duration::from_secs(2)))
        .build()
        .unwrap();
    let response = client
        .get(server.url(0, "/retry-after/1/a"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "waited 1 s, then retried"
    );
    let response = client
        .get(server.url(0, "/retry-after/60/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a wait past max_backoff is the caller's to decide"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_budget_stops_retries() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .retry(quick().budget(0.0, 0))
        .build()
        .unwrap();
    let response = client
        .get(server.url(0, "/fail-once/budget"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.occupancy.total(server.addrs[0].ip()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_held_while_a_retry_waits() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .max_per_host(1)
        .retry(RetryPolicy::default().base_backoff(Duration::from_millis(600)))
        .build()
        .unwrap();
    let call = tokio::spawn(client.get(server.url(0, "/fail-once/held")).send());
    assert!(common::eventually(|| server.occupancy.total(server.addrs[0].ip()) == 1).await);
    assert!(
        common::eventually(|| client.stats().is_quiescent()).await,
        "the backoff held a permit, a slot or a context"
    );
    let response = call.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_before_any_response_byte_is_retried() {
    // A raw server: the first connection is closed as soon as the request
    // arrives, the second is answered.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut first, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 1024];
        let _ = first.read(&mut buffer).await;
        drop(first);
        let (mut second, _) = listener.accept().await.unwrap();
        let _ = second.read(&mut buffer).await;
        second
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
        let _ = second.read(&mut buffer).await;
    });
    let client = TurboClient::builder().retry(quick()).build().unwrap();
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    let timeline = response.timeline().cloned().unwrap();
    assert_eq!(&response.bytes().await.unwrap()[..], b"ok");
    let finished = timeline.finished().unwrap();
    let event = finished.timeline.find(EVENT_RETRY).unwrap();
    assert_eq!(event.field("reason"), Some(FieldValue::Str("no_response")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_can_be_turned_off() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let response = client
        .get(server.url(0, "/fail-once/off"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.occupancy.total(server.addrs[0].ip()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_closes_without_answering_is_named_as_such() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await;
        }
    });
    let client = TurboClient::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let error = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), turbo_client::ErrorKind::Transport, "{error}");
    assert!(
        error
            .to_string()
            .contains("closed the connection before answering"),
        "{error}"
    );
}
