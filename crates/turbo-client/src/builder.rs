//! [`TurboClientBuilder`].

use std::fmt;
use std::time::Duration;

use tower::Layer;
use turbo_core::HostKey;
use turbo_limit::ReleaseAt;
use turbo_pool::BytePool;

use crate::client::TurboClient;
use crate::config::ClientConfig;
use crate::error::Error;
use crate::redirect::RedirectPolicy;
use crate::retry::RetryPolicy;
use crate::transport::{HttpTransport, Transport};

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
    config: ClientConfig,
}

impl TurboClient<HttpTransport> {
    /// A client over hyper-util with the defaults (6 per host, 64 in flight, 1,024
    /// queued, a 30 s read-idle timeout, no total deadline, 64 MiB whole-body
    /// reads).
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
        TurboClientBuilder {
            transport: HttpTransport::new(),
            config: ClientConfig::default(),
        }
    }
}

impl<T: Transport> TurboClientBuilder<T> {
    /// Sends through `transport` instead (a [`MockTransport`](crate::transport::MockTransport)
    /// or any tower service of the right shape). Layers added before are dropped:
    /// call this first.
    pub fn transport<U: Transport>(self, transport: U) -> TurboClientBuilder<U> {
        TurboClientBuilder {
            transport: Ok(transport),
            config: self.config,
        }
    }

    /// Adds a tower layer between the deadline and the transport: a **per-attempt**
    /// layer, inside the host limit and the queue, run once per attempt with its
    /// permit and slot held (request signing, a header per hop, tracing per
    /// attempt). Layers added later sit further out. Per-request layers (retries,
    /// redirects) go around the client instead: it is a tower `Service`.
    pub fn layer<L>(self, layer: L) -> TurboClientBuilder<L::Service>
    where
        L: Layer<T>,
        L::Service: Transport,
    {
        TurboClientBuilder {
            transport: self.transport.map(|transport| layer.layer(transport)),
            config: self.config,
        }
    }

    /// Requests in flight per host (default 6).
    pub fn max_per_host(mut self, limit: usize) -> Self {
        self.config.max_per_host = limit;
        self
    }

    /// A different per-host limit for one host (at least 1: `build` refuses 0 with
    /// `InvalidRequest`, as it does for `max_per_host(0)`).
    pub fn host_limit(mut self, host: HostKey, limit: usize) -> Self {
        self.config.host_limits.push((host, limit));
        self
    }

    /// Hosts tracked at once (default 1,024).
    pub fn max_hosts(mut self, hosts: usize) -> Self {
        self.config.max_hosts = hosts;
        self
    }

    /// How long an idle host stays tracked (default 60 s).
    pub fn host_idle_timeout(mut self, idle: Duration) -> Self {
        self.config.host_idle_timeout = idle;
        self
    }

    /// Requests in flight overall: the queue's slots (default 64).
    pub fn max_in_flight(mut self, slots: usize) -> Self {
        self.config.max_in_flight = slots;
        self
    }

    /// Requests that may wait for a slot (default 1,024); more fail with
    /// `QueueFull`.
    pub fn max_queued(mut self, depth: usize) -> Self {
        self.config.max_queued = depth;
        self
    }

    /// The default deadline per request, covering the transport call and the body
    /// (default: none). Requires a tokio runtime with time enabled.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = Some(timeout);
        self
    }

    /// Fails a request that makes no progress for `idle` (default 30 s): nothing
    /// from connecting, the TLS handshake, the response head, or the next body
    /// bytes. Unlike [`timeout`](Self::timeout) it never cuts a download that
    /// keeps moving, however long it takes. The error is
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) (its source, an
    /// [`Elapsed`](crate::Elapsed), says [`is_idle`](crate::Elapsed::is_idle)).
    /// Time spent waiting for a host permit or a queue slot does not count.
    /// `Duration::MAX` turns it off. Requires a tokio runtime with time enabled.
    pub fn read_idle_timeout(mut self, idle: Duration) -> Self {
        self.config.read_idle_timeout = Some(idle);
        self
    }

    /// A deadline per request that counts everything from `send` on: the waits
    /// for a host permit and a queue slot, every retry and redirect hop with their
    /// backoffs, and the body (default: none). Past it the request fails with
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) (or its body does), and
    /// whatever it held (a place in line, a permit) is released. Unlike
    /// [`timeout`](Self::timeout), which starts when the request is let through
    /// both gates, this bounds how long a caller can wait in all.
    pub fn end_to_end_timeout(mut self, timeout: Duration) -> Self {
        self.config.end_to_end_timeout = Some(timeout);
        self
    }

    /// When host permits and queue slots are released (default: at body end).
    pub fn release_at(mut self, release_at: ReleaseAt) -> Self {
        self.config.release_at = release_at;
        self
    }

    /// How many idle request contexts are kept (default 256, at most 1,048,576:
    /// the pool's slots are made up front, and `build` refuses more with
    /// `InvalidRequest`).
    pub fn context_pool(mut self, capacity: usize) -> Self {
        self.config.context_pool = capacity;
        self
    }

    /// The pool that whole-body reads ([`Response::bytes`](crate::Response::bytes))
    /// gather into (default: [`BytePool::new`]).
    pub fn buffers(mut self, pool: BytePool) -> Self {
        self.config.buffers = Some(pool);
        self
    }

    /// The most bytes [`Response::bytes`](crate::Response::bytes) gathers (default
    /// 64 MiB); past it the read fails with
    /// [`ErrorKind::BodyTooLarge`](crate::ErrorKind::BodyTooLarge), at once when the
    /// server announces a larger `Content-Length`. Streaming with
    /// [`Response::chunk`](crate::Response::chunk) is not limited.
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.config.max_body_size = bytes;
        self
    }

    /// Whether response bodies are decoded by their `Content-Encoding` (gzip,
    /// deflate, br, zstd; default: yes). When on, requests without an
    /// `Accept-Encoding` header are sent with one naming the four; a decoded
    /// response loses its `Content-Encoding` and `Content-Length` headers, and
    /// [`max_body_size`](Self::max_body_size) counts decoded bytes, so a
    /// compression bomb stops there. Off, bodies arrive as sent.
    #[cfg(feature = "decompression")]
    pub fn decompress(mut self, decompress: bool) -> Self {
        self.config.decompress = decompress;
        self
    }

    /// Which failed attempts are sent again (default: [`RetryPolicy::default`],
    /// two retries of idempotent requests with bodies in memory, on connect errors,
    /// connections closed before any response byte, 429 and 503;
    /// [`RetryPolicy::none`] turns it off). Each retry is a new attempt through the
    /// whole stack, with its own host permit and global slot, and nothing is held
    /// while it waits; it is recorded on its attempt's timeline
    /// ([`EVENT_RETRY`](crate::EVENT_RETRY)).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.config.retry = policy;
        self
    }

    /// Which redirects are followed (default: [`RedirectPolicy::default`], up to
    /// 10 hops; [`RedirectPolicy::none`] returns every 3xx to the caller). Each hop
    /// takes the permit of its own host and its own global slot, and is recorded on
    /// its timeline ([`EVENT_REDIRECT`](crate::EVENT_REDIRECT)).
    pub fn redirect(mut self, policy: RedirectPolicy) -> Self {
        self.config.redirect = policy;
        self
    }

    /// Runs `hook` once when the client shuts down, after the last request ended
    /// (for example to stop a transport).
    pub fn on_shutdown(mut self, hook: impl FnOnce() + Send + 'static) -> Self {
        self.config.hooks.push(Box::new(hook));
        self
    }

    /// Where audio downloads keep their temp files: `<root>/turbo/` (default: the
    /// platform cache directory). Ignored when a pipeline is given with
    /// [`audio_pipeline`](Self::audio_pipeline).
    #[cfg(feature = "audio")]
    pub fn temp_root(mut self, root: impl Into<std::path::PathBuf>) -> Self {
        self.config.audio.temp_root = Some(root.into());
        self
    }

    /// How audio downloads are routed: decoded inline, on a decode worker, or
    /// streamed (default: [`DecodePolicy::default`](crate::audio::DecodePolicy::default)).
    /// Ignored when a pipeline is given with [`audio_pipeline`](Self::audio_pipeline).
    #[cfg(feature = "audio")]
    pub fn decode_policy(mut self, policy: crate::audio::DecodePolicy) -> Self {
        self.config.audio.policy = policy;
        self
    }

    /// Loads audio downloads through `pipeline` instead of one the client builds on
    /// first use: for hosts that finalize clips on their own main thread, share one
    /// pipeline between clients, or set its bounds.
    #[cfg(feature = "audio")]
    pub fn audio_pipeline(mut self, pipeline: crate::audio::AudioPipeline) -> Self {
        self.config.audio.pipeline = Some(pipeline);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// The transport's construction error, or `InvalidRequest` for a limit of 0.
    pub fn build(self) -> Result<TurboClient<T>, Error> {
        let transport = self.transport?;
        TurboClient::from_config(transport, self.config)
    }
}

impl<T> fmt::Debug for TurboClientBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.config;
        f.debug_struct("TurboClientBuilder")
            .field("max_per_host", &config.max_per_host)
            .field("max_hosts", &config.max_hosts)
            .field("max_in_flight", &config.max_in_flight)
            .field("max_queued", &config.max_queued)
            .field("timeout", &config.timeout)
            .field("release_at", &config.release_at)
            .finish_non_exhaustive()
    }
}
