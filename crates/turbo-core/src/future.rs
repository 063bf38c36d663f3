//! [`ResponseFuture`]: the future [`ContextService`](crate::ContextService) returns.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;

use crate::body::GuardedBody;
use crate::context::{ContextLease, TimelineSnapshot};
use crate::timeline::EventKind;

pin_project! {
    /// Resolves to the inner response with the context lease moved into its body
    /// and the timeline snapshot in its extensions. Dropping it early returns the
    /// context (recorded as cancelled).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        lease: Option<ContextLease>,
        snapshot: Option<TimelineSnapshot>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, lease: ContextLease, snapshot: TimelineSnapshot) -> Self {
        Self {
            inner,
            lease: Some(lease),
            snapshot: Some(snapshot),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<GuardedBody<B, ContextLease>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let lease = this.lease.take();
        Poll::Ready(match result {
            Ok(mut response) => {
                if let Some(snapshot) = this.snapshot.take() {
                    response.extensions_mut().insert(snapshot);
                }
                // `map` moves the head field by field, which lets the compiler build
                // the new response in place where `into_parts`/`from_parts` copied
                // the whole head twice.
                Ok(response.map(|body| match lease {
                    // A body already at its end (an empty response) ends the
                    // request here: both events at one clock read, under one lock.
                    Some(lease) if body.is_end_stream() => {
                        lease.finish_with_pair(EventKind::HeadersReceived, EventKind::BodyFinished);
                        GuardedBody::unguarded(body)
                    }
                    Some(lease) => {
                        lease.record(EventKind::HeadersReceived);
                        GuardedBody::new(body, lease)
                    }
                    None => GuardedBody::unguarded(body),
                }))
            }
            Err(error) => {
                if let Some(lease) = lease {
                    lease.finish_with(EventKind::Failed);
                }
                Err(error)
            }
        })
    }
}
