//! The client's stack: the turbo layers over the transport, built from a
//! [`ClientConfig`].

use tower::Layer;
use turbo_core::{ContextLayer, ContextPool, ContextService};
use turbo_limit::{
    HostConcurrencyLimit, HostConcurrencyLimitLayer, HostLimiter, PriorityQueue,
    PriorityQueueLayer, QueueHandle,
};
use turbo_pool::BytePool;

use crate::config::ClientConfig;
use crate::timeout::{Deadline, DeadlineLayer};
use crate::transport::Transport;

/// The composed stack, outermost first: context, per-host limit, priority queue,
/// deadline, then the user's layers and the transport (both inside `T`).
pub(crate) type Stack<T> = ContextService<HostConcurrencyLimit<PriorityQueue<Deadline<Wire<T>>>>>;

/// The transport as the deadline sees it: with the `decompression` feature,
/// wrapped in tower-http's `Decompression`, so bodies are decoded below the
/// deadline and the body limit counts decoded bytes.
#[cfg(feature = "decompression")]
pub(crate) type Wire<T> = tower_http::decompression::Decompression<T>;
/// The transport as the deadline sees it (no `decompression` feature).
#[cfg(not(feature = "decompression"))]
pub(crate) type Wire<T> = T;

/// The body of [`Wire`]'s responses.
#[cfg(feature = "decompression")]
pub(crate) type WireBody<B> = tower_http::decompression::DecompressionBody<B>;
/// The body of [`Wire`]'s responses (no `decompression` feature).
#[cfg(not(feature = "decompression"))]
pub(crate) type WireBody<B> = B;

#[cfg(feature = "decompression")]
fn wire<T>(transport: T, config: &ClientConfig) -> Wire<T> {
    let decompress = config.decompress;
    tower_http::decompression::Decompression::new(transport)
        .gzip(decompress)
        .deflate(decompress)
        .br(decompress)
        .zstd(decompress)
}

#[cfg(not(feature = "decompression"))]
fn wire<T>(transport: T, _config: &ClientConfig) -> Wire<T> {
    transport
}

/// A built stack: the stack to clone for requests and the handles the client
/// keeps.
pub(crate) struct StackParts<T: Transport> {
    pub(crate) stack: Stack<T>,
    pub(crate) contexts: ContextPool,
    pub(crate) limiter: HostLimiter,
    pub(crate) queue: QueueHandle,
    pub(crate) buffers: BytePool,
}

/// Builds the stack over `transport` as `config` says.
pub(crate) fn build<T: Transport>(transport: T, config: &ClientConfig) -> StackParts<T> {
    let contexts = ContextPool::new(config.context_pool);
    let mut host_layer = HostConcurrencyLimitLayer::builder()
        .max_per_host(config.max_per_host)
        .max_hosts(config.max_hosts)
        .idle_timeout(config.host_idle_timeout)
        .release_at(config.release_at);
    for (host, limit) in &config.host_limits {
        host_layer = host_layer.host_limit(host.clone(), *limit);
    }
    let host_layer = host_layer.build();
    let queue_layer = PriorityQueueLayer::builder()
        .max_in_flight(config.max_in_flight)
        .max_queued(config.max_queued)
        .release_at(config.release_at)
        .build();
    let limiter = host_layer.limiter().clone();
    let queue = queue_layer.handle();
    let stack = ContextLayer::with_pool(contexts.clone()).layer(
        host_layer.layer(
            queue_layer.layer(
                DeadlineLayer {
                    default: config.timeout,
                    idle: config.read_idle_timeout,
                }
                .layer(wire(transport, config)),
            ),
        ),
    );
    let buffers = config.buffers.clone().unwrap_or_default();
    StackParts {
        stack,
        contexts,
        limiter,
        queue,
        buffers,
    }
}
