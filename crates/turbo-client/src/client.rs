//! [`TurboClient`]: the stack, the entry points, stats and shutdown.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::Duration;

use turbo_core::{ContextPool, ContextPoolStats};
use turbo_limit::{HostLimitStats, HostLimiter, QueueHandle, QueueStats, StopMode};
use turbo_pool::{BytePool, BytePoolStats, ObjectPool};

use crate::config::{ClientConfig, ShutdownHook};
use crate::error::Error;
use crate::response::ResponseBuffers;
use crate::retry::Retries;
use crate::stack::{self, Stack};
use crate::transport::{HttpTransport, Transport};

/// What a request borrows from the client's pool: a clone of the stack, and that
/// clone's own handles, each counted on a line of its own rather than on the
/// client's shared state (the pool lends a thread the clone it used last, so these
/// counts are written by one core): the byte pool for the response (see
/// [`ResponseBuffers`]), the way back to the client for a retry, and the requests
/// not yet counted into the retry budget.
pub(crate) struct StackClone<T: Transport> {
    pub(crate) stack: Stack<T>,
    pub(crate) buffers: ResponseBuffers,
    pub(crate) link: ClientLink<T>,
    /// Requests sent through this clone since the budget last heard of them.
    pub(crate) unbudgeted: u32,
}

/// A retry's way back to its client: a weak handle (a retry must not keep a
/// dropped client alive), behind a reference count of this clone's own.
pub(crate) struct ClientLink<T: Transport>(Arc<Weak<Shared<T>>>);

impl<T: Transport> Clone for ClientLink<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: Transport> ClientLink<T> {
    /// The client, if any handle to it is left.
    pub(crate) fn client(&self) -> Option<TurboClient<T>> {
        self.0.upgrade().map(|shared| TurboClient { shared })
    }
}

/// Idle clones of the stack kept for [`TurboClient::send`](crate::TurboClient::send):
/// enough for every worker thread to find one free (a clone is lent only for the
/// synchronous `poll_ready` + `call`), with room to spare.
pub(crate) const IDLE_STACKS: usize = 32;

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
    /// The retry policy and its budget; `None` when retrying is off.
    pub(crate) retries: Option<Retries>,
    /// The most redirect hops a request follows; 0 follows none.
    pub(crate) redirects: u32,
    /// The end-to-end deadline, waits for a host and a slot included.
    pub(crate) end_to_end: Option<Duration>,
    pub(crate) closed: AtomicBool,
    pub(crate) hooks: Mutex<Vec<ShutdownHook>>,
    pub(crate) hooks_ran: Once,
    #[cfg(feature = "audio")]
    pub(crate) audio: crate::audio::state::AudioState,
}

/// How [`TurboClient::shutdown_timeout`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownOutcome {
    /// Nothing was in flight any more; the shutdown hooks ran.
    Completed,
    /// The grace period passed with requests still in flight.
    TimedOut {
        /// Requests holding a host permit when it gave up (let through, their
        /// response or body not yet done).
        in_flight: usize,
    },
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

impl<T: Transport> TurboClient<T> {
    /// Builds the stack from `config` over `transport`.
    pub(crate) fn from_config(transport: T, config: ClientConfig) -> Result<Self, Error> {
        config.check()?;
        let parts = stack::build(transport, &config);
        let (stack, buffers) = (parts.stack, parts.buffers.clone());
        let max_body = config.max_body_size;
        let shared = Arc::new_cyclic(|weak: &Weak<Shared<T>>| {
            let weak = weak.clone();
            // Clones are made from this one; no reset is needed between requests:
            // a lent clone goes back only after its `call` (a turbo layer that
            // refuses a request in `call` swaps its ready inner service for a fresh
            // clone, so no readiness stays reserved), and it is kept out of the pool
            // when `poll_ready` fails or is pending, or when a layer panics
            // (`send.rs`). Each clone gets its own handles (made here, not per
            // request).
            let stacks = ObjectPool::with_reset(
                IDLE_STACKS,
                move || StackClone {
                    stack: stack.clone(),
                    buffers: ResponseBuffers::new(buffers.clone(), max_body),
                    link: ClientLink(Arc::new(weak.clone())),
                    unbudgeted: 0,
                },
                |_| {},
            );
            Shared {
                stacks,
                contexts: parts.contexts,
                limiter: parts.limiter,
                queue: parts.queue,
                buffers: parts.buffers,
                retries: Retries::new(config.retry.clone()),
                redirects: config.redirect.max(),
                end_to_end: config.end_to_end_timeout,
                closed: AtomicBool::new(false),
                hooks: Mutex::new(config.hooks),
                hooks_ran: Once::new(),
                #[cfg(feature = "audio")]
                audio: crate::audio::state::AudioState::new(config.audio),
            }
        });
        Ok(Self { shared })
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

    /// [`shutdown`](Self::shutdown) that waits at most `grace`: when requests are
    /// still in flight then (a stalled request, or a response whose body its caller
    /// holds unread), it cancels every request still waiting for a host or a slot
    /// (they fail with `QueueStopped`) and returns [`ShutdownOutcome::TimedOut`]
    /// with how many remained, instead of waiting on. The client is closed either
    /// way; the shutdown hooks run only once a shutdown completes (call
    /// [`shutdown`](Self::shutdown) again to wait for that). Requests in flight are
    /// not cut: their read-idle timeout still ends stalled ones.
    pub async fn shutdown_timeout(&self, mode: StopMode, grace: Duration) -> ShutdownOutcome {
        if tokio::time::timeout(grace, self.shutdown(mode))
            .await
            .is_ok()
        {
            return ShutdownOutcome::Completed;
        }
        // Escalate: nobody still in line gets in. Only the closing steps are run
        // here; their waits for the requests in flight are what timed out.
        drop(self.shared.limiter.shutdown(StopMode::CancelPending));
        drop(self.shared.queue.stop(StopMode::CancelPending));
        ShutdownOutcome::TimedOut {
            in_flight: self.shared.limiter.stats().in_flight(),
        }
    }

    /// Shuts the client down: from now on every entry point fails with
    /// `ClientClosed`. With [`StopMode::Drain`], requests already waiting for a host
    /// or a slot still run; with [`StopMode::CancelPending`] they fail with
    /// `QueueStopped`. Requests in flight finish either way: a response whose body
    /// has not been read to its end or dropped counts as in flight, so `shutdown`
    /// waits for its caller (and for a stalled request until its read-idle timeout
    /// fails it). Completes when nothing is in flight, then runs the shutdown hooks
    /// ([`on_shutdown`](crate::TurboClientBuilder::on_shutdown)) exactly once; the
    /// transport's pooled connections close when their idle timeout passes or the
    /// last clone of the client is dropped. Idempotent; concurrent calls all wait
    /// for the same end, and a later `CancelPending` escalates an earlier `Drain`.
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
