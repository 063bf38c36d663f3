//! `turbo play KEY`: one notification sound through the throttle, with the outcome
//! as the exit status (the table in `docs/turbo-playback.md`).

use std::path::PathBuf;

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
/// # Errors
///
/// [`CliError::Config`] (exit 10) for a config that cannot be read or is invalid,
/// [`CliError::Play`] (11 to 13) when the machinery fails.
pub fn run(args: &PlayArgs) -> Result<u8, CliError> {
    let path = args.config.clone().unwrap_or_else(default_config_path);
    let config = SoundConfigHandle::load(&path).map_err(CliError::Config)?;
    let state = args.state_dir.clone().unwrap_or_else(Throttle::default_dir);
    let player = Player::new(config, Throttle::new(state));
    let outcome = player.play(&args.key).map_err(CliError::Play)?;
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
            Some(path) => format!("{key}: not found, the sound file {path} does not exist"),
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
        other => format!("{key}: {}", other.name()),
    }
}
