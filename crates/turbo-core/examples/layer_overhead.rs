//! How much time `ContextLayer` adds to a request over the bare service, measured
//! so that a loaded machine does not swamp it: batches of requests through each
//! service in turn, keeping each side's fastest batch. Preemption and other
//! processes only ever make a batch slower, so the minimum converges on the
//! undisturbed cost where criterion's median moves with the load.
//!
//! Same request loop as the `context_layer_bare` bench case (an empty body driven
//! to its end, a fresh request per iteration):
//!
//! ```text
//! cargo run --release -p turbo-core --example layer_overhead [BATCHES]
//! ```

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Empty};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use turbo_core::ContextLayer;

/// Requests per batch: long enough for the clock, short enough to often run
/// undisturbed.
const BATCH: u32 = 2_000;
const DEFAULT_BATCHES: u32 = 1_500;

async fn noop(_request: Request<Empty<Bytes>>) -> Result<Response<Empty<Bytes>>, Infallible> {
    Ok(Response::new(Empty::new()))
}

/// Runs one batch and returns its time per request.
async fn batch<S, B>(service: &mut S) -> Result<Duration, Box<dyn std::error::Error>>
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>>,
    S::Error: std::error::Error + 'static,
    B: Body + Unpin,
    B::Error: std::error::Error + 'static,
{
    let uri = Uri::from_static("http://example.com/items");
    let start = Instant::now();
    for _ in 0..BATCH {
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = uri.clone();
        let response = service.ready().await?.call(request).await?;
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            black_box(frame?);
        }
    }
    Ok(start.elapsed() / BATCH)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let batches = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|e| format!("BATCHES must be a count, not `{arg}`: {e}"))?,
        None => DEFAULT_BATCHES,
    };
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let mut layered = ServiceBuilder::new()
        .layer(ContextLayer::new())
        .service(service_fn(noop));
    let mut bare = service_fn(noop);
    let (mut ours, mut peer) = (Duration::MAX, Duration::MAX);
    rt.block_on(async {
        // Alternating batches see the same machine state on both sides.
        for _ in 0..batches {
            ours = ours.min(batch(&mut layered).await?);
            peer = peer.min(batch(&mut bare).await?);
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    let ns = |d: Duration| d.as_secs_f64() * 1e9;
    println!(
        "fastest of {batches} batches of {BATCH}: ContextLayer {:.1} ns, bare service {:.1} ns, added {:.1} ns",
        ns(ours),
        ns(peer),
        ns(ours) - ns(peer)
    );
    Ok(())
}
