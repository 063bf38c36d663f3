//! Response bodies decoded by `Content-Encoding` (the opt-in `decompression`
//! feature; `cargo xtask ci` runs this file with it) over a loopback server: `Accept-Encoding` is offered, gzip is decoded,
//! the body limit counts decoded bytes (a compression bomb stops there), and
//! `decompress(false)` hands the bytes over as sent.

#![cfg(feature = "decompression")]
#![allow(clippy::unwrap_used)]

mod common;

use turbo_client::{ErrorKind, TurboClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_is_decoded_and_accept_encoding_offered() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::new().unwrap();
    let response = client.get(server.url(0, "/gzip")).send().await.unwrap();
    assert!(response.headers().get("content-encoding").is_none());
    let body = response.bytes().await.unwrap();
    assert_eq!(body, common::GZIP_TEXT.repeat(20).as_bytes());

    let offered = client
        .get(server.url(0, "/echo-header/accept-encoding"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let offered = String::from_utf8(offered.to_vec()).unwrap();
    for encoding in ["gzip", "deflate", "br", "zstd"] {
        assert!(offered.contains(encoding), "{offered}");
    }
    assert!(client.stats().is_quiescent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compression_bomb_stops_at_the_body_limit_on_decoded_bytes() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .max_body_size(1024 * 1024)
        .build()
        .unwrap();
    let response = client.get(server.url(0, "/bomb")).send().await.unwrap();
    let error = response.bytes().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BodyTooLarge, "{error}");
    assert!(common::eventually(|| client.stats().is_quiescent()).await);

    // Under the default 64 MiB the 10 MiB of zeros arrive whole.
    let client = TurboClient::new().unwrap();
    let body = client
        .get(server.url(0, "/bomb"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.len(), 10 << 20);
    assert!(body.iter().all(|byte| *byte == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turned_off_the_body_arrives_as_sent() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder().decompress(false).build().unwrap();
    let offered = client
        .get(server.url(0, "/echo-header/accept-encoding"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(offered.is_empty(), "{offered:?}");
    let response = client.get(server.url(0, "/gzip")).send().await.unwrap();
    assert_eq!(response.headers().get("content-encoding").unwrap(), "gzip");
    let body = response.bytes().await.unwrap();
    assert_eq!(&body[..2], &[0x1f, 0x8b], "still gzip");
}
