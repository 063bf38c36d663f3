//! [`PrioritySemaphore`]: permits handed out by priority class, FIFO within a class,
//! cancel-safe and closable. Both layers of this crate are built on it.
//!
//! # Protocol
//!
//! One atomic word holds the free permits and two flags, `WAITERS` (someone is
//! queued) and `CLOSED`. The fast paths touch only that word: acquiring takes a
//! permit by compare-and-swap when permits are free and nobody waits; releasing adds
//! one back when nobody waits. Everything else happens under the waiter lock:
//!
//! - `WAITERS` is set and cleared only under the lock, and only set when no permit
//!   is free. While it is set, a release never adds a permit to the word: it hands
//!   the permit straight to the best waiter (highest class, then earliest). So free
//!   permits and waiters never coexist, and a newcomer can never overtake a waiter.
//! - A waiter that is granted a permit but dropped before it saw the grant passes
//!   the permit on (to the next waiter, or back to the word), so cancellation never
//!   loses a permit and never holds one.
//! - [`close_if_idle`](PrioritySemaphore::close_if_idle) sets `CLOSED` only by a
//!   compare-and-swap from a word with every permit free and no `WAITERS`: each
//!   acquisition's compare-and-swap is ordered before it (and then it fails) or
//!   after it (and then the acquisition fails). The host limit evicts by it.
//!
//! `tests/loom.rs` checks these rules under every interleaving of acquire, cancel,
//! release, close and close-if-idle.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use turbo_core::Priority;

use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering, lock};

const CLOSED: usize = 0b001;
const WAITERS: usize = 0b010;
/// Someone awaits idleness: releases must check for it.
const IDLE_WATCH: usize = 0b100;
/// Set by every acquisition and cleared by [`PrioritySemaphore::take_used_mark`]: the
/// host limit's idle sweep reads it as "used since the last sweep". Riding on the
/// compare-and-swap that takes the permit, it costs nothing extra.
const USED: usize = 0b1000;
const PERMIT_SHIFT: u32 = 4;
const ONE_PERMIT: usize = 1 << PERMIT_SHIFT;

/// The most permits a semaphore can have (the word keeps four bits for flags).
pub const MAX_PERMITS: usize = usize::MAX >> PERMIT_SHIFT;

fn permits_in(word: usize) -> usize {
    word >> PERMIT_SHIFT
}

/// How many may wait, in total and per class. `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueLimits {
    /// The most waiters in all classes together.
    pub total: Option<usize>,
    /// The most waiters per class, indexed by [`Priority::rank`].
    pub per_class: [Option<usize>; Priority::COUNT],
}

/// What stopping does to requests that are already waiting. Either way, new
/// requests are refused and requests in flight finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Graceful: waiters stay queued and run as permits come back.
    Drain,
    /// Waiters fail at once ([`AcquireError::Cancelled`], which the layers report
    /// as `QueueStopped`).
    CancelPending,
}

/// Why an acquisition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcquireError {
    /// The semaphore was closed before this request got in line.
    Closed,
    /// The wait queue (or this class's share of it) is full.
    QueueFull,
    /// The semaphore was closed with [`StopMode::CancelPending`] while this
    /// request waited.
    Cancelled,
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AcquireError::Closed => "the semaphore is closed",
            AcquireError::QueueFull => "the wait queue is full",
            AcquireError::Cancelled => "the wait was cancelled by a shutdown",
        })
    }
}

impl std::error::Error for AcquireError {}

/// A counting semaphore whose waiters are served by [`Priority`], FIFO within a
/// class.
///
/// Cloning is cheap and shares the permits.
///
/// ```
/// use turbo_core::Priority;
/// use turbo_limit::PrioritySemaphore;
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let semaphore = PrioritySemaphore::new(1);
/// let held = semaphore.acquire(Priority::Normal).await?;
/// assert_eq!(semaphore.available_permits(), 0);
/// drop(held);
/// assert_eq!(semaphore.available_permits(), 1);
/// # Ok::<(), turbo_limit::AcquireError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PrioritySemaphore {
    shared: Arc<Shared>,
}

/// `repr(C)`, hot fields first: the permit word and the admission counter sit right
/// after the `Arc`'s reference counts, so that an acquisition (reference taken,
/// word swapped, admission counted) and a release (word, reference dropped) each
/// touch one cache line, usually, rather than three. Under contention every line
/// a request touches is a transfer between cores; splitting them (as an aligned
/// counter block did) cost more than the false sharing it avoided, since the
/// same request writes all of them back to back.
#[repr(C)]
struct Shared {
    word: AtomicUsize,
    counters: Counters,
    permits: usize,
    /// Whether fast-path acquisitions are counted; a shared counter is a contended
    /// read-modify-write per request, worth it only where someone reads it.
    count_admissions: bool,
    limits: QueueLimits,
    waiters: Mutex<Waiters>,
}

/// Counters; `acquired` first, next to the permit word (see [`Shared`]).
#[derive(Default)]
#[repr(C)]
struct Counters {
    acquired: AtomicU64,
    waited: AtomicU64,
    rejected: AtomicU64,
    cancelled: AtomicU64,
}

/// A waiter's place: class rank first, so the map's first entry is the best waiter.
type Ticket = (usize, u64);

#[derive(Default)]
struct Waiters {
    queue: BTreeMap<Ticket, Option<Waker>>,
    /// Waiters that were decided while they were not looking: granted a permit, or
    /// cancelled by a close. Each entry is consumed by its waiter's next poll or drop.
    decided: HashMap<u64, Decision>,
    depth: [usize; Priority::COUNT],
    next_seq: u64,
    idle_wakers: Vec<Waker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Granted,
    Cancelled,
}

/// A snapshot of a semaphore's state and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SemaphoreStats {
    /// Permits the semaphore was made with.
    pub permits: usize,
    /// Permits held now.
    pub in_use: usize,
    /// Waiters now, per class ([`Priority::rank`] order).
    pub waiting: [usize; Priority::COUNT],
    /// Permits handed out, ever.
    pub acquired: u64,
    /// Acquisitions that had to wait.
    pub waited: u64,
    /// Requests refused because the queue was full.
    pub rejected: u64,
    /// Waiters that gave up (dropped) or were cancelled by a close.
    pub cancelled: u64,
    /// Whether the semaphore is closed.
    pub closed: bool,
}

impl SemaphoreStats {
    /// Waiters in all classes.
    pub fn total_waiting(&self) -> usize {
        self.waiting.iter().sum()
    }
}

impl PrioritySemaphore {
    /// A semaphore with `permits` permits (at most [`MAX_PERMITS`]) and no bound
    /// on waiters.
    pub fn new(permits: usize) -> Self {
        Self::with_limits(permits, QueueLimits::default())
    }

    /// A semaphore whose wait queue is bounded by `limits`.
    pub fn with_limits(permits: usize, limits: QueueLimits) -> Self {
        Self::build(permits, limits, true)
    }

    /// A semaphore that does not count acquisitions that did not wait
    /// ([`SemaphoreStats::acquired`] then counts only those that waited).
    pub fn without_admission_count(permits: usize) -> Self {
        Self::build(permits, QueueLimits::default(), false)
    }

    fn build(permits: usize, limits: QueueLimits, count_admissions: bool) -> Self {
        let permits = permits.min(MAX_PERMITS);
        Self {
            shared: Arc::new(Shared {
                word: AtomicUsize::new(permits << PERMIT_SHIFT),
                permits,
                count_admissions,
                limits,
                waiters: Mutex::new(Waiters::default()),
                counters: Counters::default(),
            }),
        }
    }

    /// Waits for a permit in class `priority`.
    ///
    /// The returned future is cancel-safe: dropping it gives up the place in line,
    /// and a permit granted at that moment is passed on.
    pub fn acquire(&self, priority: Priority) -> Acquire {
        Acquire {
            shared: Arc::clone(&self.shared),
            rank: priority.rank(),
            state: AcquireState::Start,
        }
    }

    /// As [`acquire`](Self::acquire), consuming this handle: the acquisition and
    /// the permit reuse its reference instead of taking another.
    pub fn acquire_owned(self, priority: Priority) -> Acquire {
        Acquire {
            shared: self.shared,
            rank: priority.rank(),
            state: AcquireState::Start,
        }
    }

    /// As [`try_acquire`](Self::try_acquire), consuming this handle (it comes back
    /// with the error).
    ///
    /// # Errors
    ///
    /// The handle and [`TryAcquireError::Closed`] or [`TryAcquireError::NoPermits`].
    pub fn try_acquire_owned(self) -> Result<PriorityPermit, (Self, TryAcquireError)> {
        match self.shared.try_take() {
            Some(Ok(())) => Ok(PriorityPermit {
                shared: Some(self.shared),
            }),
            Some(Err(())) => Err((self, TryAcquireError::Closed)),
            None => Err((self, TryAcquireError::NoPermits)),
        }
    }

    /// Whether this handle is the only reference to the semaphore: no other handle,
    /// permit or acquisition exists.
    pub(crate) fn is_unshared(&self) -> bool {
        Arc::strong_count(&self.shared) == 1
    }

    /// Takes a permit if one is free and nobody waits.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::Closed`] or [`TryAcquireError::NoPermits`].
    pub fn try_acquire(&self) -> Result<PriorityPermit, TryAcquireError> {
        match self.shared.try_take() {
            Some(Ok(())) => Ok(PriorityPermit {
                shared: Some(Arc::clone(&self.shared)),
            }),
            Some(Err(())) => Err(TryAcquireError::Closed),
            None => Err(TryAcquireError::NoPermits),
        }
    }

    /// Free permits now.
    pub fn available_permits(&self) -> usize {
        permits_in(self.shared.word.load(Ordering::Acquire))
    }

    /// Whether no permit is held and nobody waits.
    pub fn is_idle(&self) -> bool {
        self.available_permits() == self.shared.permits
    }

    /// Whether the semaphore is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.word.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Closes the semaphore if, and only if, no permit is held and nobody waits, in
    /// one atomic step: an acquisition either happens before it (and the semaphore
    /// stays open) or fails with [`AcquireError::Closed`] /
    /// [`TryAcquireError::Closed`]. Returns whether it closed.
    ///
    /// The host limit evicts an idle host's semaphore this way, so a request that
    /// still holds a handle to it (from a per-thread cache) can never be admitted
    /// by it once a new semaphore for the same host may exist.
    ///
    /// ```
    /// use turbo_limit::PrioritySemaphore;
    ///
    /// let semaphore = PrioritySemaphore::new(1);
    /// let held = semaphore.try_acquire()?;
    /// assert!(!semaphore.close_if_idle(), "a permit is held");
    /// drop(held);
    /// assert!(semaphore.close_if_idle());
    /// assert!(semaphore.try_acquire().is_err());
    /// # Ok::<(), turbo_limit::TryAcquireError>(())
    /// ```
    pub fn close_if_idle(&self) -> bool {
        let shared = &*self.shared;
        let mut word = shared.word.load(Ordering::Acquire);
        loop {
            if word & CLOSED != 0 || word & WAITERS != 0 || permits_in(word) != shared.permits {
                return false;
            }
            // SeqCst like the rest of the eviction: this CAS is the point that
            // orders every acquisition on the word before or after the eviction.
            match shared.word.compare_exchange_weak(
                word,
                word | CLOSED,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    /// Clears the "acquired since" mark; returns whether it was set.
    pub(crate) fn take_used_mark(&self) -> bool {
        self.shared.word.fetch_and(!USED, Ordering::AcqRel) & USED != 0
    }

    /// A handle that does not keep the semaphore referenced (so the host map's
    /// reference-count eviction ignores it); see [`WeakSemaphore::upgrade`].
    pub(crate) fn downgrade(&self) -> WeakSemaphore {
        #[cfg(not(turbo_loom))]
        return WeakSemaphore {
            shared: Arc::downgrade(&self.shared),
        };
        // loom's `Arc` has no weak handles: under loom the host cache never hits,
        // and tests/loom.rs models `close_if_idle` against acquisitions directly.
        #[cfg(turbo_loom)]
        return WeakSemaphore;
    }

    /// Stops new acquisitions (they fail with [`AcquireError::Closed`]) and, with
    /// [`StopMode::CancelPending`], fails the waiters. Permits already held stay
    /// valid. Idempotent; a later call may escalate `Drain` to `CancelPending`.
    pub fn close(&self, mode: StopMode) {
        self.shared.word.fetch_or(CLOSED, Ordering::AcqRel);
        let wakers = {
            let mut waiters = lock(&self.shared.waiters);
            let mut wakers = Vec::new();
            if mode == StopMode::CancelPending {
                let queue = std::mem::take(&mut waiters.queue);
                for ((rank, seq), waker) in queue {
                    waiters.depth[rank] -= 1;
                    waiters.decided.insert(seq, Decision::Cancelled);
                    self.shared
                        .counters
                        .cancelled
                        .fetch_add(1, Ordering::Relaxed);
                    wakers.extend(waker);
                }
                self.shared.clear_waiters_flag();
            }
            wakers.extend(self.shared.take_idle_wakers(&mut waiters));
            wakers
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Resolves once no permit is held and nobody waits; typically awaited after
    /// [`close`](Self::close). On an open semaphore, it resolves at the first
    /// moment of idleness it observes (a later acquisition can end it again).
    pub fn idle(&self) -> Idle {
        Idle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// A snapshot of the state and counters.
    pub fn stats(&self) -> SemaphoreStats {
        let waiting = lock(&self.shared.waiters).depth;
        let word = self.shared.word.load(Ordering::Acquire);
        let counters = &self.shared.counters;
        SemaphoreStats {
            permits: self.shared.permits,
            in_use: self.shared.permits.saturating_sub(permits_in(word)),
            waiting,
            acquired: counters.acquired.load(Ordering::Relaxed),
            waited: counters.waited.load(Ordering::Relaxed),
            rejected: counters.rejected.load(Ordering::Relaxed),
            cancelled: counters.cancelled.load(Ordering::Relaxed),
            closed: word & CLOSED != 0,
        }
    }
}

/// A weak handle to a [`PrioritySemaphore`], for caches that must not pin it.
#[cfg(not(turbo_loom))]
#[derive(Clone)]
pub(crate) struct WeakSemaphore {
    shared: std::sync::Weak<Shared>,
}

#[cfg(not(turbo_loom))]
impl WeakSemaphore {
    /// The semaphore, if it still exists. It may be closed (evicted): callers
    /// acquire from it and treat a failure as "look it up again".
    pub(crate) fn upgrade(&self) -> Option<PrioritySemaphore> {
        self.shared
            .upgrade()
            .map(|shared| PrioritySemaphore { shared })
    }
}

#[cfg(turbo_loom)]
#[derive(Clone)]
pub(crate) struct WeakSemaphore;

#[cfg(turbo_loom)]
impl WeakSemaphore {
    pub(crate) fn upgrade(&self) -> Option<PrioritySemaphore> {
        None
    }
}

impl fmt::Debug for PrioritySemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrioritySemaphore")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Why [`PrioritySemaphore::try_acquire`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore is closed.
    Closed,
    /// No permit is free, or others wait for one.
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryAcquireError::Closed => "the semaphore is closed",
            TryAcquireError::NoPermits => "no permit is free",
        })
    }
}

impl std::error::Error for TryAcquireError {}

impl Shared {
    /// The fast path: `Some(Ok)` took a permit, `Some(Err)` closed, `None` means
    /// the caller must queue (no permit free, or others already wait).
    fn try_take(&self) -> Option<Result<(), ()>> {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if word & CLOSED != 0 {
                return Some(Err(()));
            }
            if word & WAITERS != 0 || permits_in(word) == 0 {
                return None;
            }
            match self.word.compare_exchange_weak(
                word,
                (word - ONE_PERMIT) | USED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if self.count_admissions {
                        self.counters.acquired.fetch_add(1, Ordering::Relaxed);
                    }
                    return Some(Ok(()));
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// Returns one permit: to the best waiter if anyone waits, else to the word.
    fn release(&self) {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if word & WAITERS != 0 {
                break;
            }
            match self.word.compare_exchange_weak(
                word,
                word + ONE_PERMIT,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(previous) => {
                    if previous & IDLE_WATCH != 0 {
                        self.wake_if_idle();
                    }
                    return;
                }
                Err(actual) => word = actual,
            }
        }
        let wakers = {
            let mut waiters = lock(&self.waiters);
            self.release_locked(&mut waiters)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Hands a permit to the best waiter, or back to the word if nobody waits.
    /// Returns the wakers to call once the lock is released.
    fn release_locked(&self, waiters: &mut MutexGuard<'_, Waiters>) -> Vec<Waker> {
        let mut wakers = Vec::new();
        if let Some(((rank, seq), waker)) = waiters.queue.pop_first() {
            waiters.depth[rank] -= 1;
            waiters.decided.insert(seq, Decision::Granted);
            self.counters.acquired.fetch_add(1, Ordering::Relaxed);
            wakers.extend(waker);
            if waiters.queue.is_empty() {
                self.clear_waiters_flag();
            }
        } else {
            // One step: a fast acquirer must never see the flag gone but the
            // permit not yet back.
            let mut word = self.word.load(Ordering::Acquire);
            loop {
                match self.word.compare_exchange_weak(
                    word,
                    (word & !WAITERS) + ONE_PERMIT,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(actual) => word = actual,
                }
            }
            wakers.extend(self.take_idle_wakers(waiters));
        }
        wakers
    }

    fn clear_waiters_flag(&self) {
        self.word.fetch_and(!WAITERS, Ordering::AcqRel);
    }

    fn idle_locked(&self, waiters: &Waiters) -> bool {
        waiters.queue.is_empty() && permits_in(self.word.load(Ordering::Acquire)) == self.permits
    }

    /// If idle, takes the idle watchers' wakers and stops watching.
    fn take_idle_wakers(&self, waiters: &mut Waiters) -> Vec<Waker> {
        if !waiters.idle_wakers.is_empty() && self.idle_locked(waiters) {
            self.word.fetch_and(!IDLE_WATCH, Ordering::AcqRel);
            std::mem::take(&mut waiters.idle_wakers)
        } else {
            Vec::new()
        }
    }

    fn wake_if_idle(&self) {
        let wakers = {
            let mut waiters = lock(&self.waiters);
            self.take_idle_wakers(&mut waiters)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The slow path of an acquisition: take a permit if one is free after all,
    /// or join the queue.
    fn enqueue(&self, rank: usize, waker: &Waker) -> Result<Enqueued, AcquireError> {
        let mut waiters = lock(&self.waiters);
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if word & CLOSED != 0 {
                return Err(AcquireError::Closed);
            }
            if word & WAITERS == 0 && permits_in(word) > 0 {
                // A permit came back between the fast path and the lock.
                match self.word.compare_exchange_weak(
                    word,
                    (word - ONE_PERMIT) | USED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        self.counters.acquired.fetch_add(1, Ordering::Relaxed);
                        return Ok(Enqueued::Acquired);
                    }
                    Err(actual) => {
                        word = actual;
                        continue;
                    }
                }
            }
            let total: usize = waiters.depth.iter().sum();
            let over_total = self.limits.total.is_some_and(|max| total >= max);
            let over_class =
                self.limits.per_class[rank].is_some_and(|max| waiters.depth[rank] >= max);
            if over_total || over_class {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(AcquireError::QueueFull);
            }
            if word & WAITERS == 0 {
                // Permits are 0 here: announce the queue before joining it, so a
                // release racing with us takes the slow path and finds us.
                match self.word.compare_exchange_weak(
                    word,
                    word | WAITERS | USED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {}
                    Err(actual) => {
                        word = actual;
                        continue;
                    }
                }
            }
            let seq = waiters.next_seq;
            waiters.next_seq += 1;
            waiters.queue.insert((rank, seq), Some(waker.clone()));
            waiters.depth[rank] += 1;
            self.counters.waited.fetch_add(1, Ordering::Relaxed);
            return Ok(Enqueued::Waiting(seq));
        }
    }

    /// A queued waiter's poll: its decision if one was made, else a fresh waker.
    fn poll_queued(&self, rank: usize, seq: u64, waker: &Waker) -> Option<Decision> {
        let mut waiters = lock(&self.waiters);
        if let Some(decision) = waiters.decided.remove(&seq) {
            return Some(decision);
        }
        if let Some(slot) = waiters.queue.get_mut(&(rank, seq)) {
            match slot {
                Some(existing) if existing.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        None
    }

    /// A queued waiter gave up: leave the line, or pass on a permit granted to it.
    fn cancel(&self, rank: usize, seq: u64) {
        let wakers = {
            let mut waiters = lock(&self.waiters);
            match waiters.decided.remove(&seq) {
                Some(Decision::Granted) => {
                    self.counters.cancelled.fetch_add(1, Ordering::Relaxed);
                    self.release_locked(&mut waiters)
                }
                // Already counted by the close that cancelled it.
                Some(Decision::Cancelled) => Vec::new(),
                None => {
                    if waiters.queue.remove(&(rank, seq)).is_some() {
                        self.counters.cancelled.fetch_add(1, Ordering::Relaxed);
                        waiters.depth[rank] -= 1;
                        if waiters.queue.is_empty() {
                            self.clear_waiters_flag();
                        }
                    }
                    self.take_idle_wakers(&mut waiters)
                }
            }
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

enum Enqueued {
    Acquired,
    Waiting(u64),
}

/// The future of [`PrioritySemaphore::acquire`].
#[must_use = "an acquisition does nothing unless polled"]
pub struct Acquire {
    shared: Arc<Shared>,
    rank: usize,
    state: AcquireState,
}

enum AcquireState {
    Start,
    Waiting(u64),
    Done,
}

impl Acquire {
    /// Whether this acquisition is queued behind others.
    pub fn is_waiting(&self) -> bool {
        matches!(self.state, AcquireState::Waiting(_))
    }
}

impl Future for Acquire {
    type Output = Result<PriorityPermit, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let outcome = match this.state {
            AcquireState::Start => match this.shared.try_take() {
                Some(Ok(())) => Ok(()),
                Some(Err(())) => Err(AcquireError::Closed),
                None => match this.shared.enqueue(this.rank, cx.waker()) {
                    Ok(Enqueued::Acquired) => Ok(()),
                    Ok(Enqueued::Waiting(seq)) => {
                        this.state = AcquireState::Waiting(seq);
                        return Poll::Pending;
                    }
                    Err(error) => Err(error),
                },
            },
            AcquireState::Waiting(seq) => match this.shared.poll_queued(this.rank, seq, cx.waker())
            {
                Some(Decision::Granted) => Ok(()),
                Some(Decision::Cancelled) => Err(AcquireError::Cancelled),
                None => return Poll::Pending,
            },
            AcquireState::Done => Err(AcquireError::Closed),
        };
        this.state = AcquireState::Done;
        Poll::Ready(outcome.map(|()| PriorityPermit {
            shared: Some(Arc::clone(&this.shared)),
        }))
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if let AcquireState::Waiting(seq) = self.state {
            self.shared.cancel(self.rank, seq);
        }
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("rank", &self.rank)
            .field("waiting", &self.is_waiting())
            .finish()
    }
}

/// A held permit; released on drop.
#[must_use = "dropping a permit releases it at once"]
pub struct PriorityPermit {
    /// `None` only after the permit was released.
    shared: Option<Arc<Shared>>,
}

impl Drop for PriorityPermit {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.release();
        }
    }
}

impl fmt::Debug for PriorityPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PriorityPermit").finish_non_exhaustive()
    }
}

/// The future of [`PrioritySemaphore::idle`].
#[must_use = "does nothing unless polled"]
pub struct Idle {
    shared: Arc<Shared>,
}

impl Future for Idle {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut waiters = lock(&self.shared.waiters);
        // Watch first, then check: a release that lands between the two sees the
        // flag and takes the lock, which it gets only after this poll is done.
        self.shared.word.fetch_or(IDLE_WATCH, Ordering::AcqRel);
        if self.shared.idle_locked(&waiters) {
            if waiters.idle_wakers.is_empty() {
                self.shared.word.fetch_and(!IDLE_WATCH, Ordering::AcqRel);
            }
            return Poll::Ready(());
        }
        if !waiters.idle_wakers.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.idle_wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl fmt::Debug for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idle").finish_non_exhaustive()
    }
}
