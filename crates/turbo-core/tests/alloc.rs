//! Allocation gate: allocations and bytes per request that `ContextLayer` adds over
//! the bare service, in steady state (after warm-up), counted by a global allocator.
//! Target: at most 6 allocations and 512 bytes, the snapshot included.
//!
//! One test in this binary, so no other test's allocations are counted.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use turbo_core::{ContextLayer, TimelineSnapshot};
use turbo_testkit::{AllocSnapshot, CountingAllocator};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

const WARM_UP: u64 = 2_000;
const MEASURED: u64 = 20_000;

async fn ok(_request: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"payload"))))
}

/// Runs `count` requests; `read_timeline` makes the caller keep the snapshot across
/// the body and read it afterwards, the way a caller that wants timings does.
async fn run<S, B>(service: &mut S, count: u64, read_timeline: bool) -> usize
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    B: Body + Unpin,
    B::Error: std::fmt::Debug,
{
    let uri = Uri::from_static("http://example.com/items");
    let mut events = 0;
    // Requests that read their timeline see two events each (headers, body end); counted so the read
    // cannot be optimised away.
    for _ in 0..count {
        let mut request = Request::new(());
        *request.uri_mut() = uri.clone();
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        let snapshot = read_timeline
            .then(|| TimelineSnapshot::of(&response).cloned())
            .flatten();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.unwrap();
        }
        if let Some(len) = snapshot.and_then(|s| s.inspect(|f| f.timeline.len())) {
            events += len;
        }
    }
    events
}

async fn per_request<S, B>(mut service: S, read_timeline: bool) -> (f64, f64)
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    B: Body + Unpin,
    B::Error: std::fmt::Debug,
{
    run(&mut service, WARM_UP, read_timeline).await;
    let before = ALLOC.snapshot();
    let events = run(&mut service, MEASURED, read_timeline).await;
    assert_eq!(events as u64, if read_timeline { 2 * MEASURED } else { 0 });
    let used: AllocSnapshot = ALLOC.snapshot().since(&before);
    (
        used.allocations as f64 / MEASURED as f64,
        used.allocated_bytes as f64 / MEASURED as f64,
    )
}

#[test]
fn context_layer_allocation_gate() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (bare_allocs, bare_bytes) = per_request(service_fn(ok), false).await;
        for read_timeline in [false, true] {
            let layered = ServiceBuilder::new()
                .layer(ContextLayer::new())
                .service(service_fn(ok));
            let (allocs, bytes) = per_request(layered, read_timeline).await;
            let added_allocs = allocs - bare_allocs;
            let added_bytes = bytes - bare_bytes;
            println!(
                "read_timeline={read_timeline}: bare {bare_allocs:.2} allocs {bare_bytes:.0} B, \
                 layered {allocs:.2} allocs {bytes:.0} B, added {added_allocs:.2} allocs {added_bytes:.0} B"
            );
            assert!(added_allocs <= 6.0, "{added_allocs} allocations per request added");
            assert!(added_bytes <= 512.0, "{added_bytes} bytes per request added");
        }
    });
}
