//! [`PriorityQueue`]: the service [`PriorityQueueLayer`](crate::PriorityQueueLayer) makes.

use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower::Service;
use turbo_core::{EventKind, GuardedBody};

use crate::error::LimitError;
use crate::gate::{Admission, Pass, ReleaseAt, ResponseFuture};
use crate::queue::layer::QueueHandle;

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

    /// The queue's handle.
    pub fn handle(&self) -> &QueueHandle {
        &self.handle
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for PriorityQueue<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Body,
{
    type Response = Response<GuardedBody<ResBody, Option<Pass>>>;
    type Error = LimitError<S::Error>;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The slot is taken in the response future, by priority; `poll_ready`
        // reserving one would admit by arrival order instead.
        self.inner.poll_ready(cx).map_err(LimitError::Inner)
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
