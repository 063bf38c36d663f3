//! [`ContextLayer`]: rents a [`RequestContext`](crate::RequestContext) per request.

use tower::Layer;

use crate::context::ContextPool;
use crate::service::ContextService;

/// Gives every request a pooled [`RequestContext`](crate::RequestContext) and every
/// response a [`TimelineSnapshot`](crate::TimelineSnapshot).
///
/// The context goes back to the pool on every path: the response body finished,
/// failed or was dropped early, the response future was dropped at any poll, the
/// inner service returned an error or panicked.
///
/// Put it outermost, so that the layers inside can record their waits on the
/// context's timeline.
#[derive(Debug, Clone, Default)]
pub struct ContextLayer {
    pool: ContextPool,
}

impl ContextLayer {
    /// A layer with its own pool of 256 contexts.
    pub fn new() -> Self {
        Self::default()
    }

    /// A layer that rents from `pool` (share one pool between several stacks, or
    /// keep a clone to read its stats).
    pub fn with_pool(pool: ContextPool) -> Self {
        Self { pool }
    }

    /// The pool this layer rents from.
    pub fn pool(&self) -> &ContextPool {
        &self.pool
    }
}

impl<S> Layer<S> for ContextLayer {
    type Service = ContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ContextService::new(inner, self.pool.clone())
    }
}
