//! Per-host concurrency limits and a priority request queue, as tower layers.
//!
//! - [`HostConcurrencyLimitLayer`]: at most N requests in flight per host (default 6),
//!   waiters served by [`Priority`], idle hosts evicted, tracked hosts capped. No
//!   tower crate limits concurrency per key; this is that layer.
//! - [`PriorityQueueLayer`]: at most N requests in flight overall, the rest queued
//!   (bounded) and admitted `Critical > High > Normal > Low`, FIFO within a class,
//!   with graceful or cancel-pending stop.
//!
//! Both wait **inside the response future**, never in `poll_ready`, hold their permit
//! until the response body ends (through turbo-core's
//! [`GuardedBody`](turbo_core::GuardedBody)) and release it on every path. Both are
//! built on one primitive, [`PrioritySemaphore`]: priority classes, FIFO within a
//! class, cancel-safe (a waiter that gives up leaves the line, and a permit granted
//! to it at that moment is passed on), closable. Its protocol is checked with loom.
//!
//! When a request carries a turbo-core [`RequestContext`](turbo_core::RequestContext),
//! the layers record their waits on its timeline (`queued`/`admitted`,
//! `permit_wait_started`/`permit_acquired` with the time waited). Nothing is logged
//! per request.
//!
//! Put the host limit **outside** the queue: a request waiting for a slow host then
//! holds no global slot, so one slow host cannot block the others.
//!
//! # Examples
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//! use turbo_core::{ContextLayer, EventKind, TimelineSnapshot};
//! use turbo_limit::{HostConcurrencyLimitLayer, PriorityQueueLayer};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let service = ServiceBuilder::new()
//!     .layer(ContextLayer::new())
//!     .layer(HostConcurrencyLimitLayer::builder().max_per_host(6).build())
//!     .layer(PriorityQueueLayer::builder().max_in_flight(16).build())
//!     .service_fn(|_request: Request<()>| async {
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
//!     });
//!
//! let response = service.oneshot(Request::get("http://example.com/").body(())?).await?;
//! let timeline = TimelineSnapshot::of(&response).cloned().expect("context layer");
//! response.into_body().collect().await?;
//! let kinds = timeline.finished().expect("finished").timeline.kinds();
//! assert_eq!(
//!     kinds,
//!     [EventKind::PermitAcquired, EventKind::Admitted, EventKind::HeadersReceived, EventKind::BodyFinished]
//! );
//! # Ok::<(), turbo_limit::BoxError>(())
//! # })?;
//! # Ok::<(), turbo_limit::BoxError>(())
//! ```

mod error;
pub mod future;
mod host;
mod queue;
mod release;
mod semaphore;
mod sync;

pub use error::LimitError;
pub use future::{Pass, ResponseFuture};
pub use host::{
    HostConcurrencyLimit, HostConcurrencyLimitLayer, HostConcurrencyLimitLayerBuilder,
    HostLimitStats, HostLimiter, HostStats, KeyFn,
};
pub use queue::{
    PriorityQueue, PriorityQueueLayer, PriorityQueueLayerBuilder, QueueHandle, QueueStats,
};
pub use release::ReleaseAt;
pub use semaphore::{
    Acquire, AcquireError, Idle, MAX_PERMITS, PriorityPermit, PrioritySemaphore, QueueLimits,
    SemaphoreStats, StopMode, TryAcquireError,
};
pub use tower::BoxError;
pub use turbo_core::Priority;
