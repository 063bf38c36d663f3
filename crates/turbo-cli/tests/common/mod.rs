//! Shared helpers: run the `turbo` binary, and a loopback server the test owns.

#![allow(dead_code, unreachable_pub)]

use std::process::{Command, Output};
use std::time::Duration;

use turbo_cli::server::{Asset, HostSpec, LoopbackServer};

/// Runs `turbo` with `args`, with backtraces switched on so that a panic would
/// show one; stdout and stderr are pipes (so no progress bars).
pub fn turbo(args: &[&str]) -> Output {
    turbo_with_env(args, &[])
}

/// [`turbo`] with extra environment variables.
pub fn turbo_with_env(args: &[&str], env: &[(&str, &std::path::Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_turbo"));
    // Logging is off unless a test turns it on: a developer's RUST_LOG must not
    // add lines to the stderr the tests check.
    command
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the turbo binary runs")
}

/// [`turbo`], but a run that has not ended within `limit` is killed and fails
/// the test: for inputs (FIFOs, devices) that used to hang the binary.
pub fn turbo_within(args: &[&str], limit: Duration) -> Output {
    turbo_within_env(args, &[], limit)
}

/// [`turbo_within`] with extra environment variables.
pub fn turbo_within_env(
    args: &[&str],
    env: &[(&str, &std::path::Path)],
    limit: Duration,
) -> Output {
    use std::process::Stdio;
    use std::time::Instant;
    let mut command = Command::new(env!("CARGO_BIN_EXE_turbo"));
    command.env_remove("RUST_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the turbo binary runs");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("turbo {args:?} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("collect the output")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a user error: exit `code`, exactly one line on stderr starting with
/// `turbo: ` and containing `needle`, no panic, no backtrace.
pub fn assert_user_error(output: &Output, code: i32, needle: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.starts_with("turbo: "), "{err:?}");
    assert!(err.contains(needle), "{needle:?} missing from {err:?}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err:?}"
    );
}

/// A loopback server on 127.0.0.1 with its own runtime, serving while the test
/// runs the binary.
pub struct Server {
    pub server: LoopbackServer,
    // Declared last: the server must drop (stop accepting) inside its runtime.
    runtime: tokio::runtime::Runtime,
}

impl Server {
    pub fn start() -> Self {
        Self::with_assets(Vec::new())
    }

    /// A server that also serves `assets`.
    pub fn with_assets(assets: Vec<Asset>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let server = runtime
            .block_on(LoopbackServer::start_with_assets(
                &[HostSpec::new([127, 0, 0, 1], Duration::ZERO)],
                assets,
            ))
            .expect("server");
        Self { server, runtime }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(0, path).expect("host 0")
    }
}

/// An address that refuses connections for as long as this value lives: a
/// socket bound to a free port that never listens. Holding the port (instead of
/// binding and releasing it) keeps a parallel test's listener, or the kernel's
/// choice of a source port, from landing on it.
pub struct Refused {
    _socket: tokio::net::TcpSocket,
    /// `http://127.0.0.1:<port>/`
    pub url: String,
}

pub fn refused() -> Refused {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    Refused {
        _socket: socket,
        url: format!("http://{addr}/"),
    }
}

/// A decode fixture of turbo-audio.
pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../turbo-audio/tests/fixtures")
        .join(name)
}

/// Makes a FIFO (named pipe) at `path` with `mkfifo`, as a hostile user would.
pub fn mkfifo(path: &std::path::Path) {
    let made = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
}
