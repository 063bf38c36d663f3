//! Shared helpers of the temp-file tests: a fault-injecting file system, a
//! tracing capture, and directory listings.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use turbo_audio::temp::{OsFs, TempFs};

/// The seam's calls, as fault targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    CreateDir,
    CreateNew,
    Write,
    Sync,
    Remove,
    ReadDir,
    OpenLock,
}

/// Fail `call` on paths containing `needle` with `errno`, `times` times
/// (`None`: always).
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) call: Call,
    pub(crate) needle: String,
    pub(crate) errno: i32,
    pub(crate) times: Option<usize>,
}

/// [`OsFs`] with injected failures, optional delays, and a count of the I/O
/// calls in flight (writes, syncs, creates, removes of temp files).
#[derive(Debug, Default)]
pub(crate) struct FaultFs {
    rules: Mutex<Vec<Rule>>,
    delay: Mutex<Option<Duration>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    removes: Mutex<Vec<PathBuf>>,
}

impl FaultFs {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn fail(&self, call: Call, needle: &str, errno: i32, times: Option<usize>) {
        self.rules.lock().expect("rules lock").push(Rule {
            call,
            needle: needle.to_owned(),
            errno,
            times,
        });
    }

    pub(crate) fn clear(&self) {
        self.rules.lock().expect("rules lock").clear();
    }

    /// Every counted I/O call sleeps this long, so overlaps show up.
    pub(crate) fn set_delay(&self, delay: Duration) {
        *self.delay.lock().expect("delay lock") = Some(delay);
    }

    pub(crate) fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Paths passed to `remove_file`, in call order (including failed ones).
    pub(crate) fn removes(&self) -> Vec<PathBuf> {
        self.removes.lock().expect("removes lock").clone()
    }

    fn check(&self, call: Call, path: &Path) -> io::Result<()> {
        let mut rules = self.rules.lock().expect("rules lock");
        let text = path.to_string_lossy();
        for rule in rules.iter_mut() {
            if rule.call != call || !text.contains(&rule.needle) {
                continue;
            }
            match &mut rule.times {
                Some(0) => continue,
                Some(left) => *left -= 1,
                None => {}
            }
            return Err(io::Error::from_raw_os_error(rule.errno));
        }
        Ok(())
    }

    fn counted<T>(&self, work: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let delay = *self.delay.lock().expect("delay lock");
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        let result = work();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

impl TempFs for FaultFs {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.check(Call::CreateDir, path)?;
        OsFs.create_dir(path)
    }

    fn spread_subdirs(&self, path: &Path) -> io::Result<()> {
        OsFs.spread_subdirs(path)
    }

    fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata> {
        OsFs.symlink_metadata(path)
    }

    fn create_new(&self, path: &Path) -> io::Result<File> {
        self.counted(|| {
            self.check(Call::CreateNew, path)?;
            OsFs.create_new(path)
        })
    }

    fn write_all(&self, file: &mut File, path: &Path, buf: &[u8]) -> io::Result<()> {
        self.counted(|| {
            self.check(Call::Write, path)?;
            OsFs.write_all(file, path, buf)
        })
    }

    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
        self.counted(|| {
            self.check(Call::Sync, path)?;
            OsFs.sync_data(file, path)
        })
    }

    fn open_read(&self, path: &Path) -> io::Result<File> {
        OsFs.open_read(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let is_temp = !path.to_string_lossy().contains("/sessions/");
        let remove = || {
            self.removes
                .lock()
                .expect("removes lock")
                .push(path.to_path_buf());
            self.check(Call::Remove, path)?;
            OsFs.remove_file(path)
        };
        // Only temp-file deletes go through the I/O limit; the session's own
        // lock file is removed when the manager ends.
        if is_temp {
            self.counted(remove)
        } else {
            remove()
        }
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        self.check(Call::ReadDir, path)?;
        OsFs.read_dir(path)
    }

    fn open_lock_file(&self, path: &Path, create_new: bool) -> io::Result<File> {
        self.check(Call::OpenLock, path)?;
        OsFs.open_lock_file(path, create_new)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsFs.rename(from, to)
    }
}

/// Every regular file and symlink in the shard directories of `turbo_root`,
/// sorted.
pub(crate) fn shard_files(turbo_root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for shard in std::fs::read_dir(turbo_root).expect("read root") {
        let shard = shard.expect("entry").path();
        let name = shard
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name == "sessions" || name == "kept" || !shard.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&shard).expect("read shard") {
            files.push(entry.expect("entry").path());
        }
    }
    files.sort();
    files
}

/// Names in `<turbo_root>/sessions`, sorted.
pub(crate) fn session_files(turbo_root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(turbo_root.join("sessions"))
        .expect("read sessions")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("capture lock")).into_owned()
    }

    /// Installs a subscriber for this thread that writes WARN and above here.
    pub(crate) fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A current-thread runtime, so that tracing's thread-local subscriber sees the
/// deletion queue's events.
pub(crate) fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
