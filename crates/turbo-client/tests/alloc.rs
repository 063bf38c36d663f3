//! Allocation gate: allocations and bytes per request that the turbo layers add
//! to a bare `MockTransport` call, in steady state, counted by a global allocator.
//! Target: at most 8 allocations and 1 KiB per request (the seed's stretch gate is
//! under 1 KB).
//!
//! One test in this binary, so nothing else allocates meanwhile.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use tower::{Service, ServiceExt};
use turbo_client::TurboClient;
use turbo_client::transport::{MockTransport, RequestBody};
use turbo_testkit::CountingAllocator;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

const WARM_UP: u64 = 2_000;
const MEASURED: u64 = 20_000;
const URL: &str = "http://api.example.com/items";

fn request() -> Request<RequestBody> {
    Request::get(URL).body(RequestBody::default()).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn turbo_layers_allocate_at_most_8_times_and_1_kib_per_request() {
    let body = Bytes::from_static(b"{\"ok\":true}");

    let mut bare = MockTransport::ok(body.clone());
    let mut bare_round = async |count: u64| {
        for _ in 0..count {
            let response = bare.ready().await.unwrap().call(request()).await.unwrap();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(bytes.len(), 11);
        }
    };
    bare_round(WARM_UP).await;
    let before = ALLOC.snapshot();
    bare_round(MEASURED).await;
    let bare_used = ALLOC.snapshot().since(&before);

    let client = TurboClient::builder()
        .transport(MockTransport::ok(body))
        .build()
        .unwrap();
    let stack_round = async |count: u64| {
        for _ in 0..count {
            let response = client.send(request()).await.unwrap();
            assert_eq!(response.bytes().await.unwrap().len(), 11);
        }
    };
    stack_round(WARM_UP).await;
    let before = ALLOC.snapshot();
    stack_round(MEASURED).await;
    let stack_used = ALLOC.snapshot().since(&before);

    let allocs = (stack_used.allocations as f64 - bare_used.allocations as f64) / MEASURED as f64;
    let bytes =
        (stack_used.allocated_bytes as f64 - bare_used.allocated_bytes as f64) / MEASURED as f64;
    println!(
        "per request: bare {:.2} allocs {:.0} B; stack {:.2} allocs {:.0} B; turbo adds {allocs:.2} allocs {bytes:.0} B",
        bare_used.allocations as f64 / MEASURED as f64,
        bare_used.allocated_bytes as f64 / MEASURED as f64,
        stack_used.allocations as f64 / MEASURED as f64,
        stack_used.allocated_bytes as f64 / MEASURED as f64,
    );
    assert!(allocs <= 8.0, "{allocs} allocations per request added");
    assert!(bytes <= 1024.0, "{bytes} bytes per request added");
}
