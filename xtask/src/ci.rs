//! `cargo xtask ci`: the checks CI runs, named, timed, stopping at the first failure.

use std::process::Command;
use std::time::Instant;

use crate::{cargo, run_checked, workspace_root};

/// The environment variable proptest reads its RNG seed from.
const PROPTEST_SEED_VAR: &str = "PROPTEST_RNG_SEED";
/// The seed the test step uses when none is given.
const PROPTEST_CI_SEED: &str = "20261127";

struct Step {
    name: &'static str,
    command: Command,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`ci` takes no arguments, got `{extra}`"));
    }
    let steps = steps()?;
    let started = Instant::now();
    let total = steps.len();
    for (number, step) in steps.into_iter().enumerate() {
        println!("==> [{}/{total}] {}", number + 1, step.name);
        let step_started = Instant::now();
        let result = run_checked(step.command, step.name);
        let seconds = step_started.elapsed().as_secs_f64();
        match result {
            Ok(()) => println!(
                "==> [{}/{total}] {} ok in {seconds:.1}s",
                number + 1,
                step.name
            ),
            Err(message) => {
                println!(
                    "==> [{}/{total}] {} FAILED in {seconds:.1}s",
                    number + 1,
                    step.name
                );
                return Err(format!("ci stopped at step `{}`: {message}", step.name));
            }
        }
    }
    println!("==> ci passed in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

fn steps() -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();

    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    steps.push(Step {
        name: "fmt",
        command: fmt,
    });

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]);
    steps.push(Step {
        name: "clippy",
        command: clippy,
    });

    let mut test = cargo();
    test.args(["test", "--workspace", "--locked"]);
    // Proptest draws a fresh seed every run unless told otherwise. CI pins one,
    // so a clean clone runs exactly the cases the last local `cargo xtask ci`
    // ran; plain `cargo test` keeps exploring, and setting the variable picks
    // other cases here too.
    if std::env::var_os(PROPTEST_SEED_VAR).is_none() {
        test.env(PROPTEST_SEED_VAR, PROPTEST_CI_SEED);
    }
    steps.push(Step {
        name: "test",
        command: test,
    });

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--locked"])
        .env("RUSTDOCFLAGS", "-D warnings");
    steps.push(Step {
        name: "doc",
        command: doc,
    });

    let loom_crates = loom_crates()?;
    if !loom_crates.is_empty() {
        let mut loom = cargo();
        loom.args(["test", "--release", "--locked", "--lib", "--test", "loom"])
            // A separate target directory: the cfg changes every crate's hash, and
            // sharing `target/` would throw away the normal build each run.
            .arg("--target-dir")
            .arg(workspace_root().join("target").join("loom"))
            .env("RUSTFLAGS", "--cfg turbo_loom")
            .env("LOOM_MAX_PREEMPTIONS", "2");
        for name in &loom_crates {
            loom.args(["-p", name]);
        }
        steps.push(Step {
            name: "loom",
            command: loom,
        });
    }

    let mut deny = Command::new("cargo-deny");
    deny.current_dir(workspace_root())
        .args(["check", "bans", "licenses", "sources"]);
    steps.push(Step {
        name: "deny",
        command: deny,
    });

    Ok(steps)
}

/// Crates under `crates/` that have a `tests/loom.rs` model.
fn loom_crates() -> Result<Vec<String>, String> {
    let dir = workspace_root().join("crates");
    let entries = std::fs::read_dir(&dir)
        .map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
        if entry.path().join("tests").join("loom.rs").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}
