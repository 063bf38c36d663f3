//! `turbo bench`: races the turbo stack against its peers in the same process and
//! prints time per request and the ratio ours / peer (lower is better).
//!
//! - `stack_mock`: [`TurboClient`] over [`MockTransport`] (16 per host, 16 in
//!   flight) against tower `buffer(1024)` + `concurrency_limit(16)` over the same
//!   mock: what the turbo layers cost against tower's stock ones.
//! - `http_loopback`: [`TurboClient`] against a bare hyper-util client, HTTP/1.1 to
//!   the embedded server on 127.0.0.1 with no latency: what the whole stack costs
//!   on a real connection.
//!
//! Both run 64 callers, each reading every body to its end. Rounds alternate
//! between the two sides and the median round counts, so a noisy moment hurts
//! both. This is a quick look; `cargo xtask bench client` measures with criterion.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
use turbo_client::TurboClient;
use turbo_client::transport::{MockTransport, RequestBody};

use crate::error::CliError;
use crate::server::{HostSpec, LoopbackServer};

/// Concurrent callers per side.
pub const CALLERS: usize = 64;
const BODY: &[u8] = b"{\"id\":42,\"name\":\"turbo\",\"tags\":[\"a\",\"b\"]}";

/// How long and how often each side runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchPlan {
    /// Rounds per side.
    pub rounds: usize,
    /// Length of one round.
    pub round: Duration,
}

impl BenchPlan {
    /// `--quick`: 3 rounds of 0.2 s; otherwise 5 rounds of 1 s.
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                rounds: 3,
                round: Duration::from_millis(200),
            }
        } else {
            Self {
                rounds: 5,
                round: Duration::from_secs(1),
            }
        }
    }
}

/// One case's result.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// The case (`stack_mock`, `http_loopback`).
    pub case: &'static str,
    /// The peer's name.
    pub peer: &'static str,
    /// Our median time per request, nanoseconds.
    pub ours_ns: f64,
    /// The peer's median time per request, nanoseconds.
    pub peer_ns: f64,
}

impl CaseResult {
    /// `ours_ns / peer_ns`: below 1 means we are faster.
    pub fn ratio(&self) -> f64 {
        self.ours_ns / self.peer_ns
    }

    /// One line: both sides' time per request and throughput, then the ratio.
    pub fn line(&self) -> String {
        format!(
            "{:<14} ours {:>9.0} ns/req ({:>9.0} req/s)   {:<18} {:>9.0} ns/req ({:>9.0} req/s)   ratio {:.2}",
            self.case,
            self.ours_ns,
            1e9 / self.ours_ns,
            self.peer,
            self.peer_ns,
            1e9 / self.peer_ns,
            self.ratio()
        )
    }
}

/// Runs every case, printing each line as it finishes when `print` is set.
///
/// # Errors
///
/// [`CliError::Bench`] if a request fails, [`CliError::Server`] if the loopback
/// server cannot start.
pub async fn run(plan: BenchPlan, print: bool) -> Result<Vec<CaseResult>, CliError> {
    let mut results = Vec::new();
    let case = stack_mock(plan).await?;
    if print {
        println!("{}", case.line());
    }
    results.push(case);
    let case = http_loopback(plan).await?;
    if print {
        println!("{}", case.line());
    }
    results.push(case);
    Ok(results)
}

/// `--json`: the plan and every case as one `turbo-bench/1` object (see
/// `docs/turbo-cli.md`).
pub fn json(plan: BenchPlan, results: &[CaseResult]) -> serde_json::Value {
    let cases: Vec<_> = results
        .iter()
        .map(|case| {
            serde_json::json!({
                "case": case.case,
                "peer": case.peer,
                "ours_ns": case.ours_ns,
                "peer_ns": case.peer_ns,
                "ratio": case.ratio(),
            })
        })
        .collect();
    serde_json::json!({
        "schema": "turbo-bench/1",
        "rounds": plan.rounds,
        "round_s": plan.round.as_secs_f64(),
        "callers": CALLERS,
        "cases": cases,
    })
}

async fn stack_mock(plan: BenchPlan) -> Result<CaseResult, CliError> {
    const CASE: &str = "stack_mock";
    let url = "http://api.example.com/items";
    let client = TurboClient::builder()
        .transport(MockTransport::ok(Bytes::from_static(BODY)))
        .max_per_host(16)
        .max_in_flight(16)
        .max_queued(1024)
        .build()
        .map_err(CliError::Client)?;
    let tower = ServiceBuilder::new()
        .buffer::<Request<RequestBody>>(1024)
        .concurrency_limit(16)
        .service(MockTransport::ok(Bytes::from_static(BODY)).map_err(BoxError::from));
    race(
        CASE,
        "tower_buffer_limit",
        plan,
        move || {
            let client = client.clone();
            async move {
                let response = client.get(url).send().await.map_err(|e| e.to_string())?;
                check(response.bytes().await.map_err(|e| e.to_string())?.len())
            }
        },
        move || {
            let mut service = tower.clone();
            async move {
                let request = Request::get(url)
                    .body(RequestBody::default())
                    .map_err(|e| e.to_string())?;
                let response = service
                    .ready()
                    .await
                    .map_err(|e| e.to_string())?
                    .call(request)
                    .await
                    .map_err(|e| e.to_string())?;
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?;
                check(body.to_bytes().len())
            }
        },
    )
    .await
}

async fn http_loopback(plan: BenchPlan) -> Result<CaseResult, CliError> {
    const CASE: &str = "http_loopback";
    let server = LoopbackServer::start(&[HostSpec::new([127, 0, 0, 1], Duration::ZERO)]).await?;
    let url: Arc<str> = server
        .url(0, "/items/1")
        .ok_or_else(|| CliError::Bench {
            case: CASE,
            reason: "the server has no host".to_owned(),
        })?
        .into();
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| CliError::Bench {
            case: CASE,
            reason: e.to_string(),
        })?;
    // Limits above the callers: the figure is the stack's overhead, not its queueing.
    let client = TurboClient::builder()
        .max_per_host(CALLERS * 2)
        .max_in_flight(CALLERS * 2)
        .build()
        .map_err(CliError::Client)?;
    let hyper_client: Client<_, http_body_util::Full<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let ours_url = Arc::clone(&url);
    let result = race(
        CASE,
        "hyper_util",
        plan,
        move || {
            let client = client.clone();
            let url = Arc::clone(&ours_url);
            async move {
                let response = client.get(&url).send().await.map_err(|e| e.to_string())?;
                response.bytes().await.map_err(|e| e.to_string()).map(drop)
            }
        },
        move || {
            let client = hyper_client.clone();
            let uri = uri.clone();
            async move {
                let response = client.get(uri).await.map_err(|e| e.to_string())?;
                response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())
                    .map(drop)
            }
        },
    )
    .await;
    drop(server);
    result
}

fn check(len: usize) -> Result<(), String> {
    if len == BODY.len() {
        Ok(())
    } else {
        Err(format!("body of {len} bytes, expected {}", BODY.len()))
    }
}

/// Alternates rounds of `ours` and `peer`, and returns the median of each.
async fn race<A, AF, B, BF>(
    case: &'static str,
    peer: &'static str,
    plan: BenchPlan,
    ours: A,
    theirs: B,
) -> Result<CaseResult, CliError>
where
    A: Fn() -> AF + Send + Sync + 'static,
    AF: Future<Output = Result<(), String>> + Send,
    B: Fn() -> BF + Send + Sync + 'static,
    BF: Future<Output = Result<(), String>> + Send,
{
    let ours = Arc::new(ours);
    let theirs = Arc::new(theirs);
    let fail = |reason| CliError::Bench { case, reason };
    // One short warm-up each: connections, pools and caches.
    let warm_up = Duration::from_millis(50);
    round(Arc::clone(&ours), warm_up).await.map_err(fail)?;
    round(Arc::clone(&theirs), warm_up).await.map_err(fail)?;
    let mut ours_ns = Vec::with_capacity(plan.rounds);
    let mut peer_ns = Vec::with_capacity(plan.rounds);
    for _ in 0..plan.rounds {
        ours_ns.push(round(Arc::clone(&ours), plan.round).await.map_err(fail)?);
        peer_ns.push(round(Arc::clone(&theirs), plan.round).await.map_err(fail)?);
    }
    Ok(CaseResult {
        case,
        peer,
        ours_ns: median(&mut ours_ns),
        peer_ns: median(&mut peer_ns),
    })
}

/// Runs `one` from [`CALLERS`] tasks until `length` has passed; nanoseconds per
/// completed request.
async fn round<F, Fut>(one: Arc<F>, length: Duration) -> Result<f64, String>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let started = Instant::now();
    let deadline = started + length;
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let one = Arc::clone(&one);
            tokio::spawn(async move {
                // At least one request each, so a caller first polled after
                // the deadline (a stalled machine) still counts for something.
                let mut done = 0u64;
                loop {
                    one().await?;
                    done += 1;
                    if Instant::now() >= deadline {
                        break Ok::<u64, String>(done);
                    }
                }
            })
        })
        .collect();
    let mut total = 0u64;
    for caller in callers {
        total += caller.await.map_err(|e| format!("a caller died: {e}"))??;
    }
    let elapsed = started.elapsed();
    if total == 0 {
        return Err("no request completed".to_owned());
    }
    Ok(elapsed.as_nanos() as f64 / total as f64)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_ratio() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert!(median(&mut []).is_nan());
        let case = CaseResult {
            case: "stack_mock",
            peer: "tower_buffer_limit",
            ours_ns: 250.0,
            peer_ns: 1000.0,
        };
        assert_eq!(case.ratio(), 0.25);
        assert!(case.line().ends_with("ratio 0.25"), "{}", case.line());
        assert!(case.line().contains("4000000 req/s"), "{}", case.line());
    }
}
