//! [`Throttle`]: at most one play per key and window, across every process that
//! shares a state directory.
//!
//! # Protocol
//!
//! One check-and-set is one critical section under an exclusive lock:
//!
//! 1. open `<dir>/throttle.lock` (created once, never replaced or deleted: its
//!    inode *is* the lock) with a fresh handle, and take an exclusive
//!    [`File::try_lock`], polling with short sleeps until the lock timeout;
//! 2. read `<dir>/throttle.json` (missing, corrupt or larger than
//!    [`MAX_STATE_BYTES`] counts as empty and is reported);
//! 3. decide: throttled if the key played less than `window` ago;
//! 4. if allowed, drop entries older than a day and, beyond [`MAX_KEYS`], the
//!    least recently played; remove a leftover `<dir>/throttle.json.tmp`, create
//!    it anew exclusively and write the new state to it, remove `throttle.json`
//!    and rename the temporary file to `throttle.json`;
//! 5. close the handle, which releases the lock.
//!
//! # Files someone else put there
//!
//! The lock file and the state file must be regular files at their own paths:
//! a FIFO, a symbolic link (even to a regular file), a device or a directory
//! there fails the check with [`ThrottleError::NotRegularFile`] naming the path,
//! without blocking, following the link or reading the device. The state file
//! is read through a bound of [`MAX_STATE_BYTES`] (the throttle itself never
//! writes more than about 300 KiB: [`MAX_KEYS`] keys of at most
//! [`MAX_KEY_BYTES`]). The temporary file is created with `create_new`, which
//! fails on anything already there, a symbolic link included, so a planted
//! `throttle.json.tmp` link is removed (the link, not its target) rather than
//! written through.
//!
//! Every read and write of the state happens under the lock, so no check ever
//! sees another's half-done step. The state file itself is never locked: the
//! rename gives it a new inode, so a lock on it would protect an old file that
//! nobody reads any more. Writing a temporary file and renaming it (rather than
//! rewriting in place) means a process killed while writing leaves the previous
//! state intact, never a truncated file.
//!
//! The previous state file is removed just before the rename instead of being
//! renamed over. On ext4 (the common Linux disk file system), renaming over an
//! existing file, like truncating and rewriting one, triggers its
//! `auto_da_alloc` safeguard: the new file's blocks are allocated and written
//! back at once, an implicit partial flush that measured here at 0.1 to 0.3 ms
//! per check with tails of 5 to 100 ms when the disk is busy; removing first
//! avoids it (p99 0.2 ms). The price is a window of two system calls in which
//! a process killed between them leaves no state file, which the next check
//! counts as empty: at most one extra sound per key, the same as a lost write.
//!
//! There is no `fsync` for the same reason: after a power cut the last write
//! may be lost, which lets at most one extra sound through, while an `fsync`
//! costs milliseconds (more than the whole per-check budget) on most disks.
//! [`Throttle::default_dir`] prefers `$XDG_RUNTIME_DIR`, a tmpfs on most Linux
//! systems, where a check costs tens of microseconds.
//!
//! # Waiting for the lock
//!
//! A check first tries the lock without blocking. While it is taken, the check
//! yields the processor between attempts for up to 2 ms (a critical section
//! takes tens of microseconds, and yielding lets a descheduled holder run),
//! then sleeps with a backoff from 50 us to 500 us until the lock timeout.
//! Sleeping from the start lets the process that just released the lock take it
//! again and again while the others sleep: with 8 processes contending on a
//! busy 2-core machine, pure sleeping measured a p99 of 6 to 12 ms, a 0.5 ms
//! yield phase 0.5 to 8 ms, and the 2 ms yield phase 1.3 to 1.8 ms. The yield
//! phase costs processor time only while the lock is contended, at most 2 ms
//! per check.
//!
//! # Threads in one process
//!
//! `File::lock` locks belong to an *open file description*: two threads sharing
//! one handle would both "hold" the lock. Each check therefore opens its own
//! handle, so threads of one process exclude each other exactly as processes do,
//! and two `Throttle` values over the same directory need no shared state. The
//! extra `open` costs a few microseconds; a process-local mutex would save it but
//! would then be a second lock whose order with the file lock must be kept, for
//! no gain in correctness.

use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::config::MAX_THROTTLE;
use crate::error::{FsOp, ThrottleError};
use crate::file::NotRegularFile;
use crate::fs::{OsFs, StateFs};
use crate::key::normalize_key;

/// The lock file's name inside the state directory.
pub const LOCK_FILE: &str = "throttle.lock";
/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "throttle.json";
/// The temporary file a new state is written to before the rename.
pub const TEMP_FILE: &str = "throttle.json.tmp";
/// How long a check waits for the lock by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_millis(250);
/// The largest state file the throttle reads (1 MiB); a larger one counts as
/// corrupt (empty) and is replaced.
pub const MAX_STATE_BYTES: u64 = 1 << 20;
/// The most keys the state keeps; beyond it the least recently played are
/// dropped when the state is written.
pub const MAX_KEYS: usize = 1024;
/// The longest normalized key the throttle accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 256;

const STATE_VERSION: u32 = 1;
/// The longest lock timeout; keeps deadline arithmetic far from overflow.
const MAX_LOCK_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Entries older than this are dropped when the state is written, which keeps the
/// file small; it is also the longest window a configuration accepts.
const RETENTION: Duration = MAX_THROTTLE;
/// How long a waiting check yields between lock attempts before it sleeps.
const YIELD_PHASE: Duration = Duration::from_millis(2);
/// First and longest sleep between two lock attempts after the yield phase.
const FIRST_PAUSE: Duration = Duration::from_micros(50);
const LONGEST_PAUSE: Duration = Duration::from_micros(500);

/// What the throttle decided for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The key may play; its window starts now.
    Allowed,
    /// The key played less than a window ago.
    Throttled {
        /// How long until the window ends.
        retry_after: Duration,
    },
}

/// What the throttle found in the state directory, for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StateReport {
    /// The state file was read.
    Ok,
    /// There was no state file yet (it was counted as empty and written).
    Missing,
    /// The state directory did not exist and was created.
    DirCreated,
    /// The state file could not be parsed; it was counted as empty and replaced.
    Corrupt {
        /// What was wrong with it.
        reason: String,
    },
    /// The window was zero, so no file was read or written.
    Skipped,
}

/// The result of one [`Throttle::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleCheck {
    /// The normalized key.
    pub key: String,
    /// Whether the key may play.
    pub verdict: Verdict,
    /// What the state directory looked like.
    pub state: StateReport,
    /// Time spent waiting for the lock.
    pub lock_wait: Duration,
    /// Time for the whole check, lock wait included.
    pub elapsed: Duration,
}

impl ThrottleCheck {
    /// Whether the verdict is [`Verdict::Allowed`].
    pub fn allowed(&self) -> bool {
        self.verdict == Verdict::Allowed
    }
}

/// The state file's contents.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    /// Last allowed play per normalized key, in ms since the Unix epoch.
    last_played_ms: BTreeMap<String, u64>,
}

/// A cross-process throttle over a state directory; see the module docs for the
/// protocol. Cheap to clone; clones share their settings.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use turbo_playback::{ManualClock, Throttle};
///
/// let dir = tempfile::tempdir()?;
/// let clock = Arc::new(ManualClock::new(1_000_000));
/// let throttle = Throttle::builder(dir.path()).clock(clock.clone()).build();
/// let window = Duration::from_secs(2);
///
/// assert!(throttle.check("Stop", window)?.allowed());
/// assert!(!throttle.check("stop", window)?.allowed());
/// clock.advance(window);
/// assert!(throttle.check("STOP", window)?.allowed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Throttle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    lock_path: PathBuf,
    state_path: PathBuf,
    temp_path: PathBuf,
    lock_timeout: Duration,
    clock: Arc<dyn Clock>,
    fs: Arc<dyn StateFs>,
}

/// Settings for a [`Throttle`].
#[derive(Debug)]
pub struct ThrottleBuilder {
    dir: PathBuf,
    lock_timeout: Duration,
    clock: Arc<dyn Clock>,
    fs: Arc<dyn StateFs>,
}

impl ThrottleBuilder {
    /// How long a check waits for another holder of the lock before it fails
    /// with [`ThrottleError::LockTimeout`] (default 250 ms; at most an hour,
    /// longer values are treated as an hour).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout.min(MAX_LOCK_TIMEOUT);
        self
    }

    /// The clock windows are measured with (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The file-system seam (default [`OsFs`]); tests pass one that fails.
    pub fn fs(mut self, fs: Arc<dyn StateFs>) -> Self {
        self.fs = fs;
        self
    }

    /// The throttle. Nothing is touched on disk until the first check.
    pub fn build(self) -> Throttle {
        Throttle {
            inner: Arc::new(Inner {
                lock_path: self.dir.join(LOCK_FILE),
                state_path: self.dir.join(STATE_FILE),
                temp_path: self.dir.join(TEMP_FILE),
                dir: self.dir,
                lock_timeout: self.lock_timeout,
                clock: self.clock,
                fs: self.fs,
            }),
        }
    }
}

impl Throttle {
    /// A throttle over `dir` with the default settings.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::builder(dir).build()
    }

    /// Settings for a throttle over `dir`; the directory is created on first use.
    pub fn builder(dir: impl Into<PathBuf>) -> ThrottleBuilder {
        ThrottleBuilder {
            dir: dir.into(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            clock: Arc::new(SystemClock),
            fs: Arc::new(OsFs),
        }
    }

    /// The per-user default state directory: `$XDG_RUNTIME_DIR/turbo` (a
    /// per-user tmpfs on most Linux desktops: the state is only worth a window
    /// of seconds, need not survive a reboot, and a check there costs tens of
    /// microseconds instead of hundreds on a disk), else `$XDG_STATE_HOME/turbo`,
    /// else `$HOME/.local/state/turbo`, else `turbo-state` in the temp directory.
    pub fn default_dir() -> PathBuf {
        let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
        if let Some(runtime) = non_empty("XDG_RUNTIME_DIR") {
            PathBuf::from(runtime).join("turbo")
        } else if let Some(state) = non_empty("XDG_STATE_HOME") {
            PathBuf::from(state).join("turbo")
        } else if let Some(home) = non_empty("HOME") {
            PathBuf::from(home)
                .join(".local")
                .join("state")
                .join("turbo")
        } else {
            std::env::temp_dir().join("turbo-state")
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The lock file.
    pub fn lock_path(&self) -> &Path {
        &self.inner.lock_path
    }

    /// The state file.
    pub fn state_path(&self) -> &Path {
        &self.inner.state_path
    }

    /// The lock timeout.
    pub fn lock_timeout(&self) -> Duration {
        self.inner.lock_timeout
    }

    /// One atomic check-and-set: whether `key` (normalized) may play now, and if
    /// so, records that it did. Among all processes and threads that check the
    /// same key within one `window`, exactly one is allowed.
    ///
    /// A zero window always allows and touches no file. A window longer than a
    /// day acts as a day (older entries are dropped from the state).
    ///
    /// # Errors
    ///
    /// [`ThrottleError::LockTimeout`] if the lock stays taken for the lock
    /// timeout, [`ThrottleError::Io`] if the directory, lock file or state file
    /// cannot be created, read or written, [`ThrottleError::NotRegularFile`] if
    /// the lock or state file is not a regular file, [`ThrottleError::EmptyKey`]
    /// for a key that normalizes to nothing, [`ThrottleError::KeyTooLong`] for
    /// one longer than [`MAX_KEY_BYTES`]. After an error nothing was recorded.
    pub fn check(&self, key: &str, window: Duration) -> Result<ThrottleCheck, ThrottleError> {
        let started = Instant::now();
        let key = normalize_key(key);
        if key.is_empty() {
            return Err(ThrottleError::EmptyKey);
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(ThrottleError::KeyTooLong { len: key.len() });
        }
        if window.is_zero() {
            return Ok(ThrottleCheck {
                key,
                verdict: Verdict::Allowed,
                state: StateReport::Skipped,
                lock_wait: Duration::ZERO,
                elapsed: started.elapsed(),
            });
        }
        let (lock, dir_created) = self.open_lock()?;
        let lock_wait = self.acquire(&lock, started)?;
        let decided = self.decide(&key, window, dir_created);
        // Closing the handle releases the lock, on every path.
        drop(lock);
        let (verdict, state) = decided?;
        let check = ThrottleCheck {
            key,
            verdict,
            state,
            lock_wait,
            elapsed: started.elapsed(),
        };
        tracing::trace!(?check, "throttle check");
        Ok(check)
    }

    /// Opens this check's own handle on the lock file, creating the directory if
    /// it is missing. Returns whether the directory was created.
    fn open_lock(&self) -> Result<(File, bool), ThrottleError> {
        let inner = &*self.inner;
        match inner.fs.open_lock_file(&inner.lock_path) {
            Ok(file) => Ok((file, false)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                inner
                    .fs
                    .create_dir_all(&inner.dir)
                    .map_err(|source| io_error(FsOp::CreateDir, &inner.dir, source))?;
                let file = inner
                    .fs
                    .open_lock_file(&inner.lock_path)
                    .map_err(|source| io_error(FsOp::OpenLock, &inner.lock_path, source))?;
                Ok((file, true))
            }
            Err(source) => Err(io_error(FsOp::OpenLock, &inner.lock_path, source)),
        }
    }

    /// Takes the exclusive lock, polling until the lock timeout (counted from
    /// `started`): yielding at first, then sleeping (see the module docs).
    /// Returns how long it waited.
    fn acquire(&self, lock: &File, started: Instant) -> Result<Duration, ThrottleError> {
        let inner = &*self.inner;
        let asked = Instant::now();
        let deadline = started + inner.lock_timeout;
        let mut pause = FIRST_PAUSE;
        loop {
            match lock.try_lock() {
                Ok(()) => return Ok(asked.elapsed()),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(source)) => {
                    return Err(io_error(FsOp::Lock, &inner.lock_path, source));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ThrottleError::LockTimeout {
                    lock_file: inner.lock_path.clone(),
                    waited: now - asked,
                });
            }
            if now - asked < YIELD_PHASE {
                std::thread::yield_now();
            } else {
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }

    /// The critical section: read, decide, and write if allowed. Runs only while
    /// the lock is held.
    fn decide(
        &self,
        key: &str,
        window: Duration,
        dir_created: bool,
    ) -> Result<(Verdict, StateReport), ThrottleError> {
        let inner = &*self.inner;
        let (mut state, report) = self.read_state(dir_created)?;
        let now = inner.clock.now_ms();
        let window_ms = millis(window.min(RETENTION));
        if let Some(&last) = state.last_played_ms.get(key) {
            // Symmetric, so a clock stepped back a little still counts as inside
            // the window; a clock stepped back by more than a window allows.
            if now.abs_diff(last) < window_ms {
                let retry_after = last.saturating_add(window_ms).saturating_sub(now);
                return Ok((
                    Verdict::Throttled {
                        retry_after: Duration::from_millis(retry_after),
                    },
                    report,
                ));
            }
        }
        prune(&mut state.last_played_ms, now);
        state.last_played_ms.insert(key.to_owned(), now);
        state.version = STATE_VERSION;
        let bytes = serde_json::to_vec(&state).map_err(|error| {
            io_error(FsOp::WriteState, &inner.temp_path, io::Error::other(error))
        })?;
        // Left by a process killed between write and rename, or planted: under
        // the lock nobody else is writing it. A link is removed, not followed.
        match inner.fs.remove(&inner.temp_path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_error(FsOp::RemoveTemp, &inner.temp_path, source)),
        }
        inner
            .fs
            .write_new(&inner.temp_path, &bytes)
            .map_err(|source| io_error(FsOp::WriteState, &inner.temp_path, source))?;
        // Remove, then rename: see the module docs (ext4's auto_da_alloc).
        match inner.fs.remove(&inner.state_path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_error(FsOp::RemoveState, &inner.state_path, source)),
        }
        inner
            .fs
            .rename(&inner.temp_path, &inner.state_path)
            .map_err(|source| io_error(FsOp::RenameState, &inner.state_path, source))?;
        Ok((Verdict::Allowed, report))
    }

    /// Reads the state; missing, too large or unparsable counts as empty and is
    /// reported; anything but a regular file is an error.
    fn read_state(&self, dir_created: bool) -> Result<(StateFile, StateReport), ThrottleError> {
        let inner = &*self.inner;
        let bytes = match inner.fs.read(&inner.state_path, MAX_STATE_BYTES) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::FileTooLarge => {
                let reason = format!("larger than the {MAX_STATE_BYTES}-byte maximum");
                tracing::warn!(
                    path = %inner.state_path.display(),
                    %reason,
                    "throttle state is corrupt; counting it as empty and replacing it"
                );
                return Ok((StateFile::default(), StateReport::Corrupt { reason }));
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let report = if dir_created {
                    StateReport::DirCreated
                } else {
                    StateReport::Missing
                };
                return Ok((StateFile::default(), report));
            }
            Err(source) => return Err(io_error(FsOp::ReadState, &inner.state_path, source)),
        };
        let reason = match serde_json::from_slice::<StateFile>(&bytes) {
            Ok(state) if state.version == STATE_VERSION => return Ok((state, StateReport::Ok)),
            Ok(state) => format!("unsupported state version {}", state.version),
            Err(error) => error.to_string(),
        };
        tracing::warn!(
            path = %inner.state_path.display(),
            %reason,
            "throttle state is corrupt; counting it as empty and replacing it"
        );
        Ok((StateFile::default(), StateReport::Corrupt { reason }))
    }
}

/// Drops entries older than the retention, then the least recently played
/// beyond `MAX_KEYS - 1`, leaving room for the key about to be recorded.
fn prune(last_played_ms: &mut BTreeMap<String, u64>, now: u64) {
    let retention = millis(RETENTION);
    last_played_ms.retain(|_, &mut last| now.abs_diff(last) < retention);
    let keep = MAX_KEYS - 1;
    if last_played_ms.len() > keep {
        let mut by_age: Vec<(u64, String)> = last_played_ms
            .iter()
            .map(|(key, &last)| (last, key.clone()))
            .collect();
        by_age.sort_unstable();
        let excess = by_age.len() - keep;
        for (_, key) in by_age.into_iter().take(excess) {
            last_played_ms.remove(&key);
        }
    }
}

/// A file-system failure as a typed error; a path that is not a regular file
/// gets its own variant.
fn io_error(op: FsOp, path: &Path, source: io::Error) -> ThrottleError {
    if let Some(found) = NotRegularFile::find(&source) {
        return ThrottleError::NotRegularFile {
            path: path.to_path_buf(),
            kind: found.kind,
        };
    }
    ThrottleError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const WINDOW: Duration = Duration::from_secs(10);

    fn throttle(dir: &Path, clock: &Arc<ManualClock>) -> Throttle {
        Throttle::builder(dir).clock(clock.clone()).build()
    }

    #[test]
    fn zero_window_touches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let check = Throttle::new(&state_dir)
            .check("a", Duration::ZERO)
            .unwrap();
        assert!(check.allowed());
        assert_eq!(check.state, StateReport::Skipped);
        assert!(!state_dir.exists());
    }

    #[test]
    fn huge_lock_timeouts_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let throttle = Throttle::builder(dir.path())
            .lock_timeout(Duration::MAX)
            .build();
        assert_eq!(throttle.lock_timeout(), MAX_LOCK_TIMEOUT);
        assert!(throttle.check("a", WINDOW).unwrap().allowed());
    }

    #[test]
    fn empty_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = Throttle::new(dir.path()).check("-_ .", WINDOW).unwrap_err();
        assert!(matches!(error, ThrottleError::EmptyKey));
    }

    #[test]
    fn throttled_reports_time_left_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(100_000));
        let throttle = throttle(dir.path(), &clock);
        assert!(throttle.check("a", WINDOW).unwrap().allowed());
        let written = std::fs::read(throttle.state_path()).unwrap();
        clock.advance(Duration::from_secs(4));
        let check = throttle.check("a", WINDOW).unwrap();
        assert_eq!(
            check.verdict,
            Verdict::Throttled {
                retry_after: Duration::from_secs(6)
            }
        );
        assert_eq!(check.state, StateReport::Ok);
        assert_eq!(std::fs::read(throttle.state_path()).unwrap(), written);
    }

    #[test]
    fn clock_stepped_back_inside_a_window_still_throttles() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(100_000));
        let throttle = throttle(dir.path(), &clock);
        assert!(throttle.check("a", WINDOW).unwrap().allowed());
        clock.set(99_000);
        assert!(!throttle.check("a", WINDOW).unwrap().allowed());
        clock.set(80_000);
        assert!(throttle.check("a", WINDOW).unwrap().allowed());
    }

    #[test]
    fn old_entries_are_dropped_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000));
        let throttle = throttle(dir.path(), &clock);
        throttle.check("old", WINDOW).unwrap();
        clock.advance(RETENTION);
        throttle.check("new", WINDOW).unwrap();
        let state: StateFile =
            serde_json::from_slice(&std::fs::read(throttle.state_path()).unwrap()).unwrap();
        assert_eq!(state.last_played_ms.keys().collect::<Vec<_>>(), ["new"]);
    }

    #[test]
    fn unsupported_version_counts_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let throttle = Throttle::new(dir.path());
        std::fs::write(
            throttle.state_path(),
            r#"{"version":7,"last_played_ms":{}}"#,
        )
        .unwrap();
        let check = throttle.check("a", WINDOW).unwrap();
        assert!(check.allowed());
        assert_eq!(
            check.state,
            StateReport::Corrupt {
                reason: "unsupported state version 7".to_owned()
            }
        );
    }

    #[test]
    fn default_dir_ends_in_turbo() {
        let dir = Throttle::default_dir();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name == "turbo" || name == "turbo-state",
            "{}",
            dir.display()
        );
    }
}
