//! What any layer that keeps issue 3's contract must spend per request, whatever
//! its bookkeeping: one value in the request's extensions (the context handle the
//! inner layers read), one in the response's (the timeline snapshot the caller
//! reads), and two clock reads (the request's start and its last event).
//!
//! A request or response without extensions has no map yet, so each first insert
//! allocates the map, its table and the boxed value: six allocations a request,
//! which is where `ContextLayer`'s six come from (docs/benchmarks.md, "core").
//! Measured as `layer_overhead` measures the layer: batches of fresh requests and
//! responses with and without the two inserts, each side's fastest batch kept, so
//! that a loaded machine only hides the floor, never inflates it.
//!
//! ```text
//! cargo run --release -p turbo-core --example contract_floor [BATCHES]
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use http::{Request, Response};

/// Iterations per batch: long enough for the clock, short enough to often run
/// undisturbed.
const BATCH: u32 = 2_000;
const DEFAULT_BATCHES: u32 = 2_000;

/// Stands in for the context handle and the snapshot: 16 bytes each, as they are.
/// Only its size matters; nothing reads it back.
#[derive(Clone, Copy)]
#[allow(dead_code)]
struct Sixteen(u64, u64);

/// The fastest batch of `body`, per iteration.
fn fastest(batches: u32, mut body: impl FnMut(u64)) -> Duration {
    (0..batches)
        .map(|_| {
            let start = Instant::now();
            for i in 0..BATCH {
                body(u64::from(i));
            }
            start.elapsed() / BATCH
        })
        .min()
        .unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let batches = match std::env::args().nth(1) {
        Some(text) => text
            .parse::<u32>()
            .map_err(|e| format!("BATCHES must be a positive number, not {text:?}: {e}"))?,
        None => DEFAULT_BATCHES,
    }
    .max(1);
    // The timeline clock's first read calibrates it; keep that out of the figures.
    black_box(quanta::Instant::now());

    let mut bare = Duration::MAX;
    let mut inserted = Duration::MAX;
    let mut clock = Duration::MAX;
    // Interleaved rounds, so that a slow spell of the machine hits every case.
    for _ in 0..4 {
        bare = bare.min(fastest(batches / 4 + 1, |i| {
            let request = black_box(Request::new(()));
            let response = black_box(Response::new(()));
            black_box((request, response, i));
        }));
        inserted = inserted.min(fastest(batches / 4 + 1, |i| {
            let mut request = black_box(Request::new(()));
            request.extensions_mut().insert(Sixteen(i, i));
            let mut response = black_box(Response::new(()));
            response.extensions_mut().insert(Sixteen(i, !i));
            black_box((request, response));
        }));
        clock = clock.min(fastest(batches / 4 + 1, |_| {
            black_box(quanta::Instant::now());
            black_box(quanta::Instant::now());
        }));
    }
    let extensions = inserted.saturating_sub(bare);
    println!(
        "one insert into a fresh request's and a fresh response's extensions: {} ns \
         (request + response {} ns, without the inserts {} ns)",
        extensions.as_nanos(),
        inserted.as_nanos(),
        bare.as_nanos(),
    );
    println!("two timeline clock reads: {} ns", clock.as_nanos());
    println!(
        "floor of the contract: {} ns a request, before any bookkeeping",
        (extensions + clock).as_nanos()
    );
    Ok(())
}
