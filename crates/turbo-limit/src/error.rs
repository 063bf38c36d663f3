//! [`LimitError`]: why a limit layer refused or failed a request.

use std::fmt;

use turbo_core::HostKeyError;

/// A request failed in a limit layer, or in the service behind it.
#[derive(Debug)]
#[non_exhaustive]
pub enum LimitError<E> {
    /// The inner service failed.
    Inner(E),
    /// The layer was shut down before the request got in line.
    Closed,
    /// The request was waiting when the layer was stopped with
    /// cancel-pending semantics.
    QueueStopped,
    /// The wait queue (or the request's class's share of it) was full.
    QueueFull,
    /// The request would need a new host entry, and `limit` hosts are tracked and
    /// busy.
    TooManyHosts {
        /// The cap on tracked hosts.
        limit: usize,
    },
    /// The request has no usable host (for example a relative URI).
    InvalidHost(HostKeyError),
}

impl<E> LimitError<E> {
    /// Whether the inner service produced this error.
    pub fn is_inner(&self) -> bool {
        matches!(self, LimitError::Inner(_))
    }

    /// The inner service's error, if that is what this is.
    pub fn into_inner(self) -> Option<E> {
        match self {
            LimitError::Inner(error) => Some(error),
            _ => None,
        }
    }

    /// Applies `f` to the inner service's error.
    pub fn map_inner<F>(self, f: impl FnOnce(E) -> F) -> LimitError<F> {
        match self {
            LimitError::Inner(error) => LimitError::Inner(f(error)),
            LimitError::Closed => LimitError::Closed,
            LimitError::QueueStopped => LimitError::QueueStopped,
            LimitError::QueueFull => LimitError::QueueFull,
            LimitError::TooManyHosts { limit } => LimitError::TooManyHosts { limit },
            LimitError::InvalidHost(error) => LimitError::InvalidHost(error),
        }
    }
}

impl<E> LimitError<LimitError<E>> {
    /// Merges the errors of two stacked limit layers into one.
    pub fn flatten(self) -> LimitError<E> {
        match self {
            LimitError::Inner(inner) => inner,
            LimitError::Closed => LimitError::Closed,
            LimitError::QueueStopped => LimitError::QueueStopped,
            LimitError::QueueFull => LimitError::QueueFull,
            LimitError::TooManyHosts { limit } => LimitError::TooManyHosts { limit },
            LimitError::InvalidHost(error) => LimitError::InvalidHost(error),
        }
    }
}

impl<E: fmt::Display> fmt::Display for LimitError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Inner(error) => error.fmt(f),
            LimitError::Closed => f.write_str("the limit layer is shut down"),
            LimitError::QueueStopped => {
                f.write_str("the request queue was stopped while the request waited")
            }
            LimitError::QueueFull => f.write_str("the request queue is full"),
            LimitError::TooManyHosts { limit } => {
                write!(f, "too many hosts: {limit} are tracked and all are busy")
            }
            LimitError::InvalidHost(error) => write!(f, "no host to limit: {error}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for LimitError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LimitError::Inner(error) => Some(error),
            LimitError::InvalidHost(error) => Some(error),
            _ => None,
        }
    }
}
