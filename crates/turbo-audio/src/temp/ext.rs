//! Sanitizing the extension that comes from outside (a URL, a content type).

/// The longest extension kept; longer hints fall back to [`DEFAULT_EXTENSION`].
pub const MAX_EXTENSION_LEN: usize = 8;

/// The extension used when the hint is missing or unusable.
pub const DEFAULT_EXTENSION: &str = "tmp";

/// Turns an untrusted extension hint into a safe one.
///
/// A leading dot is dropped (`.mp3` and `mp3` are the same hint); then the hint
/// is kept, lowercased, only if it is 1 to [`MAX_EXTENSION_LEN`] ASCII
/// alphanumerics. Anything else (path separators, dots, `..`, unicode, control
/// characters, an overlong hint) gives [`DEFAULT_EXTENSION`] rather than a
/// repaired guess: a hostile hint must never shape a path, and a partial repair
/// such as `../../x` → `x` would be a guess at what the sender meant.
///
/// # Examples
///
/// ```
/// use turbo_audio::temp::sanitize_extension;
///
/// assert_eq!(sanitize_extension(Some(".MP3")), "mp3");
/// assert_eq!(sanitize_extension(Some("../../x")), "tmp");
/// assert_eq!(sanitize_extension(Some("wäv")), "tmp");
/// assert_eq!(sanitize_extension(None), "tmp");
/// ```
pub fn sanitize_extension(hint: Option<&str>) -> String {
    let Some(hint) = hint else {
        return DEFAULT_EXTENSION.to_owned();
    };
    let hint = hint.strip_prefix('.').unwrap_or(hint);
    if (1..=MAX_EXTENSION_LEN).contains(&hint.len())
        && hint.bytes().all(|byte| byte.is_ascii_alphanumeric())
    {
        hint.to_ascii_lowercase()
    } else {
        DEFAULT_EXTENSION.to_owned()
    }
}

/// Whether `ext` is one [`sanitize_extension`] could have produced; the sweep
/// uses it to recognize the manager's own names.
pub(crate) fn is_sanitized(ext: &str) -> bool {
    (1..=MAX_EXTENSION_LEN).contains(&ext.len())
        && ext
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
}
