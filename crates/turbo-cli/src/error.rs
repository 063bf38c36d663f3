//! [`CliError`]: every way a command can fail, each printed as one line with the
//! exit code the command documents.

use std::fmt;
use std::io;
use std::path::PathBuf;

use turbo_playback::{ConfigError, PlayError};

use crate::server::ServerError;

/// Exit code for a failure that is not a usage error: a request that failed, a file
/// that cannot be written, a demo invariant that did not hold.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage error: clap's own, and values clap cannot check (a URL).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of `turbo get` and `turbo audio` when the server answered 4xx or 5xx
/// (`get` still writes the body). Above every code `turbo play` uses (3 to 14),
/// so each code has one meaning across the commands.
pub const EXIT_HTTP_STATUS: u8 = 15;
/// Exit code of `turbo play` when the sound config cannot be read or is invalid.
pub const EXIT_CONFIG: u8 = 10;

/// Why a command failed. `Display` is the one line printed to stderr (after
/// `turbo: `); [`exit_code`](Self::exit_code) is the process's exit status.
#[derive(Debug)]
#[non_exhaustive]
pub enum CliError {
    /// The URL cannot be requested: not `http://` or `https://`, or no host.
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request failed (refused, timed out, reset...).
    Request {
        /// The URL that was requested.
        url: String,
        /// The client's error, which names the stage that failed.
        source: turbo_client::Error,
    },
    /// The server answered with a 4xx or 5xx status.
    HttpStatus {
        /// The URL that was requested.
        url: String,
        /// The status.
        status: http::StatusCode,
    },
    /// The client could not be built.
    Client(turbo_client::Error),
    /// A demo host's address is not a valid host key.
    HostKey {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: turbo_core::HostKeyError,
    },
    /// Writing output failed.
    Output {
        /// The file, or `None` for stdout.
        path: Option<PathBuf>,
        /// What the operating system said.
        source: io::Error,
    },
    /// The async runtime could not be started.
    Runtime(io::Error),
    /// The embedded loopback server could not start.
    Server(ServerError),
    /// The sound configuration cannot be read or is invalid.
    Config(ConfigError),
    /// Playing the sound failed in the machinery (throttle, spawn, wait).
    Play(PlayError),
    /// `turbo play` without `--wait`: the background `turbo` that starts and
    /// watches the player could not be started, or ended without reporting.
    PlayWatcher {
        /// What went wrong.
        reason: String,
    },
    /// `turbo play` without `--wait`: the background `turbo` reported an error
    /// (a throttle, spawn or config failure), passed on as it was reported.
    PlayReported {
        /// Its one-line message.
        message: String,
        /// Its exit code.
        exit_code: u8,
    },
    /// The demo ran, but some invariant it checks did not hold (the report, printed
    /// before, says which).
    InvariantsFailed {
        /// How many failed.
        failed: usize,
        /// How many were checked.
        checked: usize,
    },
    /// Loading audio failed: the file is missing, the download broke, the audio
    /// does not decode, or the pipeline could not start.
    Audio(turbo_audio::pipeline::PipelineError),
    /// A streaming clip failed to decode midway.
    AudioDecode(turbo_audio::decode::DecodeError),
    /// The demo's temp directory could not be created.
    TempDir(io::Error),
    /// The demo's main thread could not pump the audio pipeline's queue.
    Pump(turbo_audio::main_thread::PumpError),
    /// The demo's workload ended without a report (it panicked or was cancelled).
    DemoLost(String),
    /// A benchmark case could not run.
    Bench {
        /// The case.
        case: &'static str,
        /// What went wrong.
        reason: String,
    },
}

impl CliError {
    /// The exit status for this error (see `docs/turbo-cli.md`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::InvalidUrl { .. } => EXIT_USAGE,
            Self::HttpStatus { .. } => EXIT_HTTP_STATUS,
            Self::Config(_) => EXIT_CONFIG,
            Self::Play(error) => error.exit_code(),
            Self::PlayReported { exit_code, .. } => *exit_code,
            Self::Request { .. }
            | Self::Client(_)
            | Self::HostKey { .. }
            | Self::Output { .. }
            | Self::Runtime(_)
            | Self::Server(_)
            | Self::InvariantsFailed { .. }
            | Self::Audio(_)
            | Self::AudioDecode(_)
            | Self::TempDir(_)
            | Self::Pump(_)
            | Self::DemoLost(_)
            | Self::PlayWatcher { .. }
            | Self::Bench { .. } => EXIT_FAILURE,
        }
    }

    /// The message as exactly one line: an operating system or parser message that
    /// spans lines is joined with spaces, so stderr always gets one line per error.
    pub fn one_line(&self) -> String {
        self.to_string()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// An output error for `path` (`None`: stdout).
    pub(crate) fn output(path: Option<&std::path::Path>, source: io::Error) -> Self {
        Self::Output {
            path: path.map(PathBuf::from),
            source,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl { url, reason } => write!(f, "invalid URL `{url}`: {reason}"),
            Self::Request { url, source } => write!(f, "GET {url} failed: {source}"),
            Self::HttpStatus { url, status } => {
                write!(f, "GET {url}: the server answered {status}")
            }
            Self::Client(error) => write!(f, "cannot build the HTTP client: {error}"),
            Self::HostKey { addr, source } => write!(f, "cannot limit host {addr}: {source}"),
            Self::Output {
                path: Some(path),
                source,
            } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
            Self::Output { path: None, source } => write!(f, "cannot write to stdout: {source}"),
            Self::Runtime(error) => write!(f, "cannot start the async runtime: {error}"),
            Self::Server(error) => write!(f, "{error}"),
            Self::Config(error) => write!(f, "{error}"),
            Self::Play(error) => write!(f, "{error}"),
            Self::InvariantsFailed { failed, checked } => {
                write!(f, "{failed} of {checked} demo invariants did not hold")
            }
            Self::Audio(error) => write!(f, "{error}"),
            Self::AudioDecode(error) => write!(f, "decoding the stream failed: {error}"),
            Self::TempDir(error) => write!(f, "cannot create the demo's temp directory: {error}"),
            Self::Pump(error) => write!(f, "the main thread cannot pump the audio queue: {error}"),
            Self::DemoLost(reason) => write!(f, "the demo ended without a report: {reason}"),
            Self::Bench { case, reason } => write!(f, "bench case {case} failed: {reason}"),
            Self::PlayWatcher { reason } => {
                write!(f, "cannot play in the background: {reason}")
            }
            Self::PlayReported { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Request { source, .. } => Some(source),
            Self::Client(error) => Some(error),
            Self::HostKey { source, .. } => Some(source),
            Self::Output { source, .. } | Self::Runtime(source) | Self::TempDir(source) => {
                Some(source)
            }
            Self::Pump(error) => Some(error),
            Self::Server(error) => Some(error),
            Self::Config(error) => Some(error),
            Self::Play(error) => Some(error),
            Self::Audio(error) => Some(error),
            Self::AudioDecode(error) => Some(error),
            Self::InvalidUrl { .. }
            | Self::HttpStatus { .. }
            | Self::InvariantsFailed { .. }
            | Self::DemoLost(_)
            | Self::PlayWatcher { .. }
            | Self::PlayReported { .. }
            | Self::Bench { .. } => None,
        }
    }
}

impl From<ServerError> for CliError {
    fn from(error: ServerError) -> Self {
        Self::Server(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_is_one_line_with_its_exit_code() {
        let errors = [
            (
                CliError::InvalidUrl {
                    url: "ftp://x".into(),
                    reason: "expected http:// or https://".into(),
                },
                EXIT_USAGE,
            ),
            (
                CliError::HttpStatus {
                    url: "http://x/".into(),
                    status: http::StatusCode::NOT_FOUND,
                },
                EXIT_HTTP_STATUS,
            ),
            (
                CliError::Output {
                    path: Some("/nope/out".into()),
                    source: io::Error::new(io::ErrorKind::NotFound, "gone\nreally"),
                },
                EXIT_FAILURE,
            ),
            (
                CliError::InvariantsFailed {
                    failed: 1,
                    checked: 9,
                },
                EXIT_FAILURE,
            ),
        ];
        for (error, code) in errors {
            assert_eq!(error.exit_code(), code, "{error}");
            let line = error.one_line();
            assert!(!line.is_empty() && !line.contains('\n'), "{line:?}");
        }
    }
}
