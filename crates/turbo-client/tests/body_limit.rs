//! Whole-body reads are bounded: an endless body stops at `max_body_size` (64 MiB by
//! default) with `BodyTooLarge`, an announced length past it is refused before a
//! byte is read, and streaming with `chunk()` is not limited.

#![allow(clippy::unwrap_used)]

mod common;

use turbo_client::{ErrorKind, TurboClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_stops_at_the_limit() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .max_body_size(1024 * 1024)
        .build()
        .unwrap();
    let response = client.get(server.url(0, "/endless")).send().await.unwrap();
    let error = response.bytes().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BodyTooLarge, "{error}");
    assert!(error.to_string().contains("1048576"), "{error}");
    assert!(common::eventually(|| client.stats().is_quiescent()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_limit_is_64_mib() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::new().unwrap();
    let response = client.get(server.url(0, "/endless")).send().await.unwrap();
    let error = response.bytes().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BodyTooLarge, "{error}");
    assert!(error.to_string().contains("67108864"), "{error}");
    assert!(common::eventually(|| client.stats().is_quiescent()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_length_past_the_limit_is_refused_before_reading() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder().max_body_size(100).build().unwrap();
    let fixture = "tone.wav";
    let length = std::fs::metadata(common::fixture(fixture)).unwrap().len();
    assert!(length > 100);
    let response = client
        .get(server.url(0, &format!("/audio/{fixture}")))
        .send()
        .await
        .unwrap();
    let error = response.bytes().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BodyTooLarge);
    assert!(error.to_string().contains(&length.to_string()), "{error}");
    assert!(common::eventually(|| client.stats().is_quiescent()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_with_chunk_is_not_limited() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .max_body_size(1024 * 1024)
        .build()
        .unwrap();
    let mut response = client.get(server.url(0, "/endless")).send().await.unwrap();
    let mut read = 0;
    while read < 3 * 1024 * 1024 {
        read += response.chunk().await.unwrap().unwrap().len();
    }
    drop(response);
    assert!(common::eventually(|| client.stats().is_quiescent()).await);
}
