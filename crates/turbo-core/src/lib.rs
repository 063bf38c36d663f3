//! The per-request core of turbo: a pooled [`RequestContext`] with a [`Timeline`] of
//! events, request [`Priority`], [`HostKey`]s, and [`GuardedBody`], which holds a
//! guard (a permit, a queue slot, a context) until a response body ends.
//!
//! [`ContextLayer`] rents a context from a [`ContextPool`] for each request, puts the
//! handle in the request's extensions for inner layers to record on, and attaches a
//! [`TimelineSnapshot`] to the response. The snapshot owns its data and fills in when
//! the response body ends; the context itself is back in the pool, reset, by then.
//! Nothing is logged per request: events go to the timeline, and to `tracing` only at
//! TRACE level.
//!
//! # Examples
//!
//! A timeline read back from a response:
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//! use turbo_core::{ContextLayer, EventKind, Priority, RequestContext, TimelineSnapshot};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let service = ServiceBuilder::new()
//!     .layer(ContextLayer::new())
//!     .service_fn(|request: Request<()>| async move {
//!         if let Some(ctx) = RequestContext::of(&request) {
//!             ctx.record(EventKind::Custom("handler"));
//!         }
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//!     });
//!
//! let mut request = Request::get("http://example.com/greeting").body(())?;
//! request.extensions_mut().insert(Priority::High);
//! let response = service.oneshot(request).await?;
//! let snapshot = TimelineSnapshot::of(&response).cloned().expect("the layer attaches one");
//! let body = response.into_body().collect().await?.to_bytes();
//! assert_eq!(&body[..], b"hello");
//!
//! let finished = snapshot.finished().expect("the body has ended");
//! assert_eq!(finished.priority, Priority::High);
//! assert_eq!(
//!     finished.timeline.kinds(),
//!     [EventKind::Custom("handler"), EventKind::HeadersReceived, EventKind::BodyFinished]
//! );
//! println!("{}", finished.timeline);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod body;
mod clock;
mod context;
pub mod future;
mod host;
mod in_flight;
mod layer;
mod lock;
mod priority;
mod service;
mod sync;
mod timeline;

pub use body::{BodyEnd, BodyGuard, GuardedBody};
pub use context::{
    ContextLease, ContextPool, ContextPoolIdle, ContextPoolStats, FinishedRequest, RequestContext,
    TimelineSnapshot,
};
pub use future::ResponseFuture;
pub use host::{HostKey, HostKeyError, Scheme};
pub use layer::ContextLayer;
pub use priority::{ParsePriorityError, Priority};
pub use service::ContextService;
pub use timeline::{Event, EventKind, Field, FieldValue, Timeline};
