//! Sound configuration: errors that name file, line and key; reloads under
//! concurrent readers that never see a torn configuration; failed reloads that
//! keep the previous one; and key normalization invariants (proptest).

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use proptest::prelude::*;
use turbo_playback::{
    ConfigError, ProblemKind, ReloadError, SoundConfig, SoundConfigHandle, normalize_key,
};

/// A configuration in which every field encodes `generation`, so a reader can
/// tell a whole one from a mix of two.
fn generation_config(generation: u64) -> String {
    format!(
        "volume = {volume}\ntimeout_ms = {timeout}\nthrottle_ms = {throttle}\n\
         player = [\"gen{generation}\"]\n[sounds]\na = \"{generation}.wav\"\n\
         b = {{ file = \"{generation}.wav\", throttle_ms = {generation} }}\n",
        volume = generation as f64 / 100.0,
        timeout = generation * 1000,
        throttle = generation * 100,
    )
}

/// The generation `config` was made from, checking every field agrees.
fn generation_of(config: &SoundConfig) -> u64 {
    let generation = config.timeout().as_secs();
    assert_eq!(config.timeout(), Duration::from_secs(generation));
    assert_eq!(config.volume(), (generation as f64 / 100.0) as f32);
    assert_eq!(config.throttle(), Duration::from_millis(generation * 100));
    assert_eq!(config.player().unwrap(), [format!("gen{generation}")]);
    let a = config.sound("a").unwrap();
    let b = config.sound("b").unwrap();
    let file = format!("{generation}.wav");
    assert!(a.file().ends_with(&file), "{}", a.file().display());
    assert!(b.file().ends_with(&file), "{}", b.file().display());
    assert_eq!(a.throttle(), config.throttle());
    assert_eq!(b.throttle(), Duration::from_millis(generation));
    generation
}

#[test]
fn readers_never_see_a_torn_config_during_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sounds.toml");
    std::fs::write(&path, generation_config(1)).unwrap();
    let handle = SoundConfigHandle::load(&path).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let handle = handle.clone();
            let stop = Arc::clone(&stop);
            let reads = Arc::clone(&reads);
            thread::spawn(move || {
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    let generation = generation_of(&handle.current());
                    assert!(generation >= last, "generations only go up");
                    last = generation;
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // The readers must be reading while the reloads happen, however the
    // threads get scheduled.
    while reads.load(Ordering::Relaxed) == 0 {
        thread::yield_now();
    }
    for generation in 2..=60 {
        std::fs::write(&path, generation_config(generation)).unwrap();
        handle.reload().unwrap();
        assert_eq!(generation_of(&handle.current()), generation);
        // A broken file in between: the reload fails and the config stays.
        std::fs::write(&path, "volume = \"loud\"\n").unwrap();
        assert!(handle.reload().is_err());
        assert_eq!(generation_of(&handle.current()), generation);
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) > 0);
}

#[test]
fn a_bad_reload_keeps_the_old_config_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sounds.toml");
    std::fs::write(&path, "[sounds]\nstop = \"stop.wav\"\n").unwrap();
    let handle = SoundConfigHandle::load(&path).unwrap();
    let before = handle.current();

    std::fs::write(
        &path,
        "volume = 0.5\n[sounds]\nstop = \"stop.wav\"\nPre-Tool_Use = { file = \"p.wav\", volum = 0.5 }\n",
    )
    .unwrap();
    let error = handle.reload().unwrap_err();
    let ReloadError::Config(ConfigError::Invalid { file, problems, .. }) = &error else {
        panic!("expected an invalid config, got {error:?}");
    };
    assert_eq!(Path::new(file), path);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, 4);
    assert_eq!(problems[0].key, "sounds.Pre-Tool_Use.volum");
    assert!(matches!(problems[0].kind, ProblemKind::UnknownField { .. }));
    let message = error.to_string();
    for part in [
        path.display().to_string(),
        "line 4".to_owned(),
        "sounds.Pre-Tool_Use.volum".to_owned(),
    ] {
        assert!(message.contains(&part), "{message:?} lacks {part:?}");
    }
    assert!(
        Arc::ptr_eq(&before, &handle.current()),
        "the old config stays"
    );

    std::fs::remove_file(&path).unwrap();
    let error = handle.reload().unwrap_err();
    assert!(
        matches!(error, ReloadError::Config(ConfigError::Read { .. })),
        "{error:?}"
    );
    assert!(Arc::ptr_eq(&before, &handle.current()));

    std::fs::write(&path, "[sounds]\ngo = \"go.wav\"\n").unwrap();
    let after = handle.reload().unwrap();
    assert!(after.sound("go").is_some() && after.sound("stop").is_none());
}

#[test]
fn a_config_without_a_file_cannot_reload_but_can_be_replaced() {
    let handle = SoundConfigHandle::new(SoundConfig::parse("[sounds]\na = \"a.wav\"").unwrap());
    assert!(matches!(handle.reload(), Err(ReloadError::NoSource)));
    assert!(handle.current().sound("a").is_some());
    let old = handle.replace(SoundConfig::default());
    assert!(old.sound("a").is_some());
    assert!(handle.current().sound("a").is_none());
}

#[test]
fn relative_files_resolve_against_the_config_directory() {
    let config = SoundConfig::parse_as(
        "[sounds]\na = \"a.wav\"\nb = \"/abs/b.wav\"",
        Path::new("/etc/turbo/sounds.toml"),
    )
    .unwrap();
    assert_eq!(
        config.sound("a").unwrap().file(),
        Path::new("/etc/turbo/a.wav")
    );
    assert_eq!(config.sound("b").unwrap().file(), Path::new("/abs/b.wav"));
    let loose = SoundConfig::parse("[sounds]\na = \"a.wav\"").unwrap();
    assert_eq!(loose.sound("a").unwrap().file(), Path::new("a.wav"));
}

/// A key of letters and digits, written with random case and separators.
fn spelled(word: &str, flips: &[bool], seps: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in word.chars().enumerate() {
        let sep = seps.get(i).copied().unwrap_or(0);
        match sep % 6 {
            1 => out.push('-'),
            2 => out.push('_'),
            3 => out.push('.'),
            4 => out.push(' '),
            _ => {}
        }
        if flips.get(i).copied().unwrap_or(false) {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

proptest! {
    #[test]
    fn normalization_is_idempotent_and_drops_separators(key in any::<String>()) {
        let once = normalize_key(&key);
        prop_assert_eq!(normalize_key(&once), once.clone());
        prop_assert!(!once.chars().any(|c| c.is_ascii_uppercase() || "-_.".contains(c) || c.is_whitespace()));
        // Nothing else is added or removed.
        let kept: String = key
            .chars()
            .filter(|c| !("-_.".contains(*c) || c.is_whitespace()))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        prop_assert_eq!(once, kept);
    }

    #[test]
    fn every_spelling_of_a_key_is_the_same_key(
        word in "[a-z0-9]{1,16}",
        flips_a in prop::collection::vec(any::<bool>(), 16),
        seps_a in prop::collection::vec(any::<u8>(), 16),
        flips_b in prop::collection::vec(any::<bool>(), 16),
        seps_b in prop::collection::vec(any::<u8>(), 16),
    ) {
        let a = spelled(&word, &flips_a, &seps_a);
        let b = spelled(&word, &flips_b, &seps_b);
        prop_assert_eq!(normalize_key(&a), word.clone());
        prop_assert_eq!(normalize_key(&a), normalize_key(&b));
        // A config written with one spelling answers to the other.
        let config = SoundConfig::parse(&format!("[sounds]\n{a:?} = \"x.wav\"\n")).unwrap();
        let sound = config.sound(&b);
        prop_assert!(sound.is_some());
        prop_assert_eq!(sound.unwrap().key(), word.as_str());
    }

    #[test]
    fn different_words_stay_different(a in "[a-z0-9]{1,8}", b in "[a-z0-9]{1,8}") {
        prop_assume!(a != b);
        prop_assert_ne!(normalize_key(&a.to_ascii_uppercase()), normalize_key(&b));
    }
}
