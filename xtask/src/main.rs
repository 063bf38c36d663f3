//! Project automation for turbo, run as `cargo xtask <command>`.
//!
//! - `ci`: every check CI runs, in order, each step named and timed; stops at the
//!   first failure.
//! - `bench [--quick] [NAME]`: runs the benchmarks (all crates, or `turbo-NAME`),
//!   prints one `BENCH` line per case and rewrites that crate's section of
//!   `docs/benchmarks.md`.
//! - `fixtures`: regenerates turbo-audio's committed decode fixtures with ffmpeg.

mod bench;
mod ci;
mod fixtures;
mod tools;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci [--only STEP] [--skip STEP]
                         run every CI check (fmt, clippy, test, doc, loom, deny),
                         or only some; installs cargo-deny when it is missing
  bench [--quick] [NAME] run benchmarks for all crates or turbo-NAME
                         (pool, core, limit, audio, playback, client) and update
                         docs/benchmarks.md
  fixtures               regenerate crates/turbo-audio/tests/fixtures with ffmpeg";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fixtures") => fixtures::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives one directory below it.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// A `cargo` command run from the workspace root.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Runs `command`, failing with `what` and the exit status if it does not succeed.
fn run_checked(mut command: Command, what: &str) -> Result<(), String> {
    let status = command.status().map_err(|error| {
        let program = command.get_program().to_string_lossy().into_owned();
        if error.kind() == std::io::ErrorKind::NotFound {
            format!("{what}: `{program}` is not installed or not on the PATH")
        } else {
            format!("{what}: could not start `{program}`: {error}")
        }
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what}: failed with {status}"))
    }
}
