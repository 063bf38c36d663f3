//! [`RequestContext`]: the pooled per-request record, and the handle layers use.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
// The request-id counter stays std's under loom: it is part of no protocol the
// models check, and a loom atomic cannot live in a static.
use std::sync::atomic::{AtomicU64 as IdCounter, Ordering as IdOrdering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use turbo_pool::{ObjectPool, PoolStats, TryLockGuard};

use crate::body::{BodyEnd, BodyGuard};
use crate::clock::Stamp;
use crate::host::HostKey;
use crate::in_flight::InFlight;
use crate::lock::Lock;
use crate::priority::Priority;
use crate::sync::{AtomicBool, LeakProbe, Mutex, Ordering, lock, seq_cst_between};
use crate::timeline::{EventKind, Field, Timeline};

/// Events and fields a fresh context has room for before it allocates; a request
/// through the full turbo stack records about seven events.
const EVENT_CAPACITY: usize = 12;
const FIELD_CAPACITY: usize = 12;

/// Request ids are unique within the process, across pools. Each thread reserves
/// a block of ids at a time, so that threads renting contexts at once do not bounce
/// one shared counter's cache line between cores on every request.
static NEXT_ID_BLOCK: IdCounter = IdCounter::new(1);
const ID_BLOCK: u64 = 1024;

std::thread_local! {
    /// This thread's reserved ids: the next one to hand out, and the block's end.
    static THREAD_IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A fresh request id: never 0, never repeated within the process (a `u64` of ids
/// does not run out).
fn next_request_id() -> u64 {
    THREAD_IDS.with(|ids| {
        let (mut next, mut end) = ids.get();
        if next == end {
            next = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, IdOrdering::Relaxed);
            end = next + ID_BLOCK;
        }
        ids.set((next + 1, end));
        next
    })
}

/// What a pooled context holds for one request.
struct ContextState {
    /// Bumped on every reset: a handle from an earlier request no longer matches.
    generation: u64,
    request_id: u64,
    host: Option<HostKey>,
    priority: Priority,
    start: Stamp,
    timeline: Timeline,
    /// Where the finished timeline is published for the caller. Kept while the
    /// context is idle: the next lease reuses it when no caller holds it any more.
    snapshot: Arc<SnapshotCell>,
}

struct ContextCell {
    state: Lock<ContextState>,
    /// The pool this context belongs to. The context carries it, rather than each
    /// lease taking a reference of its own: a reference count that every request
    /// increments and decrements is a cache line both cores write per request.
    /// Idle contexts therefore keep their pool alive; the last `ContextPool`
    /// handle breaks that cycle by closing the pool (see [`PoolShared::close`]).
    home: Arc<PoolShared>,
    _probe: LeakProbe,
}

impl ContextState {
    /// The offset for an event recorded now: never before the last one recorded.
    /// The time-stamp counter read is not ordered with the lock taken before it,
    /// and a request's layers may record from different cores, so two events a
    /// few nanoseconds apart could otherwise come out in the wrong order.
    fn offset_now(&self) -> Duration {
        let at = self.start.elapsed();
        self.timeline.last_at().map_or(at, |last| at.max(last))
    }

    /// Wipes what a request left and makes every handle to it stale.
    fn reset(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.request_id = 0;
        self.host = None;
        self.priority = Priority::default();
        self.timeline.clear();
    }
}

/// A pooled context.
///
/// A lease resets its context itself, under the lock it already holds to publish
/// the snapshot, and marks it `clean`; the pool's reset step then has nothing left
/// to do and takes no lock. It still resets a context that comes back any other way.
struct PooledContext {
    cell: Arc<ContextCell>,
    clean: bool,
}

/// What the object pool holds: `None` is what it creates when it has no idle
/// context. The lease then builds the context itself, since only the lease has a
/// strong reference to the pool to put in it (the pool's factory must not hold
/// one: it lives inside the pool), and the close step drains the pool until it
/// gets `None`, without creating a context.
type Slot = Option<PooledContext>;

impl PooledContext {
    fn new(home: &Arc<PoolShared>) -> Self {
        PooledContext {
            cell: Arc::new(ContextCell {
                home: Arc::clone(home),
                _probe: LeakProbe::new(),
                state: Lock::new(ContextState {
                    generation: 0,
                    request_id: 0,
                    host: None,
                    priority: Priority::default(),
                    start: Stamp::now(),
                    timeline: Timeline::with_capacity(EVENT_CAPACITY, FIELD_CAPACITY),
                    snapshot: Arc::new(SnapshotCell::new(Arc::downgrade(home))),
                }),
            }),
            clean: true,
        }
    }

    /// The pool's reset step, for a context that came back without its lease's
    /// reset.
    fn reset(&mut self) {
        if !self.clean {
            self.cell.state.lock().reset();
            self.clean = true;
        }
    }
}

/// A pool of request contexts, shared by the layers that rent them.
///
/// Cloning is cheap and shares the pool. When the last clone drops, the pool
/// closes: its idle contexts are freed at once, and contexts still leased are
/// freed when their requests end instead of going back.
#[derive(Clone)]
pub struct ContextPool {
    handle: Arc<PoolHandle>,
}

/// Counts the `ContextPool` handles (through its `Arc`), and closes the pool when
/// the last one drops. Leases, idle futures and contexts hold the pool itself, so
/// they do not count: only a handle can start a lease.
struct PoolHandle {
    shared: Arc<PoolShared>,
}

impl Drop for PoolHandle {
    fn drop(&mut self) {
        self.shared.close();
    }
}

struct PoolShared {
    contexts: ObjectPool<Slot>,
    /// Contexts rented and not yet returned.
    in_flight: InFlight,
    /// Set while someone awaits [`ContextPool::idle`]: releases then check for it.
    watching: AtomicBool,
    idle_wakers: Mutex<Vec<Waker>>,
    /// Set when the last handle dropped: a returned context is then freed.
    closed: AtomicBool,
    /// Snapshot cells whose last holder dropped them, cleared, for contexts whose
    /// own cell is still held by a caller; at most `spare_limit` of them.
    spare_cells: Mutex<Vec<Arc<SnapshotCell>>>,
    spare_limit: usize,
    _probe: LeakProbe,
}

impl PoolShared {
    /// After a release: wakes the [`ContextPool::idle`] futures if nothing is
    /// leased now.
    ///
    /// The waiter sets `watching` and then reads the counts; a release adds to its
    /// count and then reads `watching` (all `SeqCst`), so a release the waiter's
    /// read missed sees the flag, and takes the waiter's lock after the waiter
    /// registered. The release that ends the last lease therefore either lets the
    /// waiter see 0 or wakes it.
    fn wake_if_idle(&self) {
        let wakers = {
            let mut wakers = lock(&self.idle_wakers);
            if self.in_flight.leased() != 0 {
                return;
            }
            // Every registered waiter is woken below and sets the flag again if it
            // has to wait once more (under this lock), so releases stop taking the
            // lock once nobody waits.
            self.watching.store(false, Ordering::SeqCst);
            std::mem::take(&mut *wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Called once, when the last handle drops: frees the idle contexts, which
    /// each hold a reference to this pool, so that the pool is freed once the
    /// leases still out have ended.
    ///
    /// A lease returns its context with `put`, then adds to its release count,
    /// then reads `closed`; here `closed` is set, then the release counts are
    /// read, then the pool drained (all `SeqCst` on the flag and the counts). A
    /// lease that read `closed` as unset added to its count before this read it,
    /// so its `put` happened before the drain below, which takes that context;
    /// any other lease sees `closed` and drains the pool itself. No interleaving
    /// leaves a context idle in a closed pool.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        seq_cst_between();
        // The read's value does not matter: reading every release count is what
        // orders each earlier release's `put` before the drain.
        let _ = self.in_flight.leased();
        self.drain();
    }

    /// Frees every idle context. Only a closed pool is drained: no lease can
    /// start any more, so `take` only finds contexts or nothing (`None`, made by
    /// the factory instead of a context).
    fn drain(&self) {
        while let Some(context) = self.contexts.take() {
            drop(context);
        }
    }
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
    ///
    /// The first pool a process builds also calibrates the timeline clock (the
    /// CPU's time-stamp counter against the monotonic clock, half a millisecond
    /// or more), so that no request pays for it.
    pub fn new(capacity: usize) -> Self {
        Stamp::calibrate();
        let contexts = ObjectPool::with_reset(
            capacity,
            || None,
            |slot: &mut Slot| {
                if let Some(context) = slot {
                    context.reset();
                }
            },
        );
        Self {
            handle: Arc::new(PoolHandle {
                shared: Arc::new(PoolShared {
                    contexts,
                    in_flight: InFlight::new(),
                    watching: AtomicBool::new(false),
                    idle_wakers: Mutex::new(Vec::new()),
                    closed: AtomicBool::new(false),
                    spare_cells: Mutex::new(Vec::new()),
                    spare_limit: capacity,
                    _probe: LeakProbe::new(),
                }),
            }),
        }
    }

    fn shared(&self) -> &Arc<PoolShared> {
        &self.handle.shared
    }

    /// The counters; `leased` is exact when no request starts or ends during the
    /// call (0 when none is in flight), the pool figures approximate under load.
    pub fn stats(&self) -> ContextPoolStats {
        let shared = self.shared();
        ContextPoolStats {
            // Leases are counted per thread (module `in_flight`); the sum cannot
            // exceed the number of live leases, which fits in memory.
            leased: usize::try_from(shared.in_flight.leased()).unwrap_or(usize::MAX),
            pool: shared.contexts.stats(),
        }
    }

    /// Resolves once no context is leased (every request has ended). A shutdown
    /// awaits it after its gates went idle: an outer guard is released a moment
    /// after the inner ones.
    pub fn idle(&self) -> ContextPoolIdle {
        ContextPoolIdle {
            pool: Arc::clone(self.shared()),
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
        let shared = self.shared();
        let mut pooled = match shared.contexts.take() {
            Some(pooled) => pooled,
            None => PooledContext::new(shared),
        };
        pooled.clean = false;
        shared.in_flight.rent();
        let (generation, snapshot) = {
            let mut state = pooled.cell.state.lock();
            // The last request's snapshot cell is reused unless its caller still
            // holds it (the snapshot owns its data): then a spare one that an
            // earlier caller dropped, or a new one. A count of 1 is final: only the
            // holder of this lock can hand out another reference.
            if Arc::strong_count(&state.snapshot) != 1 {
                state.snapshot = spare_cell(shared);
            }
            state.request_id = next_request_id();
            HostKey::store_from_uri(&mut state.host, request.uri());
            state.priority = Priority::of(request);
            state.start = Stamp::now();
            let snapshot = TimelineSnapshot {
                cell: Some(Arc::clone(&state.snapshot)),
                request_id: state.request_id,
            };
            (state.generation, snapshot)
        };
        let handle = RequestContext {
            cell: Arc::clone(&pooled.cell),
            generation,
        };
        let lease = ContextLease {
            pooled: Some(pooled),
        };
        (lease, handle, snapshot)
    }
}

/// A snapshot cell for a context whose own cell a caller still holds.
fn spare_cell(shared: &Arc<PoolShared>) -> Arc<SnapshotCell> {
    lock(&shared.spare_cells)
        .pop()
        .unwrap_or_else(|| Arc::new(SnapshotCell::new(Arc::downgrade(shared))))
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
        // Watch, then check: a release that ends the last lease after the check
        // sees the flag and wakes us (it takes this lock first). See
        // `PoolShared::wake_if_idle`.
        self.pool.watching.store(true, Ordering::SeqCst);
        seq_cst_between();
        if self.pool.in_flight.leased() == 0 {
            if wakers.is_empty() {
                // Nobody else waits: releases need not check for us any more.
                self.pool.watching.store(false, Ordering::SeqCst);
            }
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
        let mut state = self.cell.state.lock();
        // A finished request's context is reset at once, which bumps the
        // generation: a handle is live exactly while its request is in flight.
        (state.generation == self.generation).then(|| f(&mut state))
    }

    /// Records `kind` now.
    pub fn record(&self, kind: EventKind) {
        self.record_with(kind, &[]);
    }

    /// Records `kind` now, with fields.
    pub fn record_with(&self, kind: EventKind, fields: &[Field]) {
        // The trace event is emitted after the lock is released: a subscriber is
        // user code, and a slow one must not keep other layers waiting on it.
        let recorded = self.with_live(|state| {
            let at = state.offset_now();
            state.timeline.push(kind, at, fields);
            (state.request_id, at)
        });
        if let Some((request_id, at)) = recorded {
            tracing::trace!(
                request_id,
                event = kind.name(),
                at_us = at.as_micros() as u64,
                "timeline"
            );
        }
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
            request_id: state.request_id,
        })
    }

    /// Whether this handle still refers to an in-flight request.
    pub fn is_live(&self) -> bool {
        self.with_live(|_| true).unwrap_or(false)
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
    /// The context, which also carries the reference to its pool: a lease moves
    /// no reference count.
    pooled: Option<PooledContext>,
}

impl ContextLease {
    /// Records `kinds`, all at one instant, publishes the timeline, resets the
    /// context and returns it. Idempotent.
    fn complete(&mut self, kinds: &[EventKind]) {
        let Some(mut pooled) = self.pooled.take() else {
            return;
        };
        {
            let mut guard = pooled.cell.state.lock();
            let state = &mut *guard;
            let at = state.offset_now();
            for &kind in kinds {
                state.timeline.push(kind, at, &[]);
            }
            {
                let mut published = state.snapshot.data.lock();
                published.request_id = state.request_id;
                let request = &mut published.request;
                request.request_id = state.request_id;
                request.priority = state.priority;
                // Moved, not copied: the cell's previous host and timeline storage,
                // cleared by the reset below, become this context's for its next
                // request. (Cloning the host went through a temporary on the stack
                // that was read back at once, a store-forwarding stall.)
                std::mem::swap(&mut request.host, &mut state.host);
                std::mem::swap(&mut request.timeline, &mut state.timeline);
            }
            state.reset();
        }
        pooled.clean = true;
        // The pool must stay reachable after the `put`: if it closes meanwhile, a
        // drain may free the context, and with it the context's reference to the
        // pool. The cell's count lives beside the context's own lock, on a line
        // this request already wrote, not on one every request shares.
        let cell = Arc::clone(&pooled.cell);
        let home = &cell.home;
        home.contexts.put(Some(pooled));
        home.in_flight.release();
        seq_cst_between();
        if home.watching.load(Ordering::SeqCst) {
            home.wake_if_idle();
        }
        // Put, count, then check: see `PoolShared::close` for why no context can
        // stay idle in a closed pool.
        if home.closed.load(Ordering::SeqCst) {
            home.drain();
        }
    }

    /// Records `kind` now on the leased context.
    pub fn record(&self, kind: EventKind) {
        if let Some(pooled) = &self.pooled {
            let mut state = pooled.cell.state.lock();
            let at = state.offset_now();
            state.timeline.push(kind, at, &[]);
        }
    }

    /// Ends the request now with `kind` (for example [`EventKind::Failed`] when the
    /// service returned an error).
    pub fn finish_with(mut self, kind: EventKind) {
        self.complete(&[kind]);
    }

    /// Ends the request now with `first` then `last`, both at one instant: for a
    /// response whose headers arrive with its body already at its end, which needs
    /// one clock read and one lock instead of two of each.
    pub(crate) fn finish_with_pair(mut self, first: EventKind, last: EventKind) {
        self.complete(&[first, last]);
    }
}

impl BodyGuard for ContextLease {
    fn finish(mut self, end: BodyEnd) {
        self.complete(&[match end {
            BodyEnd::Complete => EventKind::BodyFinished,
            BodyEnd::Error => EventKind::Failed,
            BodyEnd::Dropped => EventKind::Cancelled,
        }]);
    }
}

impl Drop for ContextLease {
    fn drop(&mut self) {
        self.complete(&[EventKind::Cancelled]);
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
    data: Lock<SnapshotData>,
    home: Weak<PoolShared>,
}

struct SnapshotData {
    /// The id of the request whose timeline `request` holds, 0 for none. A cell is
    /// reused without clearing; a snapshot reads it only once it holds its own
    /// request (ids are never 0 and never repeat).
    request_id: u64,
    request: FinishedRequest,
}

impl SnapshotCell {
    fn new(home: Weak<PoolShared>) -> Self {
        Self {
            home,
            data: Lock::new(SnapshotData {
                request_id: 0,
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
        let mut data = self.data.lock();
        data.request_id = 0;
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
    /// The request this snapshot is for: the cell holds its timeline once it
    /// carries this id.
    request_id: u64,
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

    /// The cell's data, if it holds this snapshot's finished request.
    fn data(&self) -> Option<TryLockGuard<'_, SnapshotData>> {
        let data = self.cell.as_ref()?.data.lock();
        (data.request_id == self.request_id).then_some(data)
    }

    /// Whether the request has ended and the timeline is final.
    pub fn is_finished(&self) -> bool {
        self.data().is_some()
    }

    /// The finished request (a copy), or `None` while it is still in flight.
    pub fn finished(&self) -> Option<FinishedRequest> {
        self.inspect(FinishedRequest::clone)
    }

    /// Runs `read` on the finished request without copying it; `None` while the
    /// request is still in flight.
    ///
    /// `read` runs under the snapshot's lock: it must not use this snapshot again
    /// (`is_finished`, `finished`, `inspect`, or its `Debug` output), which would
    /// wait for ever on the lock it holds. Use [`finished`](Self::finished) for a
    /// copy to work with freely.
    pub fn inspect<R>(&self, read: impl FnOnce(&FinishedRequest) -> R) -> Option<R> {
        self.data().map(|data| read(&data.request))
    }
}

impl Drop for TimelineSnapshot {
    fn drop(&mut self) {
        // The last holder of a cell its context has let go of hands it back as a
        // spare, so that the next caller's snapshot costs no allocation.
        let Some(mut cell) = self.cell.take() else {
            return;
        };
        // Usually the context still holds the cell, to reuse it for its next
        // request: then there is nothing to hand back, and a plain load says so.
        if Arc::strong_count(&cell) != 1 {
            return;
        }
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

#[cfg(all(test, not(turbo_loom)))]
mod tests {
    use super::*;

    #[test]
    fn events_never_go_back_in_time() {
        let pool = ContextPool::new(1);
        let request = http::Request::get("http://example.com/").body(()).unwrap();
        let (lease, ctx) = pool.lease(&request);
        // An event stamped far ahead of the clock stands in for one recorded a
        // moment later on a core whose counter read came out first.
        let ahead = Duration::from_secs(3600);
        ctx.with_live(|state| state.timeline.push(EventKind::Queued, ahead, &[]));
        ctx.record(EventKind::Admitted);
        lease.record(EventKind::TransportSent);
        let offsets: Vec<Duration> = ctx.timeline().unwrap().iter().map(|e| e.at).collect();
        assert_eq!(offsets, [ahead, ahead, ahead]);
        drop(lease);
    }

    /// Whether the pool behind `pool` is still allocated, checked after `pool` and
    /// everything else has dropped.
    fn watch(pool: &ContextPool) -> Weak<PoolShared> {
        Arc::downgrade(pool.shared())
    }

    #[test]
    fn the_last_handle_frees_a_pool_with_idle_contexts() {
        let pool = ContextPool::new(4);
        let request = http::Request::get("http://example.com/").body(()).unwrap();
        let leases: Vec<_> = (0..3).map(|_| pool.lease(&request)).collect();
        drop(leases);
        assert_eq!(pool.stats().pool.idle, 3);
        let home = watch(&pool);
        let clone = pool.clone();
        drop(pool);
        assert!(home.upgrade().is_some(), "a handle is left");
        drop(clone);
        assert!(
            home.upgrade().is_none(),
            "idle contexts kept their pool alive"
        );
    }

    #[test]
    fn a_pool_closed_under_a_lease_is_freed_when_the_lease_ends() {
        let pool = ContextPool::new(4);
        let request = http::Request::get("http://example.com/").body(()).unwrap();
        drop(pool.lease(&request));
        let (lease, ctx) = pool.lease(&request);
        let home = watch(&pool);
        drop(pool);
        assert!(
            home.upgrade().is_some(),
            "the lease's context holds the pool"
        );
        drop(lease);
        // The stale handle still holds its context, and the context its pool;
        // the returned context was freed, not pooled.
        let shared = home.upgrade().unwrap();
        assert_eq!(shared.contexts.stats().idle, 0);
        drop(shared);
        drop(ctx);
        assert!(
            home.upgrade().is_none(),
            "a returned context kept its pool alive"
        );
    }
}
