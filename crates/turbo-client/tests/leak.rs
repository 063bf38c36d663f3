//! Leak check with an explicit method: run many requests through the full stack
//! over `MockTransport`, sample live heap bytes (a counting global allocator) at
//! fixed intervals, and require the samples after warm-up to stay within 1% of
//! each other. 200,000 requests sampled every 20,000 by default;
//! `TURBO_LEAK_FULL=1` runs the seed's 2,000,000 sampled every 100,000.
//!
//! One test in this binary, so nothing else allocates meanwhile.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use turbo_client::transport::MockTransport;
use turbo_client::{Priority, TurboClient};
use turbo_testkit::CountingAllocator;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

#[tokio::test(flavor = "current_thread")]
async fn live_heap_stays_flat() {
    let (total, every) = if std::env::var_os("TURBO_LEAK_FULL").is_some() {
        (2_000_000u64, 100_000u64)
    } else {
        (200_000, 20_000)
    };
    let client = TurboClient::builder()
        .transport(MockTransport::ok(Bytes::from_static(b"payload")))
        .build()
        .unwrap();
    let urls: Vec<String> = (0..8)
        .map(|h| format!("http://host{h}.leak/items"))
        .collect();
    let mut samples = Vec::new();
    for n in 0..total {
        let priority = Priority::ALL[(n % 4) as usize];
        let response = client
            .get(&urls[(n % 8) as usize])
            .priority(priority)
            .send()
            .await
            .unwrap();
        let timeline = response.timeline().cloned();
        let body = response.bytes().await.unwrap();
        assert_eq!(body.len(), 7);
        assert!(timeline.unwrap().is_finished());
        if (n + 1) % every == 0 {
            samples.push(ALLOC.snapshot().live_bytes);
        }
    }
    // The first two samples are warm-up (pools and maps filling).
    let steady = &samples[2..];
    let min = *steady.iter().min().unwrap() as f64;
    let max = *steady.iter().max().unwrap() as f64;
    println!("live heap samples (bytes): {samples:?}");
    assert!(
        (max - min) / min <= 0.01,
        "live heap grew from {min} to {max} bytes over {total} requests: {samples:?}"
    );
    assert!(client.stats().is_quiescent());
}
