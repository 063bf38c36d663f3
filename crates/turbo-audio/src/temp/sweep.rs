//! The startup sweep: removing what ended sessions left behind.
//!
//! Every manager holds an exclusive lock on `<root>/turbo/sessions/<session>.lock`
//! for its whole life. A file in a shard names its session (see
//! [`names`](super::names)); the sweep removes it only when that session's lock
//! can be taken (the process crashed or finished) or its lock file is gone. A
//! live session's lock cannot be taken, so its files survive any number of
//! concurrent sweeps.
//!
//! The sweep lists only the manager's own directories, inspects every entry
//! with `lstat` (never following a symlink), removes symlinks themselves (never
//! their targets), leaves foreign entries alone, and turns every failed step
//! into a WARN event and a count in the [`SweepReport`]: it never fails and
//! never panics. Running it again finds nothing more to do, so it is
//! idempotent across repeated and concurrent startups.

use std::collections::HashMap;
use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use tracing::{debug, warn};

use super::fs::TempFs;
use super::metrics::SweepReport;
use super::names::{LockName, SessionId, lock_name, session_of};

/// The directories a sweep covers.
#[derive(Debug)]
pub(crate) struct Layout<'a> {
    pub(crate) shards: &'a [PathBuf],
    pub(crate) sessions: &'a Path,
    pub(crate) own: SessionId,
}

/// Whether a session still runs, as far as this sweep can tell.
enum Liveness {
    Live,
    /// Ended; the sweep holds its lock (if the file still exists) until it has
    /// removed the session's files and lock file.
    Ended {
        _lock: Option<File>,
    },
}

/// Runs one sweep; see the module docs.
pub(crate) fn sweep(fs: &dyn TempFs, layout: &Layout<'_>) -> SweepReport {
    let mut sweeper = Sweeper {
        fs,
        layout,
        report: SweepReport::default(),
        sessions: HashMap::new(),
    };
    for shard in layout.shards {
        sweeper.sweep_shard(shard);
    }
    sweeper.sweep_sessions();
    sweeper.report
}

struct Sweeper<'a> {
    fs: &'a dyn TempFs,
    layout: &'a Layout<'a>,
    report: SweepReport,
    sessions: HashMap<SessionId, Liveness>,
}

impl Sweeper<'_> {
    fn problem(&mut self, op: &'static str, path: &Path, error: &io::Error) {
        self.report.errors += 1;
        warn!(
            path = %path.display(),
            op,
            error_kind = ?error.kind(),
            error = %error,
            "temp-file sweep skipped an entry"
        );
    }

    /// Removes `path` (a file or a symlink); `NotFound` means a concurrent
    /// sweep got there first, which is fine.
    fn remove(&mut self, path: &Path) -> bool {
        match self.fs.remove_file(path) {
            Ok(()) => true,
            Err(error) if error.kind() == io::ErrorKind::NotFound => false,
            Err(error) => {
                self.problem("remove", path, &error);
                false
            }
        }
    }

    fn list(&mut self, dir: &Path) -> Vec<PathBuf> {
        match self.fs.read_dir(dir) {
            Ok(entries) => entries,
            Err(error) => {
                self.problem("read directory", dir, &error);
                Vec::new()
            }
        }
    }

    /// Whether `path` is a regular file; removes it if it is a symlink.
    /// `None` when it vanished, is removed, or is something else.
    fn regular_file(&mut self, path: &Path) -> Option<()> {
        let meta = match self.fs.symlink_metadata(path) {
            Ok(meta) => meta,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return None,
            Err(error) => {
                self.problem("inspect", path, &error);
                return None;
            }
        };
        if meta.file_type().is_symlink() {
            if self.remove(path) {
                self.report.removed_symlinks += 1;
                warn!(path = %path.display(), op = "remove", "temp-file sweep removed a planted symlink");
            }
            return None;
        }
        if !meta.is_file() {
            self.report.skipped += 1;
            debug!(path = %path.display(), "temp-file sweep left a non-file entry");
            return None;
        }
        Some(())
    }

    /// Whether `dir` is still a real directory. Checked right before listing
    /// it: a shard swapped for a symlink after startup would make the listing
    /// follow the link out of the root.
    fn own_dir(&mut self, dir: &Path) -> bool {
        match self.fs.symlink_metadata(dir) {
            Ok(meta) if meta.is_dir() => true,
            Ok(_) => {
                self.report.errors += 1;
                warn!(
                    path = %dir.display(),
                    op = "inspect",
                    "temp-file sweep skipped a directory that is now a symlink or a file"
                );
                false
            }
            Err(error) => {
                self.problem("inspect", dir, &error);
                false
            }
        }
    }

    fn sweep_shard(&mut self, shard: &Path) {
        if !self.own_dir(shard) {
            return;
        }
        for path in self.list(shard) {
            if self.regular_file(&path).is_none() {
                continue;
            }
            let Some(session) = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(session_of)
            else {
                self.report.skipped += 1;
                debug!(path = %path.display(), "temp-file sweep left a foreign file");
                continue;
            };
            if self.is_live(session) {
                self.report.live_files += 1;
            } else if self.remove(&path) {
                self.report.removed_files += 1;
            }
        }
    }

    fn lock_path(&self, session: SessionId) -> PathBuf {
        self.layout.sessions.join(format!("{}.lock", session.hex()))
    }

    fn is_live(&mut self, session: SessionId) -> bool {
        if session == self.layout.own {
            return true;
        }
        if let Some(liveness) = self.sessions.get(&session) {
            return matches!(liveness, Liveness::Live);
        }
        let path = self.lock_path(session);
        let liveness = match self.fs.open_lock_file(&path, false) {
            // No lock file: the session ended and its lock was already removed
            // (a session creates its lock before any file).
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                Liveness::Ended { _lock: None }
            }
            Err(error) => {
                // Cannot tell: keep the files, the next sweep tries again.
                self.problem("lock", &path, &error);
                Liveness::Live
            }
            Ok(file) => match file.try_lock() {
                Ok(()) => Liveness::Ended { _lock: Some(file) },
                Err(TryLockError::WouldBlock) => Liveness::Live,
                Err(TryLockError::Error(error)) => {
                    self.problem("lock", &path, &error);
                    Liveness::Live
                }
            },
        };
        let live = matches!(liveness, Liveness::Live);
        self.sessions.insert(session, liveness);
        live
    }

    /// Removes the lock files (and never-renamed `.new` files) of ended
    /// sessions, after their temp files, so a file is never left without a
    /// way to tell it is stale.
    fn sweep_sessions(&mut self) {
        let dir = self.layout.sessions.to_path_buf();
        if !self.own_dir(&dir) {
            return;
        }
        for path in self.list(&dir) {
            if self.regular_file(&path).is_none() {
                continue;
            }
            let parsed = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(lock_name);
            let ended = match parsed {
                None => {
                    self.report.skipped += 1;
                    continue;
                }
                Some(LockName::Lock(session)) => !self.is_live(session),
                Some(LockName::New(session)) => {
                    session != self.layout.own && self.try_lock_once(&path)
                }
            };
            // Removed while this sweep holds the lock: a concurrent sweep that
            // opens the path afterwards finds nothing, which it reads as ended.
            if ended && self.remove(&path) {
                self.report.removed_sessions += 1;
            }
        }
        // Dropping the cache releases the locks of ended sessions.
        self.sessions.clear();
    }

    /// Whether an unrenamed lock file's lock can be taken. A starting session
    /// whose `.new` file is removed here notices at its rename and starts over
    /// with a fresh id.
    fn try_lock_once(&mut self, path: &Path) -> bool {
        match self.fs.open_lock_file(path, false) {
            Ok(file) => file.try_lock().is_ok(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => false,
            Err(error) => {
                self.problem("lock", path, &error);
                false
            }
        }
    }
}
