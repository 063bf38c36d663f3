//! The sweep: planted symlinks, hostile names, ended sessions, and repeated and
//! concurrent sweeps that agree.

mod temp_support;

use std::path::PathBuf;
use std::time::Duration;

use temp_support::{Call, FaultFs, session_files, shard_files};
use turbo_audio::temp::{TempFileManager, sanitize_extension};

const EACCES: i32 = 13;

#[tokio::test]
async fn a_planted_symlink_is_removed_without_touching_its_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("outside");
    let target = outside.path().join("precious.txt");
    std::fs::write(&target, b"do not touch").expect("write target");
    let dir_target = outside.path().join("precious-dir");
    std::fs::create_dir(&dir_target).expect("mkdir");
    std::fs::write(dir_target.join("inner"), b"x").expect("write inner");

    let manager = TempFileManager::builder()
        .root(dir.path())
        .shards(2)
        .build()
        .expect("build");
    let shard = manager.root().join("00");
    // A link with one of our own names, one with a foreign name, one to a dir.
    let ours = shard.join(format!("{}.mp3", "8".repeat(32)));
    let link_a = shard.join("evil.mp3");
    let link_b = manager.root().join("01").join("dir-link");
    std::os::unix::fs::symlink(&target, &link_a).expect("symlink");
    std::os::unix::fs::symlink(&target, &ours).expect("symlink");
    std::os::unix::fs::symlink(&dir_target, &link_b).expect("symlink");

    let report = manager.sweep();
    assert_eq!(report.removed_symlinks, 3, "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    for link in [&link_a, &ours, &link_b] {
        assert!(
            std::fs::symlink_metadata(link).is_err(),
            "{}",
            link.display()
        );
    }
    assert_eq!(std::fs::read(&target).expect("target"), b"do not touch");
    assert_eq!(
        std::fs::read(dir_target.join("inner")).expect("inner"),
        b"x"
    );
}

#[tokio::test]
async fn hostile_extensions_stay_in_the_shard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manager = TempFileManager::builder()
        .root(dir.path())
        .build()
        .expect("build");
    let long = "a".repeat(10_000);
    let mut files = Vec::new();
    for hint in [
        "../../x",
        "/etc/passwd",
        "..",
        long.as_str(),
        "müsic",
        "mp3\0.sh",
        "😀",
    ] {
        let file = manager.create(Some(hint), "hostile").await.expect("create");
        let path = file.path();
        assert_eq!(
            path.parent().and_then(|p| p.parent()),
            Some(manager.root()),
            "{hint:?}"
        );
        assert_eq!(
            path.extension().and_then(|e| e.to_str()),
            Some("tmp"),
            "{hint:?}"
        );
        assert_eq!(sanitize_extension(Some(hint)), "tmp");
        files.push(file);
    }
    assert!(!dir.path().join("x").exists());
    assert_eq!(shard_files(manager.root()).len(), 7);
}

#[tokio::test]
async fn foreign_entries_are_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manager = TempFileManager::builder()
        .root(dir.path())
        .build()
        .expect("build");
    let foreign = manager.root().join("00").join("notes.txt");
    std::fs::write(&foreign, b"mine").expect("write");
    let subdir = manager.root().join("01").join("nested");
    std::fs::create_dir(&subdir).expect("mkdir");
    let report = manager.sweep();
    assert_eq!(report.skipped, 2, "{report:?}");
    assert!(foreign.exists() && subdir.exists());
}

/// Leaves `count` files of a session that has ended: its deletions were made
/// to fail and, with `keep_lock`, its lock file survived (unlocked), as after
/// a crash; without it, the lock file went as at a normal end.
async fn ended_session(root: &std::path::Path, count: usize, keep_lock: bool) -> Vec<PathBuf> {
    let fs = FaultFs::new();
    // Lock files live in `/turbo/sessions/`, temp files end in `.mp3`.
    let needle = if keep_lock { "/turbo/" } else { ".mp3" };
    fs.fail(Call::Remove, needle, EACCES, None);
    let manager = TempFileManager::builder()
        .root(root)
        .fs(fs)
        .delete_retries(0)
        .build()
        .expect("build");
    let mut paths = Vec::new();
    for _ in 0..count {
        let file = manager.create(Some("mp3"), "ended").await.expect("create");
        paths.push(file.path().to_path_buf());
    }
    manager.drain_deletions().await;
    assert_eq!(manager.metrics().failures, count as u64);
    drop(manager);
    paths
}

/// Waits until the ended sessions have let go of their locks: a dropped manager's
/// session ends when its last background task does, which on a busy machine can
/// be a moment after `drop`. Until then a sweep rightly takes it for live. Done
/// when two lock files are left (the live session's and the one kept on purpose)
/// and exactly one of them can be locked (the kept one). A condition, not a time:
/// it fails only if an ended session never lets go.
async fn ended_sessions_released(turbo_root: &std::path::Path) {
    for _ in 0..2_000 {
        let locks: Vec<PathBuf> = std::fs::read_dir(turbo_root.join("sessions"))
            .expect("read sessions")
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "lock"))
            .collect();
        let free = locks
            .iter()
            .filter(|path| std::fs::File::open(path).is_ok_and(|file| file.try_lock().is_ok()))
            .count();
        if locks.len() == 2 && free == 1 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("an ended session still holds its lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeated_and_concurrent_sweeps_agree_and_spare_live_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    let live = TempFileManager::builder()
        .root(&root)
        .build()
        .expect("build");
    let mut live_files = Vec::new();
    for _ in 0..20 {
        live_files.push(live.create(Some("mp3"), "live").await.expect("create"));
    }
    // In this order: the second session's startup sweep cannot remove anything
    // (all its removals fail), so the first session's leftovers stay too.
    let without_lock = ended_session(&root, 30, false).await;
    let with_lock = ended_session(&root, 30, true).await;
    assert!(with_lock.iter().chain(&without_lock).all(|p| p.exists()));
    // One live lock and one stale lock left behind, once the ended sessions'
    // last background work has let go of them.
    ended_sessions_released(live.root()).await;
    assert_eq!(session_files(live.root()).len(), 2);

    // Eight startups and sweeps at once, on threads of their own.
    let mut sweepers = Vec::new();
    for _ in 0..8 {
        let root = root.clone();
        let handle = tokio::runtime::Handle::current();
        sweepers.push(std::thread::spawn(move || {
            let _enter = handle.enter();
            let manager = TempFileManager::builder()
                .root(&root)
                .build()
                .expect("build");
            let again = manager.sweep();
            let metrics = manager.metrics();
            (metrics.swept_files, metrics.sweep_errors, again)
        }));
    }
    let mut swept = 0;
    for sweeper in sweepers {
        let (files, errors, again) = sweeper.join().expect("sweeper");
        assert_eq!(errors, 0);
        assert_eq!(again.errors, 0, "{again:?}");
        swept += files;
    }
    assert_eq!(swept, 60, "every stale file removed exactly once");
    for path in with_lock.iter().chain(&without_lock) {
        assert!(!path.exists(), "{}", path.display());
    }
    let left: Vec<PathBuf> = shard_files(live.root());
    let mut expected: Vec<PathBuf> = live_files.iter().map(|f| f.path().to_path_buf()).collect();
    expected.sort();
    assert_eq!(left, expected, "the live session's files survive");
    // The stale lock is gone; the sweepers' own locks went with them.
    assert_eq!(session_files(live.root()).len(), 1);

    // Repeated sweeps find nothing more and agree.
    let first = live.sweep();
    let second = live.sweep();
    assert_eq!(first, second);
    assert_eq!(
        (first.removed_files, first.errors, first.live_files),
        (0, 0, 20)
    );

    drop(live_files);
    tokio::time::timeout(Duration::from_secs(60), live.drain_deletions())
        .await
        .expect("drained");
    assert!(shard_files(live.root()).is_empty());
}

#[tokio::test]
async fn sweep_errors_are_diagnostics_not_failures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stale = ended_session(dir.path(), 3, true).await;
    let fs = FaultFs::new();
    fs.fail(Call::Remove, "/turbo/0", EACCES, None);
    fs.fail(Call::ReadDir, "/turbo/05", EACCES, None);
    let manager = TempFileManager::builder()
        .root(dir.path())
        .fs(fs.clone())
        .build()
        .expect("a failing sweep does not fail the build");
    let metrics = manager.metrics();
    assert_eq!(metrics.sweeps, 1);
    // One unreadable shard plus one failed removal per stale file.
    assert_eq!(metrics.sweep_errors, 1 + 3, "{metrics:?}");
    assert!(stale.iter().all(|p| p.exists()));
    fs.clear();
    let report = manager.sweep();
    assert_eq!((report.removed_files, report.errors), (3, 0), "{report:?}");
}

#[tokio::test]
async fn a_shard_swapped_for_a_symlink_is_not_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = tempfile::tempdir().expect("other root");
    let outside = tempfile::tempdir().expect("outside");
    // A name the sweep would remove if it found it in a shard: a file of a
    // session that has ended (its lock file is gone).
    let name = {
        let ended = TempFileManager::builder()
            .root(other.path())
            .build()
            .expect("build");
        let file = ended.create(Some("mp3"), "ended").await.expect("create");
        file.path().file_name().expect("name").to_os_string()
    };
    let bait = outside.path().join(&name);
    std::fs::write(&bait, b"outside the root").expect("bait");

    let manager = TempFileManager::builder()
        .root(dir.path())
        .shards(4)
        .build()
        .expect("build");
    let shard = manager.root().join("03");
    std::fs::remove_dir(&shard).expect("rmdir");
    std::os::unix::fs::symlink(outside.path(), &shard).expect("symlink");

    let report = manager.sweep();
    assert_eq!((report.removed_files, report.errors), (0, 1), "{report:?}");
    assert_eq!(std::fs::read(&bait).expect("bait"), b"outside the root");
}
