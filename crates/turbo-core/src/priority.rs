//! [`Priority`]: the four request classes, highest first.

use std::fmt;
use std::str::FromStr;

/// How urgent a request is. `Critical > High > Normal > Low`; the default is
/// `Normal`.
///
/// It rides in a request's extensions; layers that order work read it with
/// [`Priority::of`]. The number of classes is [`Priority::COUNT`], derived from
/// [`Priority::ALL`], so code that keeps one queue per class never hard-codes it.
///
/// ```
/// use turbo_core::Priority;
///
/// let mut request = http::Request::new(());
/// assert_eq!(Priority::of(&request), Priority::Normal);
/// request.extensions_mut().insert(Priority::Critical);
/// assert_eq!(Priority::of(&request), Priority::Critical);
/// assert!(Priority::Critical > Priority::Low);
/// assert_eq!(Priority::ALL[Priority::High.rank()], Priority::High);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    /// Served before everything else.
    Critical,
    /// Served before `Normal` and `Low`.
    High,
    /// The default.
    #[default]
    Normal,
    /// Served last.
    Low,
}

impl Priority {
    /// Every class, highest first: `ALL[p.rank()] == p`.
    pub const ALL: [Priority; 4] = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ];

    /// The number of classes.
    pub const COUNT: usize = Self::ALL.len();

    /// The position of this class in [`ALL`](Self::ALL): 0 for the highest. Use it to
    /// index per-class arrays.
    pub const fn rank(self) -> usize {
        match self {
            Priority::Critical => 0,
            Priority::High => 1,
            Priority::Normal => 2,
            Priority::Low => 3,
        }
    }

    /// The request's priority: its [`Priority`] extension, or `Normal`.
    pub fn of<B>(request: &http::Request<B>) -> Priority {
        request
            .extensions()
            .get::<Priority>()
            .copied()
            .unwrap_or_default()
    }

    /// The lowercase name, as accepted by `FromStr`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Priority {
    /// Higher classes compare greater: `Critical > High > Normal > Low`.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.rank().cmp(&self.rank())
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no priority class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePriorityError {
    input: String,
}

impl fmt::Display for ParsePriorityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown priority `{}`: expected one of critical, high, normal, low",
            self.input
        )
    }
}

impl std::error::Error for ParsePriorityError {}

impl FromStr for Priority {
    type Err = ParsePriorityError;

    /// Parses a class name, ignoring ASCII case.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(input.trim()))
            .ok_or_else(|| ParsePriorityError {
                input: input.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_critical_high_normal_low() {
        let mut sorted = vec![
            Priority::Low,
            Priority::Critical,
            Priority::Normal,
            Priority::High,
        ];
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(sorted, Priority::ALL.to_vec());
    }

    #[test]
    fn rank_indexes_all() {
        for (index, priority) in Priority::ALL.into_iter().enumerate() {
            assert_eq!(priority.rank(), index);
        }
    }

    #[test]
    fn parses_names() {
        for priority in Priority::ALL {
            assert_eq!(
                priority.to_string().to_uppercase().parse::<Priority>(),
                Ok(priority)
            );
        }
        assert!("urgent".parse::<Priority>().is_err());
    }
}
