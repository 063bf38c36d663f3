//! The narrow file-system seam under the temp-file manager.
//!
//! Every file-system step the manager takes goes through [`TempFs`], so a test
//! can make one step fail deterministically (`ENOSPC` on a write, `EMFILE` on a
//! create, `EACCES` on a directory, a delete that fails N times) even when it
//! runs as root, where permission bits cannot produce `EACCES`. [`OsFs`] is the
//! real thing; a fault-injecting implementation wraps it and fails chosen calls.
//!
//! Locking is not behind the seam: [`TempFs::open_lock_file`] returns a real
//! [`File`] and the manager locks it with [`File::lock`] / [`File::try_lock`].

use std::fmt;
use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::io::{self, Write};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The file operations the temp-file manager performs; each method is one
/// system-level step. Implementations are called from blocking threads.
pub trait TempFs: Send + Sync + fmt::Debug + 'static {
    /// Creates one directory with mode 0700 (not its parents).
    ///
    /// # Errors
    ///
    /// Any I/O error; [`io::ErrorKind::AlreadyExists`] if the path exists.
    fn create_dir(&self, path: &Path) -> io::Result<()>;

    /// Asks the file system to spread the directories later made in `path`
    /// (a real directory, not a symlink) over its disk: on ext4 this is the
    /// `FS_TOPDIR_FL` inode flag, which makes the Orlov allocator put each new
    /// subdirectory, and so the files created in it, in a block group of its
    /// own instead of its parent's. A hint only; the manager ignores a refusal.
    ///
    /// # Errors
    ///
    /// Any I/O error; `ENOTTY`, `EOPNOTSUPP` or [`io::ErrorKind::Unsupported`]
    /// where the file system or the platform has no such flag (the default,
    /// for seams that wrap something other than a local disk).
    fn spread_subdirs(&self, path: &Path) -> io::Result<()> {
        let _ = path;
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Reads an entry's metadata without following a symlink.
    ///
    /// # Errors
    ///
    /// Any I/O error; [`io::ErrorKind::NotFound`] if there is no such entry.
    fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata>;

    /// Exclusive-creates a file for writing with mode 0600 (`O_CREAT|O_EXCL`,
    /// which also refuses to follow a symlink at `path`).
    ///
    /// # Errors
    ///
    /// Any I/O error; [`io::ErrorKind::AlreadyExists`] if the name is taken.
    fn create_new(&self, path: &Path) -> io::Result<File>;

    /// Writes all of `buf` to `file` (which was created at `path`).
    ///
    /// # Errors
    ///
    /// Any I/O error, for example `ENOSPC`.
    fn write_all(&self, file: &mut File, path: &Path, buf: &[u8]) -> io::Result<()>;

    /// Flushes `file`'s data to disk.
    ///
    /// # Errors
    ///
    /// Any I/O error.
    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()>;

    /// Opens a file for reading.
    ///
    /// # Errors
    ///
    /// Any I/O error.
    fn open_read(&self, path: &Path) -> io::Result<File>;

    /// Removes a file or a symlink (never its target).
    ///
    /// # Errors
    ///
    /// Any I/O error; [`io::ErrorKind::NotFound`] if there is no such entry.
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Lists the entries of a directory (full paths, any order).
    ///
    /// # Errors
    ///
    /// Any I/O error.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;

    /// Opens a lock file read-write, creating it (mode 0600) if missing. Must
    /// not truncate or replace an existing file: its inode is the lock.
    ///
    /// # Errors
    ///
    /// Any I/O error.
    fn open_lock_file(&self, path: &Path, create_new: bool) -> io::Result<File>;

    /// Renames `from` to `to` in one step.
    ///
    /// # Errors
    ///
    /// Any I/O error; [`io::ErrorKind::NotFound`] if `from` is gone.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Sets a directory's mode to 0700 (the manager repairs a directory of its
    /// own that others may read or write). The default uses `std::fs` on Unix
    /// and does nothing elsewhere (there are no mode bits to set).
    ///
    /// # Errors
    ///
    /// Any I/O error.
    fn restrict_dir(&self, path: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            Ok(())
        }
    }
}

/// The real file system, through `std::fs`: with Unix modes (0700 directories,
/// 0600 files) on Unix, and the platform's defaults elsewhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

impl TempFs for OsFs {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            DirBuilder::new().mode(0o700).create(path)
        }
        #[cfg(not(unix))]
        {
            DirBuilder::new().create(path)
        }
    }

    #[cfg(target_os = "linux")]
    fn spread_subdirs(&self, path: &Path) -> io::Result<()> {
        use rustix::fs::{IFlags, Mode, OFlags, ioctl_getflags, ioctl_setflags, open};
        let dir = open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let flags = ioctl_getflags(&dir)?;
        if !flags.contains(IFlags::TOPDIR) {
            ioctl_setflags(&dir, flags | IFlags::TOPDIR)?;
        }
        Ok(())
    }

    fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata> {
        fs::symlink_metadata(path)
    }

    fn create_new(&self, path: &Path) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        options.open(path)
    }

    fn write_all(&self, file: &mut File, _path: &Path, buf: &[u8]) -> io::Result<()> {
        file.write_all(buf)
    }

    fn sync_data(&self, file: &File, _path: &Path) -> io::Result<()> {
        file.sync_data()
    }

    fn open_read(&self, path: &Path) -> io::Result<File> {
        File::open(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        fs::read_dir(path)?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect()
    }

    fn open_lock_file(&self, path: &Path, create_new: bool) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        #[cfg(unix)]
        options.mode(0o600);
        if create_new {
            options.create_new(true);
        }
        options.open(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How a file system says it keeps no such flag: `ENOTTY` and `EOPNOTSUPP`
    /// (no inode flags at all), `EINVAL` (flags, but not this one), `EPERM`
    /// (an overlay or container that refuses the change).
    const NO_FLAGS: [i32; 4] = [25, 95, 22, 1];

    #[cfg(target_os = "linux")]
    #[test]
    fn spread_subdirs_sets_the_top_directory_flag_or_says_it_cannot() {
        use rustix::fs::{IFlags, ioctl_getflags};
        let dir = tempfile::tempdir().expect("tempdir");
        match OsFs.spread_subdirs(dir.path()) {
            Ok(()) => {
                let flags = ioctl_getflags(File::open(dir.path()).expect("open")).expect("flags");
                assert!(flags.contains(IFlags::TOPDIR), "{flags:?}");
                // Idempotent: a second session's build finds it set.
                OsFs.spread_subdirs(dir.path()).expect("again");
            }
            Err(error) => assert!(
                error
                    .raw_os_error()
                    .is_some_and(|code| NO_FLAGS.contains(&code)),
                "{error}"
            ),
        }
    }

    #[test]
    fn spread_subdirs_refuses_a_symlink() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        fs::create_dir(&target).expect("target");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let error = OsFs.spread_subdirs(&link).expect_err("followed a symlink");
        assert_ne!(error.raw_os_error(), None, "{error}");
    }
}
