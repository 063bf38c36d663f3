//! [`Error`]: one error type that says which stage of a request failed.

use std::fmt;

use http::StatusCode;
use turbo_limit::LimitError;

/// A boxed error from a lower layer.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which stage of a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client was shut down; no request is accepted any more.
    ClientClosed,
    /// The request queue was full (load shedding).
    QueueFull,
    /// The request waited in the queue (or for its host) when a shutdown
    /// cancelled pending work.
    QueueStopped,
    /// The request would need one more tracked host and all tracked hosts are busy.
    TooManyHosts,
    /// The request could not be built: a bad URL, method or header.
    InvalidRequest,
    /// The request (or its body) ran past its deadline.
    Timeout,
    /// Connecting failed (refused, unreachable, DNS).
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// The server answered with an error status (only from
    /// [`Response::error_for_status`](crate::Response::error_for_status)).
    Status,
    /// Reading the response body failed (for example the connection was reset
    /// mid-body).
    Body,
    /// A whole-body read ([`Response::bytes`](crate::Response::bytes)) passed the
    /// client's `max_body_size`; [`Response::chunk`](crate::Response::chunk)
    /// streams a body of any size.
    BodyTooLarge,
    /// A redirect could not be followed: more hops than the client's
    /// [`RedirectPolicy`](crate::RedirectPolicy) allows, a loop, or a `Location`
    /// that is not a URL.
    Redirect,
    /// Decoding downloaded audio failed.
    Decode,
    /// A local I/O operation failed (for example writing a temp file).
    Io,
    /// The transport failed in another way.
    Transport,
}

impl ErrorKind {
    /// A short name (`queue_full`), stable for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ClientClosed => "client_closed",
            ErrorKind::QueueFull => "queue_full",
            ErrorKind::QueueStopped => "queue_stopped",
            ErrorKind::TooManyHosts => "too_many_hosts",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Status => "status",
            ErrorKind::Body => "body",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Decode => "decode",
            ErrorKind::Io => "io",
            ErrorKind::Transport => "transport",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request: the stage that failed, a message, and the underlying error.
pub struct Error {
    kind: ErrorKind,
    message: String,
    status: Option<StatusCode>,
    source: Option<BoxError>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            status: None,
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub(crate) fn closed() -> Self {
        Self::new(ErrorKind::ClientClosed, "the client is shut down")
    }

    pub(crate) fn status(status: StatusCode) -> Self {
        let mut error = Self::new(ErrorKind::Status, format!("the server answered {status}"));
        error.status = Some(status);
        error
    }

    /// Classifies an error from the transport (hyper-util, or a custom one).
    pub(crate) fn from_transport(error: BoxError) -> Self {
        let (kind, message) = match classify(error.as_ref()) {
            ErrorKind::Connect => (ErrorKind::Connect, "could not connect"),
            ErrorKind::Tls => (ErrorKind::Tls, "the TLS handshake failed"),
            ErrorKind::Timeout => (ErrorKind::Timeout, "the request timed out"),
            // Before the response head there is no body yet: an incomplete
            // message here is a connection that closed without an answer.
            ErrorKind::Body => (
                ErrorKind::Transport,
                "the server closed the connection before answering",
            ),
            kind => (kind, "the transport failed"),
        };
        Self::new(kind, message).with_source(error)
    }

    /// Classifies an error from reading a response body.
    pub(crate) fn from_body(error: BoxError) -> Self {
        match classify(error.as_ref()) {
            ErrorKind::Timeout => Self::new(
                ErrorKind::Timeout,
                "the response body ran past the deadline",
            )
            .with_source(error),
            _ => Self::new(ErrorKind::Body, "reading the response body failed").with_source(error),
        }
    }

    /// The stage that failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status, for [`ErrorKind::Status`] errors.
    pub fn status_code(&self) -> Option<StatusCode> {
        self.status
    }

    /// Whether the client refused the request because it is shut down.
    pub fn is_closed(&self) -> bool {
        self.kind == ErrorKind::ClientClosed
    }

    /// Whether the request ran past its deadline.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }
}

/// Finds the stage by walking the error's source chain.
fn classify(error: &(dyn std::error::Error + 'static)) -> ErrorKind {
    let mut connect = false;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if error.is::<crate::timeout::Elapsed>() {
            return ErrorKind::Timeout;
        }
        #[cfg(feature = "rustls")]
        if error.is::<rustls::Error>() {
            return ErrorKind::Tls;
        }
        if let Some(legacy) = error.downcast_ref::<hyper_util::client::legacy::Error>()
            && legacy.is_connect()
        {
            connect = true;
        }
        if let Some(hyper_error) = error.downcast_ref::<hyper::Error>() {
            if hyper_error.is_timeout() {
                return ErrorKind::Timeout;
            }
            if hyper_error.is_incomplete_message() || hyper_error.is_body_write_aborted() {
                return ErrorKind::Body;
            }
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as Io;
            match io.kind() {
                Io::ConnectionRefused
                | Io::ConnectionAborted
                | Io::AddrNotAvailable
                | Io::HostUnreachable
                | Io::NetworkUnreachable => return ErrorKind::Connect,
                Io::TimedOut => return ErrorKind::Timeout,
                _ => {}
            }
            // `io::Error::source` skips the error it wraps; step into it instead
            // (rustls reports a failed handshake as io errors around its own).
            if let Some(inner) = io.get_ref() {
                current = Some(inner as &(dyn std::error::Error + 'static));
                continue;
            }
        }
        current = error.source();
    }
    if connect {
        ErrorKind::Connect
    } else {
        ErrorKind::Transport
    }
}

impl From<LimitError> for Error {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Closed => Error::closed(),
            LimitError::QueueStopped => Error::new(
                ErrorKind::QueueStopped,
                "the request was waiting when the client shut down",
            ),
            LimitError::QueueFull => Error::new(ErrorKind::QueueFull, "the request queue is full"),
            LimitError::TooManyHosts { limit } => Error::new(
                ErrorKind::TooManyHosts,
                format!("{limit} hosts are tracked and all are busy"),
            ),
            LimitError::InvalidHost(error) => {
                Error::new(ErrorKind::InvalidRequest, "the URL has no usable host")
                    .with_source(error)
            }
            other => Error::new(ErrorKind::Transport, other.to_string()),
        }
    }
}

impl Error {
    /// Classifies an error that came out of the stack: a limit layer's refusal,
    /// or the deadline's or the transport's error passed through it.
    pub(crate) fn from_stack(error: BoxError) -> Self {
        match error.downcast::<LimitError>() {
            Ok(refusal) => Error::from(*refusal),
            Err(other) => Error::from_transport(other),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind)?;
        // Each cause once: many errors print their source in their own text as
        // well as returning it from `source()`, so a cause the previous text
        // already contains is not written again.
        let mut previous = String::new();
        let mut next = self
            .source
            .as_ref()
            .map(|source| source.as_ref() as &(dyn std::error::Error + 'static));
        while let Some(cause) = next {
            let text = cause.to_string();
            if !text.is_empty() && !previous.contains(&text) {
                write!(f, ": {text}")?;
            }
            previous = text;
            next = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("status", &self.status)
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|source| source.as_ref() as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that prints its source in its own text and returns it too.
    #[derive(Debug)]
    struct Wrapping(std::io::Error);

    impl fmt::Display for Wrapping {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "corrupt audio: {}", self.0)
        }
    }

    impl std::error::Error for Wrapping {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_written_once() {
        let error = Error::new(ErrorKind::Decode, "the download is not decodable audio")
            .with_source(Wrapping(std::io::Error::other("empty input (0 bytes)")));
        assert_eq!(
            error.to_string(),
            "the download is not decodable audio (decode): corrupt audio: empty input (0 bytes)"
        );
        let chained = Error::new(ErrorKind::Io, "writing failed")
            .with_source(std::io::Error::other("disk full"));
        assert_eq!(chained.to_string(), "writing failed (io): disk full");
    }
}
