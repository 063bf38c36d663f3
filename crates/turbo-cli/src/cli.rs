//! The command line, as clap derive types: [`Cli`] and one argument struct per
//! command. Every command's `--help` ends with examples.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use turbo_client::Priority;

/// The exit-code table every `--help` ends with: one meaning per code, the same
/// for every command (`docs/turbo-cli.md` has the same table).
macro_rules! exit_codes {
    () => {
        "\
Exit codes (one meaning each, the same for every command):
   0  success (demo: every invariant held; play: started, with --wait: played)
   1  failure: a request failed, a file is missing or cannot be written, audio
      does not decode, a demo invariant did not hold, a bench case failed,
      play's background turbo could not start or report
   2  usage error: unknown command or option, a value out of range, a bad URL
   3  play: throttled (played less than a window ago)
   4  play: disabled in the config
   5  play: busy (max_concurrent playbacks running)
   6  play: not found (no sound for the key, or its file is missing)
   7  play: no player program
   8  play --wait: the player failed
   9  play --wait: the player timed out and was killed
  10  play: the config cannot be read or is invalid
  11  play: the throttle state cannot be locked, read or written
  12  play: the player cannot be started
  13  play: waiting for the player failed
  14  (reserved) a cancelled playback; turbo play never cancels one
  15  get, audio: the server answered 4xx or 5xx (get still writes the body)"
    };
}

/// The exit-code table of every `--help`, for tests and other tools.
pub const EXIT_CODES: &str = exit_codes!();

const EXAMPLES: &str = concat!(
    "\
Examples:
  turbo demo                          # 10 s against the embedded loopback server
  turbo demo --duration 3 --json      # a short run, machine-readable report
  turbo get http://127.0.0.1:8080/ --timeline
  turbo audio song.mp3 --out song.wav
  turbo play stop --config sounds.toml
  turbo bench --quick

",
    exit_codes!()
);

const DEMO_EXAMPLES: &str = concat!(
    "\
Examples:
  turbo demo                              # 10 s, 64 callers, text report
  turbo demo --duration 3 --concurrency 200
  turbo demo --json > report.json         # schema \"turbo-demo/1\"

The report: requests per second, latency p50/p99 per priority, the most requests
in flight per host (counted by the server) against each host's limit, queue
statistics, and pool reuse. Exit status 0 only if every invariant it lists held,
1 otherwise.

",
    exit_codes!()
);

const GET_EXAMPLES: &str = concat!(
    "\
Examples:
  turbo get http://127.0.0.1:8080/items/1
  turbo get http://127.0.0.1:8080/big --priority low -o big.bin
  turbo get https://example.com/ --timeline > page.html

The body goes to stdout (or FILE); the status line, the headers and the timeline go
to stderr, so the body can be piped. Exit status: 0 for a response below 400, 15 for
a 4xx or 5xx response (the body is still written), 2 for a bad URL, 1 when the
request fails (refused, timed out, reset) or the output cannot be written.

",
    exit_codes!()
);

const AUDIO_EXAMPLES: &str = concat!(
    "\
Examples:
  turbo audio song.mp3                                 # route, duration, decode speed
  turbo audio http://127.0.0.1:8080/a.flac --out a.wav
  turbo audio long.ogg --stream --out long.wav         # decoded chunk by chunk
  turbo audio damaged.mp3 --strict                     # fail on any damage

The clip goes through the audio pipeline: a temp file, the decode policy (inline
for small clips, a decode worker for larger ones, streaming for long ones), then
WAV (16-bit PCM) with --out. Exit status: 0 on success, 2 for a bad URL, 15 for a
4xx or 5xx response, 1 when the file is missing or not a regular file, the
download fails, the audio does not decode (or, with --strict, is damaged or cut
short), or the output cannot be written.

",
    exit_codes!()
);

const PLAY_EXAMPLES: &str = concat!(
    "\
Examples:
  turbo play stop                                  # ~/.config/turbo/sounds.toml
  turbo play needs-attention --config sounds.toml --json
  turbo play stop --wait                           # until the sound has ended

Without --wait, turbo returns as soon as the player has started; a background
turbo waits for it and kills it at the config's timeout_ms.

",
    exit_codes!()
);

const BENCH_EXAMPLES: &str = concat!(
    "\
Examples:
  turbo bench            # 5 rounds of 1 s per side and case
  turbo bench --quick    # 3 rounds of 0.2 s: a smoke run

Cases: stack_mock (TurboClient over MockTransport against tower buffer(1024) +
concurrency_limit(16) over the same mock) and http_loopback (TurboClient against
a bare hyper-util client, HTTP/1.1 to the embedded server on 127.0.0.1). The ratio
is ours / peer time per request: lower is better. For measured figures use
`cargo xtask bench client` (criterion).

",
    exit_codes!()
);

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
    /// Print the status, headers, body size (and, with --timeline, the timeline)
    /// as one JSON object (schema "turbo-get/1") on stdout; needs -o FILE for the body
    #[arg(long, requires = "output")]
    pub json: bool,
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
    /// Print the summary as one JSON object (schema "turbo-audio/1") instead of text
    #[arg(long)]
    pub json: bool,
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
    /// Print the results as one JSON object (schema "turbo-bench/1") instead of text
    #[arg(long)]
    pub json: bool,
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

    /// The code each line of [`EXIT_CODES`] starts with, in order.
    fn table_codes() -> Vec<u8> {
        EXIT_CODES
            .lines()
            .filter_map(|line| line.split_whitespace().next()?.parse().ok())
            .collect()
    }

    #[test]
    fn the_exit_code_table_has_one_line_per_code() {
        let codes = table_codes();
        assert_eq!(codes, (0..=15).collect::<Vec<u8>>(), "{EXIT_CODES}");
    }

    #[test]
    fn every_code_the_commands_return_is_in_the_table_with_its_meaning() {
        use turbo_playback::Status;
        let line = |code: u8| {
            EXIT_CODES
                .lines()
                .find(|line| line.split_whitespace().next() == Some(&code.to_string()))
                .unwrap_or_else(|| panic!("no line for {code}"))
                .to_owned()
        };
        for (status, meaning) in [
            (Status::Played, "success"),
            (Status::Throttled { retry_after_ms: 1 }, "throttled"),
            (Status::Disabled, "disabled"),
            (Status::Busy { limit: 1 }, "busy"),
            (Status::NotFound, "not found"),
            (Status::NoPlayer, "no player"),
            (
                Status::Failed {
                    exit_code: Some(1),
                    signal: None,
                },
                "failed",
            ),
            (
                Status::TimedOut {
                    timeout_ms: 1,
                    signal: Some(9),
                },
                "timed out",
            ),
            (Status::Cancelled { signal: Some(9) }, "cancelled"),
        ] {
            let text = line(status.exit_code());
            assert!(text.contains(meaning), "{status:?}: {text}");
        }
        use crate::error::{EXIT_CONFIG, EXIT_FAILURE, EXIT_HTTP_STATUS, EXIT_USAGE};
        assert!(line(EXIT_FAILURE).contains("failure"));
        assert!(line(EXIT_USAGE).contains("usage"));
        assert!(line(EXIT_HTTP_STATUS).contains("4xx or 5xx"));
        assert!(line(EXIT_CONFIG).contains("config"));
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
