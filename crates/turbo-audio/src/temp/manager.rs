//! [`TempFileManager`], its builder, and the state its handles share.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::Handle;
use tracing::{debug, warn};

use super::deletion::{self, CreateHold, PIGGYBACK, Pending, RetryPolicy};
use super::error::{TempError, TempOp};
use super::ext::sanitize_extension;
use super::file::TempFile;
use super::fs::{OsFs, TempFs};
use super::io::IoLimit;
use super::metrics::{Stats, SweepReport, TempMetrics};
use super::names::SessionId;
use super::registry::{FileMeta, Registry, TempFileInfo};
use super::sweep::{Layout, sweep};

/// Default number of shard directories.
pub const DEFAULT_SHARDS: usize = 16;
/// Most shard directories allowed (names are two hex digits).
pub const MAX_SHARDS: usize = 256;
/// Default I/O concurrency limit.
pub const DEFAULT_IO_LIMIT: usize = 4;
/// Default number of retries of a failed deletion.
pub const DEFAULT_DELETE_RETRIES: u32 = 5;
/// Default first retry delay.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(50);
/// Default longest retry delay.
pub const DEFAULT_RETRY_CAP: Duration = Duration::from_secs(2);

/// How many names `create` tries before giving up; a name is only ever taken if
/// something else planted a file with this session's names.
const NAME_ATTEMPTS: u32 = 8;
/// How many session ids the builder tries; one only fails if a concurrent sweep
/// removes the unrenamed lock file in the instant before it is locked.
const SESSION_ATTEMPTS: u32 = 8;

/// Configures and builds a [`TempFileManager`].
#[derive(Debug)]
pub struct TempFileManagerBuilder {
    root: Option<PathBuf>,
    shards: usize,
    io_limit: usize,
    retry: RetryPolicy,
    sync_on_finish: bool,
    fs: Arc<dyn TempFs>,
}

impl Default for TempFileManagerBuilder {
    fn default() -> Self {
        Self {
            root: None,
            shards: DEFAULT_SHARDS,
            io_limit: DEFAULT_IO_LIMIT,
            retry: RetryPolicy {
                retries: DEFAULT_DELETE_RETRIES,
                base: DEFAULT_RETRY_BASE,
                cap: DEFAULT_RETRY_CAP,
            },
            sync_on_finish: false,
            fs: Arc::new(OsFs),
        }
    }
}

impl TempFileManagerBuilder {
    /// The directory under which `turbo/` is created. Defaults to the
    /// platform cache directory (`$XDG_CACHE_HOME`, `~/.cache`, ...), or the
    /// system temp directory if there is none.
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = Some(root.into());
        self
    }

    /// Number of shard directories, 1 to [`MAX_SHARDS`]; default
    /// [`DEFAULT_SHARDS`]. More shards mean fewer entries per directory.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Most file I/O operations (creates, writes, syncs, deletes) running at
    /// once, at least 1; default [`DEFAULT_IO_LIMIT`]. From 2 up, one of them is
    /// kept for the deletion queue, so deletions never wait behind a flood of
    /// creates while finished files pile up.
    pub fn io_limit(mut self, limit: usize) -> Self {
        self.io_limit = limit;
        self
    }

    /// Retries of a failed deletion after the first attempt; default
    /// [`DEFAULT_DELETE_RETRIES`].
    pub fn delete_retries(mut self, retries: u32) -> Self {
        self.retry.retries = retries;
        self
    }

    /// The first retry delay and the longest one; each retry doubles the delay
    /// up to `cap`. Defaults [`DEFAULT_RETRY_BASE`] and [`DEFAULT_RETRY_CAP`].
    pub fn retry_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.retry.base = base;
        self.retry.cap = cap;
        self
    }

    /// Whether [`TempFile::finish`] syncs the data to disk (through the I/O
    /// limit). Off by default: a temp file does not outlive the session, so
    /// durability across a power loss buys nothing and costs a disk flush.
    pub fn sync_on_finish(mut self, sync: bool) -> Self {
        self.sync_on_finish = sync;
        self
    }

    /// The file-system seam; tests pass a wrapper around [`OsFs`] that fails
    /// chosen calls.
    pub fn fs(mut self, fs: Arc<dyn TempFs>) -> Self {
        self.fs = fs;
        self
    }

    /// Creates the directories, takes this session's lock file, and runs the
    /// startup sweep (whose problems are logged and counted, never returned).
    ///
    /// # Errors
    ///
    /// [`TempError::NoRuntime`] outside a Tokio runtime,
    /// [`TempError::InvalidConfig`] for out-of-range settings,
    /// [`TempError::NotADirectory`] if a directory the manager owns is a
    /// symlink or a file, and [`TempError::Io`] if a directory or the lock file
    /// cannot be created.
    pub fn build(self) -> Result<TempFileManager, TempError> {
        let runtime = Handle::try_current().map_err(|_| TempError::NoRuntime)?;
        if !(1..=MAX_SHARDS).contains(&self.shards) {
            return Err(TempError::InvalidConfig {
                setting: "shards",
                reason: "must be between 1 and 256",
            });
        }
        if self.io_limit == 0 {
            return Err(TempError::InvalidConfig {
                setting: "io_limit",
                reason: "must be at least 1",
            });
        }
        if self.retry.base > self.retry.cap {
            return Err(TempError::InvalidConfig {
                setting: "retry_backoff",
                reason: "the first delay must not exceed the cap",
            });
        }
        let base = self.root.unwrap_or_else(default_root);
        let fs = self.fs;
        ensure_dir_all(fs.as_ref(), &base)?;
        let root = base.join("turbo");
        ensure_dir(fs.as_ref(), &root)?;
        spread_shards(fs.as_ref(), &root);
        let sessions = root.join("sessions");
        ensure_dir(fs.as_ref(), &sessions)?;
        let kept = root.join("kept");
        ensure_dir(fs.as_ref(), &kept)?;
        let shards: Vec<PathBuf> = (0..self.shards)
            .map(|index| root.join(format!("{index:02x}")))
            .collect();
        for shard in &shards {
            ensure_dir(fs.as_ref(), shard)?;
        }
        let (session, lock, lock_path) = take_session(fs.as_ref(), &sessions)?;
        let shared = Arc::new(Shared {
            root,
            shards,
            sessions,
            kept,
            session,
            lock_path,
            _lock: lock,
            fs,
            io: IoLimit::new(self.io_limit, runtime.clone()),
            retry: self.retry,
            sync_on_finish: self.sync_on_finish,
            registry: Registry::default(),
            counter: AtomicU64::new(0),
            stats: Stats::default(),
            pending: Pending::default(),
            runtime,
        });
        let manager = TempFileManager { shared };
        manager.sweep();
        Ok(manager)
    }
}

fn default_root() -> PathBuf {
    directories::BaseDirs::new()
        .map(|dirs| dirs.cache_dir().to_path_buf())
        .unwrap_or_else(std::env::temp_dir)
}

/// Makes sure `path` is a real directory (not a symlink to one) of this user's
/// with mode 0700, creating it if missing. One that exists already must belong
/// to this user ([`TempError::NotOwned`] otherwise); if others may read, write
/// or enter it, its mode is set back to 0700 (and a warning logged).
fn ensure_dir(fs: &dyn TempFs, path: &Path) -> Result<(), TempError> {
    match fs.create_dir(path) {
        Ok(()) => return Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(TempError::io(TempOp::CreateDir, path, error)),
    }
    let meta = fs
        .symlink_metadata(path)
        .map_err(|error| TempError::io(TempOp::Inspect, path, error))?;
    if !meta.is_dir() {
        return Err(TempError::NotADirectory {
            path: path.to_path_buf(),
        });
    }
    check_owner(fs, path, &meta)
}

/// The ownership half of [`ensure_dir`] (Unix: owner and mode bits).
#[cfg(unix)]
fn check_owner(fs: &dyn TempFs, path: &Path, meta: &std::fs::Metadata) -> Result<(), TempError> {
    use std::os::unix::fs::MetadataExt;
    let user = rustix::process::geteuid().as_raw();
    if meta.uid() != user {
        return Err(TempError::NotOwned {
            path: path.to_path_buf(),
            owner: meta.uid(),
            user,
        });
    }
    if meta.mode() & 0o077 != 0 {
        warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.mode() & 0o777),
            "temp directory open to other users; setting its mode to 0700"
        );
        fs.restrict_dir(path)
            .map_err(|error| TempError::io(TempOp::CreateDir, path, error))?;
    }
    Ok(())
}

/// Elsewhere there are no owner ids or mode bits to check: the directory is
/// used as found (Windows ACLs are not inspected).
#[cfg(not(unix))]
fn check_owner(_fs: &dyn TempFs, _path: &Path, _meta: &std::fs::Metadata) -> Result<(), TempError> {
    Ok(())
}

/// Whether `dir` (a shard) is still a plain directory, just before a file is
/// created in it: a shard swapped for a symlink after `build` must not be
/// followed. Fails with [`io::ErrorKind::NotADirectory`] otherwise.
fn check_shard(fs: &dyn TempFs, dir: &Path) -> io::Result<()> {
    if fs.symlink_metadata(dir)?.is_dir() {
        Ok(())
    } else {
        Err(io::ErrorKind::NotADirectory.into())
    }
}

/// Asks the file system to put the shard directories (made next, unless an
/// earlier session made them) in different places on disk; see
/// [`TempFs::spread_subdirs`]. Why: a file's inode is allocated near its
/// directory's, and on ext4 without a journal each allocation walks past every
/// inode of that block group freed in the last 5 to 35 seconds. Under churn the
/// walk dominates a create; with the shards in 16 groups instead of one, each
/// group sees a sixteenth of the deletions. Refused (another file system, no
/// permission) it changes nothing, so the refusal is only traced.
fn spread_shards(fs: &dyn TempFs, root: &Path) {
    if let Err(error) = fs.spread_subdirs(root) {
        debug!(
            path = %root.display(),
            op = "spread",
            error_kind = ?error.kind(),
            error = %error,
            "temp-file shards not spread over the disk; the file system has no such hint"
        );
    }
}

/// Like [`ensure_dir`] for the caller's root and its missing parents; the
/// caller's own directories may be reached through symlinks, the manager's
/// may not.
fn ensure_dir_all(fs: &dyn TempFs, path: &Path) -> Result<(), TempError> {
    match fs.create_dir(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            if path.is_dir() {
                Ok(())
            } else {
                Err(TempError::NotADirectory {
                    path: path.to_path_buf(),
                })
            }
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => {
                ensure_dir_all(fs, parent)?;
                ensure_dir_all(fs, path)
            }
            _ => Err(TempError::io(TempOp::CreateDir, path, error)),
        },
        Err(error) => Err(TempError::io(TempOp::CreateDir, path, error)),
    }
}

/// Creates and locks this session's lock file.
///
/// The file is created as `<id>.new`, locked, and only then renamed to
/// `<id>.lock`, so a `.lock` file is never seen unlocked while its session
/// lives. A sweep that removes the `.new` file in the instant between create
/// and lock makes the rename fail with `NotFound`; then a fresh id is tried.
fn take_session(fs: &dyn TempFs, sessions: &Path) -> Result<(SessionId, File, PathBuf), TempError> {
    let mut last = None;
    for _ in 0..SESSION_ATTEMPTS {
        let session = SessionId::random();
        let fresh = sessions.join(format!("{}.new", session.hex()));
        let path = sessions.join(format!("{}.lock", session.hex()));
        let file = match fs.open_lock_file(&fresh, true) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(TempError::io(TempOp::Lock, &fresh, error)),
        };
        file.lock()
            .map_err(|error| TempError::io(TempOp::Lock, &fresh, error))?;
        match fs.rename(&fresh, &path) {
            Ok(()) => return Ok((session, file, path)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => last = Some(error),
            Err(error) => return Err(TempError::io(TempOp::Rename, &fresh, error)),
        }
    }
    let error = last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists));
    Err(TempError::io(TempOp::Lock, sessions, error))
}

/// The state one manager and all its handles share.
pub(crate) struct Shared {
    pub(crate) root: PathBuf,
    pub(crate) shards: Vec<PathBuf>,
    pub(crate) sessions: PathBuf,
    pub(crate) kept: PathBuf,
    pub(crate) session: SessionId,
    lock_path: PathBuf,
    /// Held for the session's whole life; its lock is what tells sweeps this
    /// session is alive.
    _lock: File,
    pub(crate) fs: Arc<dyn TempFs>,
    pub(crate) io: IoLimit,
    pub(crate) retry: RetryPolicy,
    pub(crate) sync_on_finish: bool,
    pub(crate) registry: Registry,
    counter: AtomicU64,
    pub(crate) stats: Stats,
    pub(crate) pending: Pending,
    pub(crate) runtime: Handle,
}

impl Drop for Shared {
    /// The last handle is gone and no deletion is running: the session ends.
    /// The lock file is removed while still locked; any file left behind (a
    /// deletion that gave up) is then an orphan the next sweep removes.
    fn drop(&mut self) {
        if let Err(error) = self.fs.remove_file(&self.lock_path) {
            warn!(
                path = %self.lock_path.display(),
                op = "remove",
                error_kind = ?error.kind(),
                error = %error,
                "temp-file session lock file not removed; the next sweep will"
            );
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("root", &self.root)
            .field("shards", &self.shards.len())
            .field("session", &self.session.hex())
            .field("active_files", &self.registry.len())
            .finish_non_exhaustive()
    }
}

/// Creates, tracks and cleans up temp files for downloaded audio.
///
/// Cheap to clone (an [`Arc`] inside); all clones share one session, registry,
/// I/O limit and deletion queue. See the [module docs](super) for the layout
/// and the life of a file.
#[derive(Clone, Debug)]
pub struct TempFileManager {
    shared: Arc<Shared>,
}

impl TempFileManager {
    /// A builder with the defaults.
    pub fn builder() -> TempFileManagerBuilder {
        TempFileManagerBuilder::default()
    }

    /// The shared state, for the unit tests of the modules that use it.
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Exclusive-creates `<root>/turbo/<shard>/<uuid>.<ext>` with mode 0600
    /// through the I/O limit and registers it under `owner`.
    ///
    /// `ext_hint` is untrusted and goes through
    /// [`sanitize_extension`](super::sanitize_extension).
    ///
    /// # Errors
    ///
    /// [`TempError::Io`] with [`TempOp::Create`] if the file cannot be created
    /// (`EMFILE`, `ENOSPC`, `EACCES`, ...).
    pub async fn create(&self, ext_hint: Option<&str>, owner: &str) -> Result<TempFile, TempError> {
        self.create_inner(ext_hint, owner, None).await
    }

    /// Creates a temp file as [`create`](Self::create) does and writes `contents`
    /// to it in the same blocking call: one trip to the blocking pool instead of
    /// two, for a download whose first chunk (or whole body) is already here.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create), and [`TempError::Io`] with [`TempOp::Write`]
    /// if the write fails (the file is then deleted).
    pub async fn create_with(
        &self,
        ext_hint: Option<&str>,
        owner: &str,
        contents: Bytes,
    ) -> Result<TempFile, TempError> {
        self.create_inner(ext_hint, owner, Some(contents)).await
    }

    async fn create_inner(
        &self,
        ext_hint: Option<&str>,
        owner: &str,
        contents: Option<Bytes>,
    ) -> Result<TempFile, TempError> {
        let shared = &self.shared;
        let ext = sanitize_extension(ext_hint);
        let mut dir = shared.root.clone();
        for _ in 0..NAME_ATTEMPTS {
            let id = shared.counter.fetch_add(1, Ordering::Relaxed);
            let shard_index = usize::try_from(id % shared.shards.len() as u64).unwrap_or(0);
            dir = shared.shards[shard_index].clone();
            let path = dir.join(shared.session.file_name(id, &ext));
            // The handle is made on the blocking thread, right after the file: if
            // this future is dropped mid-create, the finished task's output (the
            // handle) is dropped with it, which schedules the file's deletion. Made
            // here instead, the file would outlive a cancelled create unregistered.
            // The hold keeps `drain_deletions` waiting until that handle exists
            // (and, if nobody takes it, its deletion is scheduled): it drops
            // after the handle in the returned tuple.
            let owned = Arc::clone(shared);
            let hold = CreateHold::new(shared);
            let owner = owner.to_owned();
            let target = path.clone();
            let shard = dir.clone();
            // A reference count, not a copy: a name collision retries with it.
            let contents = contents.clone();
            let created = shared
                .io
                .run(TempOp::Create, &path, move || {
                    // Inside the I/O slot this create already holds: no extra
                    // wake-up or handoff per deletion.
                    deletion::remove_some(&owned, PIGGYBACK);
                    let shard_ok = check_shard(owned.fs.as_ref(), &shard);
                    let made = shard_ok
                        .and_then(|()| owned.fs.create_new(&target))
                        .map(|file| {
                            let meta = Arc::new(FileMeta::new(id, target, &owner));
                            owned.registry.insert(Arc::clone(&meta));
                            Stats::bump(&owned.stats.created);
                            TempFile::new(owned, meta, file)
                        });
                    // A failed first write drops the file here, which deletes it.
                    let written = match (made, contents) {
                        (Ok(mut file), Some(contents)) => match file.write_blocking(&contents) {
                            Ok(()) => Ok(Ok(file)),
                            Err(error) => Err(error),
                        },
                        (made, _) => Ok(made),
                    };
                    (written, hold)
                })
                .await?;
            match created {
                (Ok(Ok(file)), _hold) => return Ok(file),
                (Ok(Err(error)), _) if error.kind() == io::ErrorKind::NotADirectory => {
                    return Err(TempError::NotADirectory { path: dir });
                }
                (Ok(Err(error)), _) if error.kind() == io::ErrorKind::AlreadyExists => {
                    warn!(path = %path.display(), op = "create", "temp-file name taken; trying the next");
                }
                (Ok(Err(error)), _) => return Err(TempError::io(TempOp::Create, path, error)),
                (Err(error), _) => return Err(TempError::io(TempOp::Write, path, error)),
            }
        }
        Err(TempError::NamesExhausted { dir })
    }

    /// A snapshot of the counters and gauges.
    pub fn metrics(&self) -> TempMetrics {
        let shared = &self.shared;
        let io = shared.io.counters();
        let stats = &shared.stats;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        TempMetrics {
            active_files: shared.registry.len(),
            bytes_on_disk: load(&stats.bytes_on_disk),
            io_queue_depth: io.queued.load(Ordering::Relaxed),
            io_in_flight: io.in_flight.load(Ordering::Relaxed),
            io_in_flight_peak: io.peak.load(Ordering::Relaxed),
            created: load(&stats.created),
            deleted: load(&stats.deleted),
            kept: load(&stats.kept),
            retries: load(&stats.retries),
            failures: load(&stats.failures),
            pending_deletions: shared.pending.len(),
            oldest_pending_deletion: shared.pending.oldest(),
            sweeps: load(&stats.sweeps),
            swept_files: load(&stats.swept_files),
            sweep_errors: load(&stats.sweep_errors),
        }
    }

    /// The registered temp files, oldest first.
    pub fn files(&self) -> Vec<TempFileInfo> {
        self.shared.registry.snapshot()
    }

    /// Resolves when every scheduled deletion has finished or given up.
    pub async fn drain_deletions(&self) {
        self.shared.pending.drained().await;
    }

    /// The `<root>/turbo` directory.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Where kept files go: `<root>/turbo/kept`. Sweeps never look there.
    pub fn kept_dir(&self) -> &Path {
        &self.shared.kept
    }

    /// Sweeps the shards for files of ended sessions, as the builder does at
    /// startup; see the [`sweep` section](super#startup-sweep). Blocking file
    /// I/O: from async code call it inside `spawn_blocking`.
    pub fn sweep(&self) -> SweepReport {
        let shared = &self.shared;
        let layout = Layout {
            shards: &shared.shards,
            sessions: &shared.sessions,
            own: shared.session,
        };
        let report = sweep(shared.fs.as_ref(), &layout);
        shared.stats.record_sweep(&report);
        report
    }
}
