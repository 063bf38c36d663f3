//! [`PriorityQueue`]: the service [`PriorityQueueLayer`](crate::PriorityQueueLayer) makes.

use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower::Service;
use turbo_core::{EventKind, GuardedBody};

use crate::BoxError;
use crate::future::{Admission, Pass, ResponseFuture};
use crate::queue::layer::{PriorityQueueLayer, QueueHandle};
use crate::release::ReleaseAt;

/// Admits requests by priority through a bounded number of slots; see
/// [`PriorityQueueLayer`](crate::PriorityQueueLayer).
#[derive(Clone, Debug)]
pub struct PriorityQueue<S> {
    inner: S,
    handle: QueueHandle,
    release_at: ReleaseAt,
}

pub(crate) struct QueueAdmission;

impl Admission for QueueAdmission {
    const WAIT_EVENT: EventKind = EventKind::Queued;
    const ADMIT_EVENT: EventKind = EventKind::Admitted;
}

impl<S> PriorityQueue<S> {
    /// Wraps `inner`, admitting through `handle`'s slots.
    pub fn new(inner: S, handle: QueueHandle, release_at: ReleaseAt) -> Self {
        Self {
            inner,
            handle,
            release_at,
        }
    }

    /// A layer that lets `max_in_flight` requests through at once and queues the
    /// rest: the same as [`PriorityQueueLayer::new`].
    pub fn layer(max_in_flight: usize) -> PriorityQueueLayer {
        PriorityQueueLayer::new(max_in_flight)
    }

    /// The queue's handle.
    pub fn handle(&self) -> &QueueHandle {
        &self.handle
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for PriorityQueue<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    ResBody: Body,
{
    type Response = Response<GuardedBody<ResBody, Option<Pass>>>;
    type Error = BoxError;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The slot is taken in the response future, by priority; `poll_ready`
        // reserving one would admit by arrival order instead.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        ResponseFuture::admit::<QueueAdmission>(
            self.handle.slots().clone(),
            &mut self.inner,
            request,
            self.release_at,
        )
    }
}
