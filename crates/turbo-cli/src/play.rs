//! `turbo play KEY`: one notification sound through the throttle, with the outcome
//! as the exit status (the table in `docs/turbo-playback.md`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use turbo_playback::{Outcome, Player, SoundConfigHandle, Status, Throttle};

use crate::cli::PlayArgs;
use crate::error::CliError;

/// The config file used without `--config`: `$XDG_CONFIG_HOME/turbo/sounds.toml`,
/// else `$HOME/.config/turbo/sounds.toml`, else `sounds.toml` in the current
/// directory.
pub fn default_config_path() -> PathBuf {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(config) = non_empty("XDG_CONFIG_HOME") {
        PathBuf::from(config).join("turbo").join("sounds.toml")
    } else if let Some(home) = non_empty("HOME") {
        PathBuf::from(home)
            .join(".config")
            .join("turbo")
            .join("sounds.toml")
    } else {
        PathBuf::from("sounds.toml")
    }
}

/// Runs `turbo play`: prints the outcome (text or JSON) on stdout and returns its
/// exit code ([`Status::exit_code`]).
///
/// With `--wait`, plays in this process and waits for the sound to end. Without
/// it, starts a copy of `turbo` in the background (`--watcher`, its own process
/// group, no terminal) that plays the sound, reports the outcome on a pipe as
/// soon as [`Player::play`] returns, and stays to enforce the timeout; this
/// process prints that outcome and exits. The config is loaded here first, so
/// its errors come from this process either way.
///
/// # Errors
///
/// [`CliError::Config`] (exit 10) for a config that cannot be read or is invalid,
/// [`CliError::Play`] or [`CliError::PlayReported`] (11 to 13) when the
/// machinery fails, [`CliError::PlayWatcher`] (1) when the background `turbo`
/// cannot start or ends without a report.
pub fn run(args: &PlayArgs) -> Result<u8, CliError> {
    let path = args.config.clone().unwrap_or_else(default_config_path);
    let config = SoundConfigHandle::load(&path).map_err(CliError::Config)?;
    let state = args.state_dir.clone().unwrap_or_else(Throttle::default_dir);
    if args.watcher {
        return watch(config, state, &args.key);
    }
    let outcome = if args.wait {
        let player = Player::new(config, Throttle::new(state));
        player.play_and_wait(&args.key).map_err(CliError::Play)?
    } else {
        in_background(args, &path, &state)?
    };
    let line = if args.json {
        // Serializing an outcome cannot fail (see `Outcome::to_json`); should it,
        // the text form still tells the caller what happened.
        outcome.to_json().unwrap_or_else(|_| describe(&outcome))
    } else {
        describe(&outcome)
    };
    println!("{line}");
    Ok(outcome.status.exit_code())
}

/// What the watcher writes on its stdout: one line, then nothing more.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Report {
    Outcome(Outcome),
    Error { error: String, exit_code: u8 },
}

/// The background side: play, report at once, then wait for the sound.
fn watch(config: SoundConfigHandle, state: PathBuf, key: &str) -> Result<u8, CliError> {
    let player = Player::new(config, Throttle::new(state));
    let (report, playback) = match player.play(key) {
        Ok(playback) => (Report::Outcome(playback.outcome().clone()), Some(playback)),
        Err(error) => (
            Report::Error {
                error: error.to_string(),
                exit_code: error.exit_code(),
            },
            None,
        ),
    };
    let line = serde_json::to_string(&report).map_err(|error| CliError::PlayWatcher {
        reason: error.to_string(),
    })?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // The parent may be gone already; the playback is still watched.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
    match playback {
        // Reaps the player, killing it (and its group) at the timeout.
        Some(playback) => Ok(playback.wait().map_or(1, |ended| ended.status.exit_code())),
        None => Ok(0),
    }
}

/// The foreground side: start the watcher and pass on its one-line report.
fn in_background(args: &PlayArgs, config: &Path, state: &Path) -> Result<Outcome, CliError> {
    let watcher_failed = |reason: String| CliError::PlayWatcher { reason };
    let exe = std::env::current_exe()
        .map_err(|error| watcher_failed(format!("cannot find the turbo binary: {error}")))?;
    let mut command = Command::new(exe);
    command
        .arg("play")
        .arg(&args.key)
        .arg("--config")
        .arg(config)
        .arg("--state-dir")
        .arg(state)
        .arg("--watcher")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Nothing of the caller's stays open in the watcher: a hook that reads
        // turbo's stdout or stderr to the end is not kept waiting for the sound.
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Not in the caller's process group: a Ctrl-C or a hook runner that
        // kills turbo's group does not cut the watcher off from its player.
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .map_err(|error| watcher_failed(format!("cannot start turbo: {error}")))?;
    let Some(stdout) = child.stdout.take() else {
        return Err(watcher_failed("no pipe to the background turbo".to_owned()));
    };
    let mut line = String::new();
    // One line, not to the end: the watcher keeps its end open while it waits.
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|error| watcher_failed(format!("cannot read its report: {error}")))?;
    // The watcher is not waited for: it outlives this process, and its new
    // parent reaps it.
    drop(child);
    match serde_json::from_str::<Report>(line.trim()) {
        Ok(Report::Outcome(outcome)) => Ok(outcome),
        Ok(Report::Error { error, exit_code }) => Err(CliError::PlayReported {
            message: error,
            exit_code,
        }),
        Err(_) if line.is_empty() => Err(watcher_failed(
            "the background turbo ended without a report".to_owned(),
        )),
        Err(error) => Err(watcher_failed(format!(
            "unreadable report {:?}: {error}",
            line.trim()
        ))),
    }
}

/// One line for a person.
///
/// ```
/// use turbo_playback::{Outcome, Status, Timings};
/// use turbo_cli::play::describe;
///
/// let outcome = Outcome {
///     key: "stop".into(),
///     status: Status::Throttled { retry_after_ms: 650 },
///     path: None,
///     command: None,
///     pid: None,
///     state: None,
///     timings: Timings::default(),
/// };
/// assert_eq!(describe(&outcome), "stop: throttled, played less than a window ago; retry in 650 ms");
/// ```
pub fn describe(outcome: &Outcome) -> String {
    let key = &outcome.key;
    let path = outcome.path.as_ref().map(|path| path.display().to_string());
    match &outcome.status {
        Status::Started => format!(
            "{key}: playing {} (player pid {})",
            path.unwrap_or_default(),
            outcome
                .pid
                .map_or_else(|| "unknown".to_owned(), |pid| pid.to_string())
        ),
        Status::Played => format!(
            "{key}: played {} in {} ms",
            path.unwrap_or_default(),
            outcome.timings.total_us / 1000
        ),
        Status::Throttled { retry_after_ms } => {
            format!("{key}: throttled, played less than a window ago; retry in {retry_after_ms} ms")
        }
        Status::Disabled => format!("{key}: disabled in the config"),
        Status::NotFound => match path {
            Some(path) => format!(
                "{key}: not found, the sound file {path} does not exist or is not a regular file"
            ),
            None => format!("{key}: not found, no sound is configured for this key"),
        },
        Status::NoPlayer => format!(
            "{key}: no player found (set `player` in the config, or install one of paplay, \
             aplay, afplay, ffplay)"
        ),
        Status::Busy { limit } => format!("{key}: busy, {limit} sounds are already playing"),
        Status::Failed { exit_code, signal } => match (exit_code, signal) {
            (Some(code), _) => format!("{key}: the player failed with exit code {code}"),
            (None, Some(signal)) => format!("{key}: the player died of signal {signal}"),
            (None, None) => format!("{key}: the player failed"),
        },
        Status::TimedOut { timeout_ms, .. } => {
            format!("{key}: the player ran past {timeout_ms} ms and was killed")
        }
        Status::Cancelled { .. } => format!("{key}: cancelled, the player was killed"),
        other => format!("{key}: {}", other.name()),
    }
}
