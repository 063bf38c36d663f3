//! `turbo`: parses the command line and runs it; every failure is one line on
//! stderr and an exit status (see `docs/turbo-cli.md`).

use std::backtrace::{Backtrace, BacktraceStatus};
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use turbo_cli::cli::Cli;

fn main() -> ExitCode {
    // A panic is a bug; still, the user gets one line, and a backtrace only
    // when they asked for one (RUST_BACKTRACE, as std's `Backtrace::capture`
    // reads it).
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".to_owned());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprint!("{}", panic_report(&message, &place, &Backtrace::capture()));
    }));
    install_log_subscriber();
    let cli = Cli::parse();
    match turbo_cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("turbo: {}", error.one_line());
            ExitCode::from(error.exit_code())
        }
    }
}

/// What the panic hook prints: one line, then the backtrace if one was captured.
fn panic_report(message: &str, place: &str, backtrace: &Backtrace) -> String {
    let mut report = format!(
        "turbo: internal error{place}: {}\n",
        message.replace('\n', " ")
    );
    if backtrace.status() == BacktraceStatus::Captured {
        report.push_str(&format!("stack backtrace:\n{backtrace}\n"));
    }
    report
}

/// Logs to stderr as `RUST_LOG` says (`tracing_subscriber::EnvFilter` syntax);
/// nothing at all when it is unset or empty.
fn install_log_subscriber() {
    let Some(filter) = std::env::var_os("RUST_LOG").filter(|value| !value.is_empty()) else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::new(filter.to_string_lossy());
    // Fails only if a subscriber is already set, which nothing here does.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_one_line_without_a_backtrace() {
        let report = panic_report("boom\nagain", " at src/x.rs:1", &Backtrace::disabled());
        assert_eq!(report, "turbo: internal error at src/x.rs:1: boom again\n");
    }

    #[test]
    fn a_captured_backtrace_follows_the_line() {
        let report = panic_report("boom", "", &Backtrace::force_capture());
        let mut lines = report.lines();
        assert_eq!(lines.next(), Some("turbo: internal error: boom"));
        assert_eq!(lines.next(), Some("stack backtrace:"));
        assert!(lines.next().is_some(), "the frames follow: {report}");
    }
}
