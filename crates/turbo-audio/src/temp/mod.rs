//! Temp files for downloaded audio: created safely, tracked, and always
//! cleaned up.
//!
//! # Layout
//!
//! ```text
//! <root>/turbo/
//!     00/ … 0f/            shard directories (0700), `<uuid>.<ext>` files (0600)
//!     sessions/<id>.lock   one per live manager, exclusively locked for its life
//!     kept/                files persisted with `TempFile::keep`; never swept
//! ```
//!
//! `<root>` defaults to the platform cache directory; tests and embedders pass
//! their own with [`TempFileManagerBuilder::root`].
//!
//! # The life of a file
//!
//! 1. [`TempFileManager::create`] picks the next name of this session, a shard
//!    by that name's counter, and creates the file with `O_CREAT|O_EXCL`
//!    (mode 0600): a collision is an error, never an overwrite, and a planted
//!    symlink is never followed. The extension hint is untrusted and goes
//!    through [`sanitize_extension`]. The file joins the registry with its
//!    owner tag, size, creation time and [`TempFileState`].
//! 2. [`TempFile::write`] appends through the I/O limit: at most
//!    [`io_limit`](TempFileManagerBuilder::io_limit) writes, syncs, creates and
//!    deletes run at once, on Tokio's blocking pool.
//! 3. Dropping the [`TempFile`] schedules its deletion; the drop never blocks.
//!    The next create removes up to 4 queued files in its own blocking call
//!    before making its file, and one drainer task removes the rest in batches,
//!    one blocking call per batch, in an I/O slot of its own. A failed deletion is retried with capped exponential backoff
//!    ([`delete_retries`](TempFileManagerBuilder::delete_retries),
//!    [`retry_backoff`](TempFileManagerBuilder::retry_backoff)); one that
//!    still fails is logged at WARN, counted in [`TempMetrics::failures`], and
//!    left for the next startup sweep — never an error for the request that
//!    used the file. [`TempFile::keep`] instead moves it to `kept/` for good.
//!
//! # Startup sweep
//!
//! [`TempFileManagerBuilder::build`] locks `sessions/<id>.lock` for the
//! manager's whole life (with [`std::fs::File::lock`]) and then sweeps the
//! shards. Each name carries its session id, so the sweep removes a file only
//! when its session's lock can be taken (the process crashed or ended) or the
//! lock file is gone; a live process's files are never touched. The sweep uses
//! `lstat` only, removes planted symlinks themselves (never their targets),
//! leaves foreign entries alone, stays inside the manager's directories, and
//! reports failed steps as WARN events and counts in a [`SweepReport`] instead
//! of errors. Repeating it, or running several at once, is harmless.
//!
//! # Diagnostics
//!
//! Cleanup failures are `tracing` events at WARN with the fields `path`, `op`,
//! `error_kind`, `error` and (for deletions) `attempt` and `delay_ms`.
//! [`TempFileManager::metrics`] gives active files, bytes on disk, I/O queue
//! depth and in-flight I/O, retries, failures, cleanup lag
//! ([`TempMetrics::oldest_pending_deletion`]) and sweep counts.
//!
//! # Faults
//!
//! All file-system steps go through the [`TempFs`] seam
//! ([`TempFileManagerBuilder::fs`]); tests wrap [`OsFs`] to fail chosen calls
//! with `ENOSPC`, `EACCES`, `EMFILE`, or a delete that fails N times.
//!
//! # Examples
//!
//! ```
//! use std::io::Read;
//! use turbo_audio::temp::TempFileManager;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let dir = tempfile::tempdir()?;
//! runtime.block_on(async {
//!     let manager = TempFileManager::builder().root(dir.path()).build()?;
//!
//!     let mut file = manager.create(Some("mp3"), "track-42").await?;
//!     file.write(b"ID3 and then some").await?;
//!     assert_eq!(file.finish().await?, 17);
//!     let mut text = String::new();
//!     file.open_read()?.read_to_string(&mut text)?;
//!     assert_eq!(text, "ID3 and then some");
//!     assert_eq!(manager.metrics().active_files, 1);
//!
//!     let path = file.path().to_path_buf();
//!     drop(file); // schedules the deletion
//!     manager.drain_deletions().await;
//!     assert!(!path.exists());
//!     assert_eq!(manager.metrics().deleted, 1);
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```

mod deletion;
mod error;
mod ext;
mod file;
pub mod fs;
mod io;
mod manager;
mod metrics;
mod names;
mod registry;
mod sweep;

pub use error::{TempError, TempOp};
pub use ext::{DEFAULT_EXTENSION, MAX_EXTENSION_LEN, sanitize_extension};
pub use file::TempFile;
pub use fs::{OsFs, TempFs};
pub use manager::{
    DEFAULT_DELETE_RETRIES, DEFAULT_IO_LIMIT, DEFAULT_RETRY_BASE, DEFAULT_RETRY_CAP,
    DEFAULT_SHARDS, MAX_SHARDS, TempFileManager, TempFileManagerBuilder,
};
pub use metrics::{SweepReport, TempMetrics};
pub use registry::{TempFileInfo, TempFileState};
