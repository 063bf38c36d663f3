//! Crash recovery: a process killed with SIGKILL mid-write leaves files that
//! the next manager's startup sweep removes, while the files of a manager that
//! is alive at the same time survive.
//!
//! The child is this test binary re-executed with `TURBO_TEMP_CRASH_ROOT` set:
//! [`crash_child`] then creates files, reports their paths, and keeps writing
//! until it is killed.

mod temp_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use temp_support::{session_files, shard_files};
use turbo_audio::temp::TempFileManager;

const ROOT_ENV: &str = "TURBO_TEMP_CRASH_ROOT";
const CHILD_FILES: usize = 12;
const CHILD_DEADLINE: Duration = Duration::from_secs(120);

/// Kills the child if the test fails before it does, so no orphan keeps
/// writing (and holding the test's output pipe open).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child's body; a no-op unless re-executed by the parent test.
#[test]
fn crash_child() {
    let Some(root) = std::env::var_os(ROOT_ENV) else {
        return;
    };
    let root = PathBuf::from(root);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let manager = TempFileManager::builder()
            .root(&root)
            .build()
            .expect("build");
        let mut files = Vec::new();
        for _ in 0..CHILD_FILES {
            let mut file = manager.create(Some("mp3"), "child").await.expect("create");
            file.write(&[1u8; 4096]).await.expect("write");
            files.push(file);
        }
        let listing: String = files
            .iter()
            .map(|file| format!("{}\n", file.path().display()))
            .collect();
        std::fs::write(root.join("child-files.tmp"), listing).expect("list");
        std::fs::rename(root.join("child-files.tmp"), root.join("child-files")).expect("ready");
        // Mid-write until SIGKILL; the deadline only stops an orphan whose
        // parent test died before killing it.
        let deadline = Instant::now() + CHILD_DEADLINE;
        while Instant::now() < deadline {
            for file in &mut files {
                file.write(&[2u8; 4096]).await.expect("write");
            }
        }
        std::process::exit(3);
    });
}

fn wait_for(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(Instant::now() < deadline, "child never got ready");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_session_is_swept_while_a_live_one_survives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();

    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().expect("exe"))
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(ROOT_ENV, &root)
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn child"),
    );
    let listing = tokio::task::spawn_blocking({
        let path = root.join("child-files");
        move || wait_for(&path)
    })
    .await
    .expect("wait");
    let child_files: Vec<PathBuf> = listing.lines().map(PathBuf::from).collect();
    assert_eq!(child_files.len(), CHILD_FILES);

    // A live manager next to the child, with files of its own.
    let live = TempFileManager::builder()
        .root(&root)
        .build()
        .expect("build");
    let mut live_files = Vec::new();
    for _ in 0..5 {
        let mut file = live.create(Some("ogg"), "live").await.expect("create");
        file.write(b"still needed").await.expect("write");
        live_files.push(file);
    }
    // Its startup sweep saw the child alive and left its files.
    assert!(child_files.iter().all(|path| path.exists()));

    child.0.kill().expect("SIGKILL");
    let status = child.0.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "killed by SIGKILL"
    );
    assert!(!status.success(), "the child was killed, not finished");
    assert!(
        child_files.iter().all(|path| path.exists()),
        "a crash leaves files"
    );
    assert_eq!(
        session_files(live.root()).len(),
        2,
        "live lock + crashed lock"
    );

    let next = TempFileManager::builder()
        .root(&root)
        .build()
        .expect("build");
    for path in &child_files {
        assert!(!path.exists(), "{} survived the sweep", path.display());
    }
    let metrics = next.metrics();
    assert_eq!(
        (metrics.swept_files, metrics.sweep_errors),
        (CHILD_FILES as u64, 0)
    );
    let mut expected: Vec<PathBuf> = live_files.iter().map(|f| f.path().to_path_buf()).collect();
    expected.sort();
    assert_eq!(shard_files(live.root()), expected, "the live files survive");
    for file in &live_files {
        assert_eq!(std::fs::read(file.path()).expect("read"), b"still needed");
    }
    // Crashed lock removed; the live and the new manager's remain.
    assert_eq!(session_files(live.root()).len(), 2);
}
