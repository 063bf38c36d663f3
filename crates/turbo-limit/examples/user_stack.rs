//! A user's own stack: turbo's per-host limit and priority queue between tower-http's
//! timeout and hyper-util's client, against a hyper server this example starts on
//! 127.0.0.1 (no network needed).
//!
//! ```sh
//! cargo run -p turbo-limit --example user_stack
//! ```

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::{BoxError, ServiceBuilder, ServiceExt};
use turbo_core::{ContextLayer, TimelineSnapshot};
use turbo_limit::{HostConcurrencyLimitLayer, LimitError, Priority, PriorityQueueLayer};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let addr = serve().await?;

    let hosts = HostConcurrencyLimitLayer::new(2);
    let queue = PriorityQueueLayer::new(4);
    let (limiter, slots) = (hosts.limiter().clone(), queue.handle());
    let service = ServiceBuilder::new()
        // tower-http answers 408 itself when a request takes too long.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(5),
        ))
        .layer(ContextLayer::new())
        .layer(hosts)
        .layer(queue)
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());

    let mut calls = tokio::task::JoinSet::new();
    for i in 0..12 {
        let mut request = Request::get(format!("http://{addr}/item/{i}")).body(Full::default())?;
        request
            .extensions_mut()
            .insert(Priority::ALL[i % Priority::COUNT]);
        let service = service.clone();
        calls.spawn(async move {
            let response = service.oneshot(request).await?;
            let timeline = TimelineSnapshot::of(&response).cloned();
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<_, BoxError>((status, timeline))
        });
    }
    while let Some(call) = calls.join_next().await {
        let (status, timeline) = call??;
        if let Some(done) = timeline.as_ref().and_then(TimelineSnapshot::finished) {
            println!("{status} {}", done.timeline);
        }
    }
    println!("hosts: {:?}", limiter.stats());
    println!("queue: {:?}", slots.stats());

    // A refusal of a turbo layer is a boxed `LimitError` inside the `BoxError`.
    let error = service
        .oneshot(Request::get("/no-host").body(Full::default())?)
        .await
        .expect_err("a relative URI has no host to limit");
    assert!(matches!(
        error.downcast_ref::<LimitError>(),
        Some(LimitError::InvalidHost(_))
    ));
    println!("refused: {error}");
    Ok(())
}

/// A hyper server on 127.0.0.1 that answers every request after 20 ms.
async fn serve() -> Result<std::net::SocketAddr, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_request| async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(error) = connection.await {
                    eprintln!("connection: {error}");
                }
            });
        }
    });
    Ok(addr)
}
