//! The `turbo` binary's library: every command as a function, the embedded
//! [`server::LoopbackServer`], and the demo's [`demo::DemoReport`].
//!
//! The binary (`src/main.rs`) only parses the command line with [`cli::Cli`] and
//! calls [`run`]; tests and other tools can call the same functions, and start the
//! same loopback server.
//!
//! - `turbo demo` ([`demo`]): the whole stack against four loopback hosts, with a
//!   report whose invariants decide the exit status;
//! - `turbo get URL` ([`get`]): one request, streamed;
//! - `turbo audio URL|PATH` ([`audio`]): a clip through the audio pipeline, to WAV;
//! - `turbo play KEY` ([`play`]): a notification sound through the throttle;
//! - `turbo bench` ([`bench`](mod@bench)): the stack raced against tower and hyper-util.
//!
//! # Examples
//!
//! ```
//! use clap::Parser;
//! use turbo_cli::cli::{Cli, Command};
//!
//! let cli = Cli::try_parse_from(["turbo", "demo", "--duration", "3", "--json"])?;
//! let Command::Demo(args) = cli.command else { unreachable!("parsed as demo") };
//! assert_eq!(args.duration, std::time::Duration::from_secs(3));
//! assert!(args.json);
//! # Ok::<(), clap::Error>(())
//! ```

pub mod audio;
pub mod bench;
pub mod cli;
pub mod demo;
pub mod error;
pub mod get;
pub mod play;
mod progress;
pub mod samples;
pub mod server;
pub mod wav;

pub use error::CliError;

use cli::{Cli, Command};

/// Runs the command and returns the process's exit status; errors carry their
/// own ([`CliError::exit_code`]).
///
/// # Errors
///
/// Whatever the command reports; the binary prints it as one line on stderr.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Demo(args) => {
            let options = demo::DemoOptions {
                duration: args.duration,
                concurrency: usize::from(args.concurrency),
                progress: progress::wanted(args.json),
            };
            let report = demo::run(&options)?;
            let text = if args.json {
                serde_json::to_string_pretty(&report)
                    .map_err(|e| CliError::output(None, e.into()))?
            } else {
                report.to_string()
            };
            print_line(&text)?;
            match report.failed_invariants() {
                0 => Ok(0),
                failed => Err(CliError::InvariantsFailed {
                    failed,
                    checked: report.invariants.len(),
                }),
            }
        }
        Command::Get(args) => get::run(&args),
        Command::Audio(args) => audio::run(&args),
        Command::Play(args) => play::run(&args),
        Command::Bench(args) => {
            let plan = bench::BenchPlan::new(args.quick);
            if args.json {
                let results = runtime()?.block_on(bench::run(plan, false))?;
                print_line(&bench::json(plan, &results).to_string())?;
                return Ok(0);
            }
            print_line(&format!(
                "turbo bench: {} rounds of {:.1} s per side, {} callers; ratio = ours / peer time per request (lower is better)",
                plan.rounds,
                plan.round.as_secs_f64(),
                bench::CALLERS
            ))?;
            runtime()?.block_on(bench::run(plan, true))?;
            Ok(0)
        }
    }
}

/// Writes `text` and a newline to stdout.
fn print_line(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| CliError::output(None, e))
}

/// The multi-threaded runtime every async command runs on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}
