//! [`MockTransport`]: canned responses, latency and failure injection.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::Service;

use crate::transport::RequestBody;

type Responder = dyn Fn(&Request<RequestBody>) -> MockReply + Send + Sync;

/// What the mock does with one request.
#[derive(Debug, Clone)]
pub enum MockReply {
    /// Answer with this status and body.
    Respond {
        /// The status.
        status: StatusCode,
        /// The body, sent in one frame.
        body: Bytes,
    },
    /// Answer with this status, then fail the body after `after` bytes (a
    /// connection reset mid-body).
    ResetMidBody {
        /// The status.
        status: StatusCode,
        /// The bytes delivered before the failure.
        after: Bytes,
    },
    /// Fail the request as a refused connection.
    Refuse,
}

/// A transport for tests and benches: every request gets the reply its responder
/// picks, after an optional latency. It counts calls and what is in flight, and
/// can be shut down (later calls fail).
///
/// ```
/// use turbo_client::transport::{MockReply, MockTransport};
///
/// let mock = MockTransport::ok(bytes::Bytes::from_static(b"{}"))
///     .with_latency(std::time::Duration::from_millis(1));
/// let failing = MockTransport::from_fn(|request| match request.uri().path() {
///     "/missing" => MockReply::Respond { status: http::StatusCode::NOT_FOUND, body: Default::default() },
///     _ => MockReply::Refuse,
/// });
/// # let _ = (mock, failing);
/// ```
#[derive(Clone)]
pub struct MockTransport {
    shared: Arc<MockShared>,
}

struct MockShared {
    responder: Box<Responder>,
    latency_nanos: AtomicU64,
    calls: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    shut: AtomicBool,
    shutdowns: AtomicUsize,
}

impl MockTransport {
    /// Answers every request `200 OK` with `body`.
    pub fn ok(body: Bytes) -> Self {
        Self::from_fn(move |_| MockReply::Respond {
            status: StatusCode::OK,
            body: body.clone(),
        })
    }

    /// Answers each request with what `responder` returns for it.
    pub fn from_fn(
        responder: impl Fn(&Request<RequestBody>) -> MockReply + Send + Sync + 'static,
    ) -> Self {
        Self {
            shared: Arc::new(MockShared {
                responder: Box::new(responder),
                latency_nanos: AtomicU64::new(0),
                calls: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
                shut: AtomicBool::new(false),
                shutdowns: AtomicUsize::new(0),
            }),
        }
    }

    /// Delays every reply by `latency` (a tokio timer); zero means no delay.
    pub fn with_latency(self, latency: Duration) -> Self {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.shared.latency_nanos.store(nanos, Ordering::Relaxed);
        self
    }

    /// Requests seen.
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::Relaxed)
    }

    /// Requests between their call and their response now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// The most requests that were between call and response at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::Acquire)
    }

    /// Marks the mock shut down: later calls fail. Counted, so that tests can
    /// assert a client shuts its transport down exactly once.
    pub fn shut_down(&self) {
        self.shared.shut.store(true, Ordering::SeqCst);
        self.shared.shutdowns.fetch_add(1, Ordering::SeqCst);
    }

    /// How many times [`shut_down`](Self::shut_down) ran.
    pub fn shutdowns(&self) -> usize {
        self.shared.shutdowns.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for MockTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockTransport")
            .field("calls", &self.calls())
            .field("latency_nanos", &self.shared.latency_nanos)
            .finish_non_exhaustive()
    }
}

/// Why the mock failed a request.
#[derive(Debug)]
pub struct MockError {
    source: std::io::Error,
}

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mock transport: {}", self.source)
    }
}

impl std::error::Error for MockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl Service<Request<RequestBody>> for MockTransport {
    type Response = Response<MockBody>;
    type Error = MockError;
    type Future = MockFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), MockError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RequestBody>) -> MockFuture {
        let shared = &self.shared;
        shared.calls.fetch_add(1, Ordering::Relaxed);
        let reply = if shared.shut.load(Ordering::SeqCst) {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "transport is shut down",
            ))
        } else {
            Ok((shared.responder)(&request))
        };
        let now = shared.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::AcqRel);
        let latency = shared.latency_nanos.load(Ordering::Relaxed);
        MockFuture {
            sleep: (latency > 0)
                .then(|| Box::pin(tokio::time::sleep(Duration::from_nanos(latency)))),
            reply: Some(reply),
            shared: Arc::clone(&self.shared),
        }
    }
}

pin_project! {
    /// The future of [`MockTransport`].
    pub struct MockFuture {
        sleep: Option<Pin<Box<Sleep>>>,
        reply: Option<Result<MockReply, std::io::Error>>,
        shared: Arc<MockShared>,
    }

    impl PinnedDrop for MockFuture {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.reply.is_some() {
                this.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

impl Future for MockFuture {
    type Output = Result<Response<MockBody>, MockError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(sleep) = this.sleep.as_mut()
            && sleep.as_mut().poll(cx).is_pending()
        {
            return Poll::Pending;
        }
        let Some(reply) = this.reply.take() else {
            return Poll::Ready(Err(MockError {
                source: std::io::Error::other("polled after completion"),
            }));
        };
        this.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
        Poll::Ready(match reply {
            Ok(MockReply::Respond { status, body }) => {
                let mut response = Response::new(MockBody::new(body, false));
                *response.status_mut() = status;
                Ok(response)
            }
            Ok(MockReply::ResetMidBody { status, after }) => {
                let mut response = Response::new(MockBody::new(after, true));
                *response.status_mut() = status;
                Ok(response)
            }
            Ok(MockReply::Refuse) => Err(MockError {
                source: std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "connection refused",
                ),
            }),
            Err(source) => Err(MockError { source }),
        })
    }
}

/// The body of a mock response: one data frame, then the end or a reset.
#[derive(Debug)]
pub struct MockBody {
    data: Option<Bytes>,
    reset: bool,
}

impl MockBody {
    fn new(data: Bytes, reset: bool) -> Self {
        Self {
            data: (!data.is_empty()).then_some(data),
            reset,
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = MockError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, MockError>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if std::mem::take(&mut self.reset) {
            return Poll::Ready(Some(Err(MockError {
                source: std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection reset mid-body",
                ),
            })));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && !self.reset
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, self.reset) {
            (Some(data), false) => SizeHint::with_exact(data.len() as u64),
            (None, false) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
