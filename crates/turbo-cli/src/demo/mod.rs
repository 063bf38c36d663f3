//! `turbo demo`: the whole stack against the embedded [`LoopbackServer`].
//!
//! Four hosts on 127.0.0.1 to 127.0.0.4, each with its own latency; a
//! [`TurboClient`] with per-host limits (one host stricter than the others) and a
//! global queue with fewer slots than the host limits add up to; and more callers
//! than both allow, each sending requests of all four priorities to its host
//! with bodies of several sizes. Three more callers download audio clips through
//! the same client into an [`AudioPipeline`], which decodes them by policy
//! (inline, on a worker, or streaming) and finalizes them on the main thread: the
//! thread that called [`run`], which pumps the pipeline's queue like a host's
//! frame loop. The server counts what is in flight per host, so
//! the limits are checked from the far side of the wire. The run ends with a
//! [`DemoReport`] whose invariants decide the exit status.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use turbo_cli::demo::{self, DemoOptions};
//!
//! // This thread becomes the demo's main thread: it pumps the audio queue.
//! let report = demo::run(&DemoOptions {
//!     duration: Duration::from_secs(2),
//!     concurrency: 64,
//!     progress: false,
//! })?;
//! assert!(report.ok, "{report}");
//! println!("{}", serde_json::to_string_pretty(&report)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod audio;
mod report;
mod workload;

pub use report::{
    ByPriority, DemoReport, DemoSettings, HostReport, Invariant, PoolsReport, PriorityReport,
    QueueReport, Reuse, SCHEMA, Totals,
};

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use turbo_audio::main_thread::MainThread;
use turbo_audio::pipeline::AudioPipeline;
use turbo_client::transport::HttpTransport;
use turbo_client::{Priority, StopMode, TurboClient};
use turbo_core::{HostKey, Scheme};

use crate::error::CliError;
use crate::progress;
use crate::server::{HostSpec, LoopbackServer};
use workload::{Target, WorkerResult};

/// One demo host: address, artificial latency and the client's limit for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoHost {
    /// The loopback address.
    pub ip: Ipv4Addr,
    /// The server's latency for it.
    pub latency: Duration,
    /// The client's per-host limit for it.
    pub limit: usize,
}

/// The demo's hosts: three fast ones and a slow one with a stricter limit, so the
/// report shows one slow host not holding up the others.
pub const HOSTS: [DemoHost; 4] = [
    DemoHost {
        ip: Ipv4Addr::new(127, 0, 0, 1),
        latency: Duration::from_millis(1),
        limit: 4,
    },
    DemoHost {
        ip: Ipv4Addr::new(127, 0, 0, 2),
        latency: Duration::from_millis(2),
        limit: 4,
    },
    DemoHost {
        ip: Ipv4Addr::new(127, 0, 0, 3),
        latency: Duration::from_millis(5),
        limit: 4,
    },
    DemoHost {
        ip: Ipv4Addr::new(127, 0, 0, 4),
        latency: Duration::from_millis(20),
        limit: 2,
    },
];

/// Global slots: fewer than the host limits add up to (14), so both gates queue.
pub const MAX_IN_FLIGHT: usize = 10;

/// How often the queue depth is sampled for the report and the progress bar.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// The longest one request may take before it counts as failed (`timeout`); far
/// above anything the demo's latencies produce, it only keeps a broken run from
/// hanging.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The longest the final graceful shutdown may take before the invariant fails.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);

/// How the demo runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    /// How long callers keep sending.
    pub duration: Duration,
    /// Concurrent callers.
    pub concurrency: usize,
    /// Whether to draw a progress bar (on stdout).
    pub progress: bool,
}

/// How often the demo's main thread pumps the audio pipeline's queue, like a
/// host's frame loop.
const PUMP_EVERY: Duration = Duration::from_millis(2);

/// Runs the demo and returns its report; `report.ok` says whether every invariant
/// held. The calling thread plays the host's main thread: it starts a tokio
/// runtime for the workload and, until the workload ends, pumps the audio
/// pipeline's [`MainThread`] queue every 2 ms, where the clips are finalized.
///
/// # Errors
///
/// [`CliError::Server`] if the loopback server cannot bind, [`CliError::Client`] if
/// the client cannot be built, [`CliError::Audio`] if the audio pipeline cannot
/// start.
pub fn run(options: &DemoOptions) -> Result<DemoReport, CliError> {
    let runtime = crate::runtime()?;
    let main = MainThread::new();
    let workload = runtime.spawn(run_workload(
        options.clone(),
        main.clone(),
        std::thread::current().id(),
    ));
    let mut pumps = 0u64;
    let mut finalized = 0u64;
    loop {
        let finished = workload.is_finished();
        finalized += main.pump().map_err(CliError::Pump)? as u64;
        pumps += 1;
        if finished {
            break;
        }
        std::thread::sleep(PUMP_EVERY);
    }
    let mut report = runtime
        .block_on(workload)
        .map_err(|error| CliError::DemoLost(error.to_string()))??;
    report.audio.main_thread_pumps = pumps;
    report.audio.main_thread_tasks = finalized;
    Ok(report)
}

/// The workload, on the runtime; finalizations wait for the main thread's pumps.
async fn run_workload(
    options: DemoOptions,
    main: MainThread,
    main_thread: ThreadId,
) -> Result<DemoReport, CliError> {
    let options = &options;
    let specs: Vec<HostSpec> = HOSTS
        .iter()
        .map(|host| HostSpec::new(host.ip, host.latency))
        .collect();
    let assets = audio::assets()?;
    let asset_paths: Vec<String> = assets.iter().map(|a| a.path().to_owned()).collect();
    let server = LoopbackServer::start_with_assets(&specs, assets).await?;
    let addrs = server.addrs();
    let max_queued = (options.concurrency.max(1) + audio::AUDIO_CALLERS) * 2;

    // The audio pipeline's temp files go to a directory of the demo's own, so
    // that files left behind (orphans) can be counted exactly.
    let temp_dir = tempfile::tempdir().map_err(CliError::TempDir)?;
    let pipeline = AudioPipeline::builder()
        .temp_root(temp_dir.path())
        .policy(audio::policy())
        .workers(2)
        .main_thread(main)
        .build()
        .map_err(CliError::Audio)?;

    let mut builder = TurboClient::builder()
        .audio_pipeline(pipeline.clone())
        .max_per_host(HOSTS.iter().map(|h| h.limit).max().unwrap_or(1))
        .max_in_flight(MAX_IN_FLIGHT)
        .max_queued(max_queued)
        .timeout(REQUEST_TIMEOUT);
    for (host, addr) in HOSTS.iter().zip(&addrs) {
        let key =
            HostKey::new(Scheme::Http, &host.ip.to_string(), addr.port()).map_err(|source| {
                CliError::HostKey {
                    addr: *addr,
                    source,
                }
            })?;
        builder = builder.host_limit(key, host.limit);
    }
    let client = builder.build().map_err(CliError::Client)?;

    let targets: Arc<[Target]> = HOSTS
        .iter()
        .zip(&addrs)
        .map(|(host, addr)| Target::new(host.ip, *addr))
        .collect();

    let bar = progress::bar(options.duration.as_millis() as u64, options.progress);
    let done = Arc::new(AtomicU64::new(0));
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_queue(
        client.clone(),
        Arc::clone(&done),
        Arc::clone(&stop_sampling),
        bar.clone(),
    ));

    let started = Instant::now();
    let deadline = started + options.duration;
    let workers: Vec<_> = (0..options.concurrency)
        .map(|id| {
            tokio::spawn(workload::worker(
                id as u64,
                client.clone(),
                Arc::clone(&targets),
                deadline,
                Arc::clone(&done),
            ))
        })
        .collect();
    let audio_callers: Vec<_> = (0..audio::AUDIO_CALLERS)
        .map(|index| {
            // Audio callers spread over the hosts, sharing their limits.
            let addr = addrs[index % addrs.len()];
            let urls: Arc<[String]> = asset_paths
                .iter()
                .map(|path| format!("http://{addr}{path}"))
                .collect();
            tokio::spawn(audio::caller(
                index,
                client.clone(),
                urls,
                deadline,
                main_thread,
            ))
        })
        .collect();
    let mut results = WorkerResult::default();
    let mut lost_workers = 0u64;
    for worker in workers {
        match worker.await {
            Ok(result) => results.merge(result),
            // A worker cannot panic by construction; should one, its requests are
            // missing from the report and the `no_failed_requests` invariant fails.
            Err(_) => lost_workers += 1,
        }
    }
    let mut audio_results = audio::AudioResult::default();
    for caller in audio_callers {
        match caller.await {
            Ok(result) => audio_results.merge(result),
            // Counted as a failed load: `audio_loads_succeeded` fails.
            Err(_) => {
                audio_results.loads += 1;
                *audio_results
                    .failed
                    .entry("audio_caller_lost".to_owned())
                    .or_default() += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    stop_sampling.store(true, Ordering::Release);
    let depth = sampler.await.unwrap_or_default();
    bar.finish_and_clear();

    let stats = client.stats();
    let server_drained = wait_for_drain(&server).await;
    let shutdown_done = tokio::time::timeout(SHUTDOWN_TIMEOUT, client.shutdown(StopMode::Drain))
        .await
        .is_ok();
    let after_shutdown = client
        .get(&targets[0].url("/after-shutdown", 0))
        .send()
        .await;
    let refused_after_shutdown = matches!(&after_shutdown, Err(error) if error.is_closed());

    // Every load has ended; wait for the scheduled temp-file deletions too.
    let drained = tokio::time::timeout(SHUTDOWN_TIMEOUT, pipeline.drain())
        .await
        .is_ok();
    let temp = pipeline.metrics().temp;
    let audio = report::AudioInputs {
        result: audio_results,
        temp: report::TempFigures {
            created: temp.created,
            deleted: temp.deleted,
            retries: temp.retries,
            failures: temp.failures,
            active: temp.active_files,
            orphans: audio::orphans(pipeline.temp_manager().root()),
        },
        drained,
    };

    let hosts = server.hosts();
    let mut report = report::build(report::Inputs {
        options,
        max_queued,
        elapsed,
        results,
        lost_workers,
        client: report::ClientFigures::from_stats(&stats),
        depth,
        hosts: &hosts,
        server_peak: server.peak_in_flight(),
        server_drained,
        shutdown_done,
        refused_after_shutdown,
        audio,
    });
    report.ok = report.failed_invariants() == 0;
    Ok(report)
}

/// Waits (briefly) until the server has nothing in flight; a request that ended on
/// the client side with an error may still be sleeping in its handler.
async fn wait_for_drain(server: &LoopbackServer) -> bool {
    let give_up = Instant::now() + Duration::from_secs(2);
    while server.in_flight() > 0 && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.in_flight() == 0
}

/// The queue's deepest sampled depth, total and per class.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DepthSamples {
    pub(crate) max_total: usize,
    pub(crate) max_by_rank: [usize; Priority::COUNT],
}

/// Samples the queue depth until told to stop, and moves the progress bar.
async fn sample_queue(
    client: TurboClient<HttpTransport>,
    done: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    bar: indicatif::ProgressBar,
) -> DepthSamples {
    let started = Instant::now();
    let mut samples = DepthSamples::default();
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    while !stop.load(Ordering::Acquire) {
        ticker.tick().await;
        let queue = client.stats().queue;
        samples.max_total = samples.max_total.max(queue.total_depth());
        for (max, depth) in samples.max_by_rank.iter_mut().zip(queue.depth) {
            *max = (*max).max(depth);
        }
        if !bar.is_hidden() {
            let elapsed = started.elapsed();
            let requests = done.load(Ordering::Relaxed);
            let rate = requests as f64 / elapsed.as_secs_f64().max(1e-3);
            bar.set_position(elapsed.as_millis() as u64);
            bar.set_message(format!(
                "{requests} req, {rate:.0}/s, {} in flight, {} queued",
                queue.in_flight,
                queue.total_depth()
            ));
        }
    }
    samples
}
