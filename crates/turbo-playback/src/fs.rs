//! The narrow file-system seam under the throttle.
//!
//! The throttle does its I/O through [`StateFs`] so that a test can make one step
//! fail deterministically (an unwritable directory, a full disk) even when it
//! runs as root, where permission bits cannot produce `EACCES`. The lock itself
//! is not behind the seam: [`StateFs::open_lock_file`] returns a real
//! [`File`] and the throttle locks it with [`File::try_lock`].
//!
//! The state directory may hold files someone else put there: [`OsFs`] reads
//! and locks only regular files (never through a symbolic link, never blocking
//! on a FIFO), reads at most a given number of bytes, and creates the temporary
//! file exclusively, so a planted link is never written through.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::file::{Links, into_io_error, open_regular, read_at_most};

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
    /// truncate or replace an existing file (its inode is the lock), and must
    /// not open anything but a regular file at `path` itself (not through a
    /// symbolic link).
    ///
    /// # Errors
    ///
    /// Any I/O error; [`io::ErrorKind::NotFound`] if the directory is missing;
    /// for something other than a regular file, an error made by
    /// [`not_regular_error`](crate::not_regular_error).
    fn open_lock_file(&self, path: &Path) -> io::Result<File>;

    /// Reads the whole file at `path` if it holds at most `max` bytes. Must
    /// read only a regular file at `path` itself (not through a symbolic link)
    /// and must not block on a FIFO.
    ///
    /// # Errors
    ///
    /// Any I/O error; [`io::ErrorKind::NotFound`] if there is no such file;
    /// [`io::ErrorKind::FileTooLarge`] if it holds more than `max` bytes; for
    /// something other than a regular file, an error made by
    /// [`not_regular_error`](crate::not_regular_error).
    fn read(&self, path: &Path, max: u64) -> io::Result<Vec<u8>>;

    /// Creates `path` exclusively (failing if anything, even a dangling
    /// symbolic link, is already there) and writes `contents` to it.
    ///
    /// # Errors
    ///
    /// Any I/O error; [`io::ErrorKind::AlreadyExists`] if `path` exists.
    fn write_new(&self, path: &Path, contents: &[u8]) -> io::Result<()>;

    /// Removes the file at `path` (a symbolic link itself, not its target).
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
        crate::file::open_lock_file(path)
    }

    fn read(&self, path: &Path, max: u64) -> io::Result<Vec<u8>> {
        open_regular(path, Links::Refuse)
            .and_then(|file| read_at_most(file, max))
            .map_err(|failure| into_io_error(failure, max))
    }

    fn write_new(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        file.write_all(contents)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
}
