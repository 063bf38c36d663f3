//! The client's stack: the turbo layers over the transport, built from a
//! [`ClientConfig`], and the pool of its clones that requests borrow.

use tower::Layer;
use turbo_core::{ContextLayer, ContextPool, ContextService};
use turbo_limit::{
    HostConcurrencyLimit, HostConcurrencyLimitLayer, HostLimiter, PriorityQueue,
    PriorityQueueLayer, QueueHandle,
};
use turbo_pool::{BytePool, ObjectPool};

use crate::config::ClientConfig;
use crate::response::ResponseBuffers;
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

/// What a request borrows from the client's pool: a clone of the stack, and that
/// clone's own handle to the byte pool, which the request's response takes (see
/// [`ResponseBuffers`] for why the handle is per clone, not the client's).
pub(crate) struct StackClone<T> {
    pub(crate) stack: Stack<T>,
    pub(crate) buffers: ResponseBuffers,
}

/// Idle clones of the stack kept for [`TurboClient::send`](crate::TurboClient::send): enough for every worker
/// thread to find one free (a clone is lent only for the synchronous `poll_ready` +
/// `call`), with room to spare.
pub(crate) const IDLE_STACKS: usize = 32;

/// A built stack: the pool of its clones and the handles the client keeps.
pub(crate) struct StackParts<T> {
    pub(crate) stacks: ObjectPool<StackClone<T>>,
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
    // Clones are made from this one; no reset is needed between requests: a
    // lent clone goes back only after its `call` (a turbo layer that refuses a
    // request in `call` swaps its ready inner service for a fresh clone, so no
    // readiness stays reserved), and it is kept out of the pool when
    // `poll_ready` fails or is pending, or when a layer panics (`send.rs`).
    // Each clone gets its own handle to the byte pool (a count per clone, made
    // here and not per request; see `ResponseBuffers`).
    let buffers = config.buffers.clone().unwrap_or_default();
    let pool = buffers.clone();
    let max_body = config.max_body_size;
    let stacks = ObjectPool::with_reset(
        IDLE_STACKS,
        move || StackClone {
            stack: stack.clone(),
            buffers: ResponseBuffers::new(pool.clone(), max_body),
        },
        |_| {},
    );
    StackParts {
        stacks,
        contexts,
        limiter,
        queue,
        buffers,
    }
}
