//! TurboClient as a building block: its send futures are `Send + 'static` (they can
//! be spawned and outlive the client handle), and the client is a tower `Service`
//! that users wrap in their own layers, with each call taking its own host permit.

#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tower::{Service, ServiceBuilder, ServiceExt};
use turbo_client::{ErrorKind, TurboClient};

fn spawnable<F: Future + Send + 'static>(future: F) -> F {
    future
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

/// Retries a 503 once.
#[derive(Clone)]
struct RetryUnavailable {
    left: usize,
}

impl<R: http_body::Body<Data = Bytes, Error: Into<turbo_client::BoxError>>, E>
    tower::retry::Policy<Request<Full<Bytes>>, turbo_client::Response<R>, E> for RetryUnavailable
{
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _request: &mut Request<Full<Bytes>>,
        result: &mut Result<turbo_client::Response<R>, E>,
    ) -> Option<Self::Future> {
        match result {
            Ok(response)
                if response.status() == StatusCode::SERVICE_UNAVAILABLE && self.left > 0 =>
            {
                self.left -= 1;
                Some(std::future::ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        Some(request.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_is_a_service_that_user_layers_wrap() {
    let server = common::start(&["127.0.0.1"]).await;
    // One permit per host: the retry's second attempt gets through only because
    // the first one's permit went back with its 503.
    let client = TurboClient::builder().max_per_host(1).build().unwrap();
    let service = ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(RetryUnavailable { left: 1 }))
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(10)))
        .service(client.clone());
    let request = Request::get(server.url(0, "/fail-once/service"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        server.occupancy.total(server.addrs[0].ip()),
        2,
        "two attempts"
    );
    let timeline = response.timeline().cloned().unwrap();
    assert_eq!(&response.bytes().await.unwrap()[..], b"{\"ok\":true}");
    assert!(timeline.finished().is_some());
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
    assert_eq!(&response.bytes().await.unwrap()[..], b"hi");
    client.shutdown(turbo_client::StopMode::Drain).await;
    let error = ServiceExt::<Request<&'static str>>::ready(&mut service)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ClientClosed);
}
