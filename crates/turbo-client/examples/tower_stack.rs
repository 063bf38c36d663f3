//! TurboClient inside a user's own tower stack, against a hyper server this example
//! starts on 127.0.0.1 (no network needed):
//!
//! - per-attempt layers go in the client with `.layer(..)`: they sit next to the
//!   transport, inside the limits, and run for every attempt (here tower-http's
//!   `SetRequestHeader`, standing in for request signing);
//! - per-request layers wrap the client, which is a tower `Service`: outside the
//!   limits, so each retry attempt takes its own host permit and nothing is held
//!   while it waits (here tower's `retry` and `timeout`).
//!
//! ```sh
//! cargo run -p turbo-client --example tower_stack
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tower::{BoxError, ServiceBuilder, ServiceExt};
use turbo_client::{RetryPolicy, TimelineSnapshot, TurboClient};

/// Retries a 503 up to `left` more times, 50 ms apart.
#[derive(Clone)]
struct RetryUnavailable {
    left: usize,
}

impl<B, E> tower::retry::Policy<Request<Full<Bytes>>, Response<B>, E> for RetryUnavailable {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _request: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<B>, E>,
    ) -> Option<Self::Future> {
        let unavailable = matches!(result, Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE);
        if unavailable && self.left > 0 {
            self.left -= 1;
            Some(tokio::time::sleep(Duration::from_millis(50)))
        } else {
            None
        }
    }

    fn clone_request(&mut self, request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        Some(request.clone())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let addr = serve().await?;

    // The client's own retries are off, so the retry layer around it is the one
    // that handles the 503s here.
    let client = TurboClient::builder()
        .retry(RetryPolicy::none())
        .max_per_host(1)
        .layer(tower_http::set_header::SetRequestHeaderLayer::overriding(
            HeaderName::from_static("x-signature"),
            HeaderValue::from_static("signed-per-attempt"),
        ))
        .build()?;
    let service = ServiceBuilder::new()
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(10)))
        .layer(tower::retry::RetryLayer::new(RetryUnavailable { left: 2 }))
        .service(client.clone());

    let request = Request::get(format!("http://{addr}/flaky")).body(Full::default())?;
    let response = service.oneshot(request).await?;
    println!("status after retries: {}", response.status());
    let timeline = TimelineSnapshot::of(&response).cloned();
    let body = response.into_body().collect().await?.to_bytes();
    println!("body: {}", String::from_utf8_lossy(&body));
    if let Some(done) = timeline.as_ref().and_then(|t| t.finished()) {
        println!("last attempt's timeline:\n{}", done.timeline);
    }
    assert!(client.stats().is_quiescent(), "everything was released");
    Ok(())
}

/// A hyper server on 127.0.0.1: 503 for the first two requests, then 200 with
/// the `x-signature` header it received.
async fn serve() -> Result<std::net::SocketAddr, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let served = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let served = Arc::clone(&served);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<_>| {
                    let attempt = served.fetch_add(1, Ordering::SeqCst);
                    let signature = request.headers().get("x-signature").cloned();
                    async move {
                        let mut response = Response::new(Full::new(Bytes::from(format!(
                            "attempt {} carried x-signature: {:?}",
                            attempt + 1,
                            signature
                        ))));
                        if attempt < 2 {
                            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                        }
                        Ok::<_, Infallible>(response)
                    }
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
