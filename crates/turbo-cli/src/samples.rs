//! [`Samples`]: durations collected by one worker and merged, with exact
//! nearest-rank percentiles.
//!
//! The demo keeps every sample (a few hundred thousand `u32` microseconds at
//! most) instead of a histogram: exact percentiles cost nothing at that size, and
//! each worker fills its own `Samples`, so recording takes no lock.
//!
//! ```
//! use std::time::Duration;
//! use turbo_cli::samples::Samples;
//!
//! let mut samples = Samples::default();
//! for ms in 1..=100 {
//!     samples.push(Duration::from_millis(ms));
//! }
//! assert_eq!(samples.percentile(50.0), Some(Duration::from_millis(50)));
//! assert_eq!(samples.percentile(99.0), Some(Duration::from_millis(99)));
//! assert_eq!(Samples::default().percentile(50.0), None);
//! ```

use std::time::Duration;

/// Durations in microseconds (saturating at about 71 minutes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Samples {
    micros: Vec<u32>,
    sorted: bool,
}

impl Samples {
    /// Records one duration.
    pub fn push(&mut self, duration: Duration) {
        let micros = u32::try_from(duration.as_micros()).unwrap_or(u32::MAX);
        self.micros.push(micros);
        self.sorted = false;
    }

    /// Takes every sample of `other`.
    pub fn merge(&mut self, other: Samples) {
        self.micros.extend(other.micros);
        self.sorted = false;
    }

    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The nearest-rank `p`th percentile (`p` in 0 to 100, clamped), or `None`
    /// without samples.
    pub fn percentile(&mut self, p: f64) -> Option<Duration> {
        if self.micros.is_empty() {
            return None;
        }
        if !self.sorted {
            self.micros.sort_unstable();
            self.sorted = true;
        }
        let p = if p.is_nan() {
            50.0
        } else {
            p.clamp(0.0, 100.0)
        };
        let count = self.micros.len();
        // Nearest rank: the smallest sample with at least p% of samples at or below.
        let rank = ((p / 100.0) * count as f64).ceil() as usize;
        let index = rank.clamp(1, count) - 1;
        Some(Duration::from_micros(u64::from(self.micros[index])))
    }

    /// The largest sample.
    pub fn max(&self) -> Option<Duration> {
        self.micros
            .iter()
            .max()
            .map(|&micros| Duration::from_micros(u64::from(micros)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_samples_give_the_same_percentiles_as_one_set() {
        let mut one = Samples::default();
        let mut left = Samples::default();
        let mut right = Samples::default();
        for micros in [7u64, 3, 9, 1, 4, 8, 2, 6, 5, 10] {
            let duration = Duration::from_micros(micros);
            one.push(duration);
            if micros % 2 == 0 {
                left.push(duration);
            } else {
                right.push(duration);
            }
        }
        left.merge(right);
        for p in [0.0, 10.0, 50.0, 90.0, 99.0, 100.0, f64::NAN, 250.0] {
            assert_eq!(left.percentile(p), one.percentile(p), "p{p}");
        }
        assert_eq!(one.percentile(0.0), Some(Duration::from_micros(1)));
        assert_eq!(one.percentile(90.0), Some(Duration::from_micros(9)));
        assert_eq!(one.max(), Some(Duration::from_micros(10)));
        assert_eq!(one.len(), 10);
    }

    #[test]
    fn huge_durations_saturate() {
        let mut samples = Samples::default();
        samples.push(Duration::from_secs(u64::MAX / 4));
        assert_eq!(
            samples.percentile(50.0),
            Some(Duration::from_micros(u64::from(u32::MAX)))
        );
    }
}
