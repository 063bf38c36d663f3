//! [`MainThread`]: a queue of work that must run on the host's own thread (a
//! game loop, a UI thread), run only when that thread calls [`MainThread::pump`].
//!
//! Clip finalization (see [`pipeline`](crate::pipeline)) is posted here; decode
//! workers only post, never run. The first thread that pumps becomes the queue's
//! owner, and a pump from any other thread is refused with
//! [`PumpError::WrongThread`], so "runs only on the main thread" is checked, not
//! hoped for.
//!
//! Two ways to drive it:
//!
//! - a host loop calls [`pump`](MainThread::pump) once per frame or tick; each
//!   call runs the tasks that were queued when it started (tasks they post wait
//!   for the next pump, so one pump cannot run forever);
//! - async code on the main thread awaits [`run_until`](MainThread::run_until),
//!   which drives a future and pumps whenever a task arrives, for programs with no
//!   loop of their own (a CLI under `Runtime::block_on`).
//!
//! A task that panics unwinds out of `pump` to the host (the tasks after it stay
//! queued for the next pump): a bug in a finalizer is the host's to see.
//!
//! # Examples
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use turbo_audio::main_thread::MainThread;
//!
//! let main = MainThread::new();
//! let ran_on = Arc::new(Mutex::new(None));
//! let worker = {
//!     let (main, ran_on) = (main.clone(), Arc::clone(&ran_on));
//!     std::thread::spawn(move || {
//!         // A worker posts; it does not run the task.
//!         main.post(move || *ran_on.lock().unwrap() = Some(std::thread::current().id()));
//!     })
//! };
//! worker.join().unwrap();
//! assert_eq!(main.pending(), 1);
//! assert_eq!(main.pump()?, 1);
//! assert_eq!(*ran_on.lock().unwrap(), Some(std::thread::current().id()));
//! # Ok::<(), turbo_audio::main_thread::PumpError>(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::Poll;
use std::thread::ThreadId;

use tokio::sync::Notify;

type Task = Box<dyn FnOnce() + Send>;

/// Why a pump did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PumpError {
    /// The queue belongs to the thread that pumped it first; this is another.
    WrongThread {
        /// The owning thread.
        owner: ThreadId,
        /// The thread that tried to pump.
        caller: ThreadId,
    },
}

impl fmt::Display for PumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PumpError::WrongThread { owner, caller } => write!(
                f,
                "the main-thread queue belongs to thread {owner:?}; thread {caller:?} may not pump it"
            ),
        }
    }
}

impl std::error::Error for PumpError {}

/// The main-thread queue. Clone it to hand out posting handles (an `Arc`
/// inside); every clone is the same queue.
#[derive(Clone, Default)]
pub struct MainThread {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    queue: Mutex<VecDeque<Task>>,
    arrived: Notify,
    owner: OnceLock<ThreadId>,
    ran: AtomicU64,
}

impl fmt::Debug for MainThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MainThread")
            .field("owner", &self.owner())
            .field("pending", &self.pending())
            .field("ran", &self.ran())
            .finish()
    }
}

impl MainThread {
    /// An empty queue with no owner yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `task` to run on the main thread at its next pump. Callable from
    /// any thread; never runs the task itself.
    pub fn post(&self, task: impl FnOnce() + Send + 'static) {
        self.lock().push_back(Box::new(task));
        // `notify_one` keeps a permit if nobody waits yet, so a pump loop that
        // starts waiting after this still wakes.
        self.inner.arrived.notify_one();
    }

    /// Runs the tasks queued when the call starts, on this thread; returns how
    /// many ran. The first thread to pump becomes the owner.
    ///
    /// # Errors
    ///
    /// [`PumpError::WrongThread`] if another thread owns the queue; nothing runs.
    pub fn pump(&self) -> Result<usize, PumpError> {
        let caller = std::thread::current().id();
        let owner = *self.inner.owner.get_or_init(|| caller);
        if owner != caller {
            return Err(PumpError::WrongThread { owner, caller });
        }
        let due = self.lock().len();
        let mut ran = 0;
        while ran < due {
            // The lock is not held while a task runs: tasks may post.
            let Some(task) = self.lock().pop_front() else {
                break;
            };
            task();
            ran += 1;
            self.inner.ran.fetch_add(1, Ordering::Relaxed);
        }
        Ok(ran)
    }

    /// Drives `future` to completion on this thread, pumping whenever a task
    /// arrives. Await it where the main thread waits (for example directly
    /// under `Runtime::block_on`), not in a spawned task, whose thread changes.
    ///
    /// # Errors
    ///
    /// [`PumpError::WrongThread`] if another thread owns the queue.
    pub async fn run_until<F: Future>(&self, future: F) -> Result<F::Output, PumpError> {
        let mut future = pin!(future);
        loop {
            self.pump()?;
            let mut arrived = pin!(self.inner.arrived.notified());
            let output = poll_fn(|cx| {
                if let Poll::Ready(output) = future.as_mut().poll(cx) {
                    return Poll::Ready(Some(output));
                }
                arrived.as_mut().poll(cx).map(|()| None)
            })
            .await;
            if let Some(output) = output {
                return Ok(output);
            }
        }
    }

    /// Tasks waiting for a pump.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// Tasks run so far.
    pub fn ran(&self) -> u64 {
        self.inner.ran.load(Ordering::Relaxed)
    }

    /// The thread that owns the queue, once one has pumped.
    pub fn owner(&self) -> Option<ThreadId> {
        self.inner.owner.get().copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Task>> {
        // A task never runs under the lock, so a poisoned lock only means a
        // panic between push and pop; the queue itself is intact.
        self.inner
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{MainThread, PumpError};

    #[test]
    fn another_thread_may_not_pump_an_owned_queue() {
        let main = MainThread::new();
        assert_eq!(main.pump(), Ok(0));
        let count = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&count);
        main.post(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let other = main.clone();
        let refused = std::thread::spawn(move || other.pump())
            .join()
            .unwrap_or_else(|_| panic!("the pumping thread panicked"));
        assert!(matches!(refused, Err(PumpError::WrongThread { .. })));
        assert_eq!(count.load(Ordering::Relaxed), 0);
        assert_eq!(main.pump(), Ok(1));
        assert_eq!(count.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn tasks_posted_by_a_task_wait_for_the_next_pump() {
        let main = MainThread::new();
        let count = Arc::new(AtomicUsize::new(0));
        let (inner_main, counter) = (main.clone(), Arc::clone(&count));
        main.post(move || {
            let counter = Arc::clone(&counter);
            inner_main.post(move || {
                counter.fetch_add(1, Ordering::Relaxed);
            });
        });
        assert_eq!(main.pump(), Ok(1));
        assert_eq!(count.load(Ordering::Relaxed), 0);
        assert_eq!(main.pending(), 1);
        assert_eq!(main.pump(), Ok(1));
        assert_eq!(count.load(Ordering::Relaxed), 1);
        assert_eq!(main.ran(), 2);
    }
}
