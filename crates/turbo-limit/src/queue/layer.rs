//! [`PriorityQueueLayer`], its builder and its [`QueueHandle`].

use std::fmt;
use std::future::Future;

use tower::Layer;
use turbo_core::Priority;

use crate::queue::service::PriorityQueue;
use crate::release::ReleaseAt;
use crate::semaphore::{PrioritySemaphore, QueueLimits, SemaphoreStats, StopMode};

/// Lets at most N requests through at once and queues the rest, admitting them
/// strictly `Critical > High > Normal > Low`, first come first served within a class.
///
/// It is an **admission gate**, not a worker: a request waits in its own response
/// future for a slot and then runs on the caller's task. There is no background task
/// to start (so nothing can fail to start), no channel hop per request, and the inner
/// service's errors reach the caller unchanged. tower's `Buffer` + `ConcurrencyLimit`
/// costs a task hand-off per request and erases error types; this costs a few atomic
/// operations when a slot is free.
///
/// The queue is bounded: when it holds `max_queued` requests (in total, or in the
/// request's class if a per-class bound is set), a new request fails at once with
/// [`LimitError::QueueFull`](crate::LimitError::QueueFull): load shedding rather
/// than an unbounded wait list.
///
/// A slot is held until the response body ends (default) or until the headers, and
/// released on every path, as in [`HostConcurrencyLimitLayer`](crate::HostConcurrencyLimitLayer).
/// [`QueueHandle::stop`] ends the queue gracefully ([`StopMode::Drain`]) or fails
/// queued requests with `QueueStopped` ([`StopMode::CancelPending`]). Priority is strict;
/// there is no aging, so a flood of high-priority work can starve `Low` requests
/// for as long as it lasts.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
///
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use tower::{ServiceBuilder, ServiceExt};
/// use turbo_core::Priority;
/// use turbo_limit::{PriorityQueueLayer, StopMode};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let queue = PriorityQueueLayer::builder().max_in_flight(16).max_queued(1_024).build();
/// let handle = queue.handle();
/// let service = ServiceBuilder::new()
///     .layer(queue)
///     .service_fn(|_request: Request<()>| async {
///         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
///     });
///
/// let mut request = Request::get("http://example.com/").body(())?;
/// request.extensions_mut().insert(Priority::Critical);
/// let response = service.clone().oneshot(request).await?;
/// drop(response);
/// assert_eq!(handle.stats().admitted, 1);
///
/// handle.stop(StopMode::Drain).await; // completes once idle
/// let refused = service.oneshot(Request::get("http://example.com/").body(())?).await;
/// assert!(refused.is_err());
/// # Ok::<(), turbo_limit::BoxError>(())
/// # })?;
/// # Ok::<(), turbo_limit::BoxError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PriorityQueueLayer {
    handle: QueueHandle,
    release_at: ReleaseAt,
}

impl PriorityQueueLayer {
    /// A queue that lets `max_in_flight` requests (at least 1) through at once and
    /// holds up to 1,024 more. `Default` gives 64 in flight.
    pub fn new(max_in_flight: usize) -> Self {
        Self::builder().max_in_flight(max_in_flight).build()
    }

    /// Starts configuring a queue.
    pub fn builder() -> PriorityQueueLayerBuilder {
        PriorityQueueLayerBuilder::default()
    }

    /// The handle for stats and stopping; services from this layer share it.
    pub fn handle(&self) -> QueueHandle {
        self.handle.clone()
    }
}

impl Default for PriorityQueueLayer {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl<S> Layer<S> for PriorityQueueLayer {
    type Service = PriorityQueue<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PriorityQueue::new(inner, self.handle.clone(), self.release_at)
    }
}

/// Configures a [`PriorityQueueLayer`].
#[derive(Debug, Clone)]
pub struct PriorityQueueLayerBuilder {
    max_in_flight: usize,
    limits: QueueLimits,
    release_at: ReleaseAt,
}

impl Default for PriorityQueueLayerBuilder {
    fn default() -> Self {
        Self {
            max_in_flight: 64,
            limits: QueueLimits {
                total: Some(1024),
                per_class: [None; Priority::COUNT],
            },
            release_at: ReleaseAt::default(),
        }
    }
}

impl PriorityQueueLayerBuilder {
    /// Requests let through at once (default 64, at least 1).
    pub fn max_in_flight(mut self, slots: usize) -> Self {
        self.max_in_flight = slots.max(1);
        self
    }

    /// Requests that may wait, in all classes together (default 1,024). Zero means
    /// no request ever waits: without a free slot it fails with `QueueFull`.
    pub fn max_queued(mut self, depth: usize) -> Self {
        self.limits.total = Some(depth);
        self
    }

    /// Requests of class `priority` that may wait (default: only the total bound).
    pub fn max_queued_in_class(mut self, priority: Priority, depth: usize) -> Self {
        self.limits.per_class[priority.rank()] = Some(depth);
        self
    }

    /// When the slot is released (default: when the response body ends).
    pub fn release_at(mut self, release_at: ReleaseAt) -> Self {
        self.release_at = release_at;
        self
    }

    /// Builds the layer.
    pub fn build(self) -> PriorityQueueLayer {
        PriorityQueueLayer {
            handle: QueueHandle {
                slots: PrioritySemaphore::with_limits(self.max_in_flight, self.limits),
            },
            release_at: self.release_at,
        }
    }
}

/// Inspects and stops a [`PriorityQueueLayer`]; cheap to clone.
#[derive(Clone)]
pub struct QueueHandle {
    slots: PrioritySemaphore,
}

/// A snapshot of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct QueueStats {
    /// Slots (the most requests in flight).
    pub max_in_flight: usize,
    /// Requests in flight now.
    pub in_flight: usize,
    /// Requests queued now, per class ([`Priority::rank`] order).
    pub depth: [usize; Priority::COUNT],
    /// Requests let through, ever.
    pub admitted: u64,
    /// Requests that had to queue before they were let through or gave up.
    pub queued: u64,
    /// Requests refused because the queue was full.
    pub rejected: u64,
    /// Queued requests that gave up or were cancelled by a stop.
    pub cancelled: u64,
    /// Whether the queue is stopped.
    pub stopped: bool,
}

impl QueueStats {
    /// Requests queued now, all classes.
    pub fn total_depth(&self) -> usize {
        self.depth.iter().sum()
    }
}

impl QueueHandle {
    pub(crate) fn slots(&self) -> &PrioritySemaphore {
        &self.slots
    }

    /// A snapshot of depth, slots and counters.
    pub fn stats(&self) -> QueueStats {
        let stats: SemaphoreStats = self.slots.stats();
        QueueStats {
            max_in_flight: stats.permits,
            in_flight: stats.in_use,
            depth: stats.waiting,
            admitted: stats.acquired,
            queued: stats.waited,
            rejected: stats.rejected,
            cancelled: stats.cancelled,
            stopped: stats.closed,
        }
    }

    /// Whether [`stop`](Self::stop) has been called.
    pub fn is_stopped(&self) -> bool {
        self.slots.is_closed()
    }

    /// Stops the queue: new requests fail with
    /// [`LimitError::Closed`](crate::LimitError::Closed); queued requests run
    /// ([`StopMode::Drain`]) or fail with
    /// [`LimitError::QueueStopped`](crate::LimitError::QueueStopped)
    /// ([`StopMode::CancelPending`]); requests in flight finish. The stop takes effect
    /// when this is called; the returned future completes when nothing is queued or
    /// in flight. Idempotent and safe to race with new calls; a later
    /// `CancelPending` escalates an earlier `Drain`.
    pub fn stop(&self, mode: StopMode) -> impl Future<Output = ()> + Send + 'static {
        self.slots.close(mode);
        self.slots.idle()
    }
}

impl fmt::Debug for QueueHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueHandle")
            .field("stats", &self.stats())
            .finish()
    }
}
