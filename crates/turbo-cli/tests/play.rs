//! `turbo play`: each outcome's exit code, JSON output and config errors.

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use std::time::Duration;

use common::{assert_user_error, mkfifo, stderr, stdout, turbo, turbo_within, turbo_within_env};

/// A config whose player is `true` (plays nothing, exits 0), a sound file, and a
/// throttle state directory, all in a temp dir.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("stop.wav"), b"RIFF").expect("write the sound file");
        let config = dir.path().join("sounds.toml");
        std::fs::write(
            &config,
            format!(
                "player = \"true\"\nthrottle_ms = 60000\n[sounds]\nstop = \"stop.wav\"\n\
                 gone = \"missing.wav\"\nquiet = {{ file = \"stop.wav\", enabled = false }}\n{extra}"
            ),
        )
        .expect("write the config");
        Self { dir, config }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn play(&self, key: &str, json: bool) -> std::process::Output {
        self.play_with(key, json, &[])
    }

    fn play_with(&self, key: &str, json: bool, extra: &[&str]) -> std::process::Output {
        self.play_with_env(key, json, extra, &[])
    }

    fn play_with_env(
        &self,
        key: &str,
        json: bool,
        extra: &[&str],
        env: &[(&str, &Path)],
    ) -> std::process::Output {
        let config = self.config.to_str().expect("UTF-8 temp path");
        let state = self.state();
        let mut args = vec!["play", key, "--config", config, "--state-dir"];
        args.push(state.to_str().expect("UTF-8 temp path"));
        if json {
            args.push("--json");
        }
        args.extend_from_slice(extra);
        turbo_within_env(&args, env, Duration::from_secs(30))
    }
}

fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(stdout(output).trim()).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}", stdout(output));
    })
}

#[test]
fn plays_then_throttles_across_processes() {
    let setup = Setup::new("");
    let first = setup.play_with("Stop", true, &["--wait"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let outcome = json(&first);
    assert_eq!(outcome["status"], "played");
    assert_eq!(outcome["key"], "stop");
    assert!(
        Path::new(outcome["path"].as_str().unwrap()).ends_with("stop.wav"),
        "{outcome}"
    );

    // A second process within the window: the shared state says no.
    let second = setup.play("STOP", false);
    assert_eq!(second.status.code(), Some(3));
    let line = stdout(&second);
    assert!(line.starts_with("stop: throttled"), "{line}");
    assert_eq!(line.lines().count(), 1);
}

#[test]
fn each_outcome_has_its_exit_code() {
    let setup = Setup::new("");
    for (key, status, code) in [
        ("quiet", "disabled", 4),
        ("nothing-configured", "not_found", 6),
        ("gone", "not_found", 6),
    ] {
        let output = setup.play(key, true);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{key}: {}",
            stderr(&output)
        );
        assert_eq!(json(&output)["status"], status, "{key}");
    }
    let text = stdout(&setup.play("gone", false));
    assert!(
        text.contains("missing.wav") && text.contains("does not exist"),
        "{text}"
    );
}

#[test]
fn a_missing_player_is_exit_7() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.wav"), b"RIFF").unwrap();
    let config = dir.path().join("sounds.toml");
    std::fs::write(
        &config,
        "player = \"/nonexistent/turbo-test-player\"\n[sounds]\na = \"a.wav\"\n",
    )
    .unwrap();
    let state = dir.path().join("state");
    let output = turbo(&[
        "play",
        "a",
        "--config",
        config.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert_eq!(json(&output)["status"], "no_player");
}

#[test]
fn missing_config_is_one_line_exit_10() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let output = turbo(&["play", "stop", "--config", missing.to_str().unwrap()]);
    assert_user_error(&output, 10, "cannot read sound config");
    assert!(stderr(&output).contains("nope.toml"));
    assert!(output.stdout.is_empty());
}

#[test]
fn invalid_config_names_line_and_key() {
    let setup = Setup::new("[extra]\n");
    std::fs::write(&setup.config, "volume = 3\n[sounds]\nstop = 5\n").unwrap();
    let output = setup.play("stop", false);
    assert_user_error(&output, 10, "invalid sound config");
    let err = stderr(&output);
    assert!(err.contains("line 1") && err.contains("`volume`"), "{err}");
    assert!(
        err.contains("line 3") && err.contains("`sounds.stop`"),
        "{err}"
    );
}

#[test]
fn a_config_that_is_a_fifo_or_a_device_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("sounds.toml");
    mkfifo(&fifo);
    let zero = dir.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for (config, kind) in [(&fifo, "FIFO"), (&zero, "character device")] {
        let output = turbo_within(
            &["play", "stop", "--config", config.to_str().unwrap()],
            Duration::from_secs(20),
        );
        assert_user_error(&output, 10, kind);
        assert!(stderr(&output).contains(config.to_str().unwrap()));
    }
}

/// A setup whose player waits until the test creates `stop.wav.go`.
fn gated(extra: &str) -> Setup {
    let setup = Setup::new(extra);
    std::fs::write(
        &setup.config,
        format!(
            "player = [\"sh\", \"-c\", 'while [ ! -e \"$0.go\" ]; do sleep 0.01; done', \"{{file}}\"]\n\
             throttle_ms = 0\n{extra}\n[sounds]\nstop = \"stop.wav\"\n"
        ),
    )
    .unwrap();
    setup
}

fn is_alive(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn without_wait_turbo_returns_while_the_sound_plays() {
    let setup = gated("");
    let output = setup.play("stop", true);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let outcome = json(&output);
    assert_eq!(outcome["status"], "started");
    // The gate is closed: the player cannot have ended, so turbo did not wait.
    let pid = outcome["pid"].as_u64().unwrap();
    assert!(is_alive(pid), "the player {pid} is playing");
    std::fs::File::create(setup.dir.path().join("stop.wav.go")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while is_alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the player never ended"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = stdout(&setup.play("stop", false));
    assert!(text.starts_with("stop: playing"), "{text}");
}

#[test]
fn the_background_watcher_enforces_the_timeout() {
    let setup = gated("timeout_ms = 300");
    let output = setup.play("stop", true);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let pid = json(&output)["pid"].as_u64().unwrap();
    // turbo itself has exited; the gate stays closed; only the watcher can end
    // the player.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while is_alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "nobody killed the player at the timeout"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn with_wait_a_timeout_is_exit_9() {
    let setup = gated("timeout_ms = 200");
    let output = setup.play_with("stop", true, &["--wait"]);
    assert_eq!(output.status.code(), Some(9), "{}", stderr(&output));
    assert_eq!(json(&output)["status"], "timed_out");
}

#[test]
fn a_throttle_error_in_the_background_turbo_is_passed_on_with_its_exit_code() {
    let setup = Setup::new("");
    std::fs::create_dir(setup.state()).unwrap();
    let state_file = setup.state().join("throttle.json");
    mkfifo(&state_file);
    for extra in [&[][..], &["--wait"][..]] {
        let output = setup.play_with("stop", false, extra);
        assert_user_error(&output, 11, "FIFO");
        assert!(
            stderr(&output).contains(state_file.to_str().unwrap()),
            "{extra:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn rust_log_turns_on_logging_to_stderr() {
    let setup = Setup::new("");
    // Unset (the helpers remove it): nothing on stderr, only the outcome on stdout.
    let quiet = setup.play_with("gone", false, &["--wait"]);
    assert_eq!(quiet.status.code(), Some(6), "{}", stderr(&quiet));
    assert_eq!(stderr(&quiet), "");
    let logged = setup.play_with_env(
        "gone",
        false,
        &["--wait"],
        &[("RUST_LOG", Path::new("turbo_playback=debug"))],
    );
    assert_eq!(logged.status.code(), Some(6), "{}", stderr(&logged));
    let err = stderr(&logged);
    assert!(
        err.lines()
            .any(|line| line.contains("DEBUG") && line.contains("not_found")),
        "the player's debug event goes to stderr: {err:?}"
    );
    assert_eq!(stdout(&logged), stdout(&quiet), "stdout stays the outcome");
}
