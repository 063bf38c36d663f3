//! [`HostConcurrencyLimit`]: the service [`HostConcurrencyLimitLayer`](crate::HostConcurrencyLimitLayer) makes.

use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower::Service;
use turbo_core::{EventKind, GuardedBody, RequestContext};

use crate::BoxError;
use crate::error::LimitError;
use crate::future::{Admission, Pass, ResponseFuture};
use crate::host::HostConcurrencyLimitLayer;
use crate::host::cache::CacheKey;
use crate::host::registry::{EntryError, HostLimiter};
use crate::release::ReleaseAt;

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

    /// A layer that lets `max_per_host` requests be in flight to each host: the
    /// same as [`HostConcurrencyLimitLayer::new`].
    pub fn layer(max_per_host: usize) -> HostConcurrencyLimitLayer {
        HostConcurrencyLimitLayer::new(max_per_host)
    }

    /// The shared limiter.
    pub fn limiter(&self) -> &HostLimiter {
        &self.limiter
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HostConcurrencyLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    ResBody: Body,
{
    type Response = Response<GuardedBody<ResBody, Option<Pass>>>;
    type Error = BoxError;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Only the inner service's readiness: the host is unknown until `call`.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // A custom key function's key, or the one the context layer already
        // derived; `None` means the default key of the URI, derived only if the
        // thread's cache does not know the URI's scheme and authority.
        let context = RequestContext::of(&request);
        let known = if self.limiter.has_key_fn() {
            Some(self.limiter.key_for(request.uri()))
        } else {
            context.and_then(RequestContext::host).map(Ok)
        };
        let known = match known.transpose() {
            Ok(known) => known,
            Err(error) => {
                return ResponseFuture::refuse(&mut self.inner, LimitError::InvalidHost(error));
            }
        };
        let cache_key = match &known {
            Some(key) => CacheKey::Host(key),
            None => CacheKey::Uri(request.uri()),
        };
        if let Some(permit) = self.limiter.cached_permit(cache_key) {
            // The permit keeps the host's semaphore referenced (and so its entry
            // unevictable) until the response body ends.
            if let Some(ctx) = context {
                ctx.record(HostAdmission::ADMIT_EVENT);
            }
            return ResponseFuture::calling::<HostAdmission>(
                permit,
                self.inner.call(request),
                self.release_at,
            );
        }
        let uri_keyed = known.is_none();
        let key = match known.map_or_else(|| self.limiter.key_for(request.uri()), Ok) {
            Ok(key) => key,
            Err(error) => {
                return ResponseFuture::refuse(&mut self.inner, LimitError::InvalidHost(error));
            }
        };
        let cache_key = if uri_keyed {
            CacheKey::Uri(request.uri())
        } else {
            CacheKey::Host(&key)
        };
        let semaphore = match self.limiter.semaphore(&key, cache_key) {
            Ok(semaphore) => semaphore,
            Err(EntryError::Closed) => {
                return ResponseFuture::refuse(&mut self.inner, LimitError::Closed);
            }
            Err(EntryError::TooManyHosts(limit)) => {
                return ResponseFuture::refuse(&mut self.inner, LimitError::TooManyHosts { limit });
            }
        };
        // The permit keeps the host's semaphore referenced (and so its entry
        // unevictable) until the response body ends.
        ResponseFuture::admit::<HostAdmission>(semaphore, &mut self.inner, request, self.release_at)
    }
}
