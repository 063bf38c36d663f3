//! TurboClient as a building block: its send futures are `Send + 'static` (they can
//! be spawned and outlive the client handle), and the client is a tower `Service`
//! that users wrap in their own per-request layers (retry, redirect), with each
//! attempt or hop taking its own host's permit and nothing held in between.

#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};
use turbo_client::{ErrorKind, TimelineSnapshot, TurboClient};

use common::RetryUnavailable;

fn spawnable<F: Future + Send + 'static>(future: F) -> F {
    future
}

fn get(url: &str) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_futures_can_be_spawned_and_outlive_the_client_handle() {
    let server = common::start(&["127.0.0.1"]).await;
    let client = TurboClient::builder().max_per_host(2).build().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let future = spawnable(client.get(server.url(0, "/sleep/20")).send());
        tasks.spawn(async move { future.await?.bytes().await });
    }
    let stats = client.clone();
    drop(client);
    while let Some(result) = tasks.join_next().await {
        assert_eq!(&result.unwrap().unwrap()[..], b"{\"ok\":true}");
    }
    assert_eq!(server.occupancy.total(server.addrs[0].ip()), 8);
    assert!(server.occupancy.peak(server.addrs[0].ip()) <= 2);
    assert!(stats.stats().is_quiescent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_around_the_client_holds_nothing_while_it_waits() {
    let server = common::start(&["127.0.0.1"]).await;
    // One permit per host: the second attempt gets through only because the
    // first one's permit went back with its 503.
    let client = TurboClient::builder().max_per_host(1).build().unwrap();
    let service = ServiceBuilder::new()
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(10)))
        .layer(tower::retry::RetryLayer::new(RetryUnavailable {
            left: 1,
            backoff: Duration::from_millis(300),
        }))
        .service(client.clone());
    let call = tokio::spawn(service.oneshot(get(&server.url(0, "/fail-once/service"))));
    // While the retry sleeps, the first attempt has ended: nothing is held.
    assert!(common::eventually(|| server.occupancy.total(server.addrs[0].ip()) == 1).await);
    assert!(
        common::eventually(|| client.stats().is_quiescent()).await,
        "the retry's backoff held a permit, a slot or a context"
    );
    let response = call.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        server.occupancy.total(server.addrs[0].ip()),
        2,
        "two attempts"
    );
    let timeline = TimelineSnapshot::of(&response).cloned().unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"{\"ok\":true}");
    assert!(timeline.finished().is_some());
    assert!(client.stats().is_quiescent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_around_the_client_takes_each_hops_own_host_permit() {
    let server = common::start(&["127.0.0.1", "127.0.0.2", "127.0.0.3"]).await;
    let client = TurboClient::builder().max_per_host(1).build().unwrap();
    let service = ServiceBuilder::new()
        .layer(tower_http::follow_redirect::FollowRedirectLayer::new())
        .service(client.clone());
    // 127.0.0.1 -> 127.0.0.2 -> 127.0.0.3.
    let last = server.url(2, "/echo-header/host");
    let middle = server.url(1, &format!("/redirect?to={last}"));
    let first = server.url(0, &format!("/redirect?to={middle}"));
    let response = service.clone().oneshot(get(&first)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Only the last hop's permit is held (by its unread body); the first two
    // hosts take a request at once despite their limit of 1.
    let stats = client.stats();
    assert_eq!(stats.hosts.in_flight(), 1);
    for host in 0..2 {
        let other = client.get(server.url(host, "/ok")).send().await.unwrap();
        assert_eq!(&other.bytes().await.unwrap()[..], b"{\"ok\":true}");
    }
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        body,
        server.addrs[2].to_string().as_bytes(),
        "served by 127.0.0.3"
    );
    for addr in &server.addrs {
        assert_eq!(server.occupancy.peak(addr.ip()), 1);
    }
    assert!(client.stats().is_quiescent());
}

#[tokio::test(flavor = "current_thread")]
async fn after_shutdown_the_service_is_not_ready() {
    let client = TurboClient::builder()
        .transport(turbo_client::transport::MockTransport::ok(
            Bytes::from_static(b"hi"),
        ))
        .build()
        .unwrap();
    let mut service = client.clone();
    let request = Request::get("http://a.test/").body("body").unwrap();
    let response = ServiceExt::<Request<&'static str>>::ready(&mut service)
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hi");
    client.shutdown(turbo_client::StopMode::Drain).await;
    let error = ServiceExt::<Request<&'static str>>::ready(&mut service)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ClientClosed);
}
