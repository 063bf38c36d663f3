//! State and config files that someone else made: FIFOs, links to endless
//! devices, oversized files, a planted temporary-file link, an unknown-key
//! storm. Each test makes its hostile input itself (`mkfifo`, symlinks, sparse
//! files), and every call that used to hang runs on a thread the test stops
//! waiting for after a bound, so a regression fails instead of hanging.

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use turbo_playback::{
    ConfigError, FileKind, MAX_CONFIG_BYTES, MAX_KEYS, MAX_PROBLEMS, MAX_STATE_BYTES, PlayError,
    Player, ProblemKind, SoundConfig, StateReport, Throttle, ThrottleError,
};

/// Far beyond what any of these calls takes when it works; only a hang (or a
/// read of gigabytes) reaches it.
const HANG: Duration = Duration::from_secs(20);
const WINDOW: Duration = Duration::from_secs(60);

/// Runs `f` on its own thread and returns its result, failing the test if it
/// has not returned within [`HANG`]. A hung thread is left behind; the test
/// process ends anyway.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(f());
    });
    receive
        .recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what} did not return within {HANG:?}"))
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

fn check_in(dir: &Path) -> Result<turbo_playback::ThrottleCheck, ThrottleError> {
    let throttle = Throttle::new(dir);
    within("a throttle check", move || throttle.check("stop", WINDOW))
}

fn assert_not_regular(
    result: Result<turbo_playback::ThrottleCheck, ThrottleError>,
    path: &Path,
    kind: FileKind,
) {
    match result {
        Err(ThrottleError::NotRegularFile {
            path: found,
            kind: found_kind,
        }) => {
            assert_eq!(found, path);
            assert_eq!(found_kind, kind);
        }
        other => panic!(
            "expected NotRegularFile for {}, got {other:?}",
            path.display()
        ),
    }
}

#[test]
fn a_fifo_state_file_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("throttle.json");
    mkfifo(&state);
    let result = check_in(dir.path());
    let error = result.as_ref().err().map(ToString::to_string);
    assert_not_regular(result, &state, FileKind::Fifo);
    let message = error.unwrap();
    assert!(
        message.contains("throttle.json") && message.contains("FIFO"),
        "{message}"
    );
}

#[test]
fn a_state_link_to_dev_zero_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("throttle.json");
    symlink("/dev/zero", &state).unwrap();
    assert_not_regular(check_in(dir.path()), &state, FileKind::Symlink);
    // Still a link: the throttle did not replace it either.
    assert!(state.symlink_metadata().unwrap().file_type().is_symlink());
}

#[test]
fn a_planted_lock_link_is_refused_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("victim");
    let lock = dir.path().join("throttle.lock");
    symlink(&target, &lock).unwrap();
    assert_not_regular(check_in(dir.path()), &lock, FileKind::Symlink);
    assert!(!target.exists(), "nothing was created through the link");
}

#[test]
fn an_oversized_state_file_is_read_only_up_to_the_bound_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("throttle.json");
    // 300 MiB, sparse: no disk is used, but reading it whole would allocate it.
    let file = std::fs::File::create(&state).unwrap();
    file.set_len(300 << 20).unwrap();
    drop(file);
    let check = check_in(dir.path()).unwrap();
    assert!(check.allowed());
    match &check.state {
        StateReport::Corrupt { reason } => {
            assert!(reason.contains(&MAX_STATE_BYTES.to_string()), "{reason}");
        }
        other => panic!("expected a corrupt report, got {other:?}"),
    }
    let written = std::fs::metadata(&state).unwrap().len();
    assert!(
        written < 1024,
        "the state was replaced by a small one: {written} bytes"
    );
}

#[test]
fn a_planted_temp_link_is_removed_and_its_target_stays_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("precious");
    std::fs::write(&target, b"do not overwrite").unwrap();
    let temp = dir.path().join("throttle.json.tmp");
    symlink(&target, &temp).unwrap();
    // A dangling link (to a file that does not exist yet) must not be created
    // through either.
    let dangling_target = elsewhere.path().join("not-yet");
    let throttle = Throttle::new(dir.path());
    assert!(throttle.check("stop", WINDOW).unwrap().allowed());
    assert_eq!(std::fs::read(&target).unwrap(), b"do not overwrite");
    assert!(!temp.exists(), "the temporary file was renamed into place");
    let state = std::fs::read_to_string(throttle.state_path()).unwrap();
    assert!(state.contains("\"stop\""), "{state}");

    symlink(&dangling_target, &temp).unwrap();
    assert!(throttle.check("go", WINDOW).unwrap().allowed());
    assert!(
        !dangling_target.exists(),
        "nothing was created through the link"
    );
}

#[test]
fn the_state_keeps_at_most_max_keys() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(turbo_playback::ManualClock::new(1_700_000_000_000));
    let throttle = Throttle::builder(dir.path()).clock(clock.clone()).build();
    for index in 0..MAX_KEYS + 10 {
        clock.advance(Duration::from_millis(1));
        assert!(
            throttle
                .check(&format!("k{index}"), WINDOW)
                .unwrap()
                .allowed()
        );
    }
    let text = std::fs::read_to_string(throttle.state_path()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys = value["last_played_ms"].as_object().unwrap();
    assert_eq!(keys.len(), MAX_KEYS);
    // The least recently played went first; the newest is there.
    assert!(!keys.contains_key("k0") && !keys.contains_key("k9"));
    assert!(keys.contains_key(&format!("k{}", MAX_KEYS + 9)));
    assert!((text.len() as u64) < MAX_STATE_BYTES);
}

#[test]
fn an_overlong_key_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = "a".repeat(turbo_playback::MAX_KEY_BYTES + 1);
    assert!(matches!(
        Throttle::new(dir.path()).check(&key, WINDOW),
        Err(ThrottleError::KeyTooLong { len }) if len == key.len()
    ));
}

#[test]
fn play_with_a_fifo_state_fails_typed_and_plays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sound = dir.path().join("a.wav");
    std::fs::write(&sound, b"").unwrap();
    let state_dir = dir.path().join("state");
    std::fs::create_dir(&state_dir).unwrap();
    mkfifo(&state_dir.join("throttle.json"));
    let config = SoundConfig::parse(&format!(
        "player = \"true\"\n[sounds]\na = '{}'\n",
        sound.display()
    ))
    .unwrap();
    let player = Player::new(config, Throttle::new(&state_dir));
    let result = within("play", move || player.play("a"));
    assert!(
        matches!(
            result,
            Err(PlayError::Throttle(ThrottleError::NotRegularFile {
                kind: FileKind::Fifo,
                ..
            }))
        ),
        "{result:?}"
    );
}

fn load_within(path: &Path) -> Result<SoundConfig, ConfigError> {
    let path = path.to_path_buf();
    within("SoundConfig::load", move || SoundConfig::load(path))
}

fn assert_config_not_regular(path: &Path, kind: FileKind) {
    match load_within(path) {
        Err(
            ref error @ ConfigError::NotRegularFile {
                path: ref found,
                kind: found_kind,
            },
        ) => {
            assert_eq!(found, path);
            assert_eq!(found_kind, kind);
            assert!(
                error.to_string().contains(&path.display().to_string()),
                "{error}"
            );
        }
        other => panic!(
            "expected NotRegularFile for {}, got {other:?}",
            path.display()
        ),
    }
}

#[test]
fn config_fifo_devices_and_directories_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    mkfifo(&fifo);
    assert_config_not_regular(&fifo, FileKind::Fifo);
    for device in ["/dev/zero", "/dev/urandom"] {
        // Through a link, as a hostile user would plant it.
        let link = dir.path().join(format!("{}.toml", &device[5..]));
        symlink(device, &link).unwrap();
        assert_config_not_regular(&link, FileKind::CharDevice);
    }
    assert_config_not_regular(dir.path(), FileKind::Directory);
}

#[test]
fn a_config_link_to_a_regular_file_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.toml");
    std::fs::write(&real, "[sounds]\na = \"a.wav\"\n").unwrap();
    let link = dir.path().join("sounds.toml");
    symlink(&real, &link).unwrap();
    assert!(load_within(&link).unwrap().sound("a").is_some());
}

#[test]
fn an_oversized_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.toml");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(MAX_CONFIG_BYTES + 1).unwrap();
    drop(file);
    match load_within(&path) {
        Err(ConfigError::TooLarge { path: found, max }) => {
            assert_eq!(found, path);
            assert_eq!(max, MAX_CONFIG_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn an_unknown_key_storm_lists_the_first_problems_and_counts_the_rest() {
    let keys = 10_000;
    let text: String = (0..keys)
        .map(|index| format!("unknown{index} = 1\n"))
        .collect();
    let error = within("parse", move || SoundConfig::parse(&text)).unwrap_err();
    let ConfigError::Invalid {
        problems, omitted, ..
    } = &error
    else {
        panic!("expected Invalid, got {error:?}");
    };
    assert_eq!(problems.len(), MAX_PROBLEMS);
    assert_eq!(*omitted, keys - MAX_PROBLEMS);
    // The first ones by position, each on its own line.
    for (index, problem) in problems.iter().enumerate() {
        assert_eq!(problem.line, index + 1);
        assert_eq!(problem.key, format!("unknown{index}"));
        assert!(matches!(problem.kind, ProblemKind::UnknownField { .. }));
    }
    let message = error.to_string();
    assert!(message.ends_with("; and 9950 more problems"), "{message}");
    assert_eq!(message.matches("unknown field").count(), MAX_PROBLEMS);
}

#[test]
fn a_sound_file_that_is_a_fifo_is_not_found_and_no_player_waits_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("a.wav");
    mkfifo(&fifo);
    let config = SoundConfig::parse(&format!(
        "player = \"true\"\nthrottle_ms = 0\n[sounds]\na = '{}'\n",
        fifo.display()
    ))
    .unwrap();
    let player = Player::new(config, Throttle::new(dir.path().join("state")));
    let outcome = within("play", move || player.play("a").unwrap().outcome().clone());
    assert_eq!(outcome.status, turbo_playback::Status::NotFound);
    assert_eq!(outcome.path, Some(fifo));
    assert_eq!(outcome.pid, None);
}
