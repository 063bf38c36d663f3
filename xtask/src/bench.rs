//! `cargo xtask bench [--quick] [NAME]`: run the benches, print `BENCH` lines, and
//! rewrite the crate's section of `docs/benchmarks.md`.
//!
//! A case is either a criterion group named after the case with two functions,
//! `ours` and the peer's name, or a JSON record that a custom bench binary writes to
//! `target/turbo-bench/<case>.json` (`{"case", "ours_ns", "peer", "peer_ns"}`), for
//! figures criterion cannot measure (latency percentiles, throughput over
//! loopback, allocation counts). Only results written during this run are reported.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use crate::{cargo, run_checked, workspace_root};

/// The crates that have benches, by short name.
const CRATES: [&str; 6] = ["pool", "core", "limit", "audio", "playback", "client"];

#[derive(Debug, Clone)]
struct Case {
    name: String,
    ours_ns: f64,
    peer: String,
    peer_ns: f64,
    /// Free text shown beside a custom result (units, sample counts).
    note: String,
}

impl Case {
    fn ratio(&self) -> f64 {
        if self.peer_ns > 0.0 {
            self.ours_ns / self.peer_ns
        } else {
            f64::NAN
        }
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut only: Option<&str> = None;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            name if !name.starts_with('-') && only.is_none() => only = Some(name),
            other => return Err(format!("unexpected argument `{other}` for `bench`")),
        }
    }
    let selected: Vec<&str> = match only {
        Some(name) if CRATES.contains(&name) => vec![name],
        Some(name) => {
            return Err(format!(
                "unknown bench crate `{name}`; one of: {}",
                CRATES.join(", ")
            ));
        }
        None => CRATES.to_vec(),
    };
    let root = workspace_root();
    let machine = machine_description();
    for name in selected {
        let package = format!("turbo-{name}");
        if !root.join("crates").join(&package).join("benches").is_dir() {
            println!("xtask: {package} has no benches yet, skipped");
            continue;
        }
        let started = SystemTime::now();
        let mut command = cargo();
        command.args(["bench", "--locked", "-p", &package, "--bench", "*"]);
        if quick {
            command.env("TURBO_BENCH_QUICK", "1").args([
                "--",
                "--warm-up-time",
                "1",
                "--measurement-time",
                "2",
                "--sample-size",
                "20",
            ]);
        }
        run_checked(command, &format!("cargo bench -p {package}"))?;
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let cases = collect(&target, started)?;
        if cases.is_empty() {
            return Err(format!("{package}: the benches reported no case"));
        }
        for case in &cases {
            println!(
                "BENCH {} ours_ns={:.1} peer={} peer_ns={:.1} ratio={:.3}",
                case.name,
                case.ours_ns,
                case.peer,
                case.peer_ns,
                case.ratio()
            );
        }
        let command_line = format!(
            "cargo xtask bench{} {name}",
            if quick { " --quick" } else { "" }
        );
        update_doc(
            &root.join("docs").join("benchmarks.md"),
            name,
            &cases,
            &machine,
            &command_line,
        )?;
    }
    Ok(())
}

/// Reads every criterion group and custom record written since `since`.
fn collect(target: &Path, since: SystemTime) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    let criterion = target.join("criterion");
    for group in read_dirs(&criterion) {
        let mut ours = None;
        let mut peers = Vec::new();
        for function in read_dirs(&group) {
            let estimates = function.join("new").join("estimates.json");
            if !is_fresh(&estimates, since) {
                continue;
            }
            let median = read_median(&estimates)?;
            let label = file_name(&function);
            if label == "ours" {
                ours = Some(median);
            } else {
                peers.push((label, median));
            }
        }
        if let (Some(ours_ns), [(peer, peer_ns)]) = (ours, peers.as_slice()) {
            cases.push(Case {
                name: file_name(&group),
                ours_ns,
                peer: peer.clone(),
                peer_ns: *peer_ns,
                note: String::new(),
            });
        }
    }
    let custom = target.join("turbo-bench");
    if let Ok(entries) = fs::read_dir(&custom) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "json") && is_fresh(&path, since) {
                cases.push(read_custom(&path)?);
            }
        }
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

fn read_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_fresh(path: &Path, since: SystemTime) -> bool {
    fs::metadata(path)
        .and_then(|meta| meta.modified())
        .is_ok_and(|modified| modified >= since)
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}

fn read_median(path: &Path) -> Result<f64, String> {
    read_json(path)?
        .pointer("/median/point_estimate")
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("{}: no median.point_estimate", path.display()))
}

fn read_custom(path: &Path) -> Result<Case, String> {
    let value = read_json(path)?;
    let field = |name: &str| {
        value
            .get(name)
            .ok_or_else(|| format!("{}: missing `{name}`", path.display()))
    };
    let text = |name: &str| -> Result<String, String> {
        field(name)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: `{name}` is not a string", path.display()))
    };
    let number = |name: &str| -> Result<f64, String> {
        field(name)?
            .as_f64()
            .ok_or_else(|| format!("{}: `{name}` is not a number", path.display()))
    };
    Ok(Case {
        name: text("case")?,
        ours_ns: number("ours_ns")?,
        peer: text("peer")?,
        peer_ns: number("peer_ns")?,
        note: value
            .get("note")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}

fn machine_description() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!(
        "{cores} cores, {model}, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn update_doc(
    path: &Path,
    crate_name: &str,
    cases: &[Case],
    machine: &str,
    command_line: &str,
) -> Result<(), String> {
    let start = format!("<!-- bench:{crate_name}:start -->");
    let end = format!("<!-- bench:{crate_name}:end -->");
    let mut section = String::new();
    let _ = writeln!(section, "{start}");
    let _ = writeln!(
        section,
        "Measured with `{command_line}` on {machine}, {}.\n",
        today()
    );
    let _ = writeln!(
        section,
        "| case | ours (median ns) | peer | peer (median ns) | ratio ours/peer | note |"
    );
    let _ = writeln!(section, "|---|---:|---|---:|---:|---|");
    for case in cases {
        let _ = writeln!(
            section,
            "| `{}` | {:.1} | `{}` | {:.1} | {:.3} | {} |",
            case.name,
            case.ours_ns,
            case.peer,
            case.peer_ns,
            case.ratio(),
            case.note
        );
    }
    let _ = write!(section, "{end}");

    let current = fs::read_to_string(path).unwrap_or_default();
    let updated = match (current.find(&start), current.find(&end)) {
        (Some(from), Some(to)) if from < to => {
            format!(
                "{}{section}{}",
                &current[..from],
                &current[to + end.len()..]
            )
        }
        _ => {
            let mut text = if current.is_empty() {
                "# Benchmarks\n\nWritten by `cargo xtask bench`; see the notes beside each table.\n"
                    .to_owned()
            } else {
                current
            };
            let _ = write!(text, "\n## {crate_name}\n\n{section}\n");
            text
        }
    };
    fs::write(path, updated).map_err(|error| format!("{}: {error}", path.display()))
}

/// Today's date (UTC) as `YYYY-MM-DD`, from the system clock.
fn today() -> String {
    let days = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // Civil-from-days (Howard Hinnant's algorithm), valid for the proleptic calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
