//! [`HostConcurrencyLimit`]: the service [`HostConcurrencyLimitLayer`](crate::HostConcurrencyLimitLayer) makes.

use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower::Service;
use turbo_core::{EventKind, GuardedBody, RequestContext};

use crate::error::LimitError;
use crate::gate::{Admission, Pass, ReleaseAt, ResponseFuture};
use crate::host::registry::{EntryError, HostLimiter};

/// Limits requests in flight per host; see
/// [`HostConcurrencyLimitLayer`](crate::HostConcurrencyLimitLayer).
#[derive(Clone, Debug)]
pub struct HostConcurrencyLimit<S> {
    inner: S,
    limiter: HostLimiter,
    release_at: ReleaseAt,
}

pub(crate) struct HostAdmission;

impl Admission for HostAdmission {
    const WAIT_EVENT: EventKind = EventKind::PermitWaitStarted;
    const ADMIT_EVENT: EventKind = EventKind::PermitAcquired;
}

impl<S> HostConcurrencyLimit<S> {
    /// Wraps `inner`, limiting with `limiter`.
    pub fn new(inner: S, limiter: HostLimiter, release_at: ReleaseAt) -> Self {
        Self {
            inner,
            limiter,
            release_at,
        }
    }

    /// The shared limiter.
    pub fn limiter(&self) -> &HostLimiter {
        &self.limiter
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HostConcurrencyLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Body,
{
    type Response = Response<GuardedBody<ResBody, Option<Pass>>>;
    type Error = LimitError<S::Error>;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Only the inner service's readiness: the host is unknown until `call`.
        self.inner.poll_ready(cx).map_err(LimitError::Inner)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let context = RequestContext::of(&request);
        // The context layer already derived the default key; reuse it.
        let key = match (
            context.and_then(RequestContext::host),
            self.limiter.has_key_fn(),
        ) {
            (Some(host), false) => Ok(host),
            _ => self.limiter.key_for(request.uri()),
        };
        let key = match key {
            Ok(key) => key,
            Err(error) => return ResponseFuture::refuse(LimitError::InvalidHost(error)),
        };
        let semaphore = match self.limiter.semaphore(&key) {
            Ok(semaphore) => semaphore,
            Err(EntryError::Closed) => return ResponseFuture::refuse(LimitError::Closed),
            Err(EntryError::TooManyHosts(limit)) => {
                return ResponseFuture::refuse(LimitError::TooManyHosts { limit });
            }
        };
        // The permit keeps the host's semaphore referenced (and so its entry
        // unevictable) until the response body ends.
        ResponseFuture::admit::<HostAdmission>(semaphore, &mut self.inner, request, self.release_at)
    }
}
