//! [`Stamp`]: the clock a request's timeline is measured with.
//!
//! A request reads the clock twice on its fast path (its start, and its response
//! headers), so the read is a measurable share of what the context layer costs.
//! `std::time::Instant::now` goes through the vDSO's `clock_gettime` (about 25 ns
//! on the bench VM); `quanta` reads the CPU's invariant time-stamp counter and
//! scales it with a calibration taken once per process, in a few nanoseconds,
//! and falls back to the monotonic clock where the counter is not invariant.
//! Timelines only ever hold offsets from the request's start (`Duration`s), so
//! which clock measured them is not visible to callers.

use std::time::Duration;

/// An instant on the timeline clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp(quanta::Instant);

impl Stamp {
    /// The current instant.
    #[inline]
    pub(crate) fn now() -> Self {
        Self(quanta::Instant::now())
    }

    /// Calibrates the clock now if no clock read has yet in this process. The
    /// first read measures the counter against the monotonic clock for at least
    /// half a millisecond (at most 200 ms); a pool calls this when it is built, so
    /// that its first request does not pay for it.
    pub(crate) fn calibrate() {
        let _ = Self::now();
    }

    /// Time since `self`; zero rather than a panic should the counter ever read
    /// behind an earlier stamp (another core's counter a hair behind).
    #[inline]
    pub(crate) fn elapsed(self) -> Duration {
        quanta::Instant::now().saturating_duration_since(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_follows_the_monotonic_clock() {
        // The stamp is taken between two monotonic readings and read back between
        // two more, so its span must lie within theirs (up to calibration error),
        // however long the thread is preempted in between.
        let outer = std::time::Instant::now();
        let start = Stamp::now();
        let inner = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let shortest = inner.elapsed();
        let ours = start.elapsed();
        let longest = outer.elapsed();
        // 5 %: quanta calibrates against the monotonic clock once, on a possibly
        // loaded machine; a clock scaled wrong (or not ticking) is far outside it.
        let slack = Duration::from_micros(5) + longest / 20;
        assert!(ours + slack >= shortest, "{ours:?} < {shortest:?}");
        assert!(ours <= longest + slack, "{ours:?} > {longest:?}");
    }
}
