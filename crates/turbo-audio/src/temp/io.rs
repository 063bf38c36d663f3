//! The I/O concurrency limit: every create, write, sync and delete runs on
//! Tokio's blocking pool under it, so a flood of downloads queues here instead
//! of thrashing the directory.
//!
//! A limit of `n` is `n` runner slots, not `n` semaphore permits handed from
//! task to task. An operation that finds a slot free starts a runner on the
//! blocking pool; one that finds them all busy joins a FIFO queue, and a runner
//! that finishes an operation takes the next queued one itself, on the same
//! blocking thread, before it gives its slot up. Under churn an operation then
//! costs one wake-up (the runner sending the result to the waiting task)
//! instead of three (a released permit waking the next task, that task waking a
//! blocking thread, the thread's join handle waking the task): the work is
//! kernel-bound, and each handoff between threads was a context switch on top.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::error::{TempError, TempOp};

/// One queued operation, type-erased; it sends its own result.
type Job = Box<dyn FnOnce() + Send>;

/// Counts and bounds file I/O.
#[derive(Debug)]
pub(crate) struct IoLimit {
    /// The runtime the manager was built in: blocking calls go to its pool even
    /// when the caller's future is polled by another executor (a game thread's
    /// `block_on`), where `tokio::task::spawn_blocking` would panic.
    runtime: Handle,
    /// The slots creates, writes, syncs and retried deletes run in.
    lane: Arc<Lane>,
    /// One of the `limit` slots, kept for the deletion drainer when the limit
    /// is 2 or more: behind a flood of creates, deletions would otherwise wait
    /// their turn while finished files pile up on disk. The total stays `limit`.
    drain_lane: Option<Arc<Lane>>,
    counters: Arc<IoCounters>,
}

#[derive(Debug, Default)]
pub(crate) struct IoCounters {
    /// Operations waiting for a slot.
    pub(crate) queued: AtomicUsize,
    /// Operations running.
    pub(crate) in_flight: AtomicUsize,
    /// The most ever in flight at once.
    pub(crate) peak: AtomicUsize,
}

/// A set of runner slots and the operations waiting for one.
pub(crate) struct Lane {
    slots: usize,
    state: Mutex<LaneState>,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        f.debug_struct("Lane")
            .field("slots", &self.slots)
            .field("running", &state.running)
            .field("queued", &state.jobs.len())
            .finish()
    }
}

/// What the lane's mutex guards: the slot count and the queue change together,
/// so an operation can never be queued after the last runner looked and left.
#[derive(Default)]
struct LaneState {
    running: usize,
    jobs: VecDeque<Job>,
}

impl Lane {
    fn new(slots: usize) -> Arc<Self> {
        Arc::new(Self {
            slots,
            state: Mutex::default(),
        })
    }

    /// The state; it is only changed by short, non-panicking sections (a job
    /// runs outside the lock), so poisoning is ignored.
    fn state(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One running operation in the counters; given back when dropped.
struct InFlight(Arc<IoCounters>);

impl InFlight {
    fn start(counters: Arc<IoCounters>) -> Self {
        let now = counters.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        counters.peak.fetch_max(now, Ordering::Relaxed);
        Self(counters)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One runner: runs operations from its lane until the queue is empty, then
/// gives its slot back.
struct Runner {
    lane: Arc<Lane>,
    counters: Arc<IoCounters>,
    /// Set when the loop ends normally; otherwise the runner was dropped unrun
    /// (the runtime is shutting down) and its drop cleans up.
    finished: bool,
}

impl Runner {
    fn run(mut self, first: Job) {
        let mut job = first;
        loop {
            // A panicking operation drops its result sender while unwinding, so
            // its caller gets `TempError::Worker`; the runner goes on with the
            // queue instead of stranding it.
            let _ = catch_unwind(AssertUnwindSafe(job));
            let mut state = self.lane.state();
            match state.jobs.pop_front() {
                Some(next) => {
                    self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                    job = next;
                }
                None => {
                    state.running -= 1;
                    self.finished = true;
                    return;
                }
            }
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Dropped unrun by a runtime shutting down. If it was the lane's last
        // runner nothing will run the queue: drop the queued operations, whose
        // callers then get `TempError::Worker` instead of waiting for ever.
        let abandoned = {
            let mut state = self.lane.state();
            state.running -= 1;
            if state.running == 0 {
                std::mem::take(&mut state.jobs)
            } else {
                VecDeque::new()
            }
        };
        self.counters
            .queued
            .fetch_sub(abandoned.len(), Ordering::Relaxed);
        drop(abandoned);
    }
}

impl IoLimit {
    pub(crate) fn new(limit: usize, runtime: Handle) -> Self {
        Self {
            runtime,
            lane: Lane::new(if limit >= 2 { limit - 1 } else { limit }),
            drain_lane: (limit >= 2).then(|| Lane::new(1)),
            counters: Arc::default(),
        }
    }

    pub(crate) fn counters(&self) -> &IoCounters {
        &self.counters
    }

    /// Runs `work` on the blocking pool once a slot is free.
    ///
    /// If the caller's future is dropped while `work` waits in the queue, `work`
    /// is dropped unrun when its turn comes; once it runs it finishes, and its
    /// result is dropped, so the limit holds for real I/O, not futures.
    pub(crate) async fn run<T, F>(&self, op: TempOp, path: &Path, work: F) -> Result<T, TempError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.run_with(&self.lane, op, path, work).await
    }

    /// The slots the deletion drainer runs in: its reserved one, or the shared
    /// ones when the limit is 1.
    pub(crate) fn drain_lane(&self) -> &Arc<Lane> {
        self.drain_lane.as_ref().unwrap_or(&self.lane)
    }

    /// [`run`](Self::run) in `lane` (see [`drain_lane`](Self::drain_lane)).
    pub(crate) async fn run_with<T, F>(
        &self,
        lane: &Arc<Lane>,
        op: TempOp,
        path: &Path,
        work: F,
    ) -> Result<T, TempError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (sender, result) = oneshot::channel();
        let counters = Arc::clone(&self.counters);
        let job: Job = Box::new(move || {
            // The caller went away while this waited: skip the I/O.
            if sender.is_closed() {
                return;
            }
            let output = {
                // Given back before the caller can see the result (and on a
                // panic), so a caller never observes its own finished operation
                // as still in flight.
                let _in_flight = InFlight::start(counters);
                work()
            };
            // A caller that went away since gets nothing; dropping the result
            // here is what cleans it up (a created file's handle schedules its
            // deletion).
            let _ = sender.send(output);
        });
        let start = {
            let mut state = lane.state();
            if state.running < lane.slots {
                state.running += 1;
                Some(job)
            } else {
                state.jobs.push_back(job);
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                None
            }
        };
        if let Some(job) = start {
            let runner = Runner {
                lane: Arc::clone(lane),
                counters: Arc::clone(&self.counters),
                finished: false,
            };
            drop(self.runtime.spawn_blocking(move || runner.run(job)));
        }
        result.await.map_err(|_| TempError::Worker {
            op,
            path: path.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::path::PathBuf;
    use std::pin::pin;
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;
    use std::task::{Context, Waker};

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_panicking_operation_fails_alone_and_its_runner_goes_on() {
        let runtime = runtime();
        let limit = IoLimit::new(1, runtime.handle().clone());
        let path = PathBuf::from("x");
        runtime.block_on(async {
            let (release, gate) = mpsc::channel::<()>();
            // The first operation holds the only slot until released, so the
            // panicking one and the one after it queue behind it and are run by
            // the same runner, one after the other.
            let first = limit.run(TempOp::Write, &path, move || gate.recv().is_ok());
            let panics = limit.run(TempOp::Write, &path, || -> u32 { panic!("injected") });
            let after = limit.run(TempOp::Write, &path, || 7u32);
            let (first, panics, after) = tokio::join!(first, panics, async {
                release.send(()).expect("release");
                after.await
            });
            assert!(first.expect("first"));
            assert!(
                matches!(panics, Err(TempError::Worker { .. })),
                "{panics:?}"
            );
            assert_eq!(after.expect("after"), 7);
        });
        let counters = limit.counters();
        assert_eq!(counters.in_flight.load(Ordering::Relaxed), 0);
        assert_eq!(counters.queued.load(Ordering::Relaxed), 0);
        assert_eq!(counters.peak.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_operation_cancelled_while_queued_never_runs() {
        let runtime = runtime();
        let limit = IoLimit::new(1, runtime.handle().clone());
        let path = PathBuf::from("x");
        let ran = Arc::new(AtomicBool::new(false));
        runtime.block_on(async {
            let (release, gate) = mpsc::channel::<()>();
            let first = limit.run(TempOp::Write, &path, move || gate.recv().is_ok());
            let mut first = pin!(first);
            let mut context = Context::from_waker(Waker::noop());
            assert!(first.as_mut().poll(&mut context).is_pending());
            {
                let flag = Arc::clone(&ran);
                let queued = limit.run(TempOp::Write, &path, move || {
                    flag.store(true, Ordering::SeqCst);
                });
                let mut queued = pin!(queued);
                assert!(queued.as_mut().poll(&mut context).is_pending());
                assert_eq!(limit.counters().queued.load(Ordering::Relaxed), 1);
                // Dropped here, still queued behind `first`.
            }
            release.send(()).expect("release");
            assert!(first.await.expect("first"));
            // Queued after the cancelled one: once it ran, the runner has
            // already taken (and skipped) the cancelled one.
            limit.run(TempOp::Write, &path, || ()).await.expect("last");
        });
        assert!(!ran.load(Ordering::SeqCst), "a cancelled operation ran");
        assert_eq!(limit.counters().queued.load(Ordering::Relaxed), 0);
    }
}
