//! [`TempFile`]: the handle of one live temp file.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::deletion;
use super::error::{TempError, TempOp};
use super::manager::Shared;
use super::metrics::Stats;
use super::registry::{FileMeta, TempFileState};

/// One live temp file, created by
/// [`TempFileManager::create`](super::TempFileManager::create).
///
/// Dropping it (without [`keep`](TempFile::keep)) closes the file and
/// schedules its deletion on the manager's deletion queue; the drop itself
/// never blocks and never panics.
pub struct TempFile {
    shared: Arc<Shared>,
    meta: Arc<FileMeta>,
    /// `None` once a cancelled write took the handle with it, or after `keep`.
    file: Option<File>,
    /// Whether dropping schedules the deletion; cleared by `keep`.
    armed: bool,
}

impl TempFile {
    pub(crate) fn new(shared: Arc<Shared>, meta: Arc<FileMeta>, file: File) -> Self {
        Self {
            shared,
            meta,
            file: Some(file),
            armed: true,
        }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.meta.path
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.meta.size()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The owner tag given at creation.
    pub fn owner(&self) -> &str {
        &self.meta.owner
    }

    /// Where the file is in its life.
    pub fn state(&self) -> TempFileState {
        self.meta.state()
    }

    /// Appends `chunk`, through the I/O limit.
    ///
    /// # Errors
    ///
    /// [`TempError::Io`] with [`TempOp::Write`] (`ENOSPC`, ...), after which
    /// the file's contents are unspecified; [`TempError::Closed`] if an earlier
    /// write was cancelled mid-flight.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), TempError> {
        let mut file = self.take_file()?;
        let shared = Arc::clone(&self.shared);
        let meta = Arc::clone(&self.meta);
        // The blocking pool needs owned data; one copy per chunk.
        let buf = chunk.to_vec();
        let (file, result) = self
            .shared
            .io
            .run(TempOp::Write, &self.meta.path, move || {
                let result = shared.fs.write_all(&mut file, &meta.path, &buf);
                // Counted where the bytes land, not when the caller reads the
                // result: a write whose future is dropped while it runs still
                // puts its bytes on disk, and the deletion subtracts them.
                if result.is_ok() {
                    count_written(&shared, &meta, buf.len() as u64);
                }
                (file, result)
            })
            .await?;
        self.file = Some(file);
        result.map_err(|error| TempError::io(TempOp::Write, &self.meta.path, error))?;
        Ok(())
    }

    /// Marks the file complete and returns its size. Syncs it to disk first,
    /// through the I/O limit, if the manager was built with
    /// [`sync_on_finish`](super::TempFileManagerBuilder::sync_on_finish).
    ///
    /// # Errors
    ///
    /// [`TempError::Io`] with [`TempOp::Sync`] if the sync fails;
    /// [`TempError::Closed`] if an earlier write was cancelled mid-flight.
    pub async fn finish(&mut self) -> Result<u64, TempError> {
        if self.shared.sync_on_finish {
            let file = self.take_file()?;
            let fs = Arc::clone(&self.shared.fs);
            let path = self.meta.path.clone();
            let (file, result) = self
                .shared
                .io
                .run(TempOp::Sync, &self.meta.path, move || {
                    let result = fs.sync_data(&file, &path);
                    (file, result)
                })
                .await?;
            self.file = Some(file);
            result.map_err(|error| TempError::io(TempOp::Sync, &self.meta.path, error))?;
        } else if self.file.is_none() {
            return Err(self.closed());
        }
        self.meta.set_state(TempFileState::Complete);
        Ok(self.len())
    }

    /// Opens the file for reading (a new handle; the write handle stays).
    ///
    /// # Errors
    ///
    /// [`TempError::Io`] with [`TempOp::Open`].
    pub fn open_read(&self) -> Result<File, TempError> {
        self.shared
            .fs
            .open_read(&self.meta.path)
            .map_err(|error| TempError::io(TempOp::Open, &self.meta.path, error))
    }

    /// Persists the file: moves it to
    /// [`kept_dir`](super::TempFileManager::kept_dir) (same file system, one
    /// rename), takes it out of the registry, and returns its new path. A kept
    /// file is never deleted or swept; it is the caller's from now on.
    ///
    /// It moves because the name in a shard marks it as this session's, and
    /// the next startup sweep would remove it.
    ///
    /// # Errors
    ///
    /// [`TempError::Io`] with [`TempOp::Rename`]; the handle is then dropped
    /// and the file deleted as usual.
    pub fn keep(mut self) -> Result<PathBuf, TempError> {
        let name = self.meta.path.file_name().unwrap_or_default();
        let kept = self.shared.kept.join(name);
        self.shared
            .fs
            .rename(&self.meta.path, &kept)
            .map_err(|error| TempError::io(TempOp::Rename, &self.meta.path, error))?;
        self.file = None;
        self.shared.registry.remove(self.meta.id);
        self.shared
            .stats
            .bytes_on_disk
            .fetch_sub(self.meta.size(), Ordering::Relaxed);
        Stats::bump(&self.shared.stats.kept);
        // Nothing left to delete: the drop must not schedule anything.
        self.armed = false;
        Ok(kept)
    }

    /// Appends `chunk` on this thread (already inside the I/O limit): the second
    /// half of [`TempFileManager::create_with`](super::TempFileManager::create_with).
    pub(crate) fn write_blocking(&mut self, chunk: &[u8]) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("the temp file's handle is gone"));
        };
        self.shared.fs.write_all(file, &self.meta.path, chunk)?;
        count_written(&self.shared, &self.meta, chunk.len() as u64);
        Ok(())
    }

    fn take_file(&mut self) -> Result<File, TempError> {
        self.file.take().ok_or_else(|| self.closed())
    }

    fn closed(&self) -> TempError {
        TempError::Closed {
            path: self.meta.path.clone(),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Close before unlinking; the deletion itself runs on the queue.
        drop(self.file.take());
        deletion::schedule(&self.shared, Arc::clone(&self.meta));
    }
}

impl fmt::Debug for TempFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempFile")
            .field("path", &self.meta.path)
            .field("len", &self.len())
            .field("owner", &self.meta.owner)
            .field("state", &self.state())
            .finish()
    }
}

/// Adds `written` bytes to the file's size and to the manager's bytes on disk.
fn count_written(shared: &Shared, meta: &FileMeta, written: u64) {
    meta.add_size(written);
    shared
        .stats
        .bytes_on_disk
        .fetch_add(written, Ordering::Relaxed);
}
