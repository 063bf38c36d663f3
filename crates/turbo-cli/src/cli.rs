//! The command line, as clap derive types: [`Cli`] and one argument struct per
//! command. Every command's `--help` ends with examples.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use turbo_client::Priority;

const EXAMPLES: &str = "\
Examples:
  turbo demo                          # 10 s against the embedded loopback server
  turbo demo --duration 3 --json      # a short run, machine-readable report
  turbo get http://127.0.0.1:8080/ --timeline
  turbo audio song.mp3 --out song.wav
  turbo play stop --config sounds.toml
  turbo bench --quick

Exit status: 0 on success, 1 on failure, 2 on a usage error; `turbo play` uses
3 to 13 for its outcomes (see `turbo play --help`).";

const DEMO_EXAMPLES: &str = "\
Examples:
  turbo demo                              # 10 s, 64 callers, text report
  turbo demo --duration 3 --concurrency 200
  turbo demo --json > report.json         # schema \"turbo-demo/1\"

The report: requests per second, latency p50/p99 per priority, the most requests
in flight per host (counted by the server) against each host's limit, queue
statistics, and pool reuse. Exit status 0 only if every invariant it lists held,
1 otherwise.";

const GET_EXAMPLES: &str = "\
Examples:
  turbo get http://127.0.0.1:8080/items/1
  turbo get http://127.0.0.1:8080/big --priority low -o big.bin
  turbo get https://example.com/ --timeline > page.html

The body goes to stdout (or FILE); the status line, the headers and the timeline go
to stderr, so the body can be piped. Exit status: 0 for a response below 400, 3 for
a 4xx or 5xx response (the body is still written), 2 for a bad URL, 1 when the
request fails (refused, timed out, reset) or the output cannot be written.";

const AUDIO_EXAMPLES: &str = "\
Examples:
  turbo audio song.mp3                                 # route, duration, decode speed
  turbo audio http://127.0.0.1:8080/a.flac --out a.wav
  turbo audio long.ogg --stream --out long.wav         # decoded chunk by chunk
  turbo audio damaged.mp3 --strict                     # fail on any damage

The clip goes through the audio pipeline: a temp file, the decode policy (inline
for small clips, a decode worker for larger ones, streaming for long ones), then
WAV (16-bit PCM) with --out. Exit status: 0 on success, 2 for a bad URL, 3 for a
4xx or 5xx response, 1 when the file is missing or not a regular file, the
download fails, the audio does not decode (or, with --strict, is damaged or cut
short), or the output cannot be written.";

const PLAY_EXAMPLES: &str = "\
Examples:
  turbo play stop                                  # ~/.config/turbo/sounds.toml
  turbo play needs-attention --config sounds.toml --json
  turbo play stop --wait                           # until the sound has ended

Without --wait, turbo returns as soon as the player has started; a background
turbo waits for it and kills it at the config's timeout_ms.

Exit status: 0 started (with --wait: played), 3 throttled, 4 disabled, 5 busy,
6 not found, 7 no player, 8 player failed, 9 player timed out (these two with
--wait), 10 config unreadable or invalid, 11 throttle state error, 12 player
cannot start, 13 waiting for the player failed, 1 the background turbo could not
start or report.";

const BENCH_EXAMPLES: &str = "\
Examples:
  turbo bench            # 5 rounds of 1 s per side and case
  turbo bench --quick    # 3 rounds of 0.2 s: a smoke run

Cases: stack_mock (TurboClient over MockTransport against tower buffer(1024) +
concurrency_limit(16) over the same mock) and http_loopback (TurboClient against
a bare hyper-util client, HTTP/1.1 to the embedded server on 127.0.0.1). The ratio
is ours / peer time per request: lower is better. For measured figures use
`cargo xtask bench client` (criterion).";

/// `turbo`: the turbo stack from the command line.
#[derive(Debug, Parser)]
#[command(
    name = "turbo",
    version,
    about = "The turbo HTTP and audio stack from the command line",
    after_help = EXAMPLES
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drive the whole stack against an embedded loopback server and report what held
    #[command(after_help = DEMO_EXAMPLES)]
    Demo(DemoArgs),
    /// Fetch one URL through TurboClient: status, headers, body and timeline
    #[command(after_help = GET_EXAMPLES)]
    Get(GetArgs),
    /// Download or read a clip, decode it per the policy, and write it as WAV
    #[command(after_help = AUDIO_EXAMPLES)]
    Audio(AudioArgs),
    /// Play a notification sound through the throttle; the exit status tells the outcome
    #[command(after_help = PLAY_EXAMPLES)]
    Play(PlayArgs),
    /// Race the turbo stack against plain tower and hyper-util, and print the ratios
    #[command(after_help = BENCH_EXAMPLES)]
    Bench(BenchArgs),
}

/// `turbo demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long to send requests, in seconds (decimals allowed, at most 3600)
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub duration: Duration,
    /// Concurrent callers (the client allows 10 in flight, so most of them wait)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 64,
        value_parser = clap::value_parser!(u16).range(1..=4096)
    )]
    pub concurrency: u16,
    /// Print the report as JSON (schema "turbo-demo/1") instead of text
    #[arg(long)]
    pub json: bool,
}

/// `turbo get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The URL, http:// or https://
    pub url: String,
    /// The request's priority: critical, high, normal or low
    #[arg(long, value_name = "P", default_value = "normal", value_parser = parse_priority)]
    pub priority: Priority,
    /// Print the request's timeline (permit, slot, headers, body end) to stderr
    #[arg(long)]
    pub timeline: bool,
    /// Write the body to FILE instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Give up after this many seconds (connect, headers and body)
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub timeout: Duration,
}

/// `turbo audio`.
#[derive(Debug, Args)]
pub struct AudioArgs {
    /// An http:// or https:// URL, or a local file
    #[arg(value_name = "URL|PATH")]
    pub source: String,
    /// Write the decoded audio to FILE.wav (16-bit PCM)
    #[arg(long, value_name = "FILE.wav")]
    pub out: Option<PathBuf>,
    /// Stream the clip (decode chunk by chunk) whatever its size or length
    #[arg(long)]
    pub stream: bool,
    /// Refuse damaged audio: fail on the first packet that does not decode, and
    /// on a file cut short, instead of skipping the packet (up to 100) or
    /// keeping the audio before the cut
    #[arg(long)]
    pub strict: bool,
}

/// `turbo play`.
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// The sound's key (case, `-`, `_`, `.` and spaces are ignored)
    pub key: String,
    /// The sound config (default: $XDG_CONFIG_HOME/turbo/sounds.toml, else
    /// ~/.config/turbo/sounds.toml)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The throttle's state directory, shared by every process that plays sounds
    /// (default: $XDG_RUNTIME_DIR/turbo, else $XDG_STATE_HOME/turbo, else
    /// ~/.local/state/turbo)
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print the outcome as one line of JSON
    #[arg(long)]
    pub json: bool,
    /// Wait until the sound has ended (at most the config's timeout_ms) and
    /// report how it ended; without it, turbo returns as soon as the player has
    /// started, and a background turbo enforces the timeout
    #[arg(long)]
    pub wait: bool,
    /// Internal: run as the background watcher of `turbo play` without
    /// `--wait` (report the outcome as soon as `play` returns, then wait)
    #[arg(long, hide = true)]
    pub watcher: bool,
}

/// `turbo bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Short rounds: a smoke run, not a measurement
    #[arg(long)]
    pub quick: bool,
}

/// Seconds as a positive decimal of at most an hour.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 3600.0) {
        return Err(format!(
            "{text} s is out of range (more than 0, at most 3600)"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_priority(text: &str) -> Result<Priority, String> {
    text.parse::<Priority>().map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds_must_be_positive_and_bounded() {
        assert_eq!(parse_seconds("2.5"), Ok(Duration::from_millis(2500)));
        for bad in ["0", "-1", "NaN", "inf", "3601", "soon"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn priorities_parse_by_name() {
        assert_eq!(parse_priority("HIGH"), Ok(Priority::High));
        assert!(parse_priority("urgent").unwrap_err().contains("critical"));
    }
}
