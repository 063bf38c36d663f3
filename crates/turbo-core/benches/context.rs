//! `ContextLayer` raced against the bare service and against tower-http's
//! `TraceLayer` (default settings, a `tracing_subscriber::fmt` subscriber at DEBUG
//! writing to `std::io::sink()`: the setting in which TraceLayer records each
//! request's latency). Each request's body is driven to its end, so every side pays
//! for the whole request life.

// criterion's macros generate undocumented public items in this bench binary.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Empty};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_http::trace::TraceLayer;
use turbo_core::ContextLayer;

async fn noop(_request: Request<Empty<Bytes>>) -> Result<Response<Empty<Bytes>>, Infallible> {
    Ok(Response::new(Empty::new()))
}

async fn drive<S, B>(mut service: S, iters: u64) -> Duration
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body + Unpin,
    B::Error: std::fmt::Debug,
{
    let uri = Uri::from_static("http://example.com/items");
    let start = Instant::now();
    for _ in 0..iters {
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = uri.clone();
        let ready = service.ready().await.expect("ready");
        let response = ready.call(request).await.expect("response");
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            black_box(frame.expect("frame"));
        }
    }
    start.elapsed()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

fn context_layer(c: &mut Criterion) {
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    let rt = runtime();

    let mut group = c.benchmark_group("context_layer");
    group.bench_function("ours", |b| {
        let service = ServiceBuilder::new()
            .layer(ContextLayer::new())
            .service(service_fn(noop));
        b.iter_custom(|iters| rt.block_on(drive(service.clone(), iters)))
    });
    group.bench_function("trace_layer", |b| {
        let service = ServiceBuilder::new()
            .layer(TraceLayer::new_for_http())
            .service(service_fn(noop));
        b.iter_custom(|iters| rt.block_on(drive(service.clone(), iters)))
    });
    group.finish();

    let mut group = c.benchmark_group("context_layer_bare");
    group.bench_function("ours", |b| {
        let service = ServiceBuilder::new()
            .layer(ContextLayer::new())
            .service(service_fn(noop));
        b.iter_custom(|iters| rt.block_on(drive(service.clone(), iters)))
    });
    group.bench_function("bare_service", |b| {
        b.iter_custom(|iters| rt.block_on(drive(service_fn(noop), iters)))
    });
    group.finish();
}

criterion_group!(benches, context_layer);
criterion_main!(benches);
