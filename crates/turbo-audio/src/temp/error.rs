//! Errors of the temp-file manager.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// The file-system step that failed; named in every [`TempError::Io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TempOp {
    /// Creating the root, the sessions directory or a shard directory.
    CreateDir,
    /// Inspecting an entry without following symlinks.
    Inspect,
    /// Creating or locking this session's lock file.
    Lock,
    /// Exclusive-creating a temp file.
    Create,
    /// Writing a chunk.
    Write,
    /// Flushing a temp file to disk.
    Sync,
    /// Opening a temp file for reading.
    Open,
    /// Removing a file or a symlink.
    Remove,
    /// Listing a directory.
    ReadDir,
    /// Renaming the lock file into place.
    Rename,
}

impl fmt::Display for TempOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CreateDir => "create directory",
            Self::Inspect => "inspect",
            Self::Lock => "lock",
            Self::Create => "create",
            Self::Write => "write",
            Self::Sync => "sync",
            Self::Open => "open",
            Self::Remove => "remove",
            Self::ReadDir => "read directory",
            Self::Rename => "rename",
        })
    }
}

/// Why a temp-file operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TempError {
    /// [`TempFileManagerBuilder::build`](super::TempFileManagerBuilder::build)
    /// was called outside a Tokio runtime; background deletions need one.
    NoRuntime,
    /// A builder setting is out of range (for example zero shards).
    InvalidConfig {
        /// The setting.
        setting: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A path the manager must own as a directory is something else (a
    /// symlink, a file); the manager refuses to work through it.
    NotADirectory {
        /// The offending path.
        path: PathBuf,
    },
    /// A directory the manager must own (`<root>/turbo` or one below it)
    /// belongs to another user, who could read, replace or remove the files in
    /// it; the manager refuses to use it (it cannot take it over).
    NotOwned {
        /// The directory.
        path: PathBuf,
        /// Its owner's user id.
        owner: u32,
        /// The user id the manager runs as.
        user: u32,
    },
    /// A file-system step failed.
    Io {
        /// The step.
        op: TempOp,
        /// The path it was applied to.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The temp file's handle was lost because an earlier write or finish was
    /// cancelled while its blocking work was still running.
    Closed {
        /// The temp file.
        path: PathBuf,
    },
    /// Every candidate name was taken (only possible if something else plants
    /// files with this session's names).
    NamesExhausted {
        /// The shard directory that was tried last.
        dir: PathBuf,
    },
    /// The blocking task doing the I/O panicked or was cancelled by runtime
    /// shutdown.
    Worker {
        /// The step.
        op: TempOp,
        /// The path it was applied to.
        path: PathBuf,
    },
}

impl TempError {
    /// The I/O error kind, if this is an I/O failure.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Self::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }

    pub(crate) fn io(op: TempOp, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for TempError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRuntime => f.write_str(
                "the temp-file manager must be built inside a Tokio runtime (background deletions run there)",
            ),
            Self::InvalidConfig { setting, reason } => {
                write!(f, "invalid temp-file setting `{setting}`: {reason}")
            }
            Self::NotADirectory { path } => write!(
                f,
                "{} is not a plain directory (a symlink or a file); refusing to use it",
                path.display()
            ),
            Self::NotOwned { path, owner, user } => write!(
                f,
                "{} belongs to user id {owner}, not to this user (id {user}); refusing to use \
                 it (remove it, or choose another temp root)",
                path.display()
            ),
            Self::Io { op, path, source } => {
                write!(f, "cannot {op} {}: {source}", path.display())
            }
            Self::Closed { path } => write!(
                f,
                "temp file {} lost its handle: an earlier write was cancelled mid-flight",
                path.display()
            ),
            Self::NamesExhausted { dir } => {
                write!(f, "no free temp-file name in {}", dir.display())
            }
            Self::Worker { op, path } => write!(
                f,
                "the blocking task to {op} {} panicked or was cancelled",
                path.display()
            ),
        }
    }
}

impl std::error::Error for TempError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
