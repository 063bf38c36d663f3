//! [`Playback`]: what [`Player::play`](crate::Player::play) hands back, and the
//! reaper that watches a started player.
//!
//! Once the player process is started, `play` returns. A reaper thread (one per
//! running player, so at most `max_concurrent` per [`Player`](crate::Player))
//! then polls the player, kills it with its whole process group at the timeout
//! or when the playback is cancelled, reaps it, and only then gives its slot
//! among `max_concurrent` back. If the thread cannot be created, the reaper runs
//! on the calling thread instead, and `play` returns when the player has ended.

use std::io;
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::config::MAX_TIMEOUT;
use crate::error::PlayError;
use crate::outcome::{Outcome, Status};

/// First and longest sleep between two checks of a running player.
const FIRST_POLL: Duration = Duration::from_micros(200);
const LONGEST_POLL: Duration = Duration::from_millis(10);

/// One playback: its outcome so far, and for a started player, a way to wait
/// for it or cancel it.
///
/// Dropping a `Playback` detaches it: the player keeps playing and the reaper
/// still kills it at the timeout.
///
/// # Examples
///
/// ```
/// use turbo_playback::{Player, SoundConfig, Status, Throttle};
///
/// let dir = tempfile::tempdir()?;
/// let sound = dir.path().join("done.wav");
/// std::fs::write(&sound, b"")?;
/// let config = SoundConfig::parse(&format!(
///     // A stand-in player that plays for 30 s (the sound file is `$0`).
///     "player = [\"sh\", \"-c\", \"exec sleep 30\", \"{{file}}\"]\n\
///      timeout_ms = 60000\n[sounds]\ndone = '{}'\n",
///     sound.display()
/// ))?;
/// let player = Player::new(config, Throttle::new(dir.path().join("state")));
///
/// let playback = player.play("done")?; // returns once the player has started
/// assert_eq!(playback.outcome().status, Status::Started);
/// let ended = playback.cancel()?; // kills it (and its process group), reaps it
/// assert!(matches!(ended.status, Status::Cancelled { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Playback {
    outcome: Outcome,
    running: Option<Arc<Shared>>,
}

#[derive(Debug)]
struct Shared {
    /// The final answer, once the reaper has it; taken by `wait`.
    result: Mutex<Option<Result<Outcome, PlayError>>>,
    done: Condvar,
    finished: AtomicBool,
    cancel: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Option<Result<Outcome, PlayError>>> {
        self.result.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Playback {
    /// A playback that was decided without starting a player.
    pub(crate) fn decided(outcome: Outcome) -> Self {
        Self {
            outcome,
            running: None,
        }
    }

    /// Hands `child` to a reaper and returns at once (or, if no thread can be
    /// made, after reaping it here).
    pub(crate) fn start(
        outcome: Outcome,
        child: Child,
        permit: Permit,
        timeout: Duration,
        play_started: Instant,
    ) -> Self {
        let shared = Arc::new(Shared {
            result: Mutex::new(None),
            done: Condvar::new(),
            finished: AtomicBool::new(false),
            cancel: AtomicBool::new(false),
        });
        let reaper = Reaper {
            outcome: outcome.clone(),
            child,
            _permit: permit,
            timeout,
            play_started,
            spawned: Instant::now(),
            shared: Arc::clone(&shared),
        };
        let job = Arc::new(Mutex::new(Some(reaper)));
        let for_thread = Arc::clone(&job);
        let spawned = std::thread::Builder::new()
            .name("turbo-playback-reaper".to_owned())
            .spawn(move || {
                if let Some(reaper) = take(&for_thread) {
                    reaper.run();
                }
            });
        if spawned.is_err() {
            // No thread: reap on this one rather than leave the player unwatched.
            if let Some(reaper) = take(&job) {
                reaper.run();
            }
        }
        Self {
            outcome,
            running: Some(shared),
        }
    }

    /// The outcome as of when [`play`](crate::Player::play) returned:
    /// [`Status::Started`] for a running player, else the final answer.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Whether a player was started and has not been reaped yet.
    pub fn is_running(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|shared| !shared.finished.load(Ordering::Acquire))
    }

    /// Waits until the player has ended (by itself, at the timeout, or
    /// cancelled) and been reaped, and returns the final outcome:
    /// [`Played`](Status::Played), [`Failed`](Status::Failed),
    /// [`TimedOut`](Status::TimedOut) or [`Cancelled`](Status::Cancelled). A
    /// playback that started no player returns its outcome at once. Blocks for
    /// at most the timeout plus the time to kill and reap.
    ///
    /// # Errors
    ///
    /// [`PlayError::Wait`] if waiting for or killing the player failed (the
    /// reaper still tried to kill and reap it).
    pub fn wait(self) -> Result<Outcome, PlayError> {
        let Some(shared) = self.running else {
            return Ok(self.outcome);
        };
        let mut result = shared.lock();
        loop {
            if let Some(result) = result.take() {
                return result;
            }
            result = shared
                .done
                .wait(result)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Stops the player now: kills it and its process group, reaps it, and
    /// returns the final outcome ([`Cancelled`](Status::Cancelled), or what it
    /// ended with if it ended first). Takes at most one poll interval (10 ms)
    /// plus the kill and reap.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn cancel(self) -> Result<Outcome, PlayError> {
        if let Some(shared) = &self.running {
            shared.cancel.store(true, Ordering::Release);
        }
        self.wait()
    }
}

/// A slot among `max_concurrent`; released on drop.
#[derive(Debug)]
pub(crate) struct Permit {
    active: Arc<AtomicUsize>,
}

impl Permit {
    pub(crate) fn try_take(active: &Arc<AtomicUsize>, limit: usize) -> Option<Self> {
        let mut current = active.load(Ordering::Relaxed);
        loop {
            if current >= limit {
                return None;
            }
            match active.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(Self {
                        active: Arc::clone(active),
                    });
                }
                Err(actual) => current = actual,
            }
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::Release);
    }
}

fn take(job: &Mutex<Option<Reaper>>) -> Option<Reaper> {
    job.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// Watches one started player until it is reaped.
struct Reaper {
    /// The outcome `play` returned, completed here.
    outcome: Outcome,
    child: Child,
    /// Held until the player is reaped.
    _permit: Permit,
    timeout: Duration,
    play_started: Instant,
    spawned: Instant,
    shared: Arc<Shared>,
}

impl Reaper {
    fn run(self) {
        let Self {
            mut outcome,
            mut child,
            _permit: permit,
            timeout,
            play_started,
            spawned,
            shared,
        } = self;
        let waited = wait_with_deadline(&mut child, timeout, &shared.cancel);
        outcome.timings.playback_us = Some(micros(spawned.elapsed()));
        outcome.timings.total_us = micros(play_started.elapsed());
        let result = match waited {
            Ok(Waited::Exited(status)) if status.success() => {
                outcome.status = Status::Played;
                Ok(outcome)
            }
            Ok(Waited::Exited(status)) => {
                outcome.status = Status::Failed {
                    exit_code: status.code(),
                    signal: signal_of(status),
                };
                Ok(outcome)
            }
            Ok(Waited::Killed(status)) => {
                outcome.status = Status::TimedOut {
                    timeout_ms: millis(timeout),
                    signal: signal_of(status),
                };
                Ok(outcome)
            }
            Ok(Waited::Cancelled(status)) => {
                outcome.status = Status::Cancelled {
                    signal: signal_of(status),
                };
                Ok(outcome)
            }
            Err(source) => Err(PlayError::Wait {
                pid: child.id(),
                source,
            }),
        };
        if let Ok(outcome) = &result {
            tracing::debug!(key = %outcome.key, status = outcome.status.name(), "playback ended");
        }
        // The slot is given back only now that the player is reaped.
        drop(permit);
        *shared.lock() = Some(result);
        shared.finished.store(true, Ordering::Release);
        shared.done.notify_all();
    }
}

/// How a watched player ended.
enum Waited {
    /// It exited by itself.
    Exited(ExitStatus),
    /// It was still running at the timeout and was killed; its reaped status.
    Killed(ExitStatus),
    /// The playback was cancelled and it was killed; its reaped status.
    Cancelled(ExitStatus),
}

/// Polls `child` until it exits, `timeout` passes or `cancel` is set; then kills
/// its process group and reaps it. On every path, including errors, a wait was
/// attempted, so no zombie is left behind.
fn wait_with_deadline(
    child: &mut Child,
    timeout: Duration,
    cancel: &AtomicBool,
) -> io::Result<Waited> {
    // Config values are at most MAX_TIMEOUT; the cap keeps the sum in range.
    let deadline = Instant::now() + timeout.min(MAX_TIMEOUT);
    let mut pause = FIRST_POLL;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Waited::Exited(status)),
            Ok(None) => {}
            Err(error) => {
                reap(child);
                return Err(error);
            }
        }
        let cancelled = cancel.load(Ordering::Acquire);
        let now = Instant::now();
        if cancelled || now >= deadline {
            if let Err(error) = kill_group(child) {
                reap(child);
                return Err(error);
            }
            let status = child.wait()?;
            // It may have finished on its own just before the kill.
            return Ok(if status.success() {
                Waited::Exited(status)
            } else if cancelled {
                Waited::Cancelled(status)
            } else {
                Waited::Killed(status)
            });
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(LONGEST_POLL);
    }
}

/// Kills the player and every process in its group (it was started as the
/// leader of a new one), before it is reaped, so the group id cannot have been
/// reused.
#[cfg(unix)]
fn kill_group(child: &mut Child) -> io::Result<()> {
    use rustix::process::{Pid, Signal, kill_process_group};
    let group = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    match group.map(|group| kill_process_group(group, Signal::KILL)) {
        Some(Ok(())) => Ok(()),
        // No group (it cannot be made on this system): the player alone.
        _ => child.kill(),
    }
}

#[cfg(not(unix))]
fn kill_group(child: &mut Child) -> io::Result<()> {
    child.kill()
}

/// Best effort on an error path: kill and reap, ignoring failures.
fn reap(child: &mut Child) {
    let _ = kill_group(child);
    let _ = child.wait();
}

#[cfg(unix)]
pub(crate) fn signal_of(status: ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
pub(crate) fn signal_of(_status: ExitStatus) -> Option<i32> {
    None
}

pub(crate) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_bounded_and_released() {
        let active = Arc::new(AtomicUsize::new(0));
        let first = Permit::try_take(&active, 2).unwrap();
        let second = Permit::try_take(&active, 2).unwrap();
        assert!(Permit::try_take(&active, 2).is_none());
        drop(first);
        assert!(Permit::try_take(&active, 2).is_some());
        drop(second);
        assert_eq!(active.load(Ordering::Relaxed), 0);
    }
}
