//! `turbo`: parses the command line and runs it; every failure is one line on
//! stderr and an exit status (see `docs/turbo-cli.md`).

use std::process::ExitCode;

use clap::Parser;
use turbo_cli::cli::Cli;

fn main() -> ExitCode {
    // A panic is a bug; still, the user gets one line and no backtrace.
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
        eprintln!(
            "turbo: internal error{place}: {}",
            message.replace('\n', " ")
        );
    }));
    let cli = Cli::parse();
    match turbo_cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("turbo: {}", error.one_line());
            ExitCode::from(error.exit_code())
        }
    }
}
