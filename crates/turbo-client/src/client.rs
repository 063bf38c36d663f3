//! [`TurboClient`]: the stack, the entry points, stats and shutdown.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};

use http::{Method, Request};
use turbo_core::{ContextPool, ContextPoolStats, ContextService};
use turbo_limit::{
    HostConcurrencyLimit, HostLimitStats, HostLimiter, PriorityQueue, QueueHandle, QueueStats,
    StopMode,
};
use turbo_pool::{BytePool, BytePoolStats, ObjectPool};

use crate::builder::TurboClientBuilder;
use crate::error::Error;
use crate::request::RequestBuilder;
use crate::response::ResponseBuffers;
use crate::send::SendFuture;
use crate::timeout::Deadline;
use crate::transport::{HttpTransport, RequestBody, Transport};
use crate::url::IntoUrl;

/// The composed stack, outermost first: context, per-host limit, priority queue,
/// deadline, then the user's layers and the transport (both inside `T`).
pub(crate) type Stack<T> = ContextService<HostConcurrencyLimit<PriorityQueue<Deadline<T>>>>;

/// What a request borrows from the client's pool: a clone of the stack, and that
/// clone's own handle to the byte pool, which the request's response takes (see
/// [`ResponseBuffers`] for why the handle is per clone, not the client's).
pub(crate) struct StackClone<T> {
    pub(crate) stack: Stack<T>,
    pub(crate) buffers: ResponseBuffers,
}

/// Idle clones of the stack kept for [`TurboClient::send`]: enough for every worker
/// thread to find one free (a clone is lent only for the synchronous `poll_ready` +
/// `call`), with room to spare.
pub(crate) const IDLE_STACKS: usize = 32;

/// A shutdown step, run once.
pub(crate) type ShutdownHook = Box<dyn FnOnce() + Send>;

/// An HTTP client built from the turbo layers: every request gets a pooled context
/// and a timeline, waits for its host (at most N in flight per host) and then for a
/// global slot (at most M in flight overall), both by priority, runs under a
/// deadline, and holds its permits until its response body ends.
///
/// Cloning is cheap; clones share everything. After [`shutdown`](Self::shutdown),
/// every entry point (each verb, [`send`](Self::send), `get_audio`, the builders) fails with
/// [`ErrorKind::ClientClosed`](crate::ErrorKind::ClientClosed). Dropping the client
/// at any time is safe: requests in flight keep what they hold until they end.
pub struct TurboClient<T: Transport = HttpTransport> {
    pub(crate) shared: Arc<Shared<T>>,
}

impl<T: Transport> Clone for TurboClient<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

pub(crate) struct Shared<T: Transport> {
    /// Clones of the stack, lent to one request at a time. `Service::call` takes
    /// `&mut self`, so a shared stack cannot be called directly; cloning it per
    /// request (as tower's `oneshot` does) costs a reference-count increment and
    /// decrement on every layer's shared state, which both cores contend for. A
    /// pooled clone costs one uncontended try-lock instead.
    pub(crate) stacks: ObjectPool<StackClone<T>>,
    pub(crate) contexts: ContextPool,
    pub(crate) limiter: HostLimiter,
    pub(crate) queue: QueueHandle,
    pub(crate) buffers: BytePool,
    pub(crate) closed: AtomicBool,
    pub(crate) hooks: Mutex<Vec<ShutdownHook>>,
    pub(crate) hooks_ran: Once,
    #[cfg(feature = "audio")]
    pub(crate) audio: crate::audio::AudioState,
}

/// A snapshot of everything a client holds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientStats {
    /// Pooled contexts (`leased` is the number of requests in flight).
    pub contexts: ContextPoolStats,
    /// Per-host permits, waiters and evictions.
    pub hosts: HostLimitStats,
    /// The global queue.
    pub queue: QueueStats,
    /// Pooled body buffers.
    pub buffers: BytePoolStats,
    /// Whether the client is shut down.
    pub closed: bool,
}

impl ClientStats {
    /// Whether nothing is held: no context leased, no permit or slot held, nobody
    /// waiting. True whenever no request is in flight; tests use it to prove that
    /// every path released everything.
    pub fn is_quiescent(&self) -> bool {
        self.contexts.leased == 0
            && self.hosts.in_flight() == 0
            && self.hosts.waiting() == 0
            && self.queue.in_flight == 0
            && self.queue.total_depth() == 0
    }
}

impl TurboClient<HttpTransport> {
    /// A client over hyper-util with the defaults (6 per host, 64 in flight, 1,024
    /// queued, no timeout).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`](crate::ErrorKind::Tls) if the TLS configuration cannot be
    /// built.
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// Starts configuring a client over hyper-util.
    pub fn builder() -> TurboClientBuilder<HttpTransport> {
        TurboClientBuilder::new(HttpTransport::new())
    }
}

impl<T: Transport> TurboClient<T> {
    pub(crate) fn from_shared(shared: Shared<T>) -> Self {
        Self {
            shared: Arc::new(shared),
        }
    }

    /// A `GET` request. The URL is a string or an already parsed `http::Uri`
    /// ([`IntoUrl`]); an invalid one fails the request at `send`, as
    /// `InvalidRequest`.
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder<'_, T> {
        RequestBuilder::new(self, Method::GET, url)
    }

    /// A `POST` request.
    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder<'_, T> {
        RequestBuilder::new(self, Method::POST, url)
    }

    /// A `PUT` request.
    pub fn put(&self, url: impl IntoUrl) -> RequestBuilder<'_, T> {
        RequestBuilder::new(self, Method::PUT, url)
    }

    /// A `PATCH` request.
    pub fn patch(&self, url: impl IntoUrl) -> RequestBuilder<'_, T> {
        RequestBuilder::new(self, Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete(&self, url: impl IntoUrl) -> RequestBuilder<'_, T> {
        RequestBuilder::new(self, Method::DELETE, url)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder<'_, T> {
        RequestBuilder::new(self, method, url)
    }

    /// Sends a prepared request: it enters the stack now (takes its context, and
    /// its host permit and global slot if they are free, or its place in line), and
    /// the returned future, `Send + 'static`, drives it from there. Its
    /// [`Priority`](turbo_core::Priority) and [`RequestTimeout`](crate::RequestTimeout)
    /// extensions are honoured. The future fails with an [`Error`] naming the stage
    /// that failed; `ClientClosed` after shutdown.
    pub fn send(&self, request: Request<RequestBody>) -> SendFuture<T> {
        SendFuture::new(self, request)
    }

    /// Whether [`shutdown`](Self::shutdown) has been called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// A snapshot of contexts, hosts, queue and buffers.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            contexts: self.shared.contexts.stats(),
            hosts: self.shared.limiter.stats(),
            queue: self.shared.queue.stats(),
            buffers: self.shared.buffers.stats(),
            closed: self.is_closed(),
        }
    }

    /// Shuts the client down: from now on every entry point fails with
    /// `ClientClosed`. With [`StopMode::Drain`], requests already waiting for a host
    /// or a slot still run; with [`StopMode::CancelPending`] they fail with
    /// `QueueStopped`. Requests in flight finish either way. Completes when nothing
    /// is in flight, then shuts the transport down (runs the shutdown hooks)
    /// exactly once. Idempotent; concurrent calls all wait for the same end, and a
    /// later `CancelPending` escalates an earlier `Drain`.
    pub async fn shutdown(&self, mode: StopMode) {
        self.shared.closed.store(true, Ordering::SeqCst);
        match mode {
            // Outer gate first: a request the host limit lets through while
            // draining must still find the queue open behind it. Nothing new
            // reaches the queue meanwhile: the host limit refuses new requests.
            StopMode::Drain => {
                self.shared.limiter.shutdown(mode).await;
                self.shared.queue.stop(mode).await;
            }
            _ => {
                let hosts = self.shared.limiter.shutdown(mode);
                let queue = self.shared.queue.stop(mode);
                hosts.await;
                queue.await;
            }
        }
        self.shared.contexts.idle().await;
        self.shared.hooks_ran.call_once(|| {
            let hooks = match self.shared.hooks.lock() {
                Ok(mut hooks) => std::mem::take(&mut *hooks),
                Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
            };
            for hook in hooks {
                hook();
            }
        });
    }
}

impl<T: Transport> fmt::Debug for TurboClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurboClient")
            .field("closed", &self.is_closed())
            .field("stats", &self.stats())
            .finish()
    }
}
