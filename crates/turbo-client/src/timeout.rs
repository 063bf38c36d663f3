//! The client's time bounds, one timer per request covering the transport call and
//! the response body: a total deadline (opt-in) and a read-idle timeout (on by
//! default), typed as [`Elapsed`] instead of tower's erased one.
//!
//! The timer is armed only when the request has to wait (the transport's future or
//! the body returns `Pending`), so a request that never waits (over a mock, or a
//! body already buffered) pays for no timer. While the body streams, each frame that
//! arrives after a wait records the time; when the timer fires before the idle time
//! has passed since the last frame, it is moved forward instead of failing the
//! request, so a long download that keeps moving is never cut.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};
use tower::{BoxError, Layer, Service};

use crate::redirect::RedirectHop;
use crate::retry::RetryAttempt;

/// A per-request timeout, carried in the request's extensions; it overrides the
/// client's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Duration);

/// The absolute end of a request's end-to-end deadline, set by the send future
/// (which counts the waits for a host and a slot) and honoured here for the body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EndToEnd {
    pub(crate) at: Instant,
    pub(crate) limit: Duration,
}

impl Elapsed {
    /// The end-to-end deadline passed.
    pub(crate) fn end_to_end(limit: Duration) -> Self {
        Self { limit, idle: false }
    }
}

/// A request ran out of time: past its total deadline, or with no progress
/// (connect, TLS, headers, body bytes) for the read-idle timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    limit: Duration,
    idle: bool,
}

impl Elapsed {
    /// Whether the read-idle timeout fired (no progress for that long), rather
    /// than the total deadline.
    pub fn is_idle(&self) -> bool {
        self.idle
    }

    /// The deadline or idle time that passed.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.idle {
            write!(f, "no progress for {:?} (read-idle timeout)", self.limit)
        } else {
            write!(f, "deadline of {:?} passed", self.limit)
        }
    }
}

impl std::error::Error for Elapsed {}

/// Applies the time bounds; sits inside the queue so that time spent waiting for a
/// slot or a host counts against neither.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeadlineLayer {
    /// The total deadline unless a request carries its own.
    pub(crate) default: Option<Duration>,
    /// The read-idle timeout.
    pub(crate) idle: Option<Duration>,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            bounds: *self,
        }
    }
}

/// The service [`DeadlineLayer`] makes.
#[derive(Debug, Clone)]
pub(crate) struct Deadline<S> {
    inner: S,
    bounds: DeadlineLayer,
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
        // Inside the context layer: a retry or a redirect hop goes on its
        // attempt's timeline.
        RetryAttempt::record(&request);
        RedirectHop::record(&request);
        let timeout = request
            .extensions()
            .get::<RequestTimeout>()
            .map(|t| t.0)
            .or(self.bounds.default);
        // A deadline past what the clock can represent (`Duration::MAX`) is no
        // deadline at all, not an overflow.
        let mut deadline = match timeout {
            Some(timeout) => Instant::now().checked_add(timeout).map(|at| (at, timeout)),
            None => None,
        };
        if let Some(end) = request.extensions().get::<EndToEnd>()
            && deadline.is_none_or(|(at, _)| end.at < at)
        {
            deadline = Some((end.at, end.limit));
        }
        DeadlineFuture {
            inner: self.inner.call(request),
            timer: Timer {
                sleep: None,
                deadline,
                idle: self.bounds.idle,
                last_progress: None,
            },
        }
    }
}

/// The request's one timer and what it enforces. Moved from the response future
/// into the body, so a request arms at most one `Sleep`.
struct Timer {
    /// Armed at the first wait; boxed so futures and bodies stay small and `Unpin`.
    sleep: Option<Pin<Box<Sleep>>>,
    deadline: Option<(Instant, Duration)>,
    idle: Option<Duration>,
    /// When the last progress after arming was seen.
    last_progress: Option<Instant>,
}

impl Timer {
    /// Records progress (a response head, a frame), if the timer is armed: an
    /// unarmed timer will measure from its arming anyway.
    fn progressed(&mut self) {
        if self.sleep.is_some() {
            self.last_progress = Some(Instant::now());
        }
    }

    /// Polls while the request waits: `Ready` with the error once time is up.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Elapsed> {
        loop {
            let sleep = match &mut self.sleep {
                Some(sleep) => sleep,
                None => {
                    let now = Instant::now();
                    let idle_at = self.idle.and_then(|idle| now.checked_add(idle));
                    let Some(at) = earliest(self.deadline.map(|(at, _)| at), idle_at) else {
                        return Poll::Pending;
                    };
                    self.last_progress = None;
                    self.sleep.insert(Box::pin(sleep_until(at)))
                }
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if let Some((at, timeout)) = self.deadline
                && now >= at
            {
                return Poll::Ready(Elapsed {
                    limit: timeout,
                    idle: false,
                });
            }
            let Some(idle) = self.idle else {
                // Set for the deadline alone, and woken a moment early: wait on.
                if let Some((at, _)) = self.deadline {
                    sleep.as_mut().reset(at);
                    continue;
                }
                return Poll::Pending;
            };
            // Progress since the timer was set moves it forward.
            let next = self
                .last_progress
                .take()
                .and_then(|last| last.checked_add(idle))
                .filter(|next| *next > now);
            match next {
                Some(next) => {
                    let at = earliest(self.deadline.map(|(at, _)| at), Some(next)).unwrap_or(next);
                    sleep.as_mut().reset(at);
                }
                None => {
                    return Poll::Ready(Elapsed {
                        limit: idle,
                        idle: true,
                    });
                }
            }
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pin_project! {
    /// The response future of [`Deadline`].
    pub(crate) struct DeadlineFuture<F> {
        #[pin]
        inner: F,
        timer: Timer,
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
            let mut timer = std::mem::replace(
                this.timer,
                Timer {
                    sleep: None,
                    deadline: None,
                    idle: None,
                    last_progress: None,
                },
            );
            timer.progressed();
            return Poll::Ready(
                result
                    .map_err(Into::into)
                    .map(|response| response.map(|body| DeadlineBody { inner: body, timer })),
            );
        }
        this.timer
            .poll_expired(cx)
            .map(|elapsed| Err(Box::new(elapsed) as BoxError))
    }
}

pin_project! {
    /// A response body that fails with [`Elapsed`] once the request's deadline
    /// passes or no frame arrives for the read-idle timeout.
    pub struct DeadlineBody<B> {
        #[pin]
        inner: B,
        timer: Timer,
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
            this.timer.progressed();
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        this.timer
            .poll_expired(cx)
            .map(|elapsed| Some(Err(Box::new(elapsed) as BoxError)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("armed", &self.sleep.is_some())
            .field("deadline", &self.deadline.map(|(_, timeout)| timeout))
            .field("idle", &self.idle)
            .finish()
    }
}
