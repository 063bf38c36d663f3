//! [`TurboClientBuilder`].

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, Once};
use std::time::Duration;

use tower::Layer;
use turbo_core::{ContextLayer, ContextPool, HostKey};
use turbo_limit::{HostConcurrencyLimitLayer, PriorityQueueLayer, ReleaseAt};
use turbo_pool::{BytePool, ObjectPool};

use crate::client::{IDLE_STACKS, Shared, ShutdownHook, StackClone, TurboClient};
use crate::error::{Error, ErrorKind};
use crate::response::ResponseBuffers;
use crate::timeout::DeadlineLayer;
use crate::transport::Transport;

/// Configures a [`TurboClient`]. The stack is fixed when [`build`](Self::build)
/// runs: there is no middleware list to change while requests are in flight.
///
/// ```
/// use std::time::Duration;
///
/// use turbo_client::TurboClient;
/// use turbo_client::transport::MockTransport;
///
/// let client = TurboClient::builder()
///     .transport(MockTransport::ok(bytes::Bytes::from_static(b"hi")))
///     .max_per_host(4)
///     .max_in_flight(32)
///     .max_queued(256)
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// # let _ = client;
/// # Ok::<(), turbo_client::Error>(())
/// ```
pub struct TurboClientBuilder<T> {
    transport: Result<T, Error>,
    max_per_host: usize,
    host_limits: Vec<(HostKey, usize)>,
    max_hosts: usize,
    host_idle_timeout: Duration,
    max_in_flight: usize,
    max_queued: usize,
    timeout: Option<Duration>,
    release_at: ReleaseAt,
    context_pool: usize,
    buffers: Option<BytePool>,
    hooks: Vec<ShutdownHook>,
    #[cfg(feature = "audio")]
    audio: crate::audio::AudioSettings,
}

impl<T: Transport> TurboClientBuilder<T> {
    pub(crate) fn new(transport: Result<T, Error>) -> Self {
        Self {
            transport,
            max_per_host: 6,
            host_limits: Vec::new(),
            max_hosts: 1024,
            host_idle_timeout: Duration::from_secs(60),
            max_in_flight: 64,
            max_queued: 1024,
            timeout: None,
            release_at: ReleaseAt::BodyEnd,
            context_pool: 256,
            buffers: None,
            hooks: Vec::new(),
            #[cfg(feature = "audio")]
            audio: crate::audio::AudioSettings::default(),
        }
    }

    /// Sends through `transport` instead (a [`MockTransport`](crate::transport::MockTransport)
    /// or any tower service of the right shape). Layers added before are dropped:
    /// call this first.
    pub fn transport<U: Transport>(self, transport: U) -> TurboClientBuilder<U> {
        TurboClientBuilder {
            transport: Ok(transport),
            max_per_host: self.max_per_host,
            host_limits: self.host_limits,
            max_hosts: self.max_hosts,
            host_idle_timeout: self.host_idle_timeout,
            max_in_flight: self.max_in_flight,
            max_queued: self.max_queued,
            timeout: self.timeout,
            release_at: self.release_at,
            context_pool: self.context_pool,
            buffers: self.buffers,
            hooks: self.hooks,
            #[cfg(feature = "audio")]
            audio: self.audio,
        }
    }

    /// Adds a tower layer between the deadline and the transport. Layers added
    /// later sit further out.
    pub fn layer<L>(self, layer: L) -> TurboClientBuilder<L::Service>
    where
        L: Layer<T>,
        L::Service: Transport,
    {
        let Self {
            transport,
            max_per_host,
            host_limits,
            max_hosts,
            host_idle_timeout,
            max_in_flight,
            max_queued,
            timeout,
            release_at,
            context_pool,
            buffers,
            hooks,
            #[cfg(feature = "audio")]
            audio,
        } = self;
        TurboClientBuilder {
            transport: transport.map(|t| layer.layer(t)),
            max_per_host,
            host_limits,
            max_hosts,
            host_idle_timeout,
            max_in_flight,
            max_queued,
            timeout,
            release_at,
            context_pool,
            buffers,
            hooks,
            #[cfg(feature = "audio")]
            audio,
        }
    }

    /// Requests in flight per host (default 6).
    pub fn max_per_host(mut self, limit: usize) -> Self {
        self.max_per_host = limit;
        self
    }

    /// A different per-host limit for one host.
    pub fn host_limit(mut self, host: HostKey, limit: usize) -> Self {
        self.host_limits.push((host, limit));
        self
    }

    /// Hosts tracked at once (default 1,024).
    pub fn max_hosts(mut self, hosts: usize) -> Self {
        self.max_hosts = hosts;
        self
    }

    /// How long an idle host stays tracked (default 60 s).
    pub fn host_idle_timeout(mut self, idle: Duration) -> Self {
        self.host_idle_timeout = idle;
        self
    }

    /// Requests in flight overall: the queue's slots (default 64).
    pub fn max_in_flight(mut self, slots: usize) -> Self {
        self.max_in_flight = slots;
        self
    }

    /// Requests that may wait for a slot (default 1,024); more fail with
    /// `QueueFull`.
    pub fn max_queued(mut self, depth: usize) -> Self {
        self.max_queued = depth;
        self
    }

    /// The default deadline per request, covering the transport call and the body
    /// (default: none). Requires a tokio runtime with time enabled.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// When host permits and queue slots are released (default: at body end).
    pub fn release_at(mut self, release_at: ReleaseAt) -> Self {
        self.release_at = release_at;
        self
    }

    /// How many idle request contexts are kept (default 256).
    pub fn context_pool(mut self, capacity: usize) -> Self {
        self.context_pool = capacity;
        self
    }

    /// The pool that whole-body reads ([`Response::bytes`](crate::Response::bytes))
    /// gather into (default: [`BytePool::new`]).
    pub fn buffers(mut self, pool: BytePool) -> Self {
        self.buffers = Some(pool);
        self
    }

    /// Runs `hook` once when the client shuts down, after the last request ended
    /// (for example to stop a transport).
    pub fn on_shutdown(mut self, hook: impl FnOnce() + Send + 'static) -> Self {
        self.hooks.push(Box::new(hook));
        self
    }

    /// Where audio downloads keep their temp files: `<root>/turbo/` (default: the
    /// platform cache directory). Ignored when a pipeline is given with
    /// [`audio_pipeline`](Self::audio_pipeline).
    #[cfg(feature = "audio")]
    pub fn temp_root(mut self, root: impl Into<std::path::PathBuf>) -> Self {
        self.audio.temp_root = Some(root.into());
        self
    }

    /// How audio downloads are routed: decoded inline, on a decode worker, or
    /// streamed (default: [`DecodePolicy::default`](crate::audio::DecodePolicy::default)).
    /// Ignored when a pipeline is given with [`audio_pipeline`](Self::audio_pipeline).
    #[cfg(feature = "audio")]
    pub fn decode_policy(mut self, policy: crate::audio::DecodePolicy) -> Self {
        self.audio.policy = policy;
        self
    }

    /// Loads audio downloads through `pipeline` instead of one the client builds on
    /// first use: for hosts that finalize clips on their own main thread, share one
    /// pipeline between clients, or set its bounds.
    #[cfg(feature = "audio")]
    pub fn audio_pipeline(mut self, pipeline: crate::audio::AudioPipeline) -> Self {
        self.audio.pipeline = Some(pipeline);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// The transport's construction error, or `InvalidRequest` for a limit of 0.
    pub fn build(self) -> Result<TurboClient<T>, Error> {
        let transport = self.transport?;
        if self.max_per_host == 0 || self.max_in_flight == 0 || self.max_hosts == 0 {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                "per-host limit, in-flight limit and host cap must be at least 1",
            ));
        }
        let contexts = ContextPool::new(self.context_pool);
        let mut host_layer = HostConcurrencyLimitLayer::builder()
            .max_per_host(self.max_per_host)
            .max_hosts(self.max_hosts)
            .idle_timeout(self.host_idle_timeout)
            .release_at(self.release_at);
        for (host, limit) in self.host_limits {
            host_layer = host_layer.host_limit(host, limit);
        }
        let host_layer = host_layer.build();
        let queue_layer = PriorityQueueLayer::builder()
            .max_in_flight(self.max_in_flight)
            .max_queued(self.max_queued)
            .release_at(self.release_at)
            .build();
        let limiter = host_layer.limiter().clone();
        let queue = queue_layer.handle();
        let stack = ContextLayer::with_pool(contexts.clone()).layer(
            host_layer.layer(
                queue_layer.layer(
                    DeadlineLayer {
                        default: self.timeout,
                    }
                    .layer(transport),
                ),
            ),
        );
        // Clones are made from this one; no reset is needed between requests: a
        // lent clone goes back only after its `call` (a turbo layer that refuses a
        // request in `call` swaps its ready inner service for a fresh clone, so no
        // readiness stays reserved), and it is kept out of the pool when
        // `poll_ready` fails or is pending, or when a layer panics (`send.rs`).
        // Each clone gets its own handle to the byte pool (a count per clone, made
        // here and not per request; see `ResponseBuffers`).
        let buffers = self.buffers.unwrap_or_default();
        let pool = buffers.clone();
        let stacks = ObjectPool::with_reset(
            IDLE_STACKS,
            move || StackClone {
                stack: stack.clone(),
                buffers: ResponseBuffers::new(pool.clone()),
            },
            |_| {},
        );
        Ok(TurboClient::from_shared(Shared {
            stacks,
            contexts,
            limiter,
            queue,
            buffers,
            closed: AtomicBool::new(false),
            hooks: Mutex::new(self.hooks),
            hooks_ran: Once::new(),
            #[cfg(feature = "audio")]
            audio: crate::audio::AudioState::new(self.audio),
        }))
    }
}

impl<T> fmt::Debug for TurboClientBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurboClientBuilder")
            .field("max_per_host", &self.max_per_host)
            .field("max_hosts", &self.max_hosts)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_queued", &self.max_queued)
            .field("timeout", &self.timeout)
            .field("release_at", &self.release_at)
            .finish_non_exhaustive()
    }
}
