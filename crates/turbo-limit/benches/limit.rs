//! The limit layers raced against tower's equivalents over the same ready mock, 64
//! concurrent callers on a two-worker runtime. Each caller keeps its own service
//! clone and drives `ready` + `call`; responses are dropped as they arrive.
//!
//! Two settings for investigations (criterion's runs are unchanged by default):
//! - `TURBO_BENCH_WORKERS=N` runs the runtime with `N` workers (`1` takes the
//!   cores' cache-line traffic out of the figures, leaving instruction cost).
//! - `TURBO_BENCH_ALTERNATE=1` skips criterion and races a host-limit pair in
//!   alternating bursts (`TURBO_BENCH_BURST` requests each, default 64,000;
//!   `TURBO_BENCH_ROUNDS` pairs, default 200; `TURBO_BENCH_HOSTS=1` for the
//!   one-host pair), printing the median and quartiles
//!   of the per-pair ratios. Criterion measures one side for seconds and then the
//!   other, so a machine whose speed drifts between minutes moves its ratio by
//!   10 % or more; paired bursts cancel the drift, which makes them the better
//!   A/B test of two builds, but each side starts its burst with caches the
//!   other left, so they are not the figure.

// criterion's macros generate undocumented public items in this bench binary.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use http::{Request, Response, Uri};
use http_body_util::Full;
use tower::limit::ConcurrencyLimitLayer;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt, service_fn};
use turbo_limit::{HostConcurrencyLimitLayer, PriorityQueueLayer};

const CALLERS: u64 = 64;
const HOSTS: usize = 64;

fn mock() -> impl Service<
    Request<()>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    })
}

fn uris() -> Vec<Uri> {
    (0..HOSTS)
        .map(|host| {
            format!("http://host{host}.bench/items")
                .parse()
                .expect("uri")
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(setting("TURBO_BENCH_WORKERS", 2).max(1))
        .build()
        .expect("runtime")
}

/// Runs `iters` requests split over 64 callers; `make` gives each caller its
/// service, `route` picks the service index and URI for request `n`.
fn drive<S, E>(
    rt: &tokio::runtime::Runtime,
    iters: u64,
    make: impl Fn() -> Vec<S>,
    hosts: usize,
) -> Duration
where
    S: Service<Request<()>, Error = E> + Send + 'static,
    S::Future: Send,
    S::Response: Send,
    E: std::fmt::Debug + Send,
{
    let uris = uris();
    let per_caller = iters.div_ceil(CALLERS);
    rt.block_on(async {
        let mut callers = Vec::new();
        for caller in 0..CALLERS {
            let mut services = make();
            let uris = uris.clone();
            callers.push(async move {
                for n in 0..per_caller {
                    let host = ((caller + n) as usize) % hosts;
                    let index = host % services.len();
                    let mut request = Request::new(());
                    *request.uri_mut() = uris[host].clone();
                    let service = services[index].ready().await.expect("ready");
                    drop(service.call(request).await.expect("response"));
                }
            });
        }
        let start = Instant::now();
        let handles: Vec<_> = callers.into_iter().map(|c| tokio::spawn(c)).collect();
        for handle in handles {
            handle.await.expect("caller");
        }
        start.elapsed()
    })
}

fn host_limit(c: &mut Criterion) {
    let rt = runtime();
    let limit = 8;

    let mut group = c.benchmark_group("host_limit_1host");
    group.bench_function("ours", |b| {
        let service = HostConcurrencyLimitLayer::builder()
            .max_per_host(limit)
            .build()
            .layer(mock());
        b.iter_custom(|iters| drive(&rt, iters, || vec![service.clone()], 1))
    });
    group.bench_function("tower_concurrency_limit", |b| {
        let service = ConcurrencyLimitLayer::new(limit).layer(mock());
        b.iter_custom(|iters| drive(&rt, iters, || vec![service.clone()], 1))
    });
    group.finish();

    let mut group = c.benchmark_group("host_limit_64hosts");
    group.bench_function("ours", |b| {
        let service = HostConcurrencyLimitLayer::builder()
            .max_per_host(limit)
            .build()
            .layer(mock());
        b.iter_custom(|iters| drive(&rt, iters, || vec![service.clone()], HOSTS))
    });
    group.bench_function("tower_concurrency_limit_x64", |b| {
        let services: Vec<_> = (0..HOSTS)
            .map(|_| ConcurrencyLimitLayer::new(limit).layer(mock()))
            .collect();
        b.iter_custom(|iters| drive(&rt, iters, || services.clone(), HOSTS))
    });
    group.finish();
}

fn priority_queue(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("priority_queue");
    group.bench_function("ours", |b| {
        let service = PriorityQueueLayer::builder()
            .max_in_flight(16)
            .max_queued(1024)
            .build()
            .layer(mock());
        b.iter_custom(|iters| drive(&rt, iters, || vec![service.clone()], 1))
    });
    group.bench_function("tower_buffer_limit", |b| {
        let service = rt.block_on(async {
            ServiceBuilder::new()
                .map_err(|e: BoxError| e)
                .buffer(1024)
                .concurrency_limit(16)
                .service(mock())
        });
        b.iter_custom(|iters| drive(&rt, iters, || vec![service.clone()], 1))
    });
    group.finish();
}

criterion_group!(benches, host_limit, priority_queue);
fn main() {
    if std::env::var_os("TURBO_BENCH_ALTERNATE").is_some() {
        alternate();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// A numeric setting from the environment, or `default`.
fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// `TURBO_BENCH_ALTERNATE`: a host-limit pair in alternating bursts (see the
/// module docs).
fn alternate() {
    let rt = runtime();
    let limit = 8;
    let ours = HostConcurrencyLimitLayer::builder()
        .max_per_host(limit)
        .build()
        .layer(mock());
    let hosts = setting("TURBO_BENCH_HOSTS", HOSTS).clamp(1, HOSTS);
    let peers: Vec<_> = (0..hosts)
        .map(|_| ConcurrencyLimitLayer::new(limit).layer(mock()))
        .collect();
    let burst: u64 = setting("TURBO_BENCH_BURST", 64_000).max(CALLERS);
    let rounds: usize = setting("TURBO_BENCH_ROUNDS", 200).max(1);
    // Warm both sides' caches, hosts and runtime before measuring.
    for _ in 0..20 {
        drive(&rt, burst, || vec![ours.clone()], hosts);
        drive(&rt, burst, || peers.clone(), hosts);
    }
    let per_request = |elapsed: Duration| elapsed.as_nanos() as f64 / burst as f64;
    let (mut ratios, mut ours_ns, mut peer_ns) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let ours = per_request(drive(&rt, burst, || vec![ours.clone()], hosts));
        let peer = per_request(drive(&rt, burst, || peers.clone(), hosts));
        ratios.push(ours / peer);
        ours_ns.push(ours);
        peer_ns.push(peer);
    }
    let quartiles = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let at = |q: usize| values[(values.len() - 1) * q / 4];
        (at(1), at(2), at(3))
    };
    let (q1, median, q3) = quartiles(&mut ratios);
    let (_, ours_ns, _) = quartiles(&mut ours_ns);
    let (_, peer_ns, _) = quartiles(&mut peer_ns);
    println!(
        "host limit, {hosts} host(s), alternating: {rounds} pairs of {burst} requests, ratio median \
         {median:.3} (q1 {q1:.3}, q3 {q3:.3}), ours {ours_ns:.1} ns, peer {peer_ns:.1} ns"
    );
}
