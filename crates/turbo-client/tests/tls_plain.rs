//! An `https://` URL to a plain-HTTP port fails as a TLS error, bounded.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use turbo_client::{ErrorKind, TurboClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_plain_http_port_is_a_tls_error() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder()
        .read_idle_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!("https://{}/ok", server.addrs[0]);
    let error = tokio::time::timeout(Duration::from_secs(60), client.get(url).send())
        .await
        .expect("the handshake hung")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
}
