//! [`PipelineError`]: every way a load can fail.

use std::fmt;
use std::path::PathBuf;

use crate::decode::DecodeError;
use crate::temp::TempError;
use crate::worker::WorkerError;

/// Why a load (or building the pipeline) failed. Whatever the variant, the
/// load's temp file is gone or scheduled for deletion when this is returned.
#[derive(Debug)]
#[non_exhaustive]
pub enum PipelineError {
    /// A bound was reached and the pipeline is set to fail rather than wait
    /// ([`WhenBusy::Fail`](crate::worker::WhenBusy::Fail)).
    Busy {
        /// Which bound: `"decode slots"` or `"temp files"`.
        resource: &'static str,
        /// Its size.
        limit: usize,
    },
    /// Reading the response body failed (the connection broke, a body layer
    /// gave up).
    Body {
        /// The body's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The body ended at a different length than the request said to expect
    /// (a truncated download).
    LengthMismatch {
        /// What the request expected.
        expected: u64,
        /// What arrived.
        received: u64,
    },
    /// The body is longer than the pipeline stores
    /// ([`max_body_bytes`](super::AudioPipelineBuilder::max_body_bytes)); known
    /// from the expected length before anything is written, or found while
    /// writing.
    BodyTooLarge {
        /// The limit, in bytes.
        max_bytes: u64,
    },
    /// Creating, writing or reading the temp file failed.
    Temp(TempError),
    /// Opening a local file for [`load_path`](super::AudioPipeline::load_path)
    /// failed.
    Open {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The path given to [`load_path`](super::AudioPipeline::load_path) is not a
    /// regular file (after following symbolic links): a directory, a FIFO, a
    /// device. It was not read (a FIFO is not waited on).
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What is there instead.
        kind: PathKind,
    },
    /// The audio did not decode.
    Decode(DecodeError),
    /// A worker or the main-thread hand-off went away without a result (a
    /// panicking finalizer hook, a runtime shutting down).
    Lost {
        /// What was lost.
        detail: String,
    },
    /// A builder setting is out of range.
    Config {
        /// The setting.
        setting: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Busy { resource, limit } => write!(
                f,
                "all {limit} {resource} are in use and the pipeline is set not to wait"
            ),
            PipelineError::Body { source } => write!(f, "reading the audio body failed: {source}"),
            PipelineError::LengthMismatch { expected, received } => write!(
                f,
                "the audio body ended after {received} bytes, {expected} were expected"
            ),
            PipelineError::BodyTooLarge { max_bytes } => write!(
                f,
                "the audio body is larger than the {max_bytes}-byte limit"
            ),
            PipelineError::Temp(error) => write!(f, "temp file: {error}"),
            PipelineError::Open { path, source } => {
                write!(f, "opening {} failed: {source}", path.display())
            }
            PipelineError::NotAFile { path, kind } => {
                write!(f, "{} is {kind}, not an audio file", path.display())
            }
            PipelineError::Decode(error) => error.fmt(f),
            PipelineError::Lost { detail } => write!(f, "the load was lost: {detail}"),
            PipelineError::Config { setting, reason } => {
                write!(f, "invalid pipeline setting `{setting}`: {reason}")
            }
        }
    }
}

impl std::error::Error for PipelineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PipelineError::Body { source } => Some(source.as_ref()),
            PipelineError::Temp(error) => Some(error),
            PipelineError::Open { source, .. } => Some(source),
            PipelineError::Decode(error) => Some(error),
            _ => None,
        }
    }
}

/// What a path given to [`load_path`](super::AudioPipeline::load_path) was,
/// when it was not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathKind {
    /// A directory.
    Directory,
    /// A FIFO (named pipe).
    Fifo,
    /// A Unix domain socket.
    Socket,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Something else that is not a regular file.
    Other,
}

impl PathKind {
    /// The kind of `meta`'s file, or `None` for a regular file.
    pub(crate) fn of(meta: &std::fs::Metadata) -> Option<Self> {
        let file_type = meta.file_type();
        if file_type.is_file() {
            return None;
        }
        if file_type.is_dir() {
            return Some(Self::Directory);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if file_type.is_fifo() {
                return Some(Self::Fifo);
            }
            if file_type.is_socket() {
                return Some(Self::Socket);
            }
            if file_type.is_char_device() {
                return Some(Self::CharDevice);
            }
            if file_type.is_block_device() {
                return Some(Self::BlockDevice);
            }
        }
        Some(Self::Other)
    }
}

impl fmt::Display for PathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Directory => "a directory",
            Self::Fifo => "a FIFO (named pipe)",
            Self::Socket => "a socket",
            Self::CharDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::Other => "not a regular file",
        })
    }
}

impl From<TempError> for PipelineError {
    fn from(error: TempError) -> Self {
        PipelineError::Temp(error)
    }
}

impl From<DecodeError> for PipelineError {
    fn from(error: DecodeError) -> Self {
        PipelineError::Decode(error)
    }
}

impl From<WorkerError> for PipelineError {
    fn from(error: WorkerError) -> Self {
        match error {
            WorkerError::Busy { max_concurrent } => PipelineError::Busy {
                resource: "decode slots",
                limit: max_concurrent,
            },
            WorkerError::Decode(error) => PipelineError::Decode(error),
            WorkerError::Lost { detail } => PipelineError::Lost { detail },
        }
    }
}
