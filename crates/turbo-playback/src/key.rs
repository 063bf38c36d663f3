//! Sound keys: one spelling per sound, whatever the caller typed.

/// Folds a sound key to its normalized form: ASCII letters are lowercased and
/// separators (`-`, `_`, `.` and whitespace) are removed, so `Pre-Tool_Use`,
/// `pre tool use` and `pretooluse` are the same key.
///
/// Every other character is kept as it is (non-ASCII letters are not case-folded,
/// which keeps the function idempotent and locale-free). A configuration accepts
/// only keys whose normalized form is non-empty ASCII letters and digits; a key
/// looked up at play time that does not normalize to such a form simply matches
/// no sound.
///
/// # Examples
///
/// ```
/// use turbo_playback::normalize_key;
///
/// assert_eq!(normalize_key("Pre-Tool_Use"), "pretooluse");
/// assert_eq!(normalize_key("  session.END "), "sessionend");
/// ```
pub fn normalize_key(key: &str) -> String {
    key.chars()
        .filter(|&c| !is_separator(c))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Whether `c` is dropped by [`normalize_key`].
pub(crate) fn is_separator(c: char) -> bool {
    matches!(c, '-' | '_' | '.') || c.is_whitespace()
}

/// Whether a normalized key is one a configuration may define.
pub(crate) fn is_valid_normalized(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::{is_valid_normalized, normalize_key};

    #[test]
    fn folds_case_and_separators() {
        assert_eq!(normalize_key("Pre-Tool_Use"), "pretooluse");
        assert_eq!(normalize_key("PRE TOOL\tUSE"), "pretooluse");
        assert_eq!(normalize_key("pretooluse"), "pretooluse");
    }

    #[test]
    fn keeps_other_characters() {
        assert_eq!(normalize_key("a/B"), "a/b");
        assert_eq!(normalize_key("Ärger"), "Ärger");
        assert!(!is_valid_normalized(&normalize_key("a/b")));
        assert!(!is_valid_normalized(&normalize_key("-_.")));
        assert!(is_valid_normalized(&normalize_key("Stop-2")));
    }
}
