//! Settings and URLs that used to panic or go astray: `Duration::MAX` timeouts,
//! `usize::MAX` pools, a per-host limit of 0, and a port that is not a port.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use turbo_client::transport::MockTransport;
use turbo_client::{ErrorKind, HostKey, TurboClient};

fn mock() -> MockTransport {
    MockTransport::ok(Bytes::from_static(b"ok"))
}

#[tokio::test(flavor = "current_thread")]
async fn a_timeout_of_duration_max_is_no_deadline_not_a_panic() {
    let client = TurboClient::builder()
        .transport(mock())
        .timeout(Duration::MAX)
        .build()
        .unwrap();
    let response = client.get("http://a.test/").send().await.unwrap();
    assert_eq!(&response.bytes().await.unwrap()[..], b"ok");
    for timeout in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
        let response = client
            .get("http://a.test/")
            .timeout(timeout)
            .send()
            .await
            .unwrap();
        assert_eq!(&response.bytes().await.unwrap()[..], b"ok");
    }
    assert!(client.stats().is_quiescent());
}

#[test]
fn oversized_pools_and_zero_limits_are_refused_by_build() {
    let error = TurboClient::builder()
        .transport(mock())
        .context_pool(usize::MAX)
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    assert!(error.to_string().contains("context_pool"), "{error}");

    let host = HostKey::from_uri(&"http://a.test/".parse().unwrap()).unwrap();
    let error = TurboClient::builder()
        .transport(mock())
        .host_limit(host, 0)
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    assert!(error.to_string().contains("a.test"), "{error}");

    let error = TurboClient::builder()
        .transport(mock())
        .max_per_host(0)
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_is_not_a_port_is_an_invalid_request_naming_it() {
    // A server on port 80 would answer if the port fell back to the default;
    // nothing may be sent anywhere.
    let client = TurboClient::new().unwrap();
    let error = client
        .get("http://127.0.0.1:99999/")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{error}");
    assert!(error.to_string().contains("99999"), "{error}");
    assert!(client.stats().is_quiescent());
}
