//! The narrow file-system seam under the throttle.
//!
//! The throttle does its I/O through [`StateFs`] so that a test can make one step
//! fail deterministically (an unwritable directory, a full disk) even when it
//! runs as root, where permission bits cannot produce `EACCES`. The lock itself
//! is not behind the seam: [`StateFs::open_lock_file`] returns a real
//! [`File`] and the throttle locks it with [`File::try_lock`].

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// The file operations a [`Throttle`](crate::Throttle) performs.
///
/// Every method is one system-level step. An implementation that wraps
/// [`OsFs`] and fails some calls is how tests inject faults.
///
/// A returned lock file must not be inherited by child processes (Rust's
/// standard library opens every file close-on-exec), or a player started while
/// the lock is held would keep it held.
pub trait StateFs: Send + Sync + fmt::Debug {
    /// Creates `dir` and its missing parents.
    ///
    /// # Errors
    ///
    /// Any I/O error.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// Opens the lock file for locking, creating it if missing. Must not
    /// truncate or replace an existing file: its inode is the lock.
    ///
    /// # Errors
    ///
    /// Any I/O error; [`io::ErrorKind::NotFound`] if the directory is missing.
    fn open_lock_file(&self, path: &Path) -> io::Result<File>;

    /// Reads a whole file.
    ///
    /// # Errors
    ///
    /// Any I/O error; [`io::ErrorKind::NotFound`] if there is no such file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// Creates or truncates `path` and writes `contents` to it.
    ///
    /// # Errors
    ///
    /// Any I/O error.
    fn write(&self, path: &Path, contents: &[u8]) -> io::Result<()>;

    /// Removes the file at `path`.
    ///
    /// # Errors
    ///
    /// Any I/O error; [`io::ErrorKind::NotFound`] if there is no such file.
    fn remove(&self, path: &Path) -> io::Result<()>;

    /// Renames `from` to `to` in one step.
    ///
    /// # Errors
    ///
    /// Any I/O error.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
}

/// The real file system, through `std::fs`.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

impl StateFs for OsFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn open_lock_file(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn write(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        fs::write(path, contents)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
}
