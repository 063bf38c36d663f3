//! The seed's stress gate: many requests at 256 concurrency over `MockTransport`,
//! with random cancellations (futures dropped mid-flight, bodies dropped unread).
//! Afterwards no permit, slot or context is held and the pools are within their
//! caps. 100,000 requests by default; `TURBO_STRESS_FULL=1` runs the seed's
//! 1,000,000 (release mode recommended).

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use turbo_client::transport::MockTransport;
use turbo_client::{Priority, TurboClient};

const CONCURRENCY: u64 = 256;
const HOSTS: u64 = 16;

fn requests() -> u64 {
    if std::env::var_os("TURBO_STRESS_FULL").is_some() {
        1_000_000
    } else {
        100_000
    }
}

/// A small deterministic generator: the same run every time, varied enough.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_leaves_nothing_behind() {
    let total = requests();
    // A little latency keeps requests in flight, so hosts and slots really fill
    // and cancellations hit waiting requests.
    let mock = MockTransport::ok(Bytes::from_static(b"{\"items\":[1,2,3]}"))
        .with_latency(Duration::from_micros(200));
    let client = TurboClient::builder()
        .transport(mock.clone())
        .max_per_host(8)
        .max_in_flight(64)
        .max_queued(CONCURRENCY as usize)
        .context_pool(128)
        .build()
        .unwrap();
    let completed = Arc::new(AtomicU64::new(0));
    let cancelled = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..CONCURRENCY {
        let client = client.clone();
        let completed = Arc::clone(&completed);
        let cancelled = Arc::clone(&cancelled);
        workers.spawn(async move {
            let mut n = worker;
            while n < total {
                let roll = mix(n);
                let url = format!("http://host{}.stress/items/{n}", roll % HOSTS);
                let priority = Priority::ALL[(roll >> 8) as usize % Priority::COUNT];
                let request = client.get(&url).priority(priority).send();
                match roll % 16 {
                    // Cancel mid-flight: poll the request once, then drop it wherever
                    // it is (usually waiting for its host or a slot).
                    0 => {
                        let mut request = std::pin::pin!(request);
                        let polled =
                            std::future::poll_fn(|cx| Poll::Ready(request.as_mut().poll(cx))).await;
                        match polled {
                            Poll::Pending => cancelled.fetch_add(1, Ordering::Relaxed),
                            Poll::Ready(result) => {
                                drop(result.unwrap());
                                completed.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                    // Drop the body unread.
                    1 => {
                        drop(request.await.unwrap());
                        completed.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        let body = request.await.unwrap().bytes().await.unwrap();
                        assert_eq!(body.len(), 17);
                        completed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += CONCURRENCY;
            }
        });
    }
    while let Some(result) = workers.join_next().await {
        result.unwrap();
    }
    let done = completed.load(Ordering::Relaxed) + cancelled.load(Ordering::Relaxed);
    assert_eq!(done, total);
    assert!(
        cancelled.load(Ordering::Relaxed) > 0,
        "the run must include cancellations"
    );

    let stats = client.stats();
    assert!(stats.is_quiescent(), "{stats:?}");
    assert_eq!(mock.in_flight(), 0);
    assert!(stats.contexts.pool.idle <= stats.contexts.pool.capacity);
    assert!(stats.buffers.idle_bytes <= stats.buffers.max_idle_bytes);
    assert!(stats.hosts.hosts.len() as u64 <= HOSTS);
    assert_eq!(
        stats.queue.rejected, 0,
        "the queue was sized for the callers"
    );
    println!(
        "stress: {total} requests, {} cancelled, contexts created {} reused {}",
        cancelled.load(Ordering::Relaxed),
        stats.contexts.pool.created,
        stats.contexts.pool.reused
    );
}
