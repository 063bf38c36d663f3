//! [`LimitError`]: why a limit layer refused or failed a request.

use std::fmt;

use turbo_core::HostKeyError;

/// Why a limit layer refused a request.
///
/// The layers' error type is [`BoxError`](crate::BoxError), as with tower's own
/// middleware: an error of the service inside passes through unchanged, and a
/// refusal of the layer itself is a boxed `LimitError`. Find it with
/// `downcast_ref::<LimitError>()`, as you would tower's `Elapsed` or `Overloaded`:
///
/// ```
/// use turbo_limit::{BoxError, LimitError};
///
/// fn is_shed(error: &BoxError) -> bool {
///     matches!(error.downcast_ref::<LimitError>(), Some(LimitError::QueueFull))
/// }
/// assert!(is_shed(&BoxError::from(LimitError::QueueFull)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitError {
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

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Closed => f.write_str("the limit layer is shut down"),
            LimitError::QueueStopped => {
                f.write_str("the request queue was stopped while the request waited")
            }
            LimitError::QueueFull => f.write_str("the request queue is full"),
            LimitError::TooManyHosts { limit } => {
                write!(f, "too many hosts: {limit} are tracked and all are busy")
            }
            // The host key error is the source; not repeated here.
            LimitError::InvalidHost(_) => f.write_str("the request has no host to limit"),
        }
    }
}

impl std::error::Error for LimitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LimitError::InvalidHost(error) => Some(error),
            _ => None,
        }
    }
}
