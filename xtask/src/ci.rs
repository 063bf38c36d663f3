//! `cargo xtask ci`: the checks CI runs, named, timed, stopping at the first failure.
//!
//! Before the first step it checks every tool the selected steps need (see
//! [`crate::tools`]): a tool cargo can build is installed on the spot, anything else
//! stops the run at once with the command that installs it, so a fresh machine never
//! learns of a missing tool thirteen minutes in.

use std::process::Command;
use std::time::Instant;

use crate::tools::{self, Tool};
use crate::{cargo, run_checked, workspace_root};

/// The environment variable proptest reads its RNG seed from.
const PROPTEST_SEED_VAR: &str = "PROPTEST_RNG_SEED";
/// The seed the test step uses when none is given.
const PROPTEST_CI_SEED: &str = "20261127";

/// Every step, in the order `ci` runs them.
const STEP_NAMES: [&str; 6] = ["fmt", "clippy", "test", "doc", "loom", "deny"];

const USAGE: &str = "usage: cargo xtask ci [--only STEP]... [--skip STEP]...

Runs every CI check in order: fmt, clippy, test, doc, loom, deny. Before the first
step it checks the tools the chosen steps need; cargo-deny is installed when missing
(`cargo install --locked cargo-deny`), anything else stops the run with the command
that installs it.

options:
  --only STEP   run only this step (repeatable, or comma-separated: --only fmt,clippy)
  --skip STEP   run every step but this one (repeatable, or comma-separated)";

struct Step {
    name: &'static str,
    /// Run in order; the step fails at the first that fails.
    commands: Vec<Command>,
    needs: Vec<Tool>,
}

/// Which steps the command line asked for.
#[derive(Debug, PartialEq, Eq)]
struct Selection {
    only: Vec<String>,
    skip: Vec<String>,
}

impl Selection {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut selection = Selection {
            only: Vec::new(),
            skip: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            let list = match flag {
                "--only" => &mut selection.only,
                "--skip" => &mut selection.skip,
                other => return Err(format!("`ci`: unknown argument `{other}`\n\n{USAGE}")),
            };
            let value = match inline {
                Some(value) => value,
                None => args
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("`ci`: `{flag}` needs a step name\n\n{USAGE}"))?,
            };
            for name in value.split(',').filter(|name| !name.is_empty()) {
                if !STEP_NAMES.contains(&name) {
                    return Err(format!(
                        "`ci`: no step named `{name}`; the steps are {}",
                        STEP_NAMES.join(", ")
                    ));
                }
                list.push(name.to_owned());
            }
        }
        if !selection.only.is_empty() && !selection.skip.is_empty() {
            return Err("`ci`: use --only or --skip, not both".to_owned());
        }
        Ok(selection)
    }

    fn includes(&self, step: &str) -> bool {
        if !self.only.is_empty() {
            return self.only.iter().any(|name| name == step);
        }
        !self.skip.iter().any(|name| name == step)
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let selection = Selection::parse(args)?;
    let steps: Vec<Step> = steps()?
        .into_iter()
        .filter(|step| selection.includes(step.name))
        .collect();
    if steps.is_empty() {
        return Err("`ci`: every step was skipped; nothing to run".to_owned());
    }

    let started = Instant::now();
    let mut needed: Vec<Tool> = Vec::new();
    for tool in steps.iter().flat_map(|step| step.needs.iter()) {
        if !needed.contains(tool) {
            needed.push(*tool);
        }
    }
    tools::ensure(&needed)?;

    let total = steps.len();
    for (number, step) in steps.into_iter().enumerate() {
        println!("==> [{}/{total}] {}", number + 1, step.name);
        let step_started = Instant::now();
        let result = step
            .commands
            .into_iter()
            .try_for_each(|command| run_checked(command, step.name));
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
        commands: vec![fmt],
        needs: vec![Tool::Rustfmt],
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
    // The code behind features that are off by default, linted with them on.
    let mut clippy_features = cargo();
    clippy_features.args([
        "clippy",
        "--locked",
        "-p",
        "turbo-client",
        "--all-targets",
        "--features",
        "decompression,json,native-roots",
        "--",
        "-D",
        "warnings",
    ]);
    steps.push(Step {
        name: "clippy",
        commands: vec![clippy, clippy_features],
        needs: vec![Tool::Clippy],
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
    // Code behind features that are off by default, tested with them on.
    let mut test_features = cargo();
    test_features.args([
        "test",
        "--locked",
        "-p",
        "turbo-client",
        "--features",
        "decompression,json,native-roots",
        "--test",
        "decompression",
        "--test",
        "json",
        "--test",
        "native_roots",
    ]);
    steps.push(Step {
        name: "test",
        commands: vec![test, test_features],
        needs: tools::system_needs_of_tests(&workspace_root()),
    });

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--locked"])
        .env("RUSTDOCFLAGS", "-D warnings");
    steps.push(Step {
        name: "doc",
        commands: vec![doc],
        needs: Vec::new(),
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
            commands: vec![loom],
            needs: Vec::new(),
        });
    }

    // Through cargo, not `cargo-deny` on the PATH: cargo also looks in
    // `$CARGO_HOME/bin`, where `cargo install` puts it, so a fresh install works
    // even when that directory is not on the PATH.
    let mut deny = cargo();
    deny.args(["deny", "check", "bans", "licenses", "sources"]);
    steps.push(Step {
        name: "deny",
        commands: vec![deny],
        needs: vec![Tool::CargoDeny],
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn no_arguments_select_every_step() {
        let selection = Selection::parse(&[]).expect("parses");
        for step in STEP_NAMES {
            assert!(selection.includes(step), "{step}");
        }
    }

    #[test]
    fn only_selects_the_named_steps() {
        let selection =
            Selection::parse(&args(&["--only", "fmt,doc", "--only=deny"])).expect("parses");
        let chosen: Vec<&str> = STEP_NAMES
            .into_iter()
            .filter(|step| selection.includes(step))
            .collect();
        assert_eq!(chosen, ["fmt", "doc", "deny"]);
    }

    #[test]
    fn skip_leaves_out_the_named_steps() {
        let selection =
            Selection::parse(&args(&["--skip", "loom", "--skip", "deny"])).expect("parses");
        let chosen: Vec<&str> = STEP_NAMES
            .into_iter()
            .filter(|step| selection.includes(step))
            .collect();
        assert_eq!(chosen, ["fmt", "clippy", "test", "doc"]);
    }

    #[test]
    fn unknown_step_names_are_refused_with_the_list() {
        let error = Selection::parse(&args(&["--only", "lint"])).expect_err("refused");
        assert!(error.contains("`lint`"), "{error}");
        assert!(
            error.contains("fmt, clippy, test, doc, loom, deny"),
            "{error}"
        );
    }

    #[test]
    fn a_flag_without_a_value_or_both_flags_are_refused() {
        assert!(Selection::parse(&args(&["--skip"])).is_err());
        assert!(Selection::parse(&args(&["--only", "fmt", "--skip", "doc"])).is_err());
        assert!(Selection::parse(&args(&["--fast"])).is_err());
    }
}
