//! [`HostConcurrencyLimitLayer`] and its builder.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use tower::Layer;
use turbo_core::{HostKey, HostKeyError};

use crate::host::registry::{HostLimitConfig, HostLimiter};
use crate::host::service::HostConcurrencyLimit;
use crate::release::ReleaseAt;

/// Limits how many requests are in flight to each host, like a browser's six
/// connections per host, with waiters served by priority.
///
/// Each host (scheme + host + port, from turbo-core's [`HostKey`], or a custom key
/// function) gets its own [`PrioritySemaphore`](crate::PrioritySemaphore). A request
/// waits for its host's permit **inside its response future**: `poll_ready` cannot
/// know the host (it is only known at `call`), so reserving there would either block
/// every host behind a busy one (head-of-line blocking, as tower's `Steer` would) or
/// hold permits for requests that are never sent. `poll_ready` only forwards to the
/// inner service; the ready inner service moves into the future (tower's "be careful
/// when cloning inner services" rule), and the clone stays behind.
///
/// The permit is held until the response body ends by default (a download keeps a
/// host busy until its last byte), or until the headers with
/// [`release_at`](HostConcurrencyLimitLayerBuilder::release_at). It is released on
/// every path: body end, body dropped, response future dropped while waiting (the
/// waiter leaves the queue; a permit granted at that moment is passed on) or after
/// acquiring, inner error, inner panic.
///
/// Memory is bounded: an entry for a host with nothing in flight and nobody waiting
/// is evicted after the idle time, and at most `max_hosts` hosts are tracked; a
/// request that would need one more gets [`LimitError::TooManyHosts`](crate::LimitError::TooManyHosts)
/// after idle entries have been evicted to make room. Each thread also caches up to
/// 128 recently used hosts as weak handles, so a repeat request skips the host map;
/// the cache never keeps an entry from being evicted, and an evicted host's
/// semaphore never admits a request (see `docs/architecture.md`).
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use std::time::Duration;
///
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use tower::{ServiceBuilder, ServiceExt};
/// use turbo_core::{ContextLayer, Priority};
/// use turbo_limit::HostConcurrencyLimitLayer;
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let limit = HostConcurrencyLimitLayer::builder()
///     .max_per_host(2)
///     .idle_timeout(Duration::from_secs(30))
///     .max_hosts(1_000)
///     .build();
/// let limiter = limit.limiter().clone();
/// let service = ServiceBuilder::new()
///     .layer(ContextLayer::new())
///     .layer(limit)
///     .service_fn(|_request: Request<()>| async {
///         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
///     });
///
/// let mut request = Request::get("https://api.example.com/items").body(())?;
/// request.extensions_mut().insert(Priority::High);
/// let response = service.oneshot(request).await?;
/// assert_eq!(limiter.stats().in_flight(), 1, "held until the body ends");
/// drop(response);
/// assert_eq!(limiter.stats().in_flight(), 0);
/// # Ok::<(), turbo_limit::BoxError>(())
/// # })?;
/// # Ok::<(), turbo_limit::BoxError>(())
/// ```
#[derive(Clone)]
pub struct HostConcurrencyLimitLayer {
    limiter: HostLimiter,
    release_at: ReleaseAt,
}

impl HostConcurrencyLimitLayer {
    /// A layer that lets `max_per_host` requests (at least 1) be in flight to each
    /// host, with the other defaults: 60 s idle eviction, 1,024 hosts. `Default`
    /// gives 6 per host.
    pub fn new(max_per_host: usize) -> Self {
        Self::builder().max_per_host(max_per_host).build()
    }

    /// Starts configuring a layer.
    pub fn builder() -> HostConcurrencyLimitLayerBuilder {
        HostConcurrencyLimitLayerBuilder::default()
    }

    /// The shared state: stats, sweeps, shutdown. Services made by this layer (and
    /// its clones) share it.
    pub fn limiter(&self) -> &HostLimiter {
        &self.limiter
    }
}

impl Default for HostConcurrencyLimitLayer {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl<S> Layer<S> for HostConcurrencyLimitLayer {
    type Service = HostConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HostConcurrencyLimit::new(inner, self.limiter.clone(), self.release_at)
    }
}

impl fmt::Debug for HostConcurrencyLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostConcurrencyLimitLayer")
            .field("limiter", &self.limiter)
            .field("release_at", &self.release_at)
            .finish()
    }
}

/// Configures a [`HostConcurrencyLimitLayer`].
#[derive(Clone)]
pub struct HostConcurrencyLimitLayerBuilder {
    config: HostLimitConfig,
    release_at: ReleaseAt,
}

impl Default for HostConcurrencyLimitLayerBuilder {
    fn default() -> Self {
        Self {
            config: HostLimitConfig {
                default_limit: 6,
                overrides: HashMap::new(),
                idle_timeout: Duration::from_secs(60),
                max_hosts: 1024,
                key_fn: None,
            },
            release_at: ReleaseAt::default(),
        }
    }
}

impl HostConcurrencyLimitLayerBuilder {
    /// Requests in flight per host (default 6). A limit of 0 is raised to 1: a
    /// host that can never be reached is a configuration error, not a limit.
    pub fn max_per_host(mut self, limit: usize) -> Self {
        self.config.default_limit = limit.max(1);
        self
    }

    /// A different limit for one host (at least 1).
    pub fn host_limit(mut self, host: HostKey, limit: usize) -> Self {
        self.config.overrides.insert(host, limit.max(1));
        self
    }

    /// How long a host with nothing in flight stays tracked (default 60 s). Idle
    /// entries are evicted between one and two such periods after their last use.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.config.idle_timeout = idle;
        self
    }

    /// The most hosts tracked at once (default 1,024, at least 1).
    pub fn max_hosts(mut self, hosts: usize) -> Self {
        self.config.max_hosts = hosts.max(1);
        self
    }

    /// Keys requests with `key_fn` instead of scheme + host + port.
    pub fn key_fn(
        mut self,
        key_fn: impl Fn(&Uri) -> Result<HostKey, HostKeyError> + Send + Sync + 'static,
    ) -> Self {
        self.config.key_fn = Some(Arc::new(key_fn));
        self
    }

    /// When the permit is released (default: when the response body ends).
    pub fn release_at(mut self, release_at: ReleaseAt) -> Self {
        self.release_at = release_at;
        self
    }

    /// Builds the layer.
    pub fn build(self) -> HostConcurrencyLimitLayer {
        HostConcurrencyLimitLayer {
            limiter: HostLimiter::new(self.config),
            release_at: self.release_at,
        }
    }
}

impl fmt::Debug for HostConcurrencyLimitLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostConcurrencyLimitLayerBuilder")
            .field("default_limit", &self.config.default_limit)
            .field("overrides", &self.config.overrides.len())
            .field("idle_timeout", &self.config.idle_timeout)
            .field("max_hosts", &self.config.max_hosts)
            .field("custom_key", &self.config.key_fn.is_some())
            .field("release_at", &self.release_at)
            .finish()
    }
}
