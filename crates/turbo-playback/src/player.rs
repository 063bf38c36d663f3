//! [`Player`]: resolves a key to a sound, asks the throttle, runs an external
//! player with a timeout, and reports an [`Outcome`].
//!
//! The API is synchronous on purpose: its callers are mostly short-lived hook
//! processes that play one sound and exit, for which `std::process` and a
//! blocking wait are the whole job, with no runtime to start. A long-lived caller
//! that must not block runs [`Player::play`] on a thread of its own; `Player` is
//! `Clone + Send + Sync`.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::{MAX_TIMEOUT, Sound, SoundConfig, SoundConfigHandle};
use crate::error::PlayError;
use crate::key::normalize_key;
use crate::outcome::{Outcome, Status, Timings};
use crate::throttle::{Throttle, Verdict};

/// The players tried, in order, when the configuration names none.
pub const KNOWN_PLAYERS: [&str; 4] = ["paplay", "aplay", "afplay", "ffplay"];

/// First and longest sleep between two checks of a running player.
const FIRST_POLL: Duration = Duration::from_micros(200);
const LONGEST_POLL: Duration = Duration::from_millis(10);

/// Plays configured sounds through an external player, at most one per key and
/// throttle window across all processes sharing the throttle's directory.
///
/// [`play`](Self::play) goes through these steps and stops at the first that
/// decides the outcome: the global and per-sound switches
/// ([`Disabled`](Status::Disabled)), the sound's entry and file
/// ([`NotFound`](Status::NotFound)), the player program
/// ([`NoPlayer`](Status::NoPlayer)), the bound on concurrent playbacks
/// ([`Busy`](Status::Busy)), the throttle ([`Throttled`](Status::Throttled)),
/// and finally the player itself ([`Played`](Status::Played),
/// [`Failed`](Status::Failed), [`TimedOut`](Status::TimedOut)). Only a sound that
/// will really be started uses up its throttle window.
///
/// The player's standard input and output are closed (`/dev/null`). At the
/// timeout the player process is killed and reaped; a player that starts
/// processes of its own must end them itself.
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
/// assert_eq!(player.play("Build_Done")?.status, Status::Played);
/// assert!(matches!(player.play("build done")?.status, Status::Throttled { .. }));
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
    active: AtomicUsize,
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
                active: AtomicUsize::new(0),
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

    /// How many playbacks this player (and its clones) is running now.
    pub fn active(&self) -> usize {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// Plays the sound for `key` (any spelling, see
    /// [`normalize_key`](crate::normalize_key)) and waits for the player to finish
    /// or time out. Never panics; see the type's docs for the order of checks.
    ///
    /// # Errors
    ///
    /// [`PlayError::Throttle`] if the throttle could not decide (no player is
    /// started then), [`PlayError::Spawn`] if the player exists but cannot be
    /// started, [`PlayError::Wait`] if waiting for it failed (it is still killed
    /// and reaped).
    pub fn play(&self, key: &str) -> Result<Outcome, PlayError> {
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
        let status = self.run(&config, &mut outcome)?;
        outcome.status = status;
        outcome.timings.total_us = micros(started.elapsed());
        tracing::debug!(key = %outcome.key, status = outcome.status.name(), "play");
        Ok(outcome)
    }

    /// The steps of [`play`](Self::play); fills in `outcome` as it goes.
    fn run(&self, config: &SoundConfig, outcome: &mut Outcome) -> Result<Status, PlayError> {
        if !config.enabled() {
            return Ok(Status::Disabled);
        }
        let Some(sound) = config.sound(&outcome.key) else {
            return Ok(Status::NotFound);
        };
        outcome.path = Some(sound.file().to_path_buf());
        if !sound.enabled() {
            return Ok(Status::Disabled);
        }
        if !sound.file().is_file() {
            return Ok(Status::NotFound);
        }
        let search_path = self
            .inner
            .search_path
            .clone()
            .or_else(|| std::env::var_os("PATH"));
        let Some(command) = player_command(config, sound, search_path.as_deref()) else {
            outcome.command = config.player().map(<[String]>::to_vec);
            return Ok(Status::NoPlayer);
        };
        outcome.command = Some(command.describe());
        let Some(_permit) = Permit::try_take(&self.inner.active, config.max_concurrent()) else {
            return Ok(Status::Busy {
                limit: config.max_concurrent(),
            });
        };
        if !sound.throttle().is_zero() {
            let check = self.inner.throttle.check(&outcome.key, sound.throttle())?;
            outcome.timings.throttle_us = Some(micros(check.elapsed));
            outcome.timings.lock_wait_us = Some(micros(check.lock_wait));
            outcome.state = Some(check.state);
            if let Verdict::Throttled { retry_after } = check.verdict {
                return Ok(Status::Throttled {
                    retry_after_ms: millis(retry_after),
                });
            }
        }
        let playback = Instant::now();
        let spawned = Command::new(&command.program)
            .args(&command.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            // The program went away since it was found.
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Status::NoPlayer),
            Err(source) => {
                return Err(PlayError::Spawn {
                    program: command.program,
                    source,
                });
            }
        };
        let pid = child.id();
        outcome.pid = Some(pid);
        let waited = wait_with_timeout(&mut child, config.timeout());
        outcome.timings.playback_us = Some(micros(playback.elapsed()));
        match waited {
            Ok(Waited::Exited(status)) if status.success() => Ok(Status::Played),
            Ok(Waited::Exited(status)) => Ok(failed(status)),
            Ok(Waited::Killed(status)) => Ok(Status::TimedOut {
                timeout_ms: millis(config.timeout()),
                signal: signal_of(status),
            }),
            Err(source) => Err(PlayError::Wait { pid, source }),
        }
    }
}

/// A slot among `max_concurrent`; released on drop.
struct Permit<'a> {
    active: &'a AtomicUsize,
}

impl<'a> Permit<'a> {
    fn try_take(active: &'a AtomicUsize, limit: usize) -> Option<Self> {
        let mut current = active.load(Ordering::Relaxed);
        loop {
            if current >= limit {
                return None;
            }
            match active.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(Self { active }),
                Err(actual) => current = actual,
            }
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::Release);
    }
}

/// How a waited-for player ended.
enum Waited {
    /// It exited by itself.
    Exited(ExitStatus),
    /// It was still running at the timeout and was killed; this is its status
    /// as reaped.
    Killed(ExitStatus),
}

/// Polls `child` until it exits or `timeout` passes; then kills and reaps it.
/// On every path, including errors, the child has been waited for (or a wait
/// was attempted), so no zombie is left behind.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> io::Result<Waited> {
    // Config values are at most MAX_TIMEOUT; the cap keeps the sum in range.
    let deadline = Instant::now() + timeout.min(MAX_TIMEOUT);
    let mut pause = FIRST_POLL;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Waited::Exited(status)),
            Ok(None) => {}
            Err(error) => {
                reap(child);
                return Err(error);
            }
        }
        let now = Instant::now();
        if now >= deadline {
            if let Err(error) = child.kill() {
                reap(child);
                return Err(error);
            }
            let status = child.wait()?;
            // It may have finished on its own just before the kill.
            return Ok(if status.success() {
                Waited::Exited(status)
            } else {
                Waited::Killed(status)
            });
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(LONGEST_POLL);
    }
}

/// Best effort on an error path: kill and reap, ignoring failures.
fn reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn failed(status: ExitStatus) -> Status {
    Status::Failed {
        exit_code: status.code(),
        signal: signal_of(status),
    }
}

#[cfg(unix)]
fn signal_of(status: ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn signal_of(_status: ExitStatus) -> Option<i32> {
    None
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

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
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

    #[test]
    fn permits_are_bounded_and_released() {
        let active = AtomicUsize::new(0);
        let first = Permit::try_take(&active, 2).unwrap();
        let second = Permit::try_take(&active, 2).unwrap();
        assert!(Permit::try_take(&active, 2).is_none());
        drop(first);
        assert!(Permit::try_take(&active, 2).is_some());
        drop(second);
        assert_eq!(active.load(Ordering::Relaxed), 0);
    }
}
