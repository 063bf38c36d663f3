//! Throttle check-and-set latency against the seed's budget (1 ms per throttle
//! operation): p50 and p99, uncontended and with 8 processes contending for the
//! same lock file.
//!
//! A custom bench (not criterion): criterion reports means of batches, and the
//! figure asked for is the latency distribution of single operations, across
//! processes. Every measured check runs the full write path (lock, read, decide,
//! write the temporary file, rename, unlock): a manual clock moves one second
//! per check and each process cycles over its own keys with a one-second
//! window, so every check is allowed and writes.
//!
//! The 8-process case re-executes this binary with `TURBO_THROTTLE_BENCH_CHILD`
//! set; each child waits for a start file, runs its checks, and writes its
//! samples (one nanosecond figure per line) to a file the parent reads.
//!
//! The state directories are created under `TURBO_THROTTLE_BENCH_DIR` if set,
//! else under `/dev/shm` (tmpfs, like the `$XDG_RUNTIME_DIR` that
//! [`Throttle::default_dir`] prefers), else the system temp directory; the note
//! of each record names the place.
//!
//! Arguments are ignored: `cargo bench` and `cargo xtask bench --quick` pass
//! criterion's flags (`--bench`, `--warm-up-time 1`, ...) to every bench binary.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use turbo_playback::{ManualClock, Throttle};
use turbo_testkit::report::{quick, write_case};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const CHILD_ENV: &str = "TURBO_THROTTLE_BENCH_CHILD";
const INDEX_ENV: &str = "TURBO_THROTTLE_BENCH_INDEX";
const OPS_ENV: &str = "TURBO_THROTTLE_BENCH_OPS";
const BASE_ENV: &str = "TURBO_THROTTLE_BENCH_DIR";
const PROCESSES: usize = 8;
const KEYS_PER_PROCESS: usize = 8;
const WINDOW: Duration = Duration::from_secs(1);
/// Generous, so that contention shows up as latency rather than as errors.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
const PEER: &str = "seed_budget_1ms";
const PEER_NS: f64 = 1_000_000.0;

fn main() -> Result<()> {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        let index: usize = std::env::var(INDEX_ENV)?.parse()?;
        let ops: usize = std::env::var(OPS_ENV)?.parse()?;
        return child(Path::new(&dir), index, ops);
    }
    let (uncontended_ops, per_process_ops) = if quick() {
        (1_000, 250)
    } else {
        (5_000, 1_000)
    };

    let base = bench_base();
    let dir = tempfile::tempdir_in(&base)?;
    let checker = Checker::new(dir.path(), 0);
    checker.run(200)?;
    let samples = checker.run(uncontended_ops)?;
    report("throttle_uncontended", samples, &base)?;

    let dir = tempfile::tempdir_in(&base)?;
    let exe = std::env::current_exe()?;
    let children = (0..PROCESSES)
        .map(|index| {
            Command::new(&exe)
                .env(CHILD_ENV, dir.path())
                .env(INDEX_ENV, index.to_string())
                .env(OPS_ENV, per_process_ops.to_string())
                .stdout(Stdio::null())
                .spawn()
        })
        .collect::<std::io::Result<Vec<Child>>>()?;
    // Start all at once, after every child has warmed up.
    let ready = |i: usize| dir.path().join(format!("ready-{i}")).exists();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(0..PROCESSES).all(ready) {
        if Instant::now() > deadline {
            return Err("bench children did not get ready".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::fs::File::create(dir.path().join("go"))?;
    for mut child in children {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("bench child failed: {status}").into());
        }
    }
    let mut samples = Vec::with_capacity(PROCESSES * per_process_ops);
    for index in 0..PROCESSES {
        let text = std::fs::read_to_string(dir.path().join(format!("samples-{index}")))?;
        for line in text.lines() {
            samples.push(line.parse::<u64>()?);
        }
    }
    report("throttle_8proc", samples, &base)
}

/// Where the bench's state directories go.
fn bench_base() -> PathBuf {
    if let Some(dir) = std::env::var_os(BASE_ENV).filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// One contending process: warm up, wait for the start file, measure, write the
/// samples.
fn child(dir: &Path, index: usize, ops: usize) -> Result<()> {
    let checker = Checker::new(&dir.join("state"), index);
    checker.run(50)?;
    std::fs::File::create(dir.join(format!("ready-{index}")))?;
    while !dir.join("go").exists() {
        std::thread::sleep(Duration::from_micros(200));
    }
    let samples = checker.run(ops)?;
    let text: String = samples.iter().map(|ns| format!("{ns}\n")).collect();
    std::fs::write(dir.join(format!("samples-{index}")), text)?;
    Ok(())
}

/// One process's throttle with its own clock and keys.
struct Checker {
    throttle: Throttle,
    clock: Arc<ManualClock>,
    keys: Vec<String>,
}

impl Checker {
    fn new(dir: &Path, index: usize) -> Self {
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let throttle = Throttle::builder(dir)
            .clock(clock.clone())
            .lock_timeout(LOCK_TIMEOUT)
            .build();
        let keys = (0..KEYS_PER_PROCESS)
            .map(|k| format!("p{index}k{k}"))
            .collect();
        Self {
            throttle,
            clock,
            keys,
        }
    }

    /// Runs `ops` checks, each of which must be allowed (the full write path).
    /// Returns each check's latency in nanoseconds.
    fn run(&self, ops: usize) -> Result<Vec<u64>> {
        let mut samples = Vec::with_capacity(ops);
        for (op, key) in self.keys.iter().cycle().take(ops).enumerate() {
            // Past the window of every key of this process.
            self.clock.advance(WINDOW);
            let started = Instant::now();
            let check = self.throttle.check(key, WINDOW)?;
            let elapsed = started.elapsed();
            if !check.allowed() {
                return Err(
                    format!("check {op} of {key} was throttled; the bench needs writes").into(),
                );
            }
            samples.push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        }
        Ok(samples)
    }
}

/// Writes the p50 and p99 records of `samples` for `case`.
fn report(case: &str, mut samples: Vec<u64>, base: &Path) -> Result<()> {
    if samples.is_empty() {
        return Err(format!("{case}: no samples").into());
    }
    samples.sort_unstable();
    let note = format!(
        "n={} samples, full write path, state under {}",
        samples.len(),
        base.display()
    );
    for (suffix, quantile) in [("p50", 0.50), ("p99", 0.99)] {
        let rank = ((samples.len() - 1) as f64 * quantile).round() as usize;
        let value = samples[rank.min(samples.len() - 1)];
        write_case(
            &format!("{case}_{suffix}"),
            value as f64,
            PEER,
            PEER_NS,
            &note,
        )?;
    }
    Ok(())
}
