//! The player end to end with stand-in players (`sh` scripts, `sleep`): every
//! outcome, the timeout kill and reap, the concurrency bound, reloads, and that a
//! throttle failure starts no player.

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use turbo_playback::{
    FsOp, OsFs, PlayError, Player, SoundConfig, SoundConfigHandle, StateFs, StateReport, Status,
    Throttle, ThrottleError,
};

/// A temp dir with `a.wav` and a config written from `settings` (top-level
/// lines) and `sounds` (lines of the `[sounds]` table).
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(settings: &str, sounds: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.wav"), b"").unwrap();
        let setup = Self { dir };
        setup.write_config(settings, sounds);
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_config(&self, settings: &str, sounds: &str) {
        std::fs::write(
            self.path("sounds.toml"),
            format!("{settings}\n[sounds]\n{sounds}\n"),
        )
        .unwrap();
    }

    fn player(&self) -> Player {
        let config = SoundConfigHandle::load(self.path("sounds.toml")).unwrap();
        Player::new(config, Throttle::new(self.path("state")))
    }
}

/// A player command (TOML) running `script` in `sh` with the sound file as `$0`.
fn sh(script: &str) -> String {
    format!("player = [\"sh\", \"-c\", '{script}', \"{{file}}\"]")
}

#[test]
fn played_then_throttled_with_path_command_and_timings() {
    // A minute's window: the second play must land inside it however slowly
    // the first one's player process starts on a loaded machine.
    let settings = format!("{}\nthrottle_ms = 60000", sh("echo \"$0\" >> \"$0.count\""));
    let setup = Setup::new(&settings, "Stop = 'a.wav'");
    let player = setup.player();
    let first = player.play_and_wait("stop").unwrap();
    assert_eq!(first.status, Status::Played);
    assert_eq!(first.key, "stop");
    assert_eq!(first.path.as_deref(), Some(setup.path("a.wav").as_path()));
    let command = first.command.as_ref().unwrap();
    assert!(command[0].ends_with("/sh"), "{command:?}");
    assert_eq!(
        command.last().unwrap(),
        &setup.path("a.wav").display().to_string()
    );
    assert!(first.pid.is_some());
    assert_eq!(first.state, Some(StateReport::DirCreated));
    assert!(first.timings.playback_us.is_some() && first.timings.throttle_us.is_some());

    let second = player.play_and_wait("S-T-O-P").unwrap();
    assert!(
        matches!(second.status, Status::Throttled { retry_after_ms } if retry_after_ms > 0),
        "{second:?}"
    );
    assert_eq!(second.pid, None);
    assert_eq!(second.timings.playback_us, None);
    let json: serde_json::Value = serde_json::from_str(&second.to_json().unwrap()).unwrap();
    assert_eq!(json["status"], "throttled");
    assert_eq!(json["key"], "stop");
    assert_eq!(json["state"]["kind"], "ok");

    let plays = std::fs::read_to_string(setup.path("a.wav.count")).unwrap();
    assert_eq!(plays.lines().count(), 1);
}

#[test]
fn a_player_past_the_timeout_is_killed_and_reaped() {
    // `exec` makes the shell become `sleep`, so the pid is the sleeper's.
    let setup = Setup::new(
        &format!("{}\ntimeout_ms = 200", sh("exec sleep 10")),
        "slow = 'a.wav'",
    );
    let outcome = setup.player().play_and_wait("slow").unwrap();
    assert_eq!(
        outcome.status,
        Status::TimedOut {
            timeout_ms: 200,
            // The status collected by the reaping wait: killed by SIGKILL.
            signal: Some(9),
        }
    );
    let pid = outcome.pid.unwrap();
    assert!(!is_our_zombie(pid), "pid {pid} is a zombie of this process");
}

/// Whether `pid` is a zombie child of this process (Linux `/proc`).
fn is_our_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Fields after the parenthesized command name: state, ppid, ...
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let mut fields = after.split_whitespace();
    let state = fields.next().unwrap();
    let ppid: u32 = fields.next().unwrap().parse().unwrap();
    state == "Z" && ppid == std::process::id()
}

#[test]
fn zombie_check_sees_an_unreaped_child() {
    // The check above must be able to fail: a child that exited and was not
    // waited for is a zombie of this process.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_our_zombie(pid) {
        assert!(Instant::now() < deadline, "child never became a zombie");
        thread::sleep(Duration::from_millis(1));
    }
    child.wait().unwrap();
    assert!(!is_our_zombie(pid));
}

#[test]
fn a_missing_player_is_no_player_and_uses_no_window() {
    let setup = Setup::new("player = \"/nonexistent/bin/player --flag\"", "a = 'a.wav'");
    let player = setup.player();
    let outcome = player.play_and_wait("a").unwrap();
    assert_eq!(outcome.status, Status::NoPlayer);
    assert_eq!(
        outcome.command,
        Some(vec![
            "/nonexistent/bin/player".to_owned(),
            "--flag".to_owned()
        ])
    );
    assert_eq!(outcome.state, None);
    assert!(
        !setup.path("state").exists(),
        "the throttle was not consulted"
    );

    // No configured player and none of the known ones on the search path.
    let setup = Setup::new("", "a = 'a.wav'");
    let config = SoundConfigHandle::load(setup.path("sounds.toml")).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let player = Player::builder(config, Throttle::new(setup.path("state")))
        .search_path(empty.path())
        .build();
    let outcome = player.play_and_wait("a").unwrap();
    assert_eq!(outcome.status, Status::NoPlayer);
    assert_eq!(outcome.command, None);
}

#[test]
fn a_detected_player_gets_its_volume_flag() {
    // A fake `paplay` on the search path records its arguments.
    let setup = Setup::new("volume = 0.5", "a = { file = 'a.wav', volume = 0.5 }");
    let bin = setup.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let args_file = setup.path("args");
    write_script(
        &bin.join("paplay"),
        &format!("#!/bin/sh\necho \"$@\" > '{}'\n", args_file.display()),
    );
    let config = SoundConfigHandle::load(setup.path("sounds.toml")).unwrap();
    let player = Player::builder(config, Throttle::new(setup.path("state")))
        .search_path(&bin)
        .build();
    assert_eq!(player.play_and_wait("a").unwrap().status, Status::Played);
    let args = std::fs::read_to_string(&args_file).unwrap();
    assert_eq!(
        args.trim(),
        format!("--volume=16384 {}", setup.path("a.wav").display())
    );
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    // `cp` writes the script in its own process. Written from here, a child
    // that another test forks in that moment would inherit the open write
    // descriptor until its exec, and running the script would then fail with
    // ETXTBSY ("text file busy").
    let source = path.with_extension("src");
    std::fs::write(&source, text).unwrap();
    let copied = std::process::Command::new("cp")
        .arg(&source)
        .arg(path)
        .status()
        .unwrap();
    assert!(copied.success(), "cp {}", source.display());
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_failing_player_reports_its_exit_code() {
    let setup = Setup::new(&sh("exit 3"), "a = 'a.wav'");
    let outcome = setup.player().play_and_wait("a").unwrap();
    assert_eq!(
        outcome.status,
        Status::Failed {
            exit_code: Some(3),
            signal: None
        }
    );
    assert_eq!(outcome.status.exit_code(), 8);
}

#[test]
fn a_player_that_cannot_start_is_a_spawn_error() {
    let setup = Setup::new("", "a = 'a.wav'");
    // Executable bit set, but not a valid executable format.
    let bad = setup.path("bad-player");
    write_script(&bad, "\u{0}\u{1}not an executable");
    setup.write_config(&format!("player = '{}'", bad.display()), "a = 'a.wav'");
    match setup.player().play_and_wait("a") {
        Err(PlayError::Spawn { program, .. }) => assert_eq!(program, bad),
        other => panic!("expected a spawn error, got {other:?}"),
    }
}

#[test]
fn disabled_and_not_found() {
    let setup = Setup::new(
        "player = \"true\"",
        "on = 'a.wav'\noff = { file = 'a.wav', enabled = false }\ngone = 'missing.wav'",
    );
    let player = setup.player();
    assert_eq!(
        player.play_and_wait("off").unwrap().status,
        Status::Disabled
    );
    let unknown = player.play_and_wait("nothing-here").unwrap();
    assert_eq!(unknown.status, Status::NotFound);
    assert_eq!(unknown.path, None);
    let gone = player.play_and_wait("gone").unwrap();
    assert_eq!(gone.status, Status::NotFound);
    assert_eq!(gone.path, Some(setup.path("missing.wav")));
    assert!(!setup.path("state").exists(), "no window was used");

    setup.write_config("player = \"true\"\nenabled = false", "on = 'a.wav'");
    player.config().reload().unwrap();
    assert_eq!(player.play_and_wait("on").unwrap().status, Status::Disabled);
}

#[test]
fn the_concurrency_bound_gives_busy_without_using_the_window() {
    // The first playback waits until the test creates `<sound>.go`.
    let setup = Setup::new(
        &format!(
            "{}\nmax_concurrent = 1\nthrottle_ms = 0",
            sh("while [ ! -e \"$0.go\" ]; do sleep 0.01; done")
        ),
        "a = 'a.wav'\nb = { file = 'a.wav', throttle_ms = 60000 }",
    );
    let player = setup.player();
    let running = {
        let player = player.clone();
        thread::spawn(move || player.play_and_wait("a").unwrap())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while player.active() == 0 {
        assert!(
            Instant::now() < deadline,
            "the first playback never started"
        );
        thread::sleep(Duration::from_millis(1));
    }
    let busy = player.play_and_wait("b").unwrap();
    assert_eq!(busy.status, Status::Busy { limit: 1 });
    assert_eq!(busy.state, None, "the throttle was not consulted");
    File::create(setup.path("a.wav.go")).unwrap();
    assert_eq!(running.join().unwrap().status, Status::Played);
    assert_eq!(player.active(), 0);
    // The window of `b` is still unused.
    assert_eq!(player.play_and_wait("b").unwrap().status, Status::Played);
}

#[test]
fn a_reload_changes_what_plays_and_a_bad_one_changes_nothing() {
    let setup = Setup::new(&sh("echo \"$0\" >> \"$0.count\""), "a = 'a.wav'");
    std::fs::write(setup.path("b.wav"), b"").unwrap();
    let player = setup.player();
    assert_eq!(
        player.play_and_wait("a").unwrap().path,
        Some(setup.path("a.wav"))
    );

    setup.write_config(
        &sh("echo \"$0\" >> \"$0.count\""),
        "a = 'b.wav'\nthrottle_ms = 0",
    );
    assert!(
        player.config().reload().is_err(),
        "throttle_ms is not a sound"
    );
    assert_eq!(
        player.play_and_wait("a").unwrap().path,
        Some(setup.path("a.wav"))
    );

    setup.write_config(
        &sh("echo \"$0\" >> \"$0.count\""),
        "a = { file = 'b.wav', throttle_ms = 0 }",
    );
    player.config().reload().unwrap();
    let outcome = player.play_and_wait("a").unwrap();
    assert_eq!(outcome.status, Status::Played);
    assert_eq!(outcome.path, Some(setup.path("b.wav")));
}

/// The real file system except writes, which fail as in an unwritable directory.
#[derive(Debug)]
struct ReadOnly;

impl StateFs for ReadOnly {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        OsFs.create_dir_all(dir)
    }
    fn open_lock_file(&self, path: &Path) -> io::Result<File> {
        OsFs.open_lock_file(path)
    }
    fn read(&self, path: &Path, max: u64) -> io::Result<Vec<u8>> {
        OsFs.read(path, max)
    }
    fn write_new(&self, _path: &Path, _contents: &[u8]) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::PermissionDenied))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        OsFs.remove(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsFs.rename(from, to)
    }
}

#[test]
fn a_throttle_failure_starts_no_player() {
    let setup = Setup::new(&sh("echo \"$0\" >> \"$0.count\""), "a = 'a.wav'");
    let config = SoundConfig::load(setup.path("sounds.toml")).unwrap();
    let throttle = Throttle::builder(setup.path("state"))
        .fs(Arc::new(ReadOnly))
        .build();
    let player = Player::new(config, throttle);
    match player.play_and_wait("a") {
        Err(
            error @ PlayError::Throttle(ThrottleError::Io {
                op: FsOp::WriteState,
                ..
            }),
        ) => {
            assert_eq!(error.exit_code(), 11);
        }
        other => panic!("expected a throttle write error, got {other:?}"),
    }
    assert!(!setup.path("a.wav.count").exists(), "no player ran");
    assert_eq!(player.active(), 0, "the permit was released");
}

/// A player (TOML) that waits until the test creates `<sound>.go`: it cannot
/// have finished before that, however the machine is scheduled.
fn gated() -> String {
    sh("while [ ! -e \"$0.go\" ]; do sleep 0.01; done")
}

#[test]
fn play_returns_while_the_player_is_still_running() {
    let setup = Setup::new(&format!("{}\nthrottle_ms = 0", gated()), "a = 'a.wav'");
    let player = setup.player();
    let playback = player.play("a").unwrap();
    // The gate is closed, so the player is running: play did not wait for it.
    assert_eq!(playback.outcome().status, Status::Started);
    assert!(playback.outcome().pid.is_some());
    assert_eq!(playback.outcome().timings.playback_us, None);
    assert!(playback.is_running());
    assert_eq!(player.active(), 1, "the slot is held while it plays");
    File::create(setup.path("a.wav.go")).unwrap();
    let ended = playback.wait().unwrap();
    assert_eq!(ended.status, Status::Played);
    assert!(ended.timings.playback_us.is_some());
    assert_eq!(player.active(), 0);
}

#[test]
fn sixteen_concurrent_callers_all_return_before_their_sounds_end() {
    const CALLERS: usize = 16;
    let setup = Setup::new(
        &format!("{}\nthrottle_ms = 0\nmax_concurrent = {CALLERS}", gated()),
        "a = 'a.wav'",
    );
    let player = setup.player();
    let barrier = Arc::new(std::sync::Barrier::new(CALLERS));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let player = player.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                player.play("a").unwrap()
            })
        })
        .collect();
    // Every call returns although no sound can end before the gate opens
    // below: a play that waited for its sound would never return here.
    let playbacks: Vec<_> = callers.into_iter().map(|c| c.join().unwrap()).collect();
    for playback in &playbacks {
        assert_eq!(playback.outcome().status, Status::Started);
        assert!(playback.is_running());
    }
    assert_eq!(player.active(), CALLERS);
    File::create(setup.path("a.wav.go")).unwrap();
    for playback in playbacks {
        assert_eq!(playback.wait().unwrap().status, Status::Played);
    }
    assert_eq!(player.active(), 0);
}

/// Whether `pid` is still a live process (absent or a zombie counts as gone).
fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    !after.starts_with('Z')
}

/// Waits up to 10 s for `path` to hold a pid, and returns it.
fn read_pid(path: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} never held a pid",
            path.display()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_timeout_kills_the_players_whole_process_group() {
    // The player starts a grandchild and waits for it: killing the player alone
    // would leave the grandchild playing.
    let setup = Setup::new(
        &format!(
            "{}\ntimeout_ms = 300\nthrottle_ms = 0",
            sh("sleep 30 & echo $! > \"$0.pid\"; wait")
        ),
        "a = 'a.wav'",
    );
    let playback = setup.player().play("a").unwrap();
    let grandchild = read_pid(&setup.path("a.wav.pid"));
    let ended = playback.wait().unwrap();
    assert_eq!(
        ended.status,
        Status::TimedOut {
            timeout_ms: 300,
            signal: Some(9)
        }
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while is_alive(grandchild) {
        assert!(
            Instant::now() < deadline,
            "grandchild {grandchild} outlived the timeout kill"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_liveness_check_sees_a_live_process() {
    // `is_alive` above must be able to say yes.
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    assert!(is_alive(child.id()));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!is_alive(child.id()));
}

#[test]
fn cancel_kills_and_reaps_and_frees_the_slot() {
    let setup = Setup::new(
        &format!("{}\nthrottle_ms = 0\ntimeout_ms = 600000", gated()),
        "a = 'a.wav'",
    );
    let player = setup.player();
    let playback = player.play("a").unwrap();
    let pid = playback.outcome().pid.unwrap();
    let ended = playback.cancel().unwrap();
    assert_eq!(ended.status, Status::Cancelled { signal: Some(9) });
    assert_eq!(ended.status.exit_code(), 14);
    assert!(!is_our_zombie(pid));
    assert!(!is_alive(pid));
    assert_eq!(player.active(), 0);
}

#[test]
fn a_dropped_playback_is_still_reaped_at_the_timeout() {
    let setup = Setup::new(
        &format!("{}\ntimeout_ms = 200\nthrottle_ms = 0", sh("exec sleep 30")),
        "a = 'a.wav'",
    );
    let player = setup.player();
    let pid = player.play("a").unwrap().outcome().pid.unwrap();
    // The handle is gone; the reaper still ends the player and frees the slot.
    let deadline = Instant::now() + Duration::from_secs(20);
    while player.active() > 0 {
        assert!(
            Instant::now() < deadline,
            "the reaper never ended the player"
        );
        thread::sleep(Duration::from_millis(5));
    }
    assert!(!is_alive(pid));
    assert!(!is_our_zombie(pid));
}
