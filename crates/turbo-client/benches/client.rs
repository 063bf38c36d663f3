//! TurboClient raced against its peers, 64 concurrent callers, each reading every
//! response body to its end:
//!
//! - `stack_mock`: the whole stack over `MockTransport` against tower's
//!   `buffer(1024)` + `concurrency_limit(16)` over the same mock (16 in flight on
//!   both sides). Ours is configured through the public builder only:
//!   `max_per_host(16)`, `max_in_flight(16)`, `max_queued(1024)` (the peer's
//!   numbers); everything else is the default (no timeout, bodies held to their end).
//! - `http_loopback`: HTTP/1.1 to a hyper server on 127.0.0.1, against a bare
//!   hyper-util client (`pool_max_idle_per_host(32)`, nodelay);
//!   `http_loopback_vs_reqwest`: the same against reqwest with its defaults. Ours is
//!   `TurboClient::builder()` with `max_per_host(64)` and `max_in_flight(64)`, the
//!   callers' number, so the gates never make a request wait and the figure is the
//!   client's overhead; the rest is the default (HTTPS-capable transport, no
//!   timeout). Each side is given the URL the way its API takes it: against
//!   hyper-util, whose client only takes a parsed `Uri`, both clone one parsed `Uri`
//!   per request; against reqwest, both take the URL as text and parse it per request.
//!
//! - `stack_tower_mix`: a user's stack mixing turbo's layers with tower's: tower's
//!   `timeout(10 s)` and tower-http's `Trace` around the context layer, the host
//!   limit (16 per host) and the priority queue (16 in flight, 1,024 queued) over the
//!   mock, against the same `timeout` and `Trace` around tower's `buffer(1024)` +
//!   `concurrency_limit(16)` over the same mock. Both sides clone the composed
//!   service per request (`oneshot`), as a user of a plain tower stack does.
//!
//! Every figure is nanoseconds per request at the measured throughput.

// criterion's macros generate undocumented public items in this bench binary.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
use turbo_client::TurboClient;
use turbo_client::transport::{MockTransport, RequestBody};

const CALLERS: u64 = 64;
const BODY: &[u8] = b"{\"id\":42,\"name\":\"turbo\",\"tags\":[\"a\",\"b\"]}";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `iters` requests split over 64 callers, each calling `one` in a loop.
fn drive<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, one: F) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let per_caller = iters.div_ceil(CALLERS);
    let one = Arc::new(one);
    rt.block_on(async move {
        let start = Instant::now();
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let one = Arc::clone(&one);
                tokio::spawn(async move {
                    for _ in 0..per_caller {
                        one().await;
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await.expect("caller");
        }
        start.elapsed()
    })
}

fn stack_mock(c: &mut Criterion) {
    let rt = runtime();
    let url = "http://api.example.com/items";
    let mut group = c.benchmark_group("stack_mock");
    group.bench_function("ours", |b| {
        let client = TurboClient::builder()
            .transport(MockTransport::ok(Bytes::from_static(BODY)))
            .max_per_host(16)
            .max_in_flight(16)
            .max_queued(1024)
            .build()
            .expect("client");
        b.iter_custom(|iters| {
            let client = client.clone();
            drive(&rt, iters, move || {
                let client = client.clone();
                async move {
                    let response = client.get(url).send().await.expect("response");
                    assert_eq!(response.bytes().await.expect("body").len(), BODY.len());
                }
            })
        })
    });
    group.bench_function("tower_buffer_limit", |b| {
        let service = rt.block_on(async {
            ServiceBuilder::new()
                .buffer::<Request<RequestBody>>(1024)
                .concurrency_limit(16)
                .service(MockTransport::ok(Bytes::from_static(BODY)).map_err(BoxError::from))
        });
        b.iter_custom(|iters| {
            let service = service.clone();
            drive(&rt, iters, move || {
                let mut service = service.clone();
                async move {
                    let request = Request::get(url)
                        .body(RequestBody::default())
                        .expect("request");
                    let response = service
                        .ready()
                        .await
                        .expect("ready")
                        .call(request)
                        .await
                        .expect("response");
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .expect("body")
                        .to_bytes();
                    assert_eq!(body.len(), BODY.len());
                }
            })
        })
    });
    group.finish();
}

/// A hyper HTTP/1.1 server on 127.0.0.1 answering every request with `BODY`.
fn start_server(rt: &tokio::runtime::Runtime) -> SocketAddr {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_request| async {
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                            BODY,
                        ))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    })
}

fn http_loopback(c: &mut Criterion) {
    let rt = runtime();
    let addr = start_server(&rt);
    let url = format!("http://{addr}/items");

    let client = TurboClient::builder()
        .max_per_host(CALLERS as usize)
        .max_in_flight(CALLERS as usize)
        .build()
        .expect("client");
    let uri: http::Uri = url.parse().expect("uri");
    let ours_with_uri = {
        let client = client.clone();
        let uri = uri.clone();
        move || {
            let client = client.clone();
            let uri = uri.clone();
            async move {
                let response = client.get(uri).send().await.expect("response");
                assert_eq!(response.bytes().await.expect("body").len(), BODY.len());
            }
        }
    };
    let ours_with_text = {
        let url = url.clone();
        move || {
            let client = client.clone();
            let url = url.clone();
            async move {
                let response = client.get(&url).send().await.expect("response");
                assert_eq!(response.bytes().await.expect("body").len(), BODY.len());
            }
        }
    };
    let hyper_util_client = {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(32)
            .build(connector);
        move || {
            let client = client.clone();
            let uri = uri.clone();
            async move {
                let request = Request::get(uri).body(Full::default()).expect("request");
                let response = client.request(request).await.expect("response");
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes();
                assert_eq!(body.len(), BODY.len());
            }
        }
    };
    let reqwest_client = {
        let client = reqwest::Client::builder().build().expect("reqwest");
        let url = url.clone();
        move || {
            let client = client.clone();
            let url = url.clone();
            async move {
                let response = client.get(&url).send().await.expect("response");
                assert_eq!(response.bytes().await.expect("body").len(), BODY.len());
            }
        }
    };

    let mut group = c.benchmark_group("http_loopback");
    group.bench_function("ours", |b| {
        b.iter_custom(|iters| drive(&rt, iters, ours_with_uri.clone()))
    });
    group.bench_function("hyper_util", |b| {
        b.iter_custom(|iters| drive(&rt, iters, hyper_util_client.clone()))
    });
    group.finish();

    let mut group = c.benchmark_group("http_loopback_vs_reqwest");
    group.bench_function("ours", |b| {
        b.iter_custom(|iters| drive(&rt, iters, ours_with_text.clone()))
    });
    group.bench_function("reqwest", |b| {
        b.iter_custom(|iters| drive(&rt, iters, reqwest_client.clone()))
    });
    group.finish();
}

/// Runs one request through a clone of `service` and reads the body to its end.
async fn oneshot_and_read<S, B>(service: S)
where
    S: Service<Request<RequestBody>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::get("http://api.example.com/items")
        .body(RequestBody::default())
        .expect("request");
    let response = service.oneshot(request).await.expect("response");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(body.len(), BODY.len());
}

fn stack_tower_mix(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("stack_tower_mix");
    group.bench_function("ours", |b| {
        let service = ServiceBuilder::new()
            .timeout(Duration::from_secs(10))
            .layer(tower_http::trace::TraceLayer::new_for_http())
            .layer(turbo_core::ContextLayer::new())
            .layer(turbo_limit::HostConcurrencyLimitLayer::new(16))
            .layer(
                turbo_limit::PriorityQueueLayer::builder()
                    .max_in_flight(16)
                    .max_queued(1024)
                    .build(),
            )
            .service(MockTransport::ok(Bytes::from_static(BODY)));
        b.iter_custom(|iters| {
            let service = service.clone();
            drive(&rt, iters, move || oneshot_and_read(service.clone()))
        })
    });
    group.bench_function("tower_mix", |b| {
        let service = rt.block_on(async {
            ServiceBuilder::new()
                .timeout(Duration::from_secs(10))
                .layer(tower_http::trace::TraceLayer::new_for_http())
                .buffer::<Request<RequestBody>>(1024)
                .concurrency_limit(16)
                .service(MockTransport::ok(Bytes::from_static(BODY)).map_err(BoxError::from))
        });
        b.iter_custom(|iters| {
            let service = service.clone();
            drive(&rt, iters, move || oneshot_and_read(service.clone()))
        })
    });
    group.finish();
}

criterion_group!(benches, stack_mock, stack_tower_mix, http_loopback);
criterion_main!(benches);
