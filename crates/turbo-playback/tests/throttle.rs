//! The throttle across processes and threads, its windows, and every way its
//! state directory can be broken: corrupt state, missing directory, an
//! unwritable directory (through an injected fault) and a held lock.
//!
//! The cross-process test re-executes this test binary: the parent runs
//! `exactly_one_winner_across_processes` normally, and starts 8 copies of itself
//! filtered to that same test with `TURBO_AUDIO_WINNER_CHILD` set, which makes
//! the test body run the child side instead (10 threads playing one key).

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use turbo_playback::{
    FsOp, ManualClock, OsFs, Player, SoundConfig, StateFs, StateReport, TEMP_FILE, Throttle,
    ThrottleError, Verdict,
};

const CHILD_ENV: &str = "TURBO_AUDIO_WINNER_CHILD";
const CHILD_INDEX_ENV: &str = "TURBO_AUDIO_WINNER_INDEX";
const PROCESSES: usize = 8;
const THREADS: usize = 10;
const ROUNDS: usize = 20;
/// Spellings of one key; each thread uses one, so normalization is on the path.
const SPELLINGS: [&str; 4] = [
    "Needs-Attention",
    "needs_attention",
    "NEEDS ATTENTION",
    "needsattention",
];

const WINDOW: Duration = Duration::from_secs(30);

/// A throttle with a manual clock over `dir`.
fn manual(dir: &Path) -> (Throttle, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    // Contention tests must not depend on how busy the machine is: with the
    // default 250 ms, 24 threads queued on one lock on a loaded 2-core CI box can
    // time out and read as a lost update.
    let throttle = Throttle::builder(dir)
        .clock(clock.clone())
        .lock_timeout(Duration::from_secs(20))
        .build();
    (throttle, clock)
}

fn state_keys(throttle: &Throttle) -> Vec<String> {
    let text = std::fs::read_to_string(throttle.state_path()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let map: BTreeMap<String, u64> =
        serde_json::from_value(value["last_played_ms"].clone()).unwrap();
    map.into_keys().collect()
}

#[test]
fn exactly_one_winner_across_processes() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        let index: usize = std::env::var(CHILD_INDEX_ENV).unwrap().parse().unwrap();
        child(Path::new(&dir), index);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for round in 0..ROUNDS {
        // A fresh state directory per round: every round is one window.
        let dir = tempfile::tempdir().unwrap();
        let sound = dir.path().join("attention.wav");
        std::fs::write(&sound, b"").unwrap();
        // The stand-in player appends a line to a file next to the sound, so the
        // test also counts how often a player really ran.
        std::fs::write(
            dir.path().join("sounds.toml"),
            format!(
                "player = [\"sh\", \"-c\", 'echo played >> \"$0.count\"', \"{{file}}\"]\n\
                 throttle_ms = {}\nmax_concurrent = {THREADS}\n[sounds]\nneeds-attention = 'attention.wav'\n",
                WINDOW.as_millis()
            ),
        )
        .unwrap();
        let children: Vec<_> = (0..PROCESSES)
            .map(|index| {
                Command::new(&exe)
                    .args([
                        "--exact",
                        "exactly_one_winner_across_processes",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env(CHILD_ENV, dir.path())
                    .env(CHILD_INDEX_ENV, index.to_string())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // Start every process at once: wait until all are ready, then open the gate.
        wait_for(|| (0..PROCESSES).all(|i| dir.path().join(format!("ready-{i}")).exists()));
        File::create(dir.path().join("go")).unwrap();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "round {round}: child failed: {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
        for index in 0..PROCESSES {
            let text = std::fs::read_to_string(dir.path().join(format!("result-{index}"))).unwrap();
            for line in text.lines() {
                *statuses.entry(line.to_owned()).or_default() += 1;
            }
        }
        let total = PROCESSES * THREADS;
        assert_eq!(
            statuses,
            BTreeMap::from([
                ("played".to_owned(), 1),
                ("throttled".to_owned(), total - 1)
            ]),
            "round {round}"
        );
        let plays = std::fs::read_to_string(dir.path().join("attention.wav.count")).unwrap();
        assert_eq!(
            plays.lines().count(),
            1,
            "round {round}: the player ran once"
        );
    }
}

/// The child side: 10 threads play the same key at once and write their
/// statuses (or errors) to `result-<index>`.
fn child(dir: &Path, index: usize) {
    let config = SoundConfig::load(dir.join("sounds.toml")).unwrap();
    // A generous lock timeout: 80 contenders on a busy 2-core machine must not
    // time out, and a timeout would show up as an error line, failing the test.
    let throttle = Throttle::builder(dir.join("state"))
        .lock_timeout(Duration::from_secs(20))
        .build();
    let player = Player::new(config, throttle);
    File::create(dir.join(format!("ready-{index}"))).unwrap();
    wait_for(|| dir.join("go").exists());
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let player = player.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                match player.play_and_wait(SPELLINGS[(index + thread) % SPELLINGS.len()]) {
                    Ok(outcome) => outcome.status.name().to_owned(),
                    Err(error) => format!("error: {error}"),
                }
            })
        })
        .collect();
    let lines: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    std::fs::write(dir.join(format!("result-{index}")), lines.join("\n")).unwrap();
}

/// Polls `done` every millisecond, for at most a minute.
fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn threads_of_one_process_exclude_each_other() {
    // One shared Throttle value and a second one over the same directory: both
    // must serialize, because every check opens its own lock handle.
    let dir = tempfile::tempdir().unwrap();
    // A generous lock timeout, as in `manual`: 16 threads on one lock beside the
    // multi-process test on a loaded machine must not read as a timeout.
    let patient = || {
        Throttle::builder(dir.path())
            .lock_timeout(Duration::from_secs(20))
            .build()
    };
    let first = patient();
    let second = patient();
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let throttle = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                throttle.check("same", WINDOW).unwrap().allowed()
            })
        })
        .collect();
    let allowed = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|&allowed| allowed)
        .count();
    assert_eq!(allowed, 1);
}

#[test]
fn concurrent_distinct_keys_lose_no_update() {
    // Every key is allowed once; a read-modify-write that is not atomic would
    // drop some keys from the state, and their second check would be allowed.
    let dir = tempfile::tempdir().unwrap();
    let (throttle, _clock) = manual(dir.path());
    let keys: Vec<String> = (0..24).map(|i| format!("key{i}")).collect();
    let barrier = Arc::new(Barrier::new(keys.len()));
    let threads: Vec<_> = keys
        .iter()
        .cloned()
        .map(|key| {
            let throttle = throttle.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                throttle.check(&key, WINDOW).unwrap().allowed()
            })
        })
        .collect();
    assert!(threads.into_iter().all(|t| t.join().unwrap()));
    let mut stored = state_keys(&throttle);
    stored.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(stored, expected);
    for key in &keys {
        assert!(!throttle.check(key, WINDOW).unwrap().allowed(), "{key}");
    }
}

#[test]
fn windows_are_per_key_and_reopen_once_after_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let (throttle, clock) = manual(dir.path());
    let short = Duration::from_secs(2);
    let long = Duration::from_secs(60);

    assert!(throttle.check("short", short).unwrap().allowed());
    assert!(throttle.check("long", long).unwrap().allowed());
    assert!(!throttle.check("short", short).unwrap().allowed());
    assert!(!throttle.check("long", long).unwrap().allowed());

    // One millisecond before the short window ends: still throttled, and told so.
    clock.advance(short - Duration::from_millis(1));
    assert_eq!(
        throttle.check("short", short).unwrap().verdict,
        Verdict::Throttled {
            retry_after: Duration::from_millis(1)
        }
    );
    clock.advance(Duration::from_millis(1));
    // The second window allows exactly one again; the long key is unaffected.
    let results: Vec<bool> = (0..5)
        .map(|_| throttle.check("Short", short).unwrap().allowed())
        .collect();
    assert_eq!(results, [true, false, false, false, false]);
    assert!(!throttle.check("long", long).unwrap().allowed());

    clock.advance(long);
    assert!(throttle.check("long", long).unwrap().allowed());
    assert!(!throttle.check("LONG", long).unwrap().allowed());
}

#[test]
fn corrupt_state_counts_as_empty_is_replaced_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (throttle, _clock) = manual(dir.path());
    assert!(throttle.check("a", WINDOW).unwrap().allowed());
    for garbage in [
        &b"{\"version\":1,\"last_pl"[..],
        b"\xff\xfe not json",
        b"[]",
        b"",
    ] {
        std::fs::write(throttle.state_path(), garbage).unwrap();
        let check = throttle.check("b", WINDOW).unwrap();
        assert!(check.allowed());
        assert!(
            matches!(&check.state, StateReport::Corrupt { reason } if !reason.is_empty()),
            "{:?}",
            check.state
        );
        // Replaced by a valid state holding only what was decided since.
        assert_eq!(state_keys(&throttle), ["b"]);
        assert_eq!(throttle.check("b", WINDOW).unwrap().state, StateReport::Ok);
        // "a" was lost with the corrupt file: counted as never played.
        std::fs::write(throttle.state_path(), garbage).unwrap();
        assert!(throttle.check("a", WINDOW).unwrap().allowed());
    }
}

#[test]
fn missing_directory_is_created_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("deep").join("er").join("state");
    let (throttle, _clock) = manual(&state_dir);
    let check = throttle.check("a", WINDOW).unwrap();
    assert!(check.allowed());
    assert_eq!(check.state, StateReport::DirCreated);
    assert!(throttle.lock_path().is_file());
    assert!(throttle.state_path().is_file());
    // The next check finds the state; removing only the state file is "missing".
    assert_eq!(throttle.check("b", WINDOW).unwrap().state, StateReport::Ok);
    std::fs::remove_file(throttle.state_path()).unwrap();
    assert_eq!(
        throttle.check("c", WINDOW).unwrap().state,
        StateReport::Missing
    );
}

/// The real file system, except that one step fails with `PermissionDenied`,
/// as an unwritable directory would make it (tests run as root, where
/// permission bits cannot).
#[derive(Debug)]
struct FailOn(FsOp);

impl FailOn {
    fn gate(&self, op: FsOp) -> io::Result<()> {
        if self.0 == op {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "injected: permission denied",
            ))
        } else {
            Ok(())
        }
    }
}

impl StateFs for FailOn {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.gate(FsOp::CreateDir)?;
        OsFs.create_dir_all(dir)
    }
    fn open_lock_file(&self, path: &Path) -> io::Result<File> {
        self.gate(FsOp::OpenLock)?;
        OsFs.open_lock_file(path)
    }
    fn read(&self, path: &Path, max: u64) -> io::Result<Vec<u8>> {
        self.gate(FsOp::ReadState)?;
        OsFs.read(path, max)
    }
    fn write_new(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        self.gate(FsOp::WriteState)?;
        OsFs.write_new(path, contents)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        if path.ends_with(TEMP_FILE) {
            self.gate(FsOp::RemoveTemp)?;
        } else {
            self.gate(FsOp::RemoveState)?;
        }
        OsFs.remove(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.gate(FsOp::RenameState)?;
        OsFs.rename(from, to)
    }
}

fn failing(dir: &Path, op: FsOp) -> Throttle {
    Throttle::builder(dir).fs(Arc::new(FailOn(op))).build()
}

#[test]
fn unwritable_directory_fails_each_step_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    // The directory cannot be created.
    let error = failing(&state_dir, FsOp::CreateDir)
        .check("a", WINDOW)
        .unwrap_err();
    assert!(
        matches!(&error, ThrottleError::Io { op: FsOp::CreateDir, path, .. } if *path == state_dir),
        "{error}"
    );
    assert!(!state_dir.exists());

    // Seed a valid state with the real file system.
    let good = Throttle::new(&state_dir);
    assert!(good.check("seeded", WINDOW).unwrap().allowed());
    let before = std::fs::read(good.state_path()).unwrap();

    for op in [
        FsOp::OpenLock,
        FsOp::ReadState,
        FsOp::RemoveTemp,
        FsOp::WriteState,
        FsOp::RenameState,
    ] {
        let error = failing(&state_dir, op).check("a", WINDOW).unwrap_err();
        match &error {
            ThrottleError::Io {
                op: failed, source, ..
            } => {
                assert_eq!(*failed, op);
                assert_eq!(source.kind(), io::ErrorKind::PermissionDenied);
            }
            other => panic!("{op:?}: expected an I/O error, got {other}"),
        }
        assert!(error.to_string().contains("permission denied"), "{error}");
        if op == FsOp::RenameState {
            // The previous state was already removed (see the protocol): the
            // next check finds none and says so.
            assert!(!good.state_path().exists());
            assert_eq!(
                good.check("seeded", WINDOW).unwrap().state,
                StateReport::Missing
            );
        } else {
            // Nothing was recorded.
            assert_eq!(std::fs::read(good.state_path()).unwrap(), before, "{op:?}");
        }
    }
    // The lock was released on every error path.
    assert!(good.check("a", WINDOW).unwrap().allowed());
}

#[test]
fn a_held_lock_times_out_with_a_typed_error_and_then_frees() {
    let dir = tempfile::tempdir().unwrap();
    let throttle = Throttle::builder(dir.path())
        .lock_timeout(Duration::from_millis(30))
        .build();
    assert!(throttle.check("a", Duration::from_millis(1)).is_ok());
    // Another open file description holds the lock, as another process would.
    let holder = OpenOptions::new()
        .read(true)
        .write(true)
        .open(throttle.lock_path())
        .unwrap();
    holder.lock().unwrap();
    let error = throttle.check("b", WINDOW).unwrap_err();
    match &error {
        ThrottleError::LockTimeout { lock_file, .. } => {
            assert_eq!(lock_file, &PathBuf::from(throttle.lock_path()));
        }
        other => panic!("expected a lock timeout, got {other}"),
    }
    assert!(!state_keys(&throttle).contains(&"b".to_owned()));
    holder.unlock().unwrap();
    assert!(throttle.check("b", WINDOW).unwrap().allowed());
}

#[test]
fn a_lock_held_by_another_process_times_out() {
    // flock(1) (util-linux, essential on Debian) holds the lock from a separate
    // process until the shell ends; the test closes the shell's stdin to end it.
    let dir = tempfile::tempdir().unwrap();
    let throttle = Throttle::builder(dir.path())
        .lock_timeout(Duration::from_millis(30))
        .build();
    assert!(throttle.check("a", Duration::from_millis(1)).is_ok());
    let mut holder = Command::new("sh")
        .args([
            "-c",
            "exec 9>>\"$0\"; flock -x 9 || exit 1; echo locked; cat >/dev/null",
        ])
        .arg(throttle.lock_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    io::BufRead::read_line(
        &mut io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked", "the holder process took the lock");
    assert!(matches!(
        throttle.check("b", WINDOW),
        Err(ThrottleError::LockTimeout { .. })
    ));
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    assert!(throttle.check("b", WINDOW).unwrap().allowed());
}
