//! Request bodies over a real loopback server: bytes in memory, a streamed upload,
//! a stream that fails part way, and a body given to the client as a `Service`.

#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use tower::ServiceExt;
use turbo_client::TurboClient;
use turbo_client::transport::RequestBody;

/// Chunks with a pause before each, as a slow producer would yield them.
struct SlowChunks {
    chunks: Vec<Result<Bytes, std::io::Error>>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SlowChunks {
    fn new(chunks: Vec<Result<Bytes, std::io::Error>>) -> Self {
        Self {
            chunks,
            pause: None,
        }
    }
}

impl futures_core::Stream for SlowChunks {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.chunks.is_empty() {
            return Poll::Ready(None);
        }
        let pause = self
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(5))));
        if pause.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.pause = None;
        Poll::Ready(Some(self.chunks.remove(0)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_upload_arrives_whole() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::new().unwrap();
    let chunks = (0..5)
        .map(|i| Ok(Bytes::from(format!("part {i};"))))
        .collect();
    let response = client
        .post(server.url(0, "/echo-body"))
        .body(RequestBody::from_stream(SlowChunks::new(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        &response.bytes().await.unwrap()[..],
        b"part 0;part 1;part 2;part 3;part 4;"
    );
    assert!(client.stats().is_quiescent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_in_memory_arrive_and_a_failing_stream_fails_the_request() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::new().unwrap();
    let response = client
        .put(server.url(0, "/echo-body"))
        .body("in memory")
        .send()
        .await
        .unwrap();
    assert_eq!(&response.bytes().await.unwrap()[..], b"in memory");

    let failing = SlowChunks::new(vec![
        Ok(Bytes::from_static(b"first")),
        Err(std::io::Error::other("the producer failed")),
    ]);
    let outcome = client
        .post(server.url(0, "/echo-body"))
        .body(RequestBody::from_stream(failing))
        .send()
        .await;
    // Either hyper reports the failed body, or the server saw a cut body.
    match outcome {
        Err(error) => assert!(error.to_string().contains("the producer failed"), "{error}"),
        Ok(response) => assert_ne!(response.status(), http::StatusCode::OK),
    }
    assert!(common::eventually(|| client.stats().is_quiescent()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_as_a_service_takes_any_body_that_converts() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::new().unwrap();
    let request = http::Request::post(server.url(0, "/echo-body"))
        .body(String::from("a string body"))
        .unwrap();
    let response = client.clone().oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"a string body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_reads_utf8_and_refuses_anything_else() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::new().unwrap();
    let text = client
        .post(server.url(0, "/echo-body"))
        .body("héllo")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "héllo");
    let error = client
        .post(server.url(0, "/echo-body"))
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), turbo_client::ErrorKind::Body);
}
