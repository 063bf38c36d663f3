//! [`Player`]: resolves a key to a sound, asks the throttle, runs an external
//! player with a timeout, and reports an [`Outcome`].
//!
//! The API needs no async runtime: its callers are mostly short-lived hook
//! processes that play one sound and exit. [`Player::play`] returns as soon as
//! the player process has started (or the sound was decided without one), with
//! a [`Playback`] to wait for or cancel; a reaper thread enforces the timeout
//! meanwhile (see [`Playback`]). `Player` is `Clone + Send + Sync`.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::config::{Sound, SoundConfig, SoundConfigHandle};
use crate::error::PlayError;
use crate::key::normalize_key;
use crate::outcome::{Outcome, Status, Timings};
use crate::playback::{Permit, Playback, micros, millis};
use crate::throttle::{Throttle, Verdict};

/// The players tried, in order, when the configuration names none.
pub const KNOWN_PLAYERS: [&str; 4] = ["paplay", "aplay", "afplay", "ffplay"];

/// Plays configured sounds through an external player, at most one per key and
/// throttle window across all processes sharing the throttle's directory.
///
/// [`play`](Self::play) goes through these steps and stops at the first that
/// decides the outcome: the global and per-sound switches
/// ([`Disabled`](Status::Disabled)), the sound's entry and file
/// ([`NotFound`](Status::NotFound)), the player program
/// ([`NoPlayer`](Status::NoPlayer)), the bound on concurrent playbacks
/// ([`Busy`](Status::Busy)), the throttle ([`Throttled`](Status::Throttled)),
/// and finally starting the player ([`Started`](Status::Started)); the
/// [`Playback`] then ends [`Played`](Status::Played), [`Failed`](Status::Failed),
/// [`TimedOut`](Status::TimedOut) or [`Cancelled`](Status::Cancelled). Only a
/// sound that will really be started uses up its throttle window.
///
/// The player's standard input, output and error are `/dev/null`. On Unix it
/// runs as the leader of a new process group; at the timeout (or on
/// [`Playback::cancel`]) the whole group is killed with `SIGKILL` and the player
/// reaped, so processes it started are not left playing. A player that exits by
/// itself is not followed further: processes it left running in the background
/// are its own.
///
/// # Examples
///
/// ```
/// use turbo_playback::{Player, SoundConfig, Status, Throttle};
///
/// let dir = tempfile::tempdir()?;
/// let sound = dir.path().join("done.wav");
/// std::fs::write(&sound, b"")?;
/// let config = SoundConfig::parse(&format!(
///     "player = \"true\"\nthrottle_ms = 60000\n[sounds]\nbuild-done = '{}'\n",
///     sound.display()
/// ))?;
/// let player = Player::new(config, Throttle::new(dir.path().join("state")));
///
/// assert_eq!(player.play_and_wait("Build_Done")?.status, Status::Played);
/// let again = player.play("build done")?;
/// assert!(matches!(again.outcome().status, Status::Throttled { .. }));
/// assert!(!again.is_running());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Player {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: SoundConfigHandle,
    throttle: Throttle,
    search_path: Option<OsString>,
    active: Arc<AtomicUsize>,
}

/// Settings for a [`Player`].
#[derive(Debug)]
pub struct PlayerBuilder {
    config: SoundConfigHandle,
    throttle: Throttle,
    search_path: Option<OsString>,
}

impl PlayerBuilder {
    /// Where player programs are looked for, in `PATH` syntax, instead of the
    /// `PATH` environment variable.
    pub fn search_path(mut self, path: impl Into<OsString>) -> Self {
        self.search_path = Some(path.into());
        self
    }

    /// The player.
    pub fn build(self) -> Player {
        Player {
            inner: Arc::new(Inner {
                config: self.config,
                throttle: self.throttle,
                search_path: self.search_path,
                active: Arc::new(AtomicUsize::new(0)),
            }),
        }
    }
}

impl Player {
    /// A player for `config` (a [`SoundConfig`] or a shared
    /// [`SoundConfigHandle`]) that throttles through `throttle`.
    pub fn new(config: impl Into<SoundConfigHandle>, throttle: Throttle) -> Self {
        Self::builder(config, throttle).build()
    }

    /// Settings for a player.
    pub fn builder(config: impl Into<SoundConfigHandle>, throttle: Throttle) -> PlayerBuilder {
        PlayerBuilder {
            config: config.into(),
            throttle,
            search_path: None,
        }
    }

    /// The configuration; reload it through this handle.
    pub fn config(&self) -> &SoundConfigHandle {
        &self.inner.config
    }

    /// The throttle.
    pub fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }

    /// How many playbacks this player (and its clones) is running now: started
    /// and not yet reaped.
    pub fn active(&self) -> usize {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// Plays the sound for `key` (any spelling, see
    /// [`normalize_key`](crate::normalize_key)): returns once the player process
    /// has started ([`Status::Started`]) or the sound was decided without one
    /// (throttled, busy, disabled, ...). Never waits for the sound; see the
    /// type's docs for the order of checks, and [`Playback`] for waiting and
    /// cancelling. Never panics.
    ///
    /// # Errors
    ///
    /// [`PlayError::Throttle`] if the throttle could not decide (no player is
    /// started then), [`PlayError::Spawn`] if the player exists but cannot be
    /// started.
    pub fn play(&self, key: &str) -> Result<Playback, PlayError> {
        let started = Instant::now();
        let config = self.inner.config.current();
        let mut outcome = Outcome {
            key: normalize_key(key),
            status: Status::Disabled,
            path: None,
            command: None,
            pid: None,
            state: None,
            timings: Timings::default(),
        };
        let decided = self.run(&config, &mut outcome, started)?;
        let playback = match decided {
            Decided::Now(status) => {
                outcome.status = status;
                outcome.timings.total_us = micros(started.elapsed());
                Playback::decided(outcome)
            }
            Decided::Started(playback) => playback,
        };
        let outcome = playback.outcome();
        tracing::debug!(key = %outcome.key, status = outcome.status.name(), "play");
        Ok(playback)
    }

    /// [`play`](Self::play), then [`Playback::wait`]: blocks until the player
    /// has ended (at most the timeout) and returns the final outcome.
    ///
    /// # Errors
    ///
    /// As [`play`](Self::play), and [`PlayError::Wait`] if waiting for the
    /// player failed (it is still killed and reaped).
    pub fn play_and_wait(&self, key: &str) -> Result<Outcome, PlayError> {
        self.play(key)?.wait()
    }

    /// The steps of [`play`](Self::play); fills in `outcome` as it goes.
    fn run(
        &self,
        config: &SoundConfig,
        outcome: &mut Outcome,
        started: Instant,
    ) -> Result<Decided, PlayError> {
        use Decided::Now;
        if !config.enabled() {
            return Ok(Now(Status::Disabled));
        }
        let Some(sound) = config.sound(&outcome.key) else {
            return Ok(Now(Status::NotFound));
        };
        outcome.path = Some(sound.file().to_path_buf());
        if !sound.enabled() {
            return Ok(Now(Status::Disabled));
        }
        if !sound.file().is_file() {
            return Ok(Now(Status::NotFound));
        }
        let search_path = self
            .inner
            .search_path
            .clone()
            .or_else(|| std::env::var_os("PATH"));
        let Some(command) = player_command(config, sound, search_path.as_deref()) else {
            outcome.command = config.player().map(<[String]>::to_vec);
            return Ok(Now(Status::NoPlayer));
        };
        outcome.command = Some(command.describe());
        let Some(permit) = Permit::try_take(&self.inner.active, config.max_concurrent()) else {
            return Ok(Now(Status::Busy {
                limit: config.max_concurrent(),
            }));
        };
        if !sound.throttle().is_zero() {
            let check = self.inner.throttle.check(&outcome.key, sound.throttle())?;
            outcome.timings.throttle_us = Some(micros(check.elapsed));
            outcome.timings.lock_wait_us = Some(micros(check.lock_wait));
            outcome.state = Some(check.state);
            if let Verdict::Throttled { retry_after } = check.verdict {
                return Ok(Now(Status::Throttled {
                    retry_after_ms: millis(retry_after),
                }));
            }
        }
        let mut command_line = Command::new(&command.program);
        command_line
            .args(&command.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // Its own group, so the reaper can kill what it starts too.
            command_line.process_group(0);
        }
        let child = match command_line.spawn() {
            Ok(child) => child,
            // The program went away since it was found.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(Now(Status::NoPlayer));
            }
            Err(source) => {
                return Err(PlayError::Spawn {
                    program: command.program,
                    source,
                });
            }
        };
        outcome.pid = Some(child.id());
        outcome.status = Status::Started;
        outcome.timings.total_us = micros(started.elapsed());
        Ok(Decided::Started(Playback::start(
            outcome.clone(),
            child,
            permit,
            config.timeout(),
            started,
        )))
    }
}

/// What [`Player::run`] decided.
enum Decided {
    /// The answer, with no player started.
    Now(Status),
    /// A player was started and handed to a reaper.
    Started(Playback),
}

/// A player program with its arguments, ready to run.
#[derive(Debug)]
struct PlayerCommand {
    program: PathBuf,
    args: Vec<String>,
}

impl PlayerCommand {
    /// Program and arguments as strings, for the outcome.
    fn describe(&self) -> Vec<String> {
        let mut words = Vec::with_capacity(self.args.len() + 1);
        words.push(self.program.to_string_lossy().into_owned());
        words.extend(self.args.iter().cloned());
        words
    }
}

/// The command that plays `sound`: the configured player with its placeholders
/// filled in, or the first known player found on `search_path`.
fn player_command(
    config: &SoundConfig,
    sound: &Sound,
    search_path: Option<&OsStr>,
) -> Option<PlayerCommand> {
    let file = sound.file().to_string_lossy().into_owned();
    let volume = sound.volume().clamp(0.0, 1.0);
    if let Some(words) = config.player() {
        let (program, rest) = words.split_first()?;
        let program = find_program(program, search_path)?;
        let mut args: Vec<String> = rest
            .iter()
            .map(|arg| {
                arg.replace("{file}", &file)
                    .replace("{volume_percent}", &format!("{:.0}", volume * 100.0))
                    .replace("{volume}", &format!("{volume:.2}"))
            })
            .collect();
        if !rest.iter().any(|arg| arg.contains("{file}")) {
            args.push(file);
        }
        return Some(PlayerCommand { program, args });
    }
    KNOWN_PLAYERS.iter().find_map(|&name| {
        let program = find_program(name, search_path)?;
        let mut args = known_player_args(name, volume);
        args.push(file.clone());
        Some(PlayerCommand { program, args })
    })
}

/// Arguments (before the file) that make a known player play once, quietly, at
/// `volume`.
fn known_player_args(name: &str, volume: f32) -> Vec<String> {
    match name {
        // paplay's volume is linear, 0 to 65536 (100%).
        "paplay" => vec![format!("--volume={:.0}", volume * 65536.0)],
        // aplay has no volume option; the mixer decides.
        "aplay" => vec!["-q".to_owned()],
        "afplay" => vec!["-v".to_owned(), format!("{volume:.2}")],
        "ffplay" => vec![
            "-nodisp".to_owned(),
            "-autoexit".to_owned(),
            "-loglevel".to_owned(),
            "quiet".to_owned(),
            "-volume".to_owned(),
            format!("{:.0}", volume * 100.0),
        ],
        _ => Vec::new(),
    }
}

/// `name` itself if it contains a `/`, else the first executable `name` in the
/// directories of `search_path`.
fn find_program(name: &str, search_path: Option<&OsStr>) -> Option<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return is_executable(&path).then_some(path);
    }
    std::env::split_paths(search_path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sound_config(text: &str) -> (SoundConfig, Sound) {
        let config = SoundConfig::parse(text).unwrap();
        let sound = config.sound("a").unwrap().clone();
        (config, sound)
    }

    #[test]
    fn placeholders_are_filled_and_file_appended_otherwise() {
        let (config, sound) = sound_config(
            "volume = 0.5\nplayer = [\"/bin/sh\", \"-c\", \"x\", \"{file}\", \"{volume}\", \"{volume_percent}\"]\n[sounds]\na = \"/s/a.wav\"\n",
        );
        let command = player_command(&config, &sound, None).unwrap();
        assert_eq!(command.args, ["-c", "x", "/s/a.wav", "0.50", "50"]);
        let (config, sound) =
            sound_config("player = \"/bin/sh -c x\"\n[sounds]\na = \"/s/a.wav\"\n");
        let command = player_command(&config, &sound, None).unwrap();
        assert_eq!(command.describe(), ["/bin/sh", "-c", "x", "/s/a.wav"]);
    }

    #[test]
    fn known_players_are_found_in_order_on_the_search_path() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["ffplay", "aplay"] {
            let path = dir.path().join(name);
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        // Not executable: skipped.
        std::fs::write(dir.path().join("paplay"), "").unwrap();
        let (config, sound) = sound_config("[sounds]\na = \"/s/a.wav\"\n");
        let search = std::env::join_paths([Path::new("/nonexistent"), dir.path()]).unwrap();
        let command = player_command(&config, &sound, Some(&search)).unwrap();
        assert_eq!(command.program, dir.path().join("aplay"));
        assert_eq!(command.args, ["-q", "/s/a.wav"]);
        assert!(player_command(&config, &sound, Some(OsStr::new("/nonexistent"))).is_none());
        assert!(player_command(&config, &sound, None).is_none());
    }

    #[test]
    fn known_player_volume_flags() {
        assert_eq!(known_player_args("paplay", 0.5), ["--volume=32768"]);
        assert_eq!(known_player_args("afplay", 0.25), ["-v", "0.25"]);
        assert!(
            known_player_args("ffplay", 1.0).ends_with(&["-volume".to_owned(), "100".to_owned()])
        );
    }
}
