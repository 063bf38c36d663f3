//! Opening files that someone else may have replaced: the config, the throttle's
//! state and lock files.
//!
//! A path is looked at before it is opened (a FIFO or a device is refused
//! without being opened), opened without blocking (`O_NONBLOCK`, so a FIFO
//! swapped in between the look and the open cannot hang the caller), and the
//! opened file is checked again: only a regular file is read, and never more
//! than a given number of bytes. On other platforms than Unix the same checks
//! run through `std::fs` metadata, without the non-blocking open.

use std::fmt;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::Path;

/// What a path turned out to be, when it was not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A symbolic link (refused where links are not followed).
    Symlink,
    /// A FIFO (named pipe): reading it blocks until someone writes.
    Fifo,
    /// A Unix domain socket.
    Socket,
    /// A character device such as `/dev/zero` or `/dev/urandom`: reads never end.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Anything else that is not a regular file.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Directory => "a directory",
            Self::Symlink => "a symbolic link",
            Self::Fifo => "a FIFO (named pipe)",
            Self::Socket => "a socket",
            Self::CharDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::Other => "not a regular file",
        })
    }
}

/// Why a file was not read.
#[derive(Debug)]
pub(crate) enum OpenFailure {
    /// The operating system refused (`NotFound` among others).
    Io(io::Error),
    /// The path is not a regular file.
    NotRegular(FileKind),
    /// The file holds more than the maximum number of bytes.
    TooLarge,
}

impl From<io::Error> for OpenFailure {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// Whether a path's last component may be a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    /// Follow it (a config file kept in a dotfiles repository is often a link);
    /// the file it leads to must still be regular.
    Follow,
    /// Refuse it: the file must be a regular file at this very path.
    Refuse,
}

/// The kind of a file that is not regular, or `None` for a regular file.
pub(crate) fn irregular_kind(meta: &Metadata) -> Option<FileKind> {
    let file_type = meta.file_type();
    if file_type.is_file() {
        return None;
    }
    if file_type.is_dir() {
        return Some(FileKind::Directory);
    }
    if file_type.is_symlink() {
        return Some(FileKind::Symlink);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return Some(FileKind::Fifo);
        }
        if file_type.is_socket() {
            return Some(FileKind::Socket);
        }
        if file_type.is_char_device() {
            return Some(FileKind::CharDevice);
        }
        if file_type.is_block_device() {
            return Some(FileKind::BlockDevice);
        }
    }
    Some(FileKind::Other)
}

/// Opens `path` for reading if it is a regular file (see the module docs).
pub(crate) fn open_regular(path: &Path, links: Links) -> Result<File, OpenFailure> {
    let meta = match links {
        Links::Follow => std::fs::metadata(path)?,
        Links::Refuse => std::fs::symlink_metadata(path)?,
    };
    if let Some(kind) = irregular_kind(&meta) {
        return Err(OpenFailure::NotRegular(kind));
    }
    let file = open_nonblocking(path, links)?;
    // The path may have been swapped since it was looked at.
    if let Some(kind) = irregular_kind(&file.metadata()?) {
        return Err(OpenFailure::NotRegular(kind));
    }
    Ok(file)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path, links: Links) -> Result<File, OpenFailure> {
    use rustix::fs::{Mode, OFlags};
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    if links == Links::Refuse {
        flags |= OFlags::NOFOLLOW;
    }
    match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => Ok(File::from(fd)),
        // With O_NOFOLLOW, a link in the last component fails with ELOOP.
        Err(rustix::io::Errno::LOOP) if links == Links::Refuse => {
            Err(OpenFailure::NotRegular(FileKind::Symlink))
        }
        Err(errno) => Err(OpenFailure::Io(errno.into())),
    }
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path, _links: Links) -> Result<File, OpenFailure> {
    Ok(File::open(path)?)
}

/// Reads all of `file` if it holds at most `max` bytes.
pub(crate) fn read_at_most(file: File, max: u64) -> Result<Vec<u8>, OpenFailure> {
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(OpenFailure::TooLarge);
    }
    Ok(bytes)
}

/// Opens the lock file for locking, creating it (mode 0666 before the umask) if
/// missing, never through a symbolic link, never truncating it, and only if it
/// is (or becomes) a regular file.
pub(crate) fn open_lock_file(path: &Path) -> io::Result<File> {
    let file = create_or_open_rw(path)?;
    match irregular_kind(&file.metadata()?) {
        None => Ok(file),
        Some(kind) => Err(not_regular_error(kind)),
    }
}

#[cfg(unix)]
fn create_or_open_rw(path: &Path) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags =
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match rustix::fs::open(path, flags, Mode::from_raw_mode(0o666)) {
        Ok(fd) => Ok(File::from(fd)),
        Err(rustix::io::Errno::LOOP) => Err(not_regular_error(FileKind::Symlink)),
        Err(errno) => Err(errno.into()),
    }
}

#[cfg(not(unix))]
fn create_or_open_rw(path: &Path) -> io::Result<File> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if let Some(kind) = irregular_kind(&meta) {
            return Err(not_regular_error(kind));
        }
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// The error a [`StateFs`](crate::StateFs) returns for a path that is not a
/// regular file: kind [`io::ErrorKind::InvalidInput`] carrying a
/// [`NotRegularFile`].
pub fn not_regular_error(kind: FileKind) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, NotRegularFile { kind })
}

/// Carried inside the [`io::Error`] of a [`StateFs`](crate::StateFs) step that
/// met something other than a regular file (see [`not_regular_error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotRegularFile {
    /// What was there instead.
    pub kind: FileKind,
}

impl NotRegularFile {
    /// The [`NotRegularFile`] inside `error`, if it carries one.
    pub fn find(error: &io::Error) -> Option<Self> {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Self>())
            .copied()
    }
}

impl fmt::Display for NotRegularFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, not a regular file", self.kind)
    }
}

impl std::error::Error for NotRegularFile {}

/// `OpenFailure` as the `io::Error` a [`StateFs`](crate::StateFs) step returns.
pub(crate) fn into_io_error(failure: OpenFailure, max: u64) -> io::Error {
    match failure {
        OpenFailure::Io(error) => error,
        OpenFailure::NotRegular(kind) => not_regular_error(kind),
        OpenFailure::TooLarge => io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than the {max}-byte maximum"),
        ),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_within_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, b"12345").unwrap();
        let file = open_regular(&path, Links::Refuse).unwrap();
        assert_eq!(read_at_most(file, 5).unwrap(), b"12345");
        let file = open_regular(&path, Links::Refuse).unwrap();
        assert!(matches!(read_at_most(file, 4), Err(OpenFailure::TooLarge)));
    }

    #[test]
    fn links_are_followed_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_regular(&link, Links::Follow).is_ok());
        assert!(matches!(
            open_regular(&link, Links::Refuse),
            Err(OpenFailure::NotRegular(FileKind::Symlink))
        ));
        assert!(matches!(
            open_regular(dir.path(), Links::Follow),
            Err(OpenFailure::NotRegular(FileKind::Directory))
        ));
        assert!(matches!(
            open_regular(Path::new("/dev/null"), Links::Follow),
            Err(OpenFailure::NotRegular(FileKind::CharDevice))
        ));
    }

    #[test]
    fn a_lock_file_is_never_created_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        let link = dir.path().join("lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let error = open_lock_file(&link).unwrap_err();
        assert_eq!(
            NotRegularFile::find(&error).map(|found| found.kind),
            Some(FileKind::Symlink)
        );
        assert!(!target.exists(), "nothing was created through the link");
        let plain = dir.path().join("plain");
        open_lock_file(&plain).unwrap();
        assert!(plain.is_file());
    }
}
