//! [`RequestContext`]: the pooled per-request record, and the handle layers use.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use turbo_pool::{ObjectPool, OwnedPooled, PoolStats, Reset};

use crate::body::{BodyEnd, BodyGuard};
use crate::host::HostKey;
use crate::priority::Priority;
use crate::timeline::{EventKind, Field, Timeline};

/// Events and fields a fresh context has room for before it allocates; a request
/// through the full turbo stack records about seven events.
const EVENT_CAPACITY: usize = 12;
const FIELD_CAPACITY: usize = 12;

/// Request ids are unique within the process, across pools.
static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No critical section here runs user code, so a poisoned lock still guards
    // consistent state.
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// What a pooled context holds for one request.
struct ContextState {
    /// Bumped on every reset: a handle from an earlier request no longer matches.
    generation: u64,
    request_id: u64,
    host: Option<HostKey>,
    priority: Priority,
    start: Instant,
    timeline: Timeline,
    finished: bool,
    /// Where the finished timeline is published for the caller.
    snapshot: Arc<SnapshotCell>,
    /// The pool, for spare snapshot cells.
    home: Weak<PoolShared>,
}

struct ContextCell {
    state: Mutex<ContextState>,
}

/// A pooled context: the pool's reset step wipes everything a request left.
struct PooledContext(Arc<ContextCell>);

impl PooledContext {
    fn new(home: Weak<PoolShared>) -> Self {
        PooledContext(Arc::new(ContextCell {
            state: Mutex::new(ContextState {
                generation: 0,
                request_id: 0,
                host: None,
                priority: Priority::default(),
                start: Instant::now(),
                timeline: Timeline::with_capacity(EVENT_CAPACITY, FIELD_CAPACITY),
                finished: false,
                snapshot: Arc::new(SnapshotCell::new(home.clone())),
                home,
            }),
        }))
    }
}

impl Reset for PooledContext {
    fn reset(&mut self) {
        let mut state = lock(&self.0.state);
        state.generation = state.generation.wrapping_add(1);
        state.request_id = 0;
        state.host = None;
        state.priority = Priority::default();
        state.timeline.clear();
        state.finished = false;
        // The caller may still hold the last snapshot; it owns its data, so another
        // cell is needed then: a spare one that an earlier caller dropped, or a new
        // one. When nobody holds it, the cell and its storage are reused as they are.
        match Arc::get_mut(&mut state.snapshot) {
            Some(cell) => cell.clear(),
            None => {
                let home = state.home.clone();
                state.snapshot = home
                    .upgrade()
                    .and_then(|pool| lock(&pool.spare_cells).pop())
                    .unwrap_or_else(|| Arc::new(SnapshotCell::new(home)));
            }
        }
    }
}

/// A pool of request contexts, shared by the layers that rent them.
///
/// Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct ContextPool {
    shared: Arc<PoolShared>,
}

struct PoolShared {
    contexts: ObjectPool<PooledContext>,
    leased: AtomicUsize,
    /// Set while someone awaits [`ContextPool::idle`]: releases then check for it.
    watching: AtomicBool,
    idle_wakers: Mutex<Vec<Waker>>,
    /// Snapshot cells whose last holder dropped them, cleared, for contexts whose
    /// own cell is still held by a caller; at most `spare_limit` of them.
    spare_cells: Mutex<Vec<Arc<SnapshotCell>>>,
    spare_limit: usize,
}

/// A snapshot of a [`ContextPool`]'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContextPoolStats {
    /// Contexts rented and not yet returned: 0 when no request is in flight.
    pub leased: usize,
    /// The underlying object pool's counters.
    pub pool: PoolStats,
}

impl ContextPool {
    /// A pool that keeps at most `capacity` idle contexts.
    pub fn new(capacity: usize) -> Self {
        Self {
            shared: Arc::new_cyclic(|home: &Weak<PoolShared>| {
                let home = home.clone();
                PoolShared {
                    contexts: ObjectPool::new(capacity, move || PooledContext::new(home.clone())),
                    leased: AtomicUsize::new(0),
                    watching: AtomicBool::new(false),
                    idle_wakers: Mutex::new(Vec::new()),
                    spare_cells: Mutex::new(Vec::new()),
                    spare_limit: capacity,
                }
            }),
        }
    }

    /// The counters; `leased` is exact, the pool figures approximate under load.
    pub fn stats(&self) -> ContextPoolStats {
        ContextPoolStats {
            leased: self.shared.leased.load(Ordering::Acquire),
            pool: self.shared.contexts.stats(),
        }
    }

    /// Resolves once no context is leased (every request has ended). A shutdown
    /// awaits it after its gates went idle: an outer guard is released a moment
    /// after the inner ones.
    pub fn idle(&self) -> ContextPoolIdle {
        ContextPoolIdle {
            pool: Arc::clone(&self.shared),
        }
    }

    /// Rents a context for `request`: a fresh id, its host key (when the URI has
    /// one) and priority, and the start instant. Returns the lease that gives the
    /// context back and the handle to put in the request.
    pub fn lease<B>(&self, request: &http::Request<B>) -> (ContextLease, RequestContext) {
        let (lease, handle, _) = self.lease_with_snapshot(request);
        (lease, handle)
    }

    /// As [`lease`](Self::lease), plus the snapshot the response will carry, taken
    /// under the same lock.
    pub(crate) fn lease_with_snapshot<B>(
        &self,
        request: &http::Request<B>,
    ) -> (ContextLease, RequestContext, TimelineSnapshot) {
        let pooled = self.shared.contexts.get_owned();
        self.shared.leased.fetch_add(1, Ordering::AcqRel);
        let (generation, snapshot) = {
            let mut state = lock(&pooled.0.state);
            state.request_id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
            state.host = HostKey::of(request).ok();
            state.priority = Priority::of(request);
            state.start = Instant::now();
            let snapshot = TimelineSnapshot {
                cell: Some(Arc::clone(&state.snapshot)),
            };
            (state.generation, snapshot)
        };
        let handle = RequestContext {
            cell: Arc::clone(&pooled.0),
            generation,
        };
        let lease = ContextLease {
            pooled: Some(pooled),
            pool: Arc::clone(&self.shared),
        };
        (lease, handle, snapshot)
    }
}

/// The future of [`ContextPool::idle`].
#[must_use = "does nothing unless polled"]
pub struct ContextPoolIdle {
    pool: Arc<PoolShared>,
}

impl Future for ContextPoolIdle {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut wakers = lock(&self.pool.idle_wakers);
        // Watch, then check: a release that drops the count to 0 after the check
        // sees the flag and wakes us (it takes this lock first).
        self.pool.watching.store(true, Ordering::SeqCst);
        if self.pool.leased.load(Ordering::SeqCst) == 0 {
            return Poll::Ready(());
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl fmt::Debug for ContextPoolIdle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextPoolIdle").finish_non_exhaustive()
    }
}

impl Default for ContextPool {
    /// A pool of 256 contexts.
    fn default() -> Self {
        Self::new(256)
    }
}

impl fmt::Debug for ContextPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextPool")
            .field("stats", &self.stats())
            .finish()
    }
}

/// The handle to a request's pooled context, carried in the request's extensions.
///
/// Layers record timeline events through it. It is only valid while its request is
/// in flight: once the context goes back to the pool, every method of an old handle
/// is a no-op (records are dropped, reads return `None`), so a handle kept by
/// mistake can never see or touch a later request's data.
///
/// ```
/// use turbo_core::{ContextPool, EventKind, FieldValue, RequestContext};
///
/// let pool = ContextPool::new(4);
/// let request = http::Request::get("http://example.com/").body(())?;
/// let (lease, ctx) = pool.lease(&request);
/// ctx.record_with(EventKind::Custom("cache_miss"), &[("tier", FieldValue::U64(2))]);
/// assert_eq!(ctx.host().map(|h| h.to_string()).as_deref(), Some("http://example.com:80"));
/// drop(lease); // back to the pool: the handle is now stale
/// assert!(ctx.request_id().is_none());
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Clone)]
pub struct RequestContext {
    cell: Arc<ContextCell>,
    generation: u64,
}

impl RequestContext {
    /// The context in `request`'s extensions, if a context layer put one there.
    pub fn of<B>(request: &http::Request<B>) -> Option<&RequestContext> {
        request.extensions().get::<RequestContext>()
    }

    /// Runs `f` on the state if this handle is still current.
    fn with_live<R>(&self, f: impl FnOnce(&mut ContextState) -> R) -> Option<R> {
        let mut state = lock(&self.cell.state);
        (state.generation == self.generation).then(|| f(&mut state))
    }

    /// Records `kind` now.
    pub fn record(&self, kind: EventKind) {
        self.record_with(kind, &[]);
    }

    /// Records `kind` now, with fields.
    pub fn record_with(&self, kind: EventKind, fields: &[Field]) {
        self.with_live(|state| {
            if !state.finished {
                let at = state.start.elapsed();
                state.timeline.push(kind, at, fields);
                tracing::trace!(
                    request_id = state.request_id,
                    event = kind.name(),
                    at_us = at.as_micros() as u64,
                    "timeline"
                );
            }
        });
    }

    /// The request's id, unique within the process.
    pub fn request_id(&self) -> Option<u64> {
        self.with_live(|state| state.request_id)
    }

    /// The request's host key, if its URI had one.
    pub fn host(&self) -> Option<HostKey> {
        self.with_live(|state| state.host.clone()).flatten()
    }

    /// Replaces the host key (for layers that key requests their own way).
    pub fn set_host(&self, host: HostKey) {
        self.with_live(|state| state.host = Some(host));
    }

    /// The request's priority.
    pub fn priority(&self) -> Option<Priority> {
        self.with_live(|state| state.priority)
    }

    /// Time since the request started.
    pub fn elapsed(&self) -> Option<Duration> {
        self.with_live(|state| state.start.elapsed())
    }

    /// A copy of the events recorded so far.
    pub fn timeline(&self) -> Option<Timeline> {
        self.with_live(|state| state.timeline.clone())
    }

    /// The snapshot the response will carry; it fills when the request finishes.
    pub fn snapshot(&self) -> Option<TimelineSnapshot> {
        self.with_live(|state| TimelineSnapshot {
            cell: Some(Arc::clone(&state.snapshot)),
        })
    }

    /// Whether this handle still refers to an in-flight request.
    pub fn is_live(&self) -> bool {
        self.with_live(|state| !state.finished).unwrap_or(false)
    }
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("request_id", &self.request_id())
            .field("host", &self.host())
            .finish_non_exhaustive()
    }
}

/// Ownership of a rented context: when it ends (body finished, failed, or dropped
/// early), the final event is recorded, the timeline is published to the snapshot,
/// and the context goes back to the pool, reset.
///
/// It is the [`BodyGuard`] that the context layer puts around response bodies.
pub struct ContextLease {
    pooled: Option<OwnedPooled<PooledContext>>,
    pool: Arc<PoolShared>,
}

impl ContextLease {
    /// Records `kind`, publishes the timeline and returns the context. Idempotent.
    fn complete(&mut self, kind: EventKind) {
        let Some(pooled) = self.pooled.take() else {
            return;
        };
        {
            let mut state = lock(&pooled.0.state);
            if !state.finished {
                let at = state.start.elapsed();
                state.timeline.push(kind, at, &[]);
                state.finished = true;
                let mut snapshot = lock(&state.snapshot.data);
                snapshot.request.request_id = state.request_id;
                snapshot.request.host.clone_from(&state.host);
                snapshot.request.priority = state.priority;
                snapshot.request.timeline.copy_from(&state.timeline);
                snapshot.complete = true;
            }
        }
        drop(pooled);
        let before = self.pool.leased.fetch_sub(1, Ordering::SeqCst);
        if before == 1 && self.pool.watching.load(Ordering::SeqCst) {
            let wakers = std::mem::take(&mut *lock(&self.pool.idle_wakers));
            wakers.into_iter().for_each(Waker::wake);
        }
    }

    /// Records `kind` now on the leased context.
    pub fn record(&self, kind: EventKind) {
        if let Some(pooled) = &self.pooled {
            let mut state = lock(&pooled.0.state);
            if !state.finished {
                let at = state.start.elapsed();
                state.timeline.push(kind, at, &[]);
            }
        }
    }

    /// Ends the request now with `kind` (for example [`EventKind::Failed`] when the
    /// service returned an error).
    pub fn finish_with(mut self, kind: EventKind) {
        self.complete(kind);
    }
}

impl BodyGuard for ContextLease {
    fn finish(mut self, end: BodyEnd) {
        self.complete(match end {
            BodyEnd::Complete => EventKind::BodyFinished,
            BodyEnd::Error => EventKind::Failed,
            BodyEnd::Dropped => EventKind::Cancelled,
        });
    }
}

impl Drop for ContextLease {
    fn drop(&mut self) {
        self.complete(EventKind::Cancelled);
    }
}

impl fmt::Debug for ContextLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextLease")
            .field("active", &self.pooled.is_some())
            .finish()
    }
}

struct SnapshotCell {
    data: Mutex<SnapshotData>,
    home: Weak<PoolShared>,
}

struct SnapshotData {
    complete: bool,
    request: FinishedRequest,
}

impl SnapshotCell {
    fn new(home: Weak<PoolShared>) -> Self {
        Self {
            home,
            data: Mutex::new(SnapshotData {
                complete: false,
                request: FinishedRequest {
                    request_id: 0,
                    host: None,
                    priority: Priority::default(),
                    timeline: Timeline::with_capacity(EVENT_CAPACITY, FIELD_CAPACITY),
                },
            }),
        }
    }

    fn clear(&mut self) {
        let data = match self.data.get_mut() {
            Ok(data) => data,
            Err(poisoned) => poisoned.into_inner(),
        };
        data.complete = false;
        data.request.request_id = 0;
        data.request.host = None;
        data.request.priority = Priority::default();
        data.request.timeline.clear();
    }
}

/// A request's finished timeline, as a response extension.
///
/// It owns its data: holding it never keeps a pooled context alive. It fills in when
/// the request ends (the response body finished, failed or was dropped); before that
/// [`finished`](Self::finished) returns `None`.
#[derive(Clone)]
pub struct TimelineSnapshot {
    /// `None` only while dropping.
    cell: Option<Arc<SnapshotCell>>,
}

/// A finished request: who it was and what happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FinishedRequest {
    /// The request's id.
    pub request_id: u64,
    /// Its host key, if its URI had one.
    pub host: Option<HostKey>,
    /// Its priority.
    pub priority: Priority,
    /// Its events.
    pub timeline: Timeline,
}

impl TimelineSnapshot {
    /// The snapshot a response carries, if a context layer attached one.
    pub fn of<B>(response: &http::Response<B>) -> Option<&TimelineSnapshot> {
        response.extensions().get::<TimelineSnapshot>()
    }

    fn data(&self) -> Option<MutexGuard<'_, SnapshotData>> {
        self.cell.as_ref().map(|cell| lock(&cell.data))
    }

    /// Whether the request has ended and the timeline is final.
    pub fn is_finished(&self) -> bool {
        self.data().is_some_and(|data| data.complete)
    }

    /// The finished request (a copy), or `None` while it is still in flight.
    pub fn finished(&self) -> Option<FinishedRequest> {
        self.inspect(FinishedRequest::clone)
    }

    /// Runs `read` on the finished request without copying it; `None` while the
    /// request is still in flight.
    pub fn inspect<R>(&self, read: impl FnOnce(&FinishedRequest) -> R) -> Option<R> {
        let data = self.data()?;
        data.complete.then(|| read(&data.request))
    }
}

impl Drop for TimelineSnapshot {
    fn drop(&mut self) {
        // The last holder of a cell its context has let go of hands it back as a
        // spare, so that the next caller's snapshot costs no allocation.
        let Some(mut cell) = self.cell.take() else {
            return;
        };
        let Some(home) = cell.home.upgrade() else {
            return;
        };
        if let Some(unique) = Arc::get_mut(&mut cell) {
            unique.clear();
            let mut spares = lock(&home.spare_cells);
            if spares.len() < home.spare_limit {
                spares.push(cell);
            }
        }
    }
}

impl fmt::Debug for TimelineSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimelineSnapshot")
            .field("finished", &self.finished())
            .finish()
    }
}
