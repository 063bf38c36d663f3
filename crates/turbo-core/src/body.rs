//! [`GuardedBody`]: a response body that holds a guard until it ends.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// How a guarded body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// The body reported its end: every frame was delivered.
    Complete,
    /// The body returned an error.
    Error,
    /// The body was dropped before it ended.
    Dropped,
}

/// Something held while a response body streams and released exactly once when it
/// ends: a concurrency permit, a queue slot, a pooled context.
pub trait BodyGuard {
    /// Releases the guard; `end` says how the body ended.
    fn finish(self, end: BodyEnd);
}

/// Holds nothing.
impl BodyGuard for () {
    fn finish(self, _end: BodyEnd) {}
}

/// An optional guard: `None` holds nothing.
impl<G: BodyGuard> BodyGuard for Option<G> {
    fn finish(self, end: BodyEnd) {
        if let Some(guard) = self {
            guard.finish(end);
        }
    }
}

/// Two guards, released in order.
impl<A: BodyGuard, B: BodyGuard> BodyGuard for (A, B) {
    fn finish(self, end: BodyEnd) {
        self.0.finish(end);
        self.1.finish(end);
    }
}

pin_project! {
    /// A body that holds guard `G` until the body reports its end, returns an error,
    /// or is dropped, whichever comes first; the guard is released exactly once.
    ///
    /// Frames, errors, [`size_hint`](Body::size_hint) and
    /// [`is_end_stream`](Body::is_end_stream) pass through unchanged. The guard is
    /// released as soon as the end is known: when the last data frame leaves a body
    /// that then reports `is_end_stream`, without waiting for one more poll, and at
    /// construction for a body that is already at its end.
    ///
    /// ```
    /// use http_body_util::{BodyExt, Full};
    /// use turbo_core::{BodyEnd, BodyGuard, GuardedBody};
    ///
    /// struct Announce(&'static str);
    /// impl BodyGuard for Announce {
    ///     fn finish(self, end: BodyEnd) {
    ///         assert_eq!(end, BodyEnd::Complete, "{}", self.0);
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let body = GuardedBody::new(Full::new(bytes::Bytes::from_static(b"hi")), Announce("permit"));
    /// let bytes = body.collect().await?.to_bytes();
    /// assert_eq!(&bytes[..], b"hi");
    /// # Ok::<(), std::convert::Infallible>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub struct GuardedBody<B, G: BodyGuard> {
        // `None` only for `Default`'s empty body: middleware that answers by
        // itself (tower-http's `Timeout`) needs one for any `B`, hyper's
        // `Incoming` included, which has no `Default` of its own.
        #[pin]
        inner: Option<B>,
        guard: Option<G>,
    }

    impl<B, G: BodyGuard> PinnedDrop for GuardedBody<B, G> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(guard) = this.project().guard.take() {
                guard.finish(BodyEnd::Dropped);
            }
        }
    }
}

impl<B: Body, G: BodyGuard> GuardedBody<B, G> {
    /// Wraps `inner`, holding `guard` until it ends.
    pub fn new(inner: B, guard: G) -> Self {
        let end = inner.is_end_stream();
        let mut body = Self {
            inner: Some(inner),
            guard: Some(guard),
        };
        if end {
            body.release(BodyEnd::Complete);
        }
        body
    }

    /// Wraps `inner` with no guard.
    pub fn unguarded(inner: B) -> Self {
        Self {
            inner: Some(inner),
            guard: None,
        }
    }

    /// Whether the guard is still held.
    pub fn is_guarded(&self) -> bool {
        self.guard.is_some()
    }

    fn release(&mut self, end: BodyEnd) {
        if let Some(guard) = self.guard.take() {
            guard.finish(end);
        }
    }
}

/// An empty, unguarded body, for any `B`: for middleware that makes its own
/// responses (tower-http's `Timeout` answers 408 with `ResBody::default()`). Nothing
/// is held, so nothing is released.
impl<B, G: BodyGuard> Default for GuardedBody<B, G> {
    fn default() -> Self {
        Self {
            inner: None,
            guard: None,
        }
    }
}

impl<B: Body, G: BodyGuard> Body for GuardedBody<B, G> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let Some(mut inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(None);
        };
        let polled = ready!(inner.as_mut().poll_frame(cx));
        let end = match &polled {
            None => Some(BodyEnd::Complete),
            Some(Err(_)) => Some(BodyEnd::Error),
            Some(Ok(_)) if inner.is_end_stream() => Some(BodyEnd::Complete),
            Some(Ok(_)) => None,
        };
        if let Some(end) = end
            && let Some(guard) = this.guard.take()
        {
            guard.finish(end);
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl<B: fmt::Debug, G: BodyGuard> fmt::Debug for GuardedBody<B, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedBody")
            .field("inner", &self.inner)
            .field("guarded", &self.guard.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    /// A body type with no `Default` of its own, as hyper's `Incoming`.
    struct NoDefault;

    impl Body for NoDefault {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::from_static(b"x")))))
        }
    }

    #[test]
    fn the_default_body_is_empty_and_unguarded_for_any_inner_type() {
        let mut body = GuardedBody::<NoDefault, ()>::default();
        assert!(!body.is_guarded());
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        let polled = Pin::new(&mut body).poll_frame(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(polled, Poll::Ready(None)));
    }
}
