//! The client's deadline: one per request, covering the transport call and the
//! response body, typed instead of tower's erased `Elapsed`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};
use tower::{Layer, Service};

use tower::BoxError;

/// A per-request timeout, carried in the request's extensions; it overrides the
/// client's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Duration);

/// A request ran past its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    timeout: Duration,
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "deadline of {:?} passed", self.timeout)
    }
}

impl std::error::Error for Elapsed {}

/// Applies the deadline; sits inside the queue so that time spent waiting for a
/// slot or a host does not count against it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeadlineLayer {
    pub(crate) default: Option<Duration>,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            default: self.default,
        }
    }
}

/// The service [`DeadlineLayer`] makes.
#[derive(Debug, Clone)]
pub(crate) struct Deadline<S> {
    inner: S,
    default: Option<Duration>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Deadline<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<DeadlineBody<ResBody>>;
    type Error = BoxError;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let timeout = request
            .extensions()
            .get::<RequestTimeout>()
            .map(|t| t.0)
            .or(self.default);
        // A deadline past what the clock can represent (`Duration::MAX`) is no
        // deadline at all, not an overflow.
        let deadline =
            timeout.and_then(|timeout| Some((Instant::now().checked_add(timeout)?, timeout)));
        DeadlineFuture {
            inner: self.inner.call(request),
            sleep: deadline.map(|(at, _)| Box::pin(sleep_until(at))),
            deadline,
        }
    }
}

pin_project! {
    /// The response future of [`Deadline`].
    pub(crate) struct DeadlineFuture<F> {
        #[pin]
        inner: F,
        // Boxed, and only with a deadline: futures are moved several times per
        // request, and an inline timer would make every move 100 bytes longer.
        sleep: Option<Pin<Box<Sleep>>>,
        deadline: Option<(Instant, Duration)>,
    }
}

impl<F, B, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<DeadlineBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            let deadline = *this.deadline;
            return Poll::Ready(result.map_err(Into::into).map(|response| {
                response.map(|body| DeadlineBody {
                    inner: body,
                    sleep: deadline.map(|(at, _)| Box::pin(sleep_until(at))),
                    timeout: deadline.map(|(_, timeout)| timeout),
                })
            }));
        }
        if let (Some(sleep), Some((_, timeout))) = (this.sleep.as_mut(), *this.deadline) {
            ready!(sleep.as_mut().poll(cx));
            return Poll::Ready(Err(Box::new(Elapsed { timeout })));
        }
        Poll::Pending
    }
}

pin_project! {
    /// A response body that fails with [`Elapsed`] once the request's deadline
    /// passes. The timer is boxed (only when a deadline is set) so that the body
    /// stays `Unpin` and easy to read.
    pub struct DeadlineBody<B> {
        #[pin]
        inner: B,
        sleep: Option<Pin<Box<Sleep>>>,
        timeout: Option<Duration>,
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        if let (Some(sleep), Some(timeout)) = (this.sleep.as_mut(), *this.timeout) {
            ready!(sleep.as_mut().poll(cx));
            return Poll::Ready(Some(Err(Box::new(Elapsed { timeout }))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
