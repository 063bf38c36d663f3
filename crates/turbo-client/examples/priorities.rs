//! Priorities under saturation, over `MockTransport`: one slot, one host, a burst of
//! requests of every class. Critical ones finish first, Low ones last, and each
//! response carries its timeline (how long it waited where).
//!
//! Run with `cargo run -p turbo-client --example priorities`.

use std::time::Duration;

use bytes::Bytes;
use turbo_client::transport::MockTransport;
use turbo_client::{EventKind, Priority, StopMode, TurboClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = TurboClient::builder()
        .transport(
            MockTransport::ok(Bytes::from_static(b"ok")).with_latency(Duration::from_millis(5)),
        )
        .max_per_host(1)
        .max_in_flight(1)
        .build()?;

    let mut tasks = Vec::new();
    for (index, priority) in [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Critical,
    ]
    .into_iter()
    .cycle()
    .take(12)
    .enumerate()
    {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let response = client
                .get(&format!("http://api.example.com/job/{index}"))
                .priority(priority)
                .send()
                .await?;
            let timeline = response.timeline().cloned();
            response.bytes().await?;
            Ok::<_, turbo_client::Error>((index, priority, timeline))
        }));
        // Let each request reach its queue before the next one arrives.
        tokio::task::yield_now().await;
    }

    let mut finished = Vec::new();
    for task in tasks {
        let (index, priority, timeline) = task.await??;
        let finished_request = timeline.and_then(|t| t.finished()).ok_or("no timeline")?;
        let done_at = finished_request
            .timeline
            .find(EventKind::BodyFinished)
            .map(|event| event.at)
            .unwrap_or_default();
        finished.push((done_at, index, priority));
    }
    finished.sort();
    println!("completion order (time since each request started):");
    for (done_at, index, priority) in &finished {
        println!("  job {index:>2} {priority:<8} finished after {done_at:?}");
    }
    client.shutdown(StopMode::Drain).await;
    Ok(())
}
