//! The tools `cargo xtask ci` needs beyond rustc and cargo, how to tell they are
//! there, and how to get them.
//!
//! Checked before the first step: a tool cargo can build is installed on the spot
//! (saying so, and timed); anything else stops the run at once with the command that
//! installs it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{cargo, workspace_root};

/// The cargo-deny release CI checks with: its `deny.toml` format changes between
/// releases, so every machine runs the same one.
const CARGO_DENY_VERSION: &str = "0.20.2";

/// A tool a CI step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tool {
    /// `cargo fmt`: the rustup component `rustfmt`.
    Rustfmt,
    /// `cargo clippy`: the rustup component `clippy`.
    Clippy,
    /// `cargo deny`, built from crates.io when missing.
    CargoDeny,
    /// `redis-server` from the system's packages, for turbo-fleet's tests.
    RedisServer,
}

/// Tests of these crates start a system program, so the test step needs it.
const TEST_SYSTEM_NEEDS: &[(&str, Tool)] = &[("turbo-fleet", Tool::RedisServer)];

/// How a missing tool is had.
enum Remedy {
    /// `xtask` runs this itself.
    Install { args: &'static [&'static str] },
    /// Someone with the rights has to; the run stops and names the command.
    Manual { command: &'static str },
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Rustfmt => "rustfmt (cargo fmt)",
            Tool::Clippy => "clippy (cargo clippy)",
            Tool::CargoDeny => "cargo-deny",
            Tool::RedisServer => "redis-server",
        }
    }

    /// A command that succeeds only when the tool can run.
    fn probe(self) -> Command {
        match self {
            Tool::Rustfmt => {
                let mut command = cargo();
                command.args(["fmt", "--version"]);
                command
            }
            Tool::Clippy => {
                let mut command = cargo();
                command.args(["clippy", "--version"]);
                command
            }
            Tool::CargoDeny => {
                let mut command = cargo();
                command.args(["deny", "--version"]);
                command
            }
            Tool::RedisServer => {
                let mut command = Command::new("redis-server");
                command.arg("--version");
                command
            }
        }
    }

    fn remedy(self) -> Remedy {
        match self {
            Tool::Rustfmt => Remedy::Manual {
                command: "rustup component add rustfmt",
            },
            Tool::Clippy => Remedy::Manual {
                command: "rustup component add clippy",
            },
            Tool::CargoDeny => Remedy::Install {
                args: &[
                    "install",
                    "--locked",
                    "cargo-deny",
                    "--version",
                    CARGO_DENY_VERSION,
                ],
            },
            Tool::RedisServer => Remedy::Manual {
                command: "apt-get install -y redis-server   (Debian, Ubuntu; `brew install redis` on macOS)",
            },
        }
    }

    fn is_present(self) -> bool {
        runs(self.probe())
    }
}

/// Whether `probe` starts and exits successfully.
fn runs(mut probe: Command) -> bool {
    probe
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The system programs the workspace's tests start.
pub(crate) fn system_needs_of_tests(root: &Path) -> Vec<Tool> {
    TEST_SYSTEM_NEEDS
        .iter()
        .filter(|(krate, _)| root.join("crates").join(krate).is_dir())
        .map(|(_, tool)| *tool)
        .collect()
}

/// Makes sure every tool in `needed` can run: installs what cargo can build, and
/// stops with the install command for anything else, before any of it is installed.
pub(crate) fn ensure(needed: &[Tool]) -> Result<(), String> {
    let missing: Vec<Tool> = needed.iter().copied().filter(|t| !t.is_present()).collect();
    let manual: Vec<String> = missing
        .iter()
        .filter_map(|tool| match tool.remedy() {
            Remedy::Manual { command } => Some(format!("  {}: {command}", tool.name())),
            Remedy::Install { .. } => None,
        })
        .collect();
    if !manual.is_empty() {
        return Err(format!(
            "ci needs tools this machine does not have; install them, then run it again:\n{}",
            manual.join("\n")
        ));
    }
    for tool in missing {
        if let Remedy::Install { args } = tool.remedy() {
            install(tool, args)?;
        }
    }
    Ok(())
}

fn install(tool: Tool, args: &[&str]) -> Result<(), String> {
    let mut command = cargo();
    command.args(args);
    let shown = format!("cargo {}", args.join(" "));
    println!(
        "==> {} is missing; installing it with `{shown}` (once per machine: about 4 minutes on 2 cores)",
        tool.name()
    );
    // Installed into `$CARGO_HOME/bin`, not into the workspace's target directory.
    command.current_dir(workspace_root());
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|error| format!("{}: `{shown}` could not start: {error}", tool.name()))?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!(
            "{}: `{shown}` failed with {status} after {seconds:.1}s",
            tool.name()
        ));
    }
    if !tool.is_present() {
        return Err(format!(
            "{}: `{shown}` succeeded but the tool still does not run",
            tool.name()
        ));
    }
    println!("==> installed {} in {seconds:.1}s", tool.name());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_is_needed_only_where_a_crate_starts_it() {
        let root = std::env::temp_dir().join(format!("xtask-needs-{}", std::process::id()));
        std::fs::create_dir_all(root.join("crates").join("turbo-pool")).expect("mkdir");
        assert!(system_needs_of_tests(&root).is_empty());
        std::fs::create_dir_all(root.join("crates").join("turbo-fleet")).expect("mkdir");
        assert_eq!(system_needs_of_tests(&root), [Tool::RedisServer]);
        std::fs::remove_dir_all(&root).expect("cleanup");
    }

    #[test]
    fn a_tool_that_does_not_run_is_reported_missing() {
        // Probes go through the PATH; an empty PATH finds nothing.
        let mut probe = Tool::RedisServer.probe();
        probe.env("PATH", "");
        assert!(!runs(probe));
        let mut failing = cargo();
        failing.args(["no-such-subcommand-of-turbo"]);
        assert!(!runs(failing));
        let mut working = cargo();
        working.arg("--version");
        assert!(runs(working));
    }

    #[test]
    fn a_missing_manual_tool_stops_with_its_install_command() {
        let Remedy::Manual { command } = Tool::RedisServer.remedy() else {
            panic!("redis-server cannot be built by cargo");
        };
        assert!(command.starts_with("apt-get install -y redis-server"));
        assert!(matches!(Tool::CargoDeny.remedy(), Remedy::Install { .. }));
    }
}
