//! [`DemoReport`]: what `turbo demo` measured and which invariants held, as text
//! and as the stable JSON schema [`SCHEMA`] (documented in `docs/turbo-cli.md`).
//!
//! Fields are only ever added within one schema version; a rename, removal or
//! change of meaning bumps the version (`turbo-demo/2`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use turbo_client::{ClientStats, Priority};

use super::audio::{AUDIO_CALLERS, AudioResult, ROUTES};
use super::workload::{WorkerResult, home_host};
use super::{DemoOptions, DepthSamples, HOSTS, MAX_IN_FLIGHT};
use crate::server::HostSnapshot;

/// The schema name and version every JSON report carries in `schema`.
pub const SCHEMA: &str = "turbo-demo/1";

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DemoReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Whether every invariant held (the exit status is 0 exactly then).
    pub ok: bool,
    /// How the run was set up.
    pub config: DemoSettings,
    /// Counts and throughput.
    pub totals: Totals,
    /// Latency per priority, highest priority first.
    pub priorities: Vec<PriorityReport>,
    /// Per host, as the server measured it.
    pub hosts: Vec<HostReport>,
    /// The client's global priority queue.
    pub queue: QueueReport,
    /// Reuse of pooled contexts, body buffers and connections.
    pub pools: PoolsReport,
    /// The audio downloads: routes, decode speed, main-thread finalization and
    /// temp files.
    pub audio: AudioReport,
    /// Every invariant checked, in order.
    pub invariants: Vec<Invariant>,
}

/// How the run was set up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DemoSettings {
    /// The requested duration, seconds.
    pub duration_s: f64,
    /// Concurrent callers.
    pub concurrency: usize,
    /// Hosts served.
    pub hosts: usize,
    /// The client's global in-flight limit (queue slots).
    pub max_in_flight: usize,
    /// How many requests may wait for a slot.
    pub max_queued: usize,
}

/// Counts and throughput.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Totals {
    /// Requests sent.
    pub requests: u64,
    /// Requests that returned 200 with the body the server promised.
    pub succeeded: u64,
    /// Requests that failed, by [`turbo_client::ErrorKind::as_str`] (and `status`
    /// for a non-200, `mismatch` for a wrong body).
    pub failed: BTreeMap<String, u64>,
    /// Wall time from the first request to the last response, seconds.
    pub elapsed_s: f64,
    /// `succeeded / elapsed_s`.
    pub requests_per_second: f64,
}

/// Latency of one priority class, milliseconds; `null` without requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PriorityReport {
    /// `critical`, `high`, `normal` or `low`.
    pub priority: String,
    /// Successful requests of this class.
    pub requests: u64,
    /// Median time from `send` to the end of the body.
    pub p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub p99_ms: Option<f64>,
    /// Median wait for the host permit and the queue slot (the timeline's
    /// `admitted` offset).
    pub wait_p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub wait_p99_ms: Option<f64>,
}

/// One host, measured by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostReport {
    /// `ip:port`.
    pub host: String,
    /// Its artificial latency, milliseconds.
    pub latency_ms: f64,
    /// JSON callers that send to this host (audio callers come on top).
    pub callers: usize,
    /// The client's per-host limit for it.
    pub limit: usize,
    /// The most requests the server saw in flight at once.
    pub max_in_flight: usize,
    /// Requests it served.
    pub requests: u64,
    /// Connections it accepted.
    pub connections: u64,
    /// Requests that waited for this host's permit (client side).
    pub waits: u64,
}

/// A count per priority class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByPriority {
    /// `Critical`.
    pub critical: usize,
    /// `High`.
    pub high: usize,
    /// `Normal`.
    pub normal: usize,
    /// `Low`.
    pub low: usize,
}

impl ByPriority {
    /// From an array in [`Priority::rank`](turbo_client::Priority::rank) order.
    pub fn from_ranks(ranks: [usize; 4]) -> Self {
        let [critical, high, normal, low] = ranks;
        Self {
            critical,
            high,
            normal,
            low,
        }
    }
}

/// The global queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QueueReport {
    /// Slots: the most requests in flight over all hosts.
    pub slots: usize,
    /// Requests let through.
    pub admitted: u64,
    /// Requests that waited for a slot.
    pub queued: u64,
    /// Requests refused because the queue was full.
    pub rejected: u64,
    /// Queued requests that gave up.
    pub cancelled: u64,
    /// The deepest the queue was when sampled (every 50 ms).
    pub max_depth: usize,
    /// The deepest each class was when sampled.
    pub max_depth_by_priority: ByPriority,
}

/// Reuse counts and the rate `reused / (reused + fresh)`; `null` rate when
/// nothing was used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Reuse {
    /// Times a pooled thing was reused.
    pub reused: u64,
    /// Times a fresh one had to be made.
    pub fresh: u64,
    /// `reused / (reused + fresh)`.
    pub rate: Option<f64>,
}

impl Reuse {
    /// Counts and their rate.
    pub fn new(reused: u64, fresh: u64) -> Self {
        let total = reused + fresh;
        Self {
            reused,
            fresh,
            rate: (total > 0).then(|| reused as f64 / total as f64),
        }
    }
}

/// Pools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PoolsReport {
    /// Request contexts (with their timelines): reused vs created.
    pub contexts: Reuse,
    /// Body buffers for whole-body reads: pool hits vs misses.
    pub buffers: Reuse,
    /// Connections: requests on a kept-alive connection vs connections opened
    /// (counted by the server).
    pub connections: Reuse,
}

/// The audio downloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AudioReport {
    /// Callers downloading audio (besides the JSON callers).
    pub callers: usize,
    /// Clips downloaded and loaded.
    pub loads: u64,
    /// Loads that failed, by the client's error kind with an `audio_` prefix
    /// (`audio_decode`, `audio_body`, `audio_connect`, ...).
    pub failed: BTreeMap<String, u64>,
    /// Per decode route: `inline`, `worker`, `stream`, in that order.
    pub routes: Vec<RouteReport>,
    /// Loads whose clip was finalized on the demo's main thread.
    pub finalized_on_main_thread: u64,
    /// Times the main thread pumped the pipeline's queue.
    pub main_thread_pumps: u64,
    /// Tasks those pumps ran (finalizations).
    pub main_thread_tasks: u64,
    /// The pipeline's temp files, after the run and a drain.
    pub temp_files: TempReport,
}

/// One decode route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RouteReport {
    /// `inline`, `worker` or `stream`.
    pub route: String,
    /// Clips that took it.
    pub loads: u64,
    /// Their playing time, seconds.
    pub audio_s: f64,
    /// Time spent decoding them (streams: opening plus reading through),
    /// milliseconds.
    pub decode_ms: f64,
    /// `audio_s / decode`: how many times faster than real time; `null` without
    /// loads.
    pub speed_x: Option<f64>,
}

/// The temp-file manager's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TempReport {
    /// Temp files created.
    pub created: u64,
    /// Temp files deleted.
    pub deleted: u64,
    /// Deletions retried.
    pub retries: u64,
    /// Deletions that gave up.
    pub failures: u64,
    /// Files still registered after the drain.
    pub active: usize,
    /// Files left in the shard directories after the drain.
    pub orphans: u64,
}

/// One checked invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invariant {
    /// A stable name, for example `per_host_limit:127.0.0.2`.
    pub name: String,
    /// Whether it held.
    pub held: bool,
    /// The figures it was decided on, in words.
    pub detail: String,
}

impl Invariant {
    /// An invariant that held exactly when `held`.
    pub fn check(name: impl Into<String>, held: bool, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            held,
            detail: detail.into(),
        }
    }
}

impl DemoReport {
    /// How many invariants did not hold.
    pub fn failed_invariants(&self) -> usize {
        self.invariants.iter().filter(|i| !i.held).count()
    }
}

/// The client's figures the report needs, taken from its [`ClientStats`] after
/// the run (a plain struct, so the invariants can be tested on made-up figures).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientFigures {
    /// Queue slots.
    pub(crate) slots: usize,
    pub(crate) admitted: u64,
    pub(crate) queued: u64,
    pub(crate) rejected: u64,
    pub(crate) cancelled: u64,
    /// Total waits per host, keyed by host name and port.
    pub(crate) host_waits: Vec<(String, u16, u64)>,
    pub(crate) contexts_leased: usize,
    /// Host permits plus queue slots held.
    pub(crate) held: usize,
    /// Waiting for a host or a slot.
    pub(crate) waiting: usize,
    pub(crate) contexts: (u64, u64),
    pub(crate) buffers: (u64, u64),
}

impl ClientFigures {
    pub(crate) fn from_stats(stats: &ClientStats) -> Self {
        Self {
            slots: stats.queue.max_in_flight,
            admitted: stats.queue.admitted,
            queued: stats.queue.queued,
            rejected: stats.queue.rejected,
            cancelled: stats.queue.cancelled,
            host_waits: stats
                .hosts
                .hosts
                .iter()
                .map(|h| (h.host.host().to_owned(), h.host.port(), h.total_waits))
                .collect(),
            contexts_leased: stats.contexts.leased,
            held: stats.hosts.in_flight() + stats.queue.in_flight,
            waiting: stats.hosts.waiting() + stats.queue.total_depth(),
            contexts: (stats.contexts.pool.reused, stats.contexts.pool.created),
            buffers: (stats.buffers.hits, stats.buffers.misses),
        }
    }

    /// Nothing leased, held or waiting: what `ClientStats::is_quiescent` checks.
    fn quiescent(&self) -> bool {
        self.contexts_leased == 0 && self.held == 0 && self.waiting == 0
    }
}

/// The temp-file manager's counts after the drain, and the files on disk.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TempFigures {
    pub(crate) created: u64,
    pub(crate) deleted: u64,
    pub(crate) retries: u64,
    pub(crate) failures: u64,
    pub(crate) active: usize,
    pub(crate) orphans: u64,
}

/// What the audio side measured.
#[derive(Debug, Default)]
pub(crate) struct AudioInputs {
    pub(crate) result: AudioResult,
    pub(crate) temp: TempFigures,
    /// Whether the pipeline's drain finished in time.
    pub(crate) drained: bool,
}

/// Everything a run measured, for [`build`].
pub(crate) struct Inputs<'a> {
    pub(crate) options: &'a DemoOptions,
    pub(crate) max_queued: usize,
    pub(crate) elapsed: std::time::Duration,
    pub(crate) results: WorkerResult,
    pub(crate) lost_workers: u64,
    pub(crate) client: ClientFigures,
    pub(crate) depth: DepthSamples,
    pub(crate) hosts: &'a [HostSnapshot],
    pub(crate) server_peak: usize,
    pub(crate) server_drained: bool,
    pub(crate) shutdown_done: bool,
    pub(crate) refused_after_shutdown: bool,
    pub(crate) audio: AudioInputs,
}

fn millis(duration: Option<std::time::Duration>) -> Option<f64> {
    duration.map(|d| (d.as_secs_f64() * 1e4).round() / 10.0)
}

/// The report for one run, its invariants decided. `ok` is left false; the caller
/// sets it from [`DemoReport::failed_invariants`].
pub(crate) fn build(inputs: Inputs<'_>) -> DemoReport {
    let Inputs {
        options,
        max_queued,
        elapsed,
        mut results,
        lost_workers,
        client,
        depth,
        hosts,
        server_peak,
        server_drained,
        shutdown_done,
        refused_after_shutdown,
        audio,
    } = inputs;

    let mut priorities = Vec::with_capacity(Priority::COUNT);
    for priority in Priority::ALL {
        let rank = priority.rank();
        let latency = &mut results.latency[rank];
        let wait = &mut results.wait[rank];
        priorities.push(PriorityReport {
            priority: priority.as_str().to_owned(),
            requests: latency.len() as u64,
            p50_ms: millis(latency.percentile(50.0)),
            p99_ms: millis(latency.percentile(99.0)),
            wait_p50_ms: millis(wait.percentile(50.0)),
            wait_p99_ms: millis(wait.percentile(99.0)),
        });
    }
    let succeeded: u64 = priorities.iter().map(|p| p.requests).sum();

    let mut callers = vec![0usize; HOSTS.len()];
    for id in 0..options.concurrency {
        callers[home_host(id as u64, HOSTS.len())] += 1;
    }
    let host_reports: Vec<HostReport> = HOSTS
        .iter()
        .zip(hosts)
        .enumerate()
        .map(|(index, (demo, served))| {
            let waits = client
                .host_waits
                .iter()
                .find(|(host, port, _)| *port == served.addr.port() && *host == demo.ip.to_string())
                .map_or(0, |(_, _, waits)| *waits);
            HostReport {
                host: served.addr.to_string(),
                callers: callers[index],
                latency_ms: served.latency.as_secs_f64() * 1e3,
                limit: demo.limit,
                max_in_flight: served.peak_in_flight,
                requests: served.requests,
                connections: served.connections,
                waits,
            }
        })
        .collect();

    let mut invariants = Vec::new();
    for host in &host_reports {
        invariants.push(Invariant::check(
            format!("per_host_limit:{}", host.host),
            host.max_in_flight <= host.limit,
            format!(
                "at most {} in flight, limit {}",
                host.max_in_flight, host.limit
            ),
        ));
    }
    invariants.push(Invariant::check(
        "global_limit",
        server_peak <= MAX_IN_FLIGHT,
        format!("at most {server_peak} in flight over all hosts, {MAX_IN_FLIGHT} slots"),
    ));
    // Whether waiting is certain follows from how the callers spread over the
    // hosts: a host with more callers than its limit makes some wait for it, and
    // when the hosts together let more through than the queue has slots (all
    // callers start at once), the queue makes some wait.
    let oversubscribed: Vec<&HostReport> = host_reports
        .iter()
        .filter(|h| h.callers > h.limit)
        .collect();
    if !oversubscribed.is_empty() {
        let waits: u64 = oversubscribed.iter().map(|h| h.waits).sum();
        invariants.push(Invariant::check(
            "host_limits_made_requests_wait",
            oversubscribed.iter().all(|h| h.waits > 0),
            format!(
                "{} hosts with more callers than their limit; {waits} waits for them",
                oversubscribed.len()
            ),
        ));
    }
    let admissible: usize = host_reports.iter().map(|h| h.callers.min(h.limit)).sum();
    if admissible > MAX_IN_FLIGHT {
        invariants.push(Invariant::check(
            "queue_made_requests_wait",
            client.queued > 0,
            format!(
                "hosts let up to {admissible} through to {MAX_IN_FLIGHT} slots; {} waited for a slot",
                client.queued
            ),
        ));
    }
    let idle: Vec<&str> = priorities
        .iter()
        .filter(|p| p.requests == 0)
        .map(|p| p.priority.as_str())
        .collect();
    invariants.push(Invariant::check(
        "all_priorities_served",
        idle.is_empty(),
        if idle.is_empty() {
            "every class completed requests".to_owned()
        } else {
            format!("no request completed for: {}", idle.join(", "))
        },
    ));
    let failed: u64 = results.failed.values().sum();
    invariants.push(Invariant::check(
        "no_failed_requests",
        failed == 0 && lost_workers == 0 && succeeded == results.requests,
        format!(
            "{succeeded} of {} succeeded with the expected body{}",
            results.requests,
            if lost_workers > 0 {
                format!("; {lost_workers} callers lost")
            } else {
                String::new()
            }
        ),
    ));
    invariants.push(Invariant::check(
        "released_everything",
        client.quiescent(),
        format!(
            "after the run: {} contexts leased, {} permits and slots held, {} waiting",
            client.contexts_leased, client.held, client.waiting
        ),
    ));
    invariants.push(Invariant::check(
        "server_drained",
        server_drained,
        "the server has no request in flight after the run",
    ));
    invariants.push(Invariant::check(
        "graceful_shutdown",
        shutdown_done,
        "shutdown(Drain) completed",
    ));
    invariants.push(Invariant::check(
        "closed_after_shutdown",
        refused_after_shutdown,
        "a request after shutdown fails with client_closed",
    ));

    let audio_report = audio_report(&audio);
    let audio_failed: u64 = audio_report.failed.values().sum();
    invariants.push(Invariant::check(
        "audio_loads_succeeded",
        audio_report.loads > 0 && audio_failed == 0,
        format!(
            "{} of {} clips downloaded, decoded and finalized",
            audio_report.loads.saturating_sub(audio_failed),
            audio_report.loads
        ),
    ));
    let untaken: Vec<&str> = audio_report
        .routes
        .iter()
        .filter(|r| r.loads == 0)
        .map(|r| r.route.as_str())
        .collect();
    invariants.push(Invariant::check(
        "every_decode_route_taken",
        untaken.is_empty(),
        if untaken.is_empty() {
            "inline, worker and stream each decoded clips".to_owned()
        } else {
            format!("no clip took: {}", untaken.join(", "))
        },
    ));
    invariants.push(Invariant::check(
        "finalized_on_main_thread",
        audio_report.finalized_on_main_thread == audio_report.loads.saturating_sub(audio_failed),
        format!(
            "{} of {} clips finalized by the main thread's pump loop",
            audio_report.finalized_on_main_thread,
            audio_report.loads.saturating_sub(audio_failed)
        ),
    ));
    let temp = &audio_report.temp_files;
    invariants.push(Invariant::check(
        "temp_files_cleaned",
        audio.drained
            && temp.active == 0
            && temp.orphans == 0
            && temp.failures == 0
            && temp.deleted == temp.created,
        format!(
            "{} created, {} deleted, {} active, {} orphans, {} failed deletions{}",
            temp.created,
            temp.deleted,
            temp.active,
            temp.orphans,
            temp.failures,
            if audio.drained {
                ""
            } else {
                "; the drain timed out"
            }
        ),
    ));

    let connections: u64 = host_reports.iter().map(|h| h.connections).sum();
    let served: u64 = host_reports.iter().map(|h| h.requests).sum();
    let elapsed_s = elapsed.as_secs_f64();
    DemoReport {
        schema: SCHEMA.to_owned(),
        ok: false,
        config: DemoSettings {
            duration_s: options.duration.as_secs_f64(),
            concurrency: options.concurrency,
            hosts: host_reports.len(),
            max_in_flight: MAX_IN_FLIGHT,
            max_queued,
        },
        totals: Totals {
            requests: results.requests,
            succeeded,
            failed: results.failed,
            elapsed_s,
            requests_per_second: succeeded as f64 / elapsed_s.max(1e-9),
        },
        priorities,
        hosts: host_reports,
        queue: QueueReport {
            slots: client.slots,
            admitted: client.admitted,
            queued: client.queued,
            rejected: client.rejected,
            cancelled: client.cancelled,
            max_depth: depth.max_total,
            max_depth_by_priority: ByPriority::from_ranks(depth.max_by_rank),
        },
        pools: PoolsReport {
            contexts: Reuse::new(client.contexts.0, client.contexts.1),
            buffers: Reuse::new(client.buffers.0, client.buffers.1),
            connections: Reuse::new(served.saturating_sub(connections), connections),
        },
        audio: audio_report,
        invariants,
    }
}

fn audio_report(audio: &AudioInputs) -> AudioReport {
    let result = &audio.result;
    let routes = ROUTES
        .iter()
        .zip(&result.routes)
        .map(|(route, figures)| RouteReport {
            route: route.name().to_owned(),
            loads: figures.loads,
            audio_s: figures.audio.as_secs_f64(),
            decode_ms: figures.decode.as_secs_f64() * 1e3,
            speed_x: (figures.loads > 0 && !figures.decode.is_zero())
                .then(|| figures.audio.as_secs_f64() / figures.decode.as_secs_f64()),
        })
        .collect();
    let temp = audio.temp;
    AudioReport {
        callers: AUDIO_CALLERS,
        loads: result.loads,
        failed: result.failed.clone(),
        routes,
        finalized_on_main_thread: result.finalized_on_main,
        main_thread_pumps: 0,
        main_thread_tasks: 0,
        temp_files: TempReport {
            created: temp.created,
            deleted: temp.deleted,
            retries: temp.retries,
            failures: temp.failures,
            active: temp.active,
            orphans: temp.orphans,
        },
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}"))
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "n/a".to_owned(), |rate| format!("{:.1}%", rate * 100.0))
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let t = &self.totals;
        writeln!(
            f,
            "turbo demo: {:.1} s, {} callers, {} hosts, {} global slots, {} may queue",
            c.duration_s, c.concurrency, c.hosts, c.max_in_flight, c.max_queued
        )?;
        let failed: u64 = t.failed.values().sum();
        write!(
            f,
            "requests: {} ok, {} failed in {:.2} s = {:.0} req/s",
            t.succeeded, failed, t.elapsed_s, t.requests_per_second
        )?;
        for (kind, count) in &t.failed {
            write!(f, " [{kind}: {count}]")?;
        }
        writeln!(f)?;

        writeln!(
            f,
            "\nlatency by priority (ms; total = send to body end, wait = for host permit and slot)"
        )?;
        writeln!(
            f,
            "  {:<9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "priority", "requests", "p50", "p99", "wait p50", "wait p99"
        )?;
        for p in &self.priorities {
            writeln!(
                f,
                "  {:<9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                p.priority,
                p.requests,
                ms(p.p50_ms),
                ms(p.p99_ms),
                ms(p.wait_p50_ms),
                ms(p.wait_p99_ms)
            )?;
        }

        writeln!(f, "\nhosts (in flight as the server counted it)")?;
        writeln!(
            f,
            "  {:<17} {:>8} {:>7} {:>6} {:>14} {:>9} {:>7} {:>6}",
            "host", "latency", "callers", "limit", "max in flight", "requests", "waited", "conns"
        )?;
        for h in &self.hosts {
            writeln!(
                f,
                "  {:<17} {:>5} ms {:>7} {:>6} {:>14} {:>9} {:>7} {:>6}",
                h.host,
                h.latency_ms,
                h.callers,
                h.limit,
                h.max_in_flight,
                h.requests,
                h.waits,
                h.connections
            )?;
        }

        let q = &self.queue;
        let d = q.max_depth_by_priority;
        writeln!(
            f,
            "\nqueue: {} slots; admitted {}, waited {}, rejected {}, cancelled {}; deepest {} \
             (critical {}, high {}, normal {}, low {})",
            q.slots,
            q.admitted,
            q.queued,
            q.rejected,
            q.cancelled,
            q.max_depth,
            d.critical,
            d.high,
            d.normal,
            d.low
        )?;
        let p = &self.pools;
        writeln!(
            f,
            "pools: contexts {} reused ({} created), body buffers {} hits ({} misses), \
             connections {} reused ({} opened)",
            percent(p.contexts.rate),
            p.contexts.fresh,
            percent(p.buffers.rate),
            p.buffers.fresh,
            percent(p.connections.rate),
            p.connections.fresh
        )?;

        let a = &self.audio;
        let audio_failed: u64 = a.failed.values().sum();
        writeln!(
            f,
            "\naudio: {} callers, {} clips, {} failed; {} finalized on the main thread ({} pumps ran {} tasks)",
            a.callers,
            a.loads,
            audio_failed,
            a.finalized_on_main_thread,
            a.main_thread_pumps,
            a.main_thread_tasks
        )?;
        writeln!(
            f,
            "  {:<8} {:>6} {:>9} {:>10} {:>19}",
            "route", "clips", "audio s", "decode ms", "speed (x realtime)"
        )?;
        for r in &a.routes {
            writeln!(
                f,
                "  {:<8} {:>6} {:>9.1} {:>10.1} {:>19}",
                r.route,
                r.loads,
                r.audio_s,
                r.decode_ms,
                r.speed_x
                    .map_or_else(|| "-".to_owned(), |x| format!("{x:.0}x"))
            )?;
        }
        let t = &a.temp_files;
        writeln!(
            f,
            "temp files: {} created, {} deleted, {} retries, {} failed, {} active, orphans: {}",
            t.created, t.deleted, t.retries, t.failures, t.active, t.orphans
        )?;

        writeln!(f, "\ninvariants")?;
        for i in &self.invariants {
            let mark = if i.held { "ok  " } else { "FAIL" };
            writeln!(f, "  {mark} {:<30} {}", i.name, i.detail)?;
        }
        let failed = self.failed_invariants();
        if failed == 0 {
            write!(f, "all {} invariants held", self.invariants.len())
        } else {
            write!(
                f,
                "{failed} of {} invariants did not hold",
                self.invariants.len()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::*;
    use crate::samples::Samples;

    /// What a clean run with 64 callers measures.
    struct Run {
        options: DemoOptions,
        hosts: Vec<HostSnapshot>,
        client: ClientFigures,
        results: WorkerResult,
        server_peak: usize,
        flags: [bool; 3],
        audio: AudioInputs,
    }

    impl Run {
        fn clean() -> Self {
            let hosts: Vec<HostSnapshot> = HOSTS
                .iter()
                .enumerate()
                .map(|(i, host)| HostSnapshot {
                    addr: SocketAddr::from((host.ip, 40_000 + i as u16)),
                    latency: host.latency,
                    in_flight: 0,
                    peak_in_flight: host.limit,
                    requests: 100,
                    connections: host.limit as u64,
                })
                .collect();
            let client = ClientFigures {
                slots: MAX_IN_FLIGHT,
                admitted: 400,
                queued: 50,
                host_waits: hosts
                    .iter()
                    .map(|h| (h.addr.ip().to_string(), h.addr.port(), 30))
                    .collect(),
                contexts: (336, 64),
                buffers: (90, 10),
                ..ClientFigures::default()
            };
            let mut results = WorkerResult {
                requests: 400,
                ..WorkerResult::default()
            };
            for rank in 0..Priority::COUNT {
                let mut samples = Samples::default();
                for ms in 1..=100 {
                    samples.push(Duration::from_millis(ms));
                }
                results.latency[rank] = samples.clone();
                results.wait[rank] = samples;
            }
            Self {
                options: DemoOptions {
                    duration: Duration::from_secs(3),
                    concurrency: 64,
                    progress: false,
                },
                hosts,
                client,
                results,
                server_peak: MAX_IN_FLIGHT,
                flags: [true; 3],
                audio: AudioInputs {
                    result: AudioResult {
                        loads: 9,
                        failed: BTreeMap::new(),
                        routes: [3, 3, 3].map(|loads| super::super::audio::RouteFigures {
                            loads,
                            audio: Duration::from_secs(loads),
                            decode: Duration::from_millis(10 * loads),
                        }),
                        finalized_on_main: 9,
                    },
                    temp: TempFigures {
                        created: 9,
                        deleted: 9,
                        ..TempFigures::default()
                    },
                    drained: true,
                },
            }
        }

        fn report(self) -> DemoReport {
            build(Inputs {
                options: &self.options,
                max_queued: 128,
                elapsed: Duration::from_secs(3),
                results: self.results,
                lost_workers: 0,
                client: self.client,
                depth: DepthSamples::default(),
                hosts: &self.hosts,
                server_peak: self.server_peak,
                server_drained: self.flags[0],
                shutdown_done: self.flags[1],
                refused_after_shutdown: self.flags[2],
                audio: self.audio,
            })
        }
    }

    /// Breaks one figure of a clean run.
    type Breaker = fn(&mut Run);

    fn failed(report: &DemoReport) -> Vec<&str> {
        report
            .invariants
            .iter()
            .filter(|i| !i.held)
            .map(|i| i.name.as_str())
            .collect()
    }

    #[test]
    fn a_clean_run_holds_every_invariant() {
        let report = Run::clean().report();
        assert_eq!(failed(&report), Vec::<&str>::new(), "{report}");
        assert_eq!(report.invariants.len(), 17);
        assert_eq!(report.audio.routes[2].route, "stream");
        assert_eq!(report.audio.routes[2].speed_x, Some(100.0));
        assert_eq!(report.totals.succeeded, 400);
        assert_eq!(report.priorities[0].p50_ms, Some(50.0));
        assert_eq!(report.hosts[3].callers, 8);
        assert_eq!(report.pools.connections.fresh, 14);
        assert_eq!(report.pools.connections.reused, 386);
        assert!(report.to_string().ends_with("all 17 invariants held"));
    }

    #[test]
    fn each_violation_fails_its_own_invariant() {
        let cases: [(&str, Breaker); 15] = [
            ("per_host_limit:127.0.0.4:40003", |run| {
                run.hosts[3].peak_in_flight = 3
            }),
            ("global_limit", |run| run.server_peak = MAX_IN_FLIGHT + 1),
            ("host_limits_made_requests_wait", |run| {
                run.client.host_waits[2].2 = 0
            }),
            ("queue_made_requests_wait", |run| run.client.queued = 0),
            ("all_priorities_served", |run| {
                run.results.latency[Priority::Low.rank()] = Samples::default();
                run.results.requests -= 100;
            }),
            ("no_failed_requests", |run| {
                run.results.requests += 1;
                run.results.failed.insert("timeout".to_owned(), 1);
            }),
            ("released_everything", |run| run.client.held = 1),
            ("server_drained", |run| run.flags[0] = false),
            ("graceful_shutdown", |run| run.flags[1] = false),
            ("closed_after_shutdown", |run| run.flags[2] = false),
            ("audio_loads_succeeded", |run| {
                run.audio.result.loads += 1;
                run.audio.result.failed.insert("audio_decode".to_owned(), 1);
            }),
            ("every_decode_route_taken", |run| {
                run.audio.result.routes[1].loads = 0;
                run.audio.result.loads -= 3;
                run.audio.result.finalized_on_main -= 3;
            }),
            ("finalized_on_main_thread", |run| {
                run.audio.result.finalized_on_main -= 1
            }),
            ("temp_files_cleaned", |run| run.audio.temp.orphans = 1),
            ("temp_files_cleaned", |run| run.audio.temp.deleted -= 1),
        ];
        for (name, break_it) in cases {
            let mut run = Run::clean();
            break_it(&mut run);
            let report = run.report();
            assert_eq!(failed(&report), [name], "{report}");
            assert!(
                report
                    .to_string()
                    .ends_with("1 of 17 invariants did not hold")
            );
        }
    }

    /// The field names of `turbo-demo/1` as docs/turbo-cli.md lists them: a
    /// rename or removal must fail here (and bump the schema).
    #[test]
    fn the_json_has_the_documented_fields() {
        fn keys(value: &serde_json::Value) -> Vec<&str> {
            let mut keys: Vec<&str> = value
                .as_object()
                .map(|map| map.keys().map(String::as_str).collect())
                .unwrap_or_default();
            keys.sort_unstable();
            keys
        }
        let json = serde_json::to_value(Run::clean().report()).unwrap();
        assert_eq!(
            keys(&json),
            [
                "audio",
                "config",
                "hosts",
                "invariants",
                "ok",
                "pools",
                "priorities",
                "queue",
                "schema",
                "totals"
            ]
        );
        assert_eq!(json["schema"], "turbo-demo/1");
        assert_eq!(
            keys(&json["config"]),
            [
                "concurrency",
                "duration_s",
                "hosts",
                "max_in_flight",
                "max_queued"
            ]
        );
        assert_eq!(
            keys(&json["totals"]),
            [
                "elapsed_s",
                "failed",
                "requests",
                "requests_per_second",
                "succeeded"
            ]
        );
        assert_eq!(
            keys(&json["priorities"][0]),
            [
                "p50_ms",
                "p99_ms",
                "priority",
                "requests",
                "wait_p50_ms",
                "wait_p99_ms"
            ]
        );
        assert_eq!(
            keys(&json["hosts"][0]),
            [
                "callers",
                "connections",
                "host",
                "latency_ms",
                "limit",
                "max_in_flight",
                "requests",
                "waits"
            ]
        );
        assert_eq!(
            keys(&json["queue"]),
            [
                "admitted",
                "cancelled",
                "max_depth",
                "max_depth_by_priority",
                "queued",
                "rejected",
                "slots"
            ]
        );
        assert_eq!(keys(&json["pools"]), ["buffers", "connections", "contexts"]);
        assert_eq!(
            keys(&json["pools"]["contexts"]),
            ["fresh", "rate", "reused"]
        );
        assert_eq!(keys(&json["invariants"][0]), ["detail", "held", "name"]);
        assert_eq!(
            keys(&json["audio"]),
            [
                "callers",
                "failed",
                "finalized_on_main_thread",
                "loads",
                "main_thread_pumps",
                "main_thread_tasks",
                "routes",
                "temp_files"
            ]
        );
        assert_eq!(
            keys(&json["audio"]["routes"][0]),
            ["audio_s", "decode_ms", "loads", "route", "speed_x"]
        );
        assert_eq!(
            keys(&json["audio"]["temp_files"]),
            [
                "active", "created", "deleted", "failures", "orphans", "retries"
            ]
        );
        // And it reads back.
        let back: DemoReport = serde_json::from_value(json).unwrap();
        assert_eq!(back.schema, SCHEMA);
    }

    #[test]
    fn wait_invariants_are_skipped_when_waiting_is_not_certain() {
        let mut run = Run::clean();
        // 4 callers: 2 on each of the first two hosts, under every limit and
        // under the slot count, so nothing has to wait.
        run.options.concurrency = 4;
        run.client.queued = 0;
        for waits in &mut run.client.host_waits {
            waits.2 = 0;
        }
        let report = run.report();
        let names: Vec<&str> = report.invariants.iter().map(|i| i.name.as_str()).collect();
        assert!(
            !names.contains(&"host_limits_made_requests_wait"),
            "{names:?}"
        );
        assert!(!names.contains(&"queue_made_requests_wait"), "{names:?}");
        assert_eq!(report.failed_invariants(), 0, "{report}");
    }

    #[test]
    fn reuse_rate_is_null_without_uses() {
        assert_eq!(Reuse::new(0, 0).rate, None);
        assert_eq!(Reuse::new(3, 1).rate, Some(0.75));
    }

    #[test]
    fn by_priority_keeps_rank_order() {
        let by = ByPriority::from_ranks([1, 2, 3, 4]);
        assert_eq!((by.critical, by.high, by.normal, by.low), (1, 2, 3, 4));
        let json = serde_json::to_string(&by).unwrap();
        assert_eq!(json, r#"{"critical":1,"high":2,"normal":3,"low":4}"#);
    }
}
