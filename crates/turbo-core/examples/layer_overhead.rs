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
//! cargo run --release -p turbo-core --example layer_overhead [BATCHES] [THREADS]
//! ```
//!
//! With `THREADS` above 1 (one thread by default), that many threads share one
//! context pool and run their batches at the same time, starting each round
//! together; a round counts from its first thread's start to its last thread's
//! end (per request of one thread), and the fastest round is kept. That measures what the layer costs when requests on several cores
//! rent from one pool at once (cache lines that every request writes move between
//! the cores), which one thread cannot show.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
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
    let (start, end) = timed_batch(service).await?;
    Ok((end - start) / BATCH)
}

/// Runs one batch and returns when it started and ended.
async fn timed_batch<S, B>(
    service: &mut S,
) -> Result<(Instant, Instant), Box<dyn std::error::Error>>
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
    Ok((start, Instant::now()))
}

/// A count from the command line, or `default` when it is absent.
fn count_arg(position: usize, name: &str, default: u32) -> Result<u32, String> {
    match std::env::args().nth(position) {
        Some(arg) => match arg.parse() {
            Ok(0) => Err(format!("{name} must be at least 1")),
            Ok(count) => Ok(count),
            Err(e) => Err(format!("{name} must be a count, not `{arg}`: {e}")),
        },
        None => Ok(default),
    }
}

type Layered = tower::util::ServiceFn<
    fn(Request<Empty<Bytes>>) -> std::future::Ready<Result<Response<Empty<Bytes>>, Infallible>>,
>;

fn ready_noop(
    _request: Request<Empty<Bytes>>,
) -> std::future::Ready<Result<Response<Empty<Bytes>>, Infallible>> {
    std::future::ready(Ok(Response::new(Empty::new())))
}

/// When a batch started and ended.
type Span = (Instant, Instant);

/// One thread's rounds: each starts with every thread at `start`, and yields this
/// thread's (layered, bare) batch spans.
fn rounds(
    batches: u32,
    start: &Barrier,
    mut layered: turbo_core::ContextService<Layered>,
) -> Result<Vec<(Span, Span)>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let mut bare: Layered = service_fn(ready_noop);
    rt.block_on(async {
        let mut spans = Vec::with_capacity(batches as usize);
        for _ in 0..batches {
            // Alternating batches see the same machine state on both sides.
            start.wait();
            let ours = timed_batch(&mut layered).await.map_err(|e| e.to_string())?;
            start.wait();
            let peer = timed_batch(&mut bare).await.map_err(|e| e.to_string())?;
            spans.push((ours, peer));
        }
        Ok(spans)
    })
}

/// Time per request of a round: from its first thread's start to its last
/// thread's end. A round in which a thread was held up, and so ran less than
/// fully alongside the others, comes out slower than one in which all ran at once.
fn round_time<'a>(spans: impl Iterator<Item = &'a Span>) -> Duration {
    let mut first_start: Option<Instant> = None;
    let mut last_end: Option<Instant> = None;
    for &(start, end) in spans {
        first_start = Some(first_start.map_or(start, |s| s.min(start)));
        last_end = Some(last_end.map_or(end, |e| e.max(end)));
    }
    match (first_start, last_end) {
        (Some(start), Some(end)) => (end - start) / BATCH,
        _ => Duration::MAX,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let batches = count_arg(1, "BATCHES", DEFAULT_BATCHES)?;
    let threads = count_arg(2, "THREADS", 1)?;
    let ns = |d: Duration| d.as_secs_f64() * 1e9;
    if threads == 1 {
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
        println!(
            "fastest of {batches} batches of {BATCH}: ContextLayer {:.1} ns, bare service {:.1} ns, added {:.1} ns",
            ns(ours),
            ns(peer),
            ns(ours) - ns(peer)
        );
        return Ok(());
    }
    // One pool, shared by every thread's clone of the layered service.
    let layered = ServiceBuilder::new()
        .layer(ContextLayer::new())
        .service(service_fn(ready_noop as fn(_) -> _));
    let start = Arc::new(Barrier::new(threads as usize));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (start, layered) = (Arc::clone(&start), layered.clone());
            std::thread::spawn(move || rounds(batches, &start, layered))
        })
        .collect();
    let mut per_thread = Vec::new();
    for worker in workers {
        per_thread.push(worker.join().map_err(|_| "a worker panicked")??);
    }
    // Keep the fastest round per side.
    let (mut ours, mut peer) = (Duration::MAX, Duration::MAX);
    for round in 0..batches as usize {
        ours = ours.min(round_time(per_thread.iter().map(|spans| &spans[round].0)));
        peer = peer.min(round_time(per_thread.iter().map(|spans| &spans[round].1)));
    }
    println!(
        "{threads} threads, fastest of {batches} rounds of {BATCH}: ContextLayer {:.1} ns, bare service {:.1} ns, added {:.1} ns",
        ns(ours),
        ns(peer),
        ns(ours) - ns(peer)
    );
    Ok(())
}
