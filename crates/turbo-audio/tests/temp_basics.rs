//! The temp-file manager's API: layout, modes, keep, errors and injected
//! faults (`ENOSPC`, `EMFILE`, `EACCES`).

mod temp_support;

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use temp_support::{Call, FaultFs, shard_files};
use turbo_audio::temp::{TempError, TempFileManager, TempFileState, TempOp};

const ENOSPC: i32 = 28;
const EMFILE: i32 = 24;
const EACCES: i32 = 13;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// A manager over a fresh [`FaultFs`] that fails nothing yet.
fn faulty(root: &std::path::Path) -> (std::sync::Arc<FaultFs>, TempFileManager) {
    let fs = FaultFs::new();
    let manager = TempFileManager::builder()
        .root(root)
        .fs(fs.clone())
        .build()
        .expect("build");
    (fs, manager)
}

fn raw_errno(error: &TempError) -> Option<i32> {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::raw_os_error)
}

#[tokio::test]
async fn files_live_in_private_shards_and_die_with_their_handle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manager = TempFileManager::builder()
        .root(dir.path())
        .shards(4)
        .build()
        .expect("build");
    assert_eq!(manager.root(), dir.path().join("turbo"));
    assert_eq!(mode(manager.root()), 0o700);

    let mut files = Vec::new();
    for index in 0..8 {
        let mut file = manager
            .create(Some("ogg"), "owner-a")
            .await
            .expect("create");
        file.write(&vec![7u8; index * 10]).await.expect("write");
        files.push(file);
    }
    let shards: HashSet<_> = files
        .iter()
        .map(|file| file.path().parent().expect("shard").to_path_buf())
        .collect();
    assert_eq!(shards.len(), 4, "files spread over every shard");
    for shard in &shards {
        assert_eq!(shard.parent(), Some(manager.root()));
        assert_eq!(mode(shard), 0o700);
    }
    for file in &files {
        assert_eq!(mode(file.path()), 0o600);
        assert_eq!(
            file.path().extension().and_then(|e| e.to_str()),
            Some("ogg")
        );
        assert_eq!(file.state(), TempFileState::Writing);
    }
    let metrics = manager.metrics();
    assert_eq!(metrics.active_files, 8);
    assert_eq!(metrics.bytes_on_disk, (0..8).map(|i| i * 10).sum::<u64>());
    assert_eq!(metrics.created, 8);
    let listed = manager.files();
    assert_eq!(listed.len(), 8);
    assert!(listed.iter().all(|info| info.owner == "owner-a"));

    let paths: Vec<_> = files.iter().map(|file| file.path().to_path_buf()).collect();
    drop(files);
    manager.drain_deletions().await;
    for path in &paths {
        assert!(!path.exists(), "{} still exists", path.display());
    }
    let metrics = manager.metrics();
    assert_eq!((metrics.active_files, metrics.bytes_on_disk), (0, 0));
    assert_eq!((metrics.deleted, metrics.failures), (8, 0));
    assert_eq!(metrics.pending_deletions, 0);
    assert_eq!(metrics.oldest_pending_deletion, None);
}

#[tokio::test]
async fn finish_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manager = TempFileManager::builder()
        .root(dir.path())
        .sync_on_finish(true)
        .build()
        .expect("build");
    let mut file = manager.create(None, "reader").await.expect("create");
    assert!(file.is_empty());
    file.write(b"hello ").await.expect("write");
    file.write(b"world").await.expect("write");
    assert_eq!(file.finish().await.expect("finish"), 11);
    assert_eq!(file.state(), TempFileState::Complete);
    assert_eq!(
        file.path().extension().and_then(|e| e.to_str()),
        Some("tmp")
    );
    let mut text = String::new();
    file.open_read()
        .expect("open")
        .read_to_string(&mut text)
        .expect("read");
    assert_eq!(text, "hello world");
}

#[tokio::test]
async fn keep_moves_the_file_out_of_reach_of_deletion_and_sweeps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manager = TempFileManager::builder()
        .root(dir.path())
        .build()
        .expect("build");
    let mut file = manager
        .create(Some("flac"), "keeper")
        .await
        .expect("create");
    file.write(b"keep me").await.expect("write");
    let old = file.path().to_path_buf();
    let kept = file.keep().expect("keep");
    assert!(!old.exists());
    assert_eq!(kept.parent(), Some(manager.kept_dir()));
    manager.drain_deletions().await;
    let metrics = manager.metrics();
    assert_eq!(
        (metrics.kept, metrics.deleted, metrics.active_files),
        (1, 0, 0)
    );
    assert_eq!(metrics.bytes_on_disk, 0);

    drop(manager);
    let next = TempFileManager::builder()
        .root(dir.path())
        .build()
        .expect("build");
    next.sweep();
    assert_eq!(std::fs::read(&kept).expect("kept file"), b"keep me");
}

#[test]
fn build_outside_a_runtime_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = TempFileManager::builder()
        .root(dir.path())
        .build()
        .expect_err("no runtime");
    assert!(matches!(error, TempError::NoRuntime), "{error}");
    assert!(error.to_string().contains("Tokio runtime"));
}

#[tokio::test]
async fn out_of_range_settings_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (builder, setting) in [
        (TempFileManager::builder().shards(0), "shards"),
        (TempFileManager::builder().shards(257), "shards"),
        (TempFileManager::builder().io_limit(0), "io_limit"),
        (
            TempFileManager::builder().retry_backoff(
                std::time::Duration::from_secs(2),
                std::time::Duration::from_secs(1),
            ),
            "retry_backoff",
        ),
    ] {
        let error = builder.root(dir.path()).build().expect_err("invalid");
        assert!(
            matches!(error, TempError::InvalidConfig { setting: s, .. } if s == setting),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_symlinked_turbo_dir_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("turbo")).expect("symlink");
    let error = TempFileManager::builder()
        .root(dir.path())
        .build()
        .expect_err("symlink root");
    assert!(matches!(error, TempError::NotADirectory { .. }), "{error}");
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).expect("read").count(),
        0
    );
}

#[tokio::test]
async fn missing_root_parents_are_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("a").join("b");
    let manager = TempFileManager::builder()
        .root(&root)
        .build()
        .expect("build");
    assert_eq!(manager.root(), root.join("turbo"));
}

#[tokio::test]
async fn eacces_on_the_directory_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = FaultFs::new();
    fs.fail(Call::CreateDir, "/turbo", EACCES, None);
    let error = TempFileManager::builder()
        .root(dir.path())
        .fs(fs.clone())
        .build()
        .expect_err("eacces");
    assert!(
        matches!(&error, TempError::Io { op: TempOp::CreateDir, path, .. } if path.ends_with("turbo")),
        "{error}"
    );
    assert_eq!(error.io_kind(), Some(std::io::ErrorKind::PermissionDenied));
    assert!(std::error::Error::source(&error).is_some());
}

#[tokio::test]
async fn emfile_on_create_is_an_error_and_registers_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fs, manager) = faulty(dir.path());
    fs.fail(Call::CreateNew, "", EMFILE, Some(1));
    let error = manager.create(Some("mp3"), "x").await.expect_err("emfile");
    assert!(
        matches!(
            error,
            TempError::Io {
                op: TempOp::Create,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(raw_errno(&error), Some(EMFILE));
    assert_eq!(manager.metrics().active_files, 0);
    assert!(shard_files(manager.root()).is_empty());
    // The fault was one-shot: the next create works.
    let file = manager.create(Some("mp3"), "x").await.expect("create");
    assert!(file.path().exists());
}

#[tokio::test]
async fn enospc_on_write_fails_the_write_and_the_file_is_still_cleaned_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fs, manager) = faulty(dir.path());
    let mut file = manager.create(Some("wav"), "x").await.expect("create");
    file.write(b"first").await.expect("write");
    fs.fail(Call::Write, "", ENOSPC, None);
    let error = file.write(b"second").await.expect_err("enospc");
    assert!(
        matches!(
            error,
            TempError::Io {
                op: TempOp::Write,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(raw_errno(&error), Some(ENOSPC));
    assert!(
        error
            .to_string()
            .contains(&file.path().display().to_string())
    );
    assert_eq!(file.len(), 5, "a failed write adds nothing");
    let path = file.path().to_path_buf();
    drop(file);
    manager.drain_deletions().await;
    assert!(!path.exists());
}

#[test]
fn dropping_a_file_after_its_runtime_is_gone_does_not_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = temp_support::current_thread();
    let (manager, file) = runtime.block_on(async {
        let manager = TempFileManager::builder()
            .root(dir.path())
            .build()
            .expect("build");
        let file = manager.create(Some("mp3"), "late").await.expect("create");
        (manager, file)
    });
    drop(runtime);
    let path = file.path().to_path_buf();
    drop(file);
    // The deletion could not run; it is given up, not left pending forever.
    assert_eq!(manager.metrics().pending_deletions, 0);
    assert!(path.exists(), "left for the next startup sweep");
    drop(manager);
    let runtime = temp_support::current_thread();
    runtime.block_on(async {
        let next = TempFileManager::builder()
            .root(dir.path())
            .build()
            .expect("build");
        assert_eq!(next.metrics().swept_files, 1);
        assert!(!path.exists());
    });
}

#[tokio::test]
async fn create_with_writes_the_contents_in_the_same_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fs, manager) = faulty(dir.path());
    let mut file = manager
        .create_with(
            Some("ogg"),
            "x",
            bytes::Bytes::from_static(b"OggS and more"),
        )
        .await
        .expect("create_with");
    assert_eq!(file.len(), 13);
    assert_eq!(manager.metrics().bytes_on_disk, 13);
    file.write(b"!").await.expect("a later write appends");
    assert_eq!(std::fs::read(file.path()).expect("read"), b"OggS and more!");

    // A failing first write is a Write error, and the half-made file goes.
    fs.fail(Call::Write, "", ENOSPC, Some(1));
    let error = manager
        .create_with(Some("ogg"), "y", bytes::Bytes::from_static(b"doomed"))
        .await
        .expect_err("enospc");
    assert!(
        matches!(
            error,
            TempError::Io {
                op: TempOp::Write,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(raw_errno(&error), Some(ENOSPC));
    drop(file);
    manager.drain_deletions().await;
    assert!(shard_files(manager.root()).is_empty());
    assert_eq!(manager.metrics().active_files, 0);
}

#[tokio::test]
async fn an_open_turbo_dir_of_ours_is_repaired_to_0700() {
    let dir = tempfile::tempdir().expect("tempdir");
    let turbo = dir.path().join("turbo");
    std::fs::create_dir(&turbo).expect("mkdir");
    let shard = turbo.join("00");
    std::fs::create_dir(&shard).expect("mkdir");
    for path in [&turbo, &shard] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let _manager = TempFileManager::builder()
        .root(dir.path())
        .build()
        .expect("build");
    assert_eq!(mode(&turbo), 0o700);
    assert_eq!(mode(&shard), 0o700);
}

#[tokio::test]
async fn a_turbo_dir_of_another_user_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let turbo = dir.path().join("turbo");
    std::fs::create_dir(&turbo).expect("mkdir");
    std::fs::set_permissions(&turbo, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    // Another user's directory needs root to make; the tests run as root (CI
    // does), and without root there is no such input to test with.
    let nobody = 65_534;
    if let Err(error) = std::os::unix::fs::chown(&turbo, Some(nobody), Some(nobody)) {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::PermissionDenied,
            "{error}"
        );
        eprintln!("skipped: making a directory owned by another user needs root");
        return;
    }
    let error = TempFileManager::builder()
        .root(dir.path())
        .build()
        .expect_err("another user's directory");
    match &error {
        TempError::NotOwned { path, owner, .. } => {
            assert_eq!(path, &turbo);
            assert_eq!(*owner, nobody);
        }
        other => panic!("expected NotOwned, got {other}"),
    }
    assert!(error.to_string().contains(&turbo.display().to_string()));
    // Nothing was made in it, and its mode was not touched.
    assert_eq!(std::fs::read_dir(&turbo).expect("read").count(), 0);
    assert_eq!(mode(&turbo), 0o777);
}

#[tokio::test]
async fn a_shard_swapped_for_a_symlink_after_build_is_not_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let manager = TempFileManager::builder()
        .root(dir.path())
        .shards(1)
        .build()
        .expect("build");
    let shard = manager.root().join("00");
    std::fs::remove_dir(&shard).expect("rmdir");
    std::os::unix::fs::symlink(elsewhere.path(), &shard).expect("symlink");
    let error = manager
        .create(Some("mp3"), "test")
        .await
        .expect_err("created through a symlink");
    match &error {
        TempError::NotADirectory { path } => assert_eq!(path, &shard),
        other => panic!("expected NotADirectory, got {other}"),
    }
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).expect("read").count(),
        0,
        "nothing was created through the link"
    );
}
