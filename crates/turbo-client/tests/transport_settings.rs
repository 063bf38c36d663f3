//! `HttpTransport`'s settings against a loopback server: HTTP versions, the
//! response header limit, and idle pooled connections closed after their timeout.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use http::Version;
use turbo_client::TurboClient;
use turbo_client::transport::{HttpTransport, HttpVersions};

fn client(transport: HttpTransport) -> TurboClient {
    TurboClient::builder().transport(transport).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chosen_http_version_is_spoken() {
    let server = common::start(&["127.0.0.1"]).await;
    for (versions, expected) in [
        (HttpVersions::Http1Only, Version::HTTP_11),
        (HttpVersions::Http2Only, Version::HTTP_2),
        (HttpVersions::Any, Version::HTTP_11),
    ] {
        let client = client(HttpTransport::builder().versions(versions).build().unwrap());
        let response = client.get(server.url(0, "/ok")).send().await.unwrap();
        assert_eq!(response.version(), expected, "{versions:?}");
        assert_eq!(&response.bytes().await.unwrap()[..], b"{\"ok\":true}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_header_limit_is_configurable() {
    let server = common::start(&["127.0.0.1"]).await;
    let url = server.url(0, "/many-headers/200");
    let default = client(HttpTransport::new().unwrap());
    assert!(
        default.get(&url).send().await.is_err(),
        "hyper's 100 by default"
    );
    let roomy = client(
        HttpTransport::builder()
            .max_response_headers(256)
            .build()
            .unwrap(),
    );
    let response = roomy.get(&url).send().await.unwrap();
    assert!(response.headers().contains_key("x-h199"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_pooled_connections_close_after_the_pool_idle_timeout() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = client(
        HttpTransport::builder()
            .pool_idle_timeout(Duration::from_millis(200))
            .build()
            .unwrap(),
    );
    let response = client.get(server.url(0, "/ok")).send().await.unwrap();
    response.bytes().await.unwrap();
    assert_eq!(server.occupancy.open_connections(), 1, "kept for reuse");
    assert!(
        common::eventually(|| server.occupancy.open_connections() == 0).await,
        "the idle connection was never closed"
    );
}
