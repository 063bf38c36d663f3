//! One real HTTP request over loopback: starts a tiny hyper server on 127.0.0.1,
//! fetches from it with TurboClient, and prints the status, the body and the
//! request's timeline (permit, slot, headers, body end, with offsets).
//!
//! Run with `cargo run -p turbo-client --example loopback`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use turbo_client::{Priority, StopMode, TurboClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_request| async {
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                        b"{\"greeting\":\"hello from loopback\"}",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let client = TurboClient::new()?;
    let response = client
        .get(&format!("http://{addr}/greeting"))
        .priority(Priority::High)
        .send()
        .await?;
    println!("{} {:?}", response.status(), response.version());
    let timeline = response.timeline().cloned().ok_or("no timeline")?;
    let body = response.bytes().await?;
    println!("{}", String::from_utf8_lossy(&body));
    let finished = timeline.finished().ok_or("the body has ended")?;
    println!(
        "timeline of request {} to {:?}:",
        finished.request_id, finished.host
    );
    print!("{}", finished.timeline);
    client.shutdown(StopMode::Drain).await;
    Ok(())
}
