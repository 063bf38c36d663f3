//! [`DecodeWorkers`]: a bounded number of concurrent decodes, run on Tokio's
//! blocking threads, with a deterministic inline fallback.
//!
//! - **Bounded.** At most `max_concurrent` jobs hold a decode slot at once, inline
//!   or on a worker. A caller past the bound waits for a slot (cancellably:
//!   dropping the future leaves the queue) or, with [`WhenBusy::Fail`], gets
//!   [`WorkerError::Busy`] at once.
//! - **Worker side only.** A job receives its inputs by value and returns its
//!   output; it never sees the main-thread side (see
//!   [`main_thread`](crate::main_thread)), so it cannot finalize anything.
//! - **Cancellable.** Dropping the future of a running job raises its
//!   [`CancelToken`]; the decode loop checks it between packets, stops, and drops
//!   what the job owns (its file, its temp-file guard) on the worker.
//! - **Fallback.** With threads disabled ([`DecodeWorkers::inline`]) or outside a
//!   Tokio runtime, the same job runs on the caller's thread. Decoding is
//!   deterministic, so both give the same samples bit for bit and the same typed
//!   errors; the result says which ran ([`Route::Worker`] or [`Route::Inline`]).
//!
//! # Examples
//!
//! ```
//! use std::fs::File;
//! use turbo_audio::decode::DecodeOptions;
//! use turbo_audio::policy::Route;
//! use turbo_audio::worker::{DecodeWorkers, WhenBusy};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tone.ogg");
//! let workers = DecodeWorkers::new(2);
//! let (clip, ran) = workers
//!     .decode(File::open(path)?, DecodeOptions::new(), WhenBusy::Wait)
//!     .await?;
//! assert_eq!(ran, Route::Worker);
//!
//! let (same, ran) = DecodeWorkers::inline(2)
//!     .decode(File::open(path)?, DecodeOptions::new(), WhenBusy::Wait)
//!     .await?;
//! assert_eq!(ran, Route::Inline);
//! assert_eq!(clip, same);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::{Read, Seek};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::decode::{self, AudioClip, DecodeError, DecodeOptions};
use crate::policy::Route;

/// What a caller does when every decode slot is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenBusy {
    /// Wait in line for a slot (dropping the future leaves the line).
    #[default]
    Wait,
    /// Fail at once with [`WorkerError::Busy`].
    Fail,
}

/// Why a job did not produce its value.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkerError {
    /// Every slot was taken and the caller asked not to wait.
    Busy {
        /// The bound that was reached.
        max_concurrent: usize,
    },
    /// The decode failed; the same error an inline decode gives.
    Decode(DecodeError),
    /// The job panicked outside the decoder's own guard, or the runtime shut
    /// down under it.
    Lost {
        /// What happened.
        detail: String,
    },
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::Busy { max_concurrent } => write!(
                f,
                "all {max_concurrent} decode slots are busy and the caller asked not to wait"
            ),
            WorkerError::Decode(error) => error.fmt(f),
            WorkerError::Lost { detail } => write!(f, "the decode job was lost: {detail}"),
        }
    }
}

impl std::error::Error for WorkerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WorkerError::Decode(error) => Some(error),
            _ => None,
        }
    }
}

impl From<DecodeError> for WorkerError {
    fn from(error: DecodeError) -> Self {
        WorkerError::Decode(error)
    }
}

/// Raised when the caller of a running job has gone away.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// Whether the caller has gone away; a job checks this between steps.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Counters for diagnostics; each is read atomically, the set is not a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerMetrics {
    /// The bound on concurrent decodes.
    pub max_concurrent: usize,
    /// Callers waiting for a slot (the decode queue depth).
    pub queued: usize,
    /// Jobs holding a slot (running, inline or on a worker).
    pub active: usize,
    /// Jobs finished (with a value or an error).
    pub completed: u64,
    /// Jobs run inline (threads disabled or no runtime).
    pub inline_runs: u64,
    /// Callers turned away by [`WhenBusy::Fail`].
    pub busy_rejections: u64,
}

/// The decode slots and where jobs run. Clone it to share (an `Arc` inside).
#[derive(Debug, Clone)]
pub struct DecodeWorkers {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    threads: bool,
    queued: AtomicUsize,
    active: AtomicUsize,
    /// Woken when `active` drops to zero.
    idle: Notify,
    completed: AtomicU64,
    inline_runs: AtomicU64,
    busy_rejections: AtomicU64,
}

impl DecodeWorkers {
    /// Up to `max_concurrent` decodes at once (at least 1), on Tokio's blocking
    /// threads.
    pub fn new(max_concurrent: usize) -> Self {
        Self::build(max_concurrent, true)
    }

    /// Up to `max_concurrent` decodes at once (at least 1), each on its caller's
    /// thread: the fallback, and the choice for hosts without spare threads.
    pub fn inline(max_concurrent: usize) -> Self {
        Self::build(max_concurrent, false)
    }

    fn build(max_concurrent: usize, threads: bool) -> Self {
        let max_concurrent = max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        DecodeWorkers {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(max_concurrent)),
                max_concurrent,
                threads,
                queued: AtomicUsize::new(0),
                active: AtomicUsize::new(0),
                idle: Notify::new(),
                completed: AtomicU64::new(0),
                inline_runs: AtomicU64::new(0),
                busy_rejections: AtomicU64::new(0),
            }),
        }
    }

    /// The bound on concurrent decodes.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max_concurrent
    }

    /// Whether jobs go to worker threads (when a runtime is there).
    pub fn uses_threads(&self) -> bool {
        self.inner.threads
    }

    /// Resolves when no decode holds a slot. A job whose caller left releases its
    /// slot on the worker thread a moment after its result is made, so a drain
    /// waits for this as well as for its loads.
    pub async fn idle(&self) {
        loop {
            let mut notified = std::pin::pin!(self.inner.idle.notified());
            // Registered before the check, so a release in between is not lost.
            notified.as_mut().enable();
            if self.inner.active.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The counters now.
    pub fn metrics(&self) -> WorkerMetrics {
        let inner = &self.inner;
        WorkerMetrics {
            max_concurrent: inner.max_concurrent,
            queued: inner.queued.load(Ordering::Relaxed),
            active: inner.active.load(Ordering::Relaxed),
            completed: inner.completed.load(Ordering::Relaxed),
            inline_runs: inner.inline_runs.load(Ordering::Relaxed),
            busy_rejections: inner.busy_rejections.load(Ordering::Relaxed),
        }
    }

    /// Decodes a whole clip in a slot; returns it and where it ran.
    ///
    /// # Errors
    ///
    /// [`WorkerError::Busy`] under [`WhenBusy::Fail`], the decode's own error as
    /// [`WorkerError::Decode`], or [`WorkerError::Lost`].
    pub async fn decode<R>(
        &self,
        source: R,
        options: DecodeOptions,
        when_busy: WhenBusy,
    ) -> Result<(AudioClip, Route), WorkerError>
    where
        R: Read + Seek + Send + Sync + 'static,
    {
        self.run(when_busy, move |cancel| {
            decode::decode_until(source, &options, &|| cancel.is_cancelled())
        })
        .await
    }

    /// Runs `job` in a decode slot, on a worker thread when threads are enabled
    /// and a Tokio runtime is current, else on this thread.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode); a panic in `job` is [`WorkerError::Lost`] on
    /// both paths.
    pub async fn run<T, F>(&self, when_busy: WhenBusy, job: F) -> Result<(T, Route), WorkerError>
    where
        F: FnOnce(&CancelToken) -> Result<T, DecodeError> + Send + 'static,
        T: Send + 'static,
    {
        let slot = self.acquire(when_busy).await?;
        let cancel = CancelToken::default();
        let runtime = tokio::runtime::Handle::try_current().ok();
        let Some(runtime) = runtime.filter(|_| self.inner.threads) else {
            self.inner.inline_runs.fetch_add(1, Ordering::Relaxed);
            let result = run_guarded(job, &cancel);
            drop(slot);
            return result.map(|value| (value, Route::Inline));
        };
        let on_drop = CancelOnDrop(Some(cancel.clone()));
        let joined = runtime
            .spawn_blocking(move || {
                // The slot is released on the worker when the job is done, not
                // when the caller stops waiting: the bound counts real work.
                let _slot = slot;
                run_guarded(job, &cancel)
            })
            .await;
        on_drop.disarm();
        match joined {
            Ok(result) => result.map(|value| (value, Route::Worker)),
            Err(error) => Err(WorkerError::Lost {
                detail: error.to_string(),
            }),
        }
    }

    /// Runs `job` in a decode slot on this thread, whatever the thread setting:
    /// for work the policy routed inline, which still counts against the bound.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn run_inline<T, F>(
        &self,
        when_busy: WhenBusy,
        job: F,
    ) -> Result<(T, Route), WorkerError>
    where
        F: FnOnce(&CancelToken) -> Result<T, DecodeError>,
    {
        let slot = self.acquire(when_busy).await?;
        self.inner.inline_runs.fetch_add(1, Ordering::Relaxed);
        let result = run_guarded(job, &CancelToken::default());
        drop(slot);
        result.map(|value| (value, Route::Inline))
    }

    async fn acquire(&self, when_busy: WhenBusy) -> Result<Slot, WorkerError> {
        let inner = &self.inner;
        let permit = match inner.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits) if when_busy == WhenBusy::Fail => {
                inner.busy_rejections.fetch_add(1, Ordering::Relaxed);
                return Err(WorkerError::Busy {
                    max_concurrent: inner.max_concurrent,
                });
            }
            Err(_) => {
                inner.queued.fetch_add(1, Ordering::Relaxed);
                let _queued = Decrement(&inner.queued);
                inner
                    .slots
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| WorkerError::Lost {
                        detail: "the decode slots were closed".to_owned(),
                    })?
            }
        };
        inner.active.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            _permit: permit,
            inner: Arc::clone(inner),
        })
    }
}

fn run_guarded<T>(
    job: impl FnOnce(&CancelToken) -> Result<T, DecodeError>,
    cancel: &CancelToken,
) -> Result<T, WorkerError> {
    match catch_unwind(AssertUnwindSafe(|| job(cancel))) {
        Ok(result) => result.map_err(WorkerError::Decode),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(WorkerError::Lost {
                detail: format!("the decode job panicked: {message}"),
            })
        }
    }
}

/// A held decode slot: counted active until dropped.
struct Slot {
    _permit: OwnedSemaphorePermit,
    inner: Arc<Inner>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.inner.completed.fetch_add(1, Ordering::Relaxed);
        if self.inner.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

/// Decrements a waiter count when dropped, so a caller that gives up while
/// waiting leaves the count as well.
pub(crate) struct Decrement<'a>(pub(crate) &'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Cancels the job if the future running it is dropped before it finished.
struct CancelOnDrop(Option<CancelToken>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.cancel();
        }
    }
}
