//! `RequestBuilder::json` and `Response::json` (feature `json`; `cargo xtask ci`
//! runs this file with it) over a loopback server that echoes the body.

#![cfg(feature = "json")]
#![allow(clippy::unwrap_used)]

mod common;

use serde::{Deserialize, Serialize};
use turbo_client::{ErrorKind, TurboClient};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Item {
    id: u64,
    name: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_goes_out_and_comes_back() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::new().unwrap();
    let sent = Item {
        id: 42,
        name: "turbo".into(),
    };
    let echoed: Item = client
        .post(server.url(0, "/echo-body"))
        .json(&sent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echoed, sent);
    let kind = client
        .post(server.url(0, "/echo-header/content-type"))
        .json(&sent)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(kind, "application/json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_the_expected_json_is_a_body_error() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::new().unwrap();
    let error = client
        .post(server.url(0, "/echo-body"))
        .body("not json")
        .send()
        .await
        .unwrap()
        .json::<Item>()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Body);
    assert!(error.to_string().contains("Item"), "{error}");
}
