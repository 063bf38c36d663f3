//! Shutdown in both modes with requests in flight and waiting against a slow
//! server; afterwards every entry point fails with `ClientClosed`, and the
//! transport is shut down exactly once however often `shutdown` is called.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use turbo_client::transport::MockTransport;
use turbo_client::{ErrorKind, StopMode, TurboClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_or_cancels_and_then_refuses_everything() {
    for mode in [StopMode::Drain, StopMode::CancelPending] {
        let server = common::start(&["127.0.0.1"]).await;
        let client = TurboClient::builder().max_per_host(1).build().unwrap();
        let in_flight = {
            let client = client.clone();
            // Long enough that the request below is still waiting for the
            // host's one permit when shutdown starts, even on a loaded machine.
            let url = server.url(0, "/sleep/1000");
            tokio::spawn(async move { client.get(&url).send().await?.bytes().await })
        };
        assert!(common::eventually(|| client.stats().hosts.in_flight() == 1).await);
        let waiting = {
            let client = client.clone();
            let url = server.url(0, "/ok");
            tokio::spawn(async move { client.get(&url).send().await?.bytes().await })
        };
        assert!(common::eventually(|| client.stats().hosts.waiting() == 1).await);

        client.shutdown(mode).await;
        // Shutdown returned: nothing is in flight any more.
        assert!(client.stats().is_quiescent(), "{:?}", client.stats());
        assert_eq!(&in_flight.await.unwrap().unwrap()[..], b"{\"ok\":true}");
        let waited = waiting.await.unwrap();
        match mode {
            StopMode::Drain => assert!(waited.is_ok()),
            StopMode::CancelPending => {
                assert_eq!(waited.unwrap_err().kind(), ErrorKind::QueueStopped)
            }
        }

        let url = server.url(0, "/ok");
        for method in [
            http::Method::GET,
            http::Method::POST,
            http::Method::PUT,
            http::Method::PATCH,
            http::Method::DELETE,
        ] {
            let error = client.request(method, &url).send().await.unwrap_err();
            assert!(error.is_closed());
        }
        assert!(client.get(&url).send().await.unwrap_err().is_closed());
        assert!(
            client
                .post(&url)
                .body("x")
                .send()
                .await
                .unwrap_err()
                .is_closed()
        );
        let request = http::Request::get(&url).body(Default::default()).unwrap();
        assert!(client.send(request).await.unwrap_err().is_closed());
        assert!(client.get(&url).build().unwrap_err().is_closed());
        client.shutdown(mode).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_transport_is_shut_down_exactly_once() {
    let mock = MockTransport::ok(Bytes::from_static(b"ok"));
    let hook = mock.clone();
    let client = TurboClient::builder()
        .transport(mock.clone())
        .on_shutdown(move || hook.shut_down())
        .build()
        .unwrap();
    client
        .get("http://a.test/")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let other = client.clone();
    tokio::join!(
        client.shutdown(StopMode::Drain),
        other.shutdown(StopMode::CancelPending)
    );
    client.shutdown(StopMode::Drain).await;
    assert_eq!(mock.shutdowns(), 1);
    drop(client);
    drop(other);
}

#[tokio::test(flavor = "current_thread")]
async fn cancelling_requests_and_dropping_the_client_leave_nothing_behind() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder().max_per_host(1).build().unwrap();
    let probe = client.clone();
    let in_flight = {
        let client = client.clone();
        let url = server.url(0, "/sleep/5000");
        tokio::spawn(async move { client.get(&url).send().await.map(drop) })
    };
    assert!(common::eventually(|| probe.stats().hosts.in_flight() == 1).await);
    let waiting = {
        let client = client.clone();
        let url = server.url(0, "/ok");
        tokio::spawn(async move { client.get(&url).send().await.map(drop) })
    };
    assert!(common::eventually(|| probe.stats().hosts.waiting() == 1).await);
    drop(client);
    in_flight.abort();
    waiting.abort();
    assert!(in_flight.await.unwrap_err().is_cancelled());
    assert!(waiting.await.unwrap_err().is_cancelled());
    assert!(probe.stats().is_quiescent(), "{:?}", probe.stats());
    drop(probe);
}
