//! Errors of the pools.

use std::fmt;

/// Why [`BytePool::rent`](crate::BytePool::rent) refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RentError {
    /// A buffer of 0 bytes was requested.
    ZeroSize,
}

impl fmt::Display for RentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroSize => f.write_str("cannot rent a buffer of 0 bytes"),
        }
    }
}

impl std::error::Error for RentError {}

/// Why a [`BytePoolBuilder`](crate::BytePoolBuilder) configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BytePoolBuildError {
    /// The largest buffer size is 0 or above the limit.
    MaxBufferSize {
        /// The size that was asked for.
        requested: usize,
        /// The largest size a class may have.
        limit: usize,
    },
    /// The idle count per class is above the limit.
    MaxIdlePerClass {
        /// The count that was asked for.
        requested: usize,
        /// The most idle buffers a class may keep.
        limit: usize,
    },
}

impl fmt::Display for BytePoolBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MaxBufferSize { requested, limit } => write!(
                f,
                "largest pooled buffer must be between 1 and {limit} bytes, got {requested}"
            ),
            Self::MaxIdlePerClass { requested, limit } => write!(
                f,
                "idle buffers per class must be at most {limit}, got {requested}"
            ),
        }
    }
}

impl std::error::Error for BytePoolBuildError {}
