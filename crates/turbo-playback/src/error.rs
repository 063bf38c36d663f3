//! Errors of the playback module: config, throttle and play failures.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::file::FileKind;

/// Why a sound configuration was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The path is not a regular file (after following symbolic links): a
    /// FIFO, a device, a directory. It was not read.
    NotRegularFile {
        /// The file that was asked for.
        path: PathBuf,
        /// What is there instead.
        kind: FileKind,
    },
    /// The file holds more than [`MAX_CONFIG_BYTES`](crate::MAX_CONFIG_BYTES).
    TooLarge {
        /// The file that was asked for.
        path: PathBuf,
        /// The largest size read, in bytes.
        max: u64,
    },
    /// The text is not valid TOML, or it is TOML with unknown fields or bad
    /// values. Every problem names its line, column and key.
    Invalid {
        /// The file the text came from, or `<string>` for text parsed directly.
        file: String,
        /// What was wrong, sorted by position: the first
        /// [`MAX_PROBLEMS`](crate::MAX_PROBLEMS); never empty.
        problems: Vec<ConfigProblem>,
        /// How many more problems were found after those listed.
        omitted: usize,
    },
}

impl ConfigError {
    /// The problems listed for the text; empty unless [`ConfigError::Invalid`].
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            Self::Read { .. } | Self::NotRegularFile { .. } | Self::TooLarge { .. } => &[],
            Self::Invalid { problems, .. } => problems,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source } => {
                write!(f, "cannot read sound config {}: {source}", path.display())
            }
            Self::NotRegularFile { path, kind } => write!(
                f,
                "cannot read sound config {}: it is {kind}, not a regular file",
                path.display()
            ),
            Self::TooLarge { path, max } => write!(
                f,
                "cannot read sound config {}: larger than the {max}-byte maximum",
                path.display()
            ),
            Self::Invalid {
                file,
                problems,
                omitted,
            } => {
                write!(f, "invalid sound config {file}")?;
                for (index, problem) in problems.iter().enumerate() {
                    let sep = if index == 0 { ": " } else { "; " };
                    write!(f, "{sep}{problem}")?;
                }
                if *omitted > 0 {
                    write!(f, "; and {omitted} more problems")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::NotRegularFile { .. } | Self::TooLarge { .. } | Self::Invalid { .. } => None,
        }
    }
}

/// One thing wrong in a sound configuration, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigProblem {
    /// 1-based line of the offending key (or of the syntax error).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The dotted key path as written (`sounds.Pre-Tool_Use.volume`); empty for a
    /// syntax error that is not inside a key.
    pub key: String,
    /// What was wrong.
    pub kind: ProblemKind,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, ", key `{}`", self.key)?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// The kind of a [`ConfigProblem`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The text is not TOML.
    Syntax {
        /// The parser's description.
        message: String,
    },
    /// A field this table does not have.
    UnknownField {
        /// The fields the table accepts.
        allowed: &'static [&'static str],
    },
    /// A value of the wrong TOML type.
    WrongType {
        /// The type the field takes.
        expected: &'static str,
        /// The type that was given.
        found: &'static str,
    },
    /// A number outside the allowed range.
    OutOfRange {
        /// The value as written.
        value: String,
        /// The allowed range, in words.
        allowed: &'static str,
    },
    /// An empty string or list where a value is needed.
    Empty,
    /// A required field is missing.
    Missing {
        /// The field that must be given.
        field: &'static str,
    },
    /// A sound key whose normalized form is empty or has characters other than
    /// ASCII letters and digits.
    InvalidKey {
        /// The key after [`normalize_key`](crate::normalize_key).
        normalized: String,
    },
    /// Two sound keys that normalize to the same key.
    DuplicateKey {
        /// The shared normalized key.
        normalized: String,
        /// The line of the first spelling.
        first_line: usize,
    },
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { message } => write!(f, "TOML syntax error: {message}"),
            Self::UnknownField { allowed } => {
                write!(f, "unknown field, expected one of: {}", allowed.join(", "))
            }
            Self::WrongType { expected, found } => write!(f, "expected {expected}, found {found}"),
            Self::OutOfRange { value, allowed } => {
                write!(f, "{value} is out of range ({allowed})")
            }
            Self::Empty => f.write_str("must not be empty"),
            Self::Missing { field } => write!(f, "missing required field `{field}`"),
            Self::InvalidKey { normalized } => write!(
                f,
                "sound key normalizes to `{normalized}`; keys need ASCII letters or digits \
                 (separators `-`, `_`, `.` and spaces are ignored)"
            ),
            Self::DuplicateKey {
                normalized,
                first_line,
            } => write!(
                f,
                "sound key is the same as the one on line {first_line} after normalization \
                 (`{normalized}`)"
            ),
        }
    }
}

/// Why [`SoundConfigHandle::reload`](crate::SoundConfigHandle::reload)
/// kept the previous configuration.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReloadError {
    /// The handle's configuration was not loaded from a file, so there is nothing
    /// to reload from.
    NoSource,
    /// The file could not be read or is invalid.
    Config(ConfigError),
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSource => f.write_str(
                "sound config was not loaded from a file; nothing to reload, previous config kept",
            ),
            Self::Config(error) => write!(f, "{error}; previous config kept"),
        }
    }
}

impl std::error::Error for ReloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NoSource => None,
            Self::Config(error) => Some(error),
        }
    }
}

/// The file-system step of a throttle check that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsOp {
    /// Creating the state directory.
    CreateDir,
    /// Opening (or creating) the lock file.
    OpenLock,
    /// Taking the lock on the lock file.
    Lock,
    /// Reading the state file.
    ReadState,
    /// Removing a temporary state file left by a killed process (or planted).
    RemoveTemp,
    /// Writing the temporary state file.
    WriteState,
    /// Removing the previous state file before the rename.
    RemoveState,
    /// Renaming the temporary file to the state file.
    RenameState,
}

impl fmt::Display for FsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CreateDir => "create the state directory",
            Self::OpenLock => "open the lock file",
            Self::Lock => "lock the lock file",
            Self::ReadState => "read the state file",
            Self::RemoveTemp => "remove a leftover temporary state file",
            Self::WriteState => "write the new state file",
            Self::RemoveState => "remove the previous state file",
            Self::RenameState => "rename the new state file into place",
        })
    }
}

/// Why a throttle check could not decide.
#[derive(Debug)]
#[non_exhaustive]
pub enum ThrottleError {
    /// Another holder kept the lock longer than the lock timeout.
    LockTimeout {
        /// The lock file.
        lock_file: PathBuf,
        /// How long this check waited.
        waited: Duration,
    },
    /// A file-system step failed.
    Io {
        /// Which step.
        op: FsOp,
        /// The file or directory it worked on.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The lock file or the state file is not a regular file (a FIFO, a
    /// symbolic link, a device, a directory): something other than the throttle
    /// put it there, and the throttle neither reads, locks nor replaces it.
    NotRegularFile {
        /// The path.
        path: PathBuf,
        /// What is there instead.
        kind: FileKind,
    },
    /// The key normalizes to the empty string.
    EmptyKey,
    /// The normalized key is longer than [`MAX_KEY_BYTES`](crate::MAX_KEY_BYTES).
    KeyTooLong {
        /// Its length in bytes.
        len: usize,
    },
}

impl fmt::Display for ThrottleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LockTimeout { lock_file, waited } => write!(
                f,
                "throttle lock {} still held by another process after {} ms",
                lock_file.display(),
                waited.as_millis()
            ),
            Self::Io { op, path, source } => {
                write!(f, "throttle could not {op} ({}): {source}", path.display())
            }
            Self::NotRegularFile { path, kind } => write!(
                f,
                "throttle file {} is {kind}, not a regular file; remove it (only the throttle's \
                 own files belong there)",
                path.display()
            ),
            Self::EmptyKey => f.write_str("throttle key is empty after normalization"),
            Self::KeyTooLong { len } => write!(
                f,
                "throttle key is {len} bytes long after normalization; the longest is {}",
                crate::MAX_KEY_BYTES
            ),
        }
    }
}

impl std::error::Error for ThrottleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::LockTimeout { .. }
            | Self::NotRegularFile { .. }
            | Self::EmptyKey
            | Self::KeyTooLong { .. } => None,
        }
    }
}

/// Why [`Player::play`](crate::Player::play) returned no outcome.
///
/// Everything that is an answer about the sound (throttled, disabled, no file,
/// no player, the player failed or timed out) is an
/// [`Outcome`](crate::Outcome); these are failures of the machinery.
#[derive(Debug)]
#[non_exhaustive]
pub enum PlayError {
    /// The throttle could not decide; no player was started.
    Throttle(ThrottleError),
    /// The player exists but could not be started (for example it is not
    /// executable).
    Spawn {
        /// The program that was run.
        program: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Waiting for, or killing, the player failed.
    Wait {
        /// The player's process id.
        pid: u32,
        /// What the operating system said.
        source: io::Error,
    },
}

impl PlayError {
    /// The exit code a `turbo play` command should use for this error (see the
    /// playback guide): 11 throttle, 12 spawn, 13 wait.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Throttle(_) => 11,
            Self::Spawn { .. } => 12,
            Self::Wait { .. } => 13,
        }
    }
}

impl fmt::Display for PlayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Throttle(error) => write!(f, "{error}; no sound was played"),
            Self::Spawn { program, source } => {
                write!(f, "cannot start player {}: {source}", program.display())
            }
            Self::Wait { pid, source } => write!(f, "cannot wait for player pid {pid}: {source}"),
        }
    }
}

impl std::error::Error for PlayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Throttle(error) => Some(error),
            Self::Spawn { source, .. } | Self::Wait { source, .. } => Some(source),
        }
    }
}

impl From<ThrottleError> for PlayError {
    fn from(error: ThrottleError) -> Self {
        Self::Throttle(error)
    }
}
