//! Extension sanitizing never lets an outside hint shape a path.

use std::path::Path;

use proptest::prelude::*;
use turbo_audio::temp::{DEFAULT_EXTENSION, MAX_EXTENSION_LEN, sanitize_extension};

fn is_safe(ext: &str) -> bool {
    (1..=MAX_EXTENSION_LEN).contains(&ext.len())
        && ext
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

proptest! {
    #[test]
    fn any_hint_gives_a_safe_extension(hint in any::<String>()) {
        let ext = sanitize_extension(Some(&hint));
        prop_assert!(is_safe(&ext), "{hint:?} -> {ext:?}");
        let shard = Path::new("/cache/turbo/0a");
        let path = shard.join(format!("0123.{ext}"));
        prop_assert_eq!(path.parent(), Some(shard));
        prop_assert_eq!(path.components().count(), shard.components().count() + 1);
    }

    #[test]
    fn hostile_looking_hints_fall_back(hint in r"[a-z0-9]{1,4}[./\\\x00-\x1f é€][a-z0-9./]{0,8}") {
        prop_assert_eq!(sanitize_extension(Some(&hint)), DEFAULT_EXTENSION);
    }

    #[test]
    fn plain_hints_are_kept_lowercased(hint in "\\.?[A-Za-z0-9]{1,8}") {
        let ext = sanitize_extension(Some(&hint));
        prop_assert_eq!(ext.clone(), hint.trim_start_matches('.').to_ascii_lowercase());
        // Sanitizing is idempotent.
        prop_assert_eq!(sanitize_extension(Some(&ext)), ext);
    }
}

#[test]
fn the_issues_hostile_examples_are_neutralized() {
    for hint in [
        "../../x",
        "..",
        ".",
        "",
        "a/b",
        "mp3\0",
        "ü",
        "mp3 ",
        ".tar.gz",
        &"a".repeat(9),
    ] {
        assert_eq!(
            sanitize_extension(Some(hint)),
            DEFAULT_EXTENSION,
            "{hint:?}"
        );
    }
    assert_eq!(sanitize_extension(Some(&"a".repeat(8))), "a".repeat(8));
}
