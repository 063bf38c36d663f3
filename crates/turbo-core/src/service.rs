//! [`ContextService`]: the service [`ContextLayer`](crate::ContextLayer) makes.

use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower::Service;

use crate::body::GuardedBody;
use crate::context::{ContextLease, ContextPool};
use crate::future::ResponseFuture;

/// Rents a context for each request; see [`ContextLayer`](crate::ContextLayer).
#[derive(Debug, Clone)]
pub struct ContextService<S> {
    inner: S,
    pool: ContextPool,
}

impl<S> ContextService<S> {
    /// Wraps `inner`, renting contexts from `pool`.
    pub fn new(inner: S, pool: ContextPool) -> Self {
        Self { inner, pool }
    }

    /// The pool contexts come from.
    pub fn pool(&self) -> &ContextPool {
        &self.pool
    }

    /// A layer that wraps services in a `ContextService` with its own pool of
    /// 256 contexts: the same as [`ContextLayer::new`](crate::ContextLayer::new).
    pub fn layer() -> crate::ContextLayer {
        crate::ContextLayer::new()
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ContextService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<GuardedBody<ResBody, ContextLease>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // If `inner.call` panics, `lease` is dropped while unwinding and the
        // context goes back to the pool.
        let (lease, context, snapshot) = self.pool.lease_with_snapshot(&request);
        request.extensions_mut().insert(context);
        let future = self.inner.call(request);
        ResponseFuture::new(future, lease, snapshot)
    }
}
