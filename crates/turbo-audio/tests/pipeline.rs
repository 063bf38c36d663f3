//! The pipeline end to end: floods, cancellation, injected failures, bounds,
//! the main-thread finalizer and the inline fallback, each ending with no temp
//! file on disk and no registry entry.

mod common;

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{ChunkedBody, files_on_disk};
use http_body_util::Full;
use turbo_audio::decode::{AudioFormat, DecodeError};
use turbo_audio::pipeline::{
    Audio, AudioPipeline, AudioRequest, FinalizeOn, LoadedAudio, PathKind, PipelineError,
};
use turbo_audio::policy::{DecodePolicy, Route};
use turbo_audio::temp::{OsFs, TempFileManager, TempFs};
use turbo_audio::worker::WhenBusy;

/// A two-worker runtime for tests whose own thread is the main thread.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("{error}"))
}

fn request(file: &str) -> AudioRequest {
    AudioRequest::url(&format!("https://cdn.example/{file}"))
}

fn body(file: &str) -> Full<Bytes> {
    Full::new(Bytes::from(common::bytes(file)))
}

/// Asserts nothing is left: no file under the root, no registry entry, no slot.
async fn assert_clean(pipeline: &AudioPipeline) {
    pipeline.drain().await;
    let manager = pipeline.temp_manager();
    assert_eq!(
        files_on_disk(manager.root()),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(
        manager.files().is_empty(),
        "registry: {:?}",
        manager.files()
    );
    let metrics = pipeline.metrics();
    assert_eq!(metrics.temp.active_files, 0);
    assert_eq!(metrics.active_files, 0);
    assert_eq!(metrics.in_flight, 0);
    assert_eq!((metrics.decode.active, metrics.decode.queued), (0, 0));
}

/// Reads a streaming clip to the end; returns its frames.
fn drain_stream(audio: &mut Audio) -> u64 {
    match audio {
        Audio::Decoded(clip) => clip.frames(),
        Audio::Streaming(clip) => {
            let mut buffer = [0.0f32; 2_048];
            while clip
                .read(&mut buffer)
                .unwrap_or_else(|error| panic!("{error}"))
                > 0
            {}
            clip.frames_read()
        }
    }
}

/// Routes the five fixtures three ways: WAV and FLAC (over 20 kB) stream, the
/// M4A (over 9 kB) goes to a worker, MP3 and Vorbis decode inline.
fn mixed_policy() -> DecodePolicy {
    DecodePolicy {
        stream_above_bytes: 20_000,
        worker_from_bytes: 9_000,
        ..DecodePolicy::default()
    }
}

fn expected_route(format: AudioFormat) -> Route {
    match format {
        AudioFormat::Wav | AudioFormat::Flac => Route::Stream,
        AudioFormat::Aac => Route::Worker,
        _ => Route::Inline,
    }
}

#[test]
fn a_flood_of_1000_loads_across_formats_collides_on_nothing_and_leaves_nothing() {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let pipeline = runtime
        .block_on(async {
            AudioPipeline::builder()
                .temp_root(dir.path())
                .policy(mixed_policy())
                .workers(2)
                .max_active_files(64)
                .build()
        })
        .unwrap_or_else(|error| panic!("{error}"));
    let main = pipeline.main_thread();

    // Each load plays its clip to the end and drops it in its own task, as a
    // player would: streaming clips hold a temp-file slot until dropped, and 64
    // slots are far fewer than 1,000 loads.
    let loads = (0..1_000).map(|i| {
        let fixture = &common::FIXTURES[i % common::FIXTURES.len()];
        let pipeline = pipeline.clone();
        runtime.spawn(async move {
            let mut loaded = pipeline
                .load_body(body(fixture.file), request(fixture.file))
                .await
                .unwrap_or_else(|error| panic!("{}: {error}", fixture.file));
            let frames = drain_stream(&mut loaded.audio);
            (fixture.format, loaded.report, frames)
        })
    });
    let handles: Vec<_> = loads.collect();
    // This thread is the main thread: it pumps finalizations until every load
    // has been finalized and returned.
    let results = runtime
        .block_on(main.run_until(async {
            let mut results = Vec::new();
            for handle in handles {
                results.push(handle.await.unwrap_or_else(|error| panic!("{error}")));
            }
            results
        }))
        .unwrap_or_else(|error| panic!("{error}"));

    let mut paths = HashSet::new();
    let mut routes: HashMap<Route, usize> = HashMap::new();
    for (format, report, frames) in results {
        assert_eq!(report.format, format);
        assert_eq!(report.route, expected_route(format), "{format}");
        assert_eq!(report.finalized_on, std::thread::current().id());
        assert!(frames >= 11_025, "{format}: {frames} frames");
        let path = report.temp_path.clone().unwrap_or_default();
        assert!(paths.insert(path), "a temp name was used twice");
        *routes.entry(report.route).or_default() += 1;
    }
    assert_eq!(paths.len(), 1_000);
    assert_eq!(routes.get(&Route::Stream), Some(&400));
    assert_eq!(routes.get(&Route::Worker), Some(&200));
    assert_eq!(routes.get(&Route::Inline), Some(&400));
    let metrics = pipeline.metrics();
    assert_eq!((metrics.loaded, metrics.failed), (1_000, 0));
    assert_eq!(metrics.temp.created, 1_000);
    assert_eq!(metrics.temp.failures, 0);
    assert_eq!(
        (
            metrics.routed_inline,
            metrics.routed_worker,
            metrics.routed_stream
        ),
        (400, 200, 400)
    );
    runtime.block_on(assert_clean(&pipeline));
}

fn caller_pipeline(root: &Path, policy: DecodePolicy) -> AudioPipeline {
    AudioPipeline::builder()
        .temp_root(root)
        .policy(policy)
        .workers(2)
        .finalize_on(FinalizeOn::Caller)
        .build()
        .unwrap_or_else(|error| panic!("{error}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_cancelled_at_every_stage_leave_no_file_and_no_registry_entry() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    for policy in [mixed_policy(), DecodePolicy::always(Route::Worker)] {
        let pipeline = caller_pipeline(dir.path(), policy);
        let mut tasks = Vec::new();
        for i in 0..150usize {
            let fixture = &common::FIXTURES[i % common::FIXTURES.len()];
            let pipeline = pipeline.clone();
            // Slow bodies (1 ms per 4 KiB chunk) and a spread of deadlines cancel
            // loads while waiting for a slot, storing, decoding and finishing.
            let body = ChunkedBody::new(&common::bytes(fixture.file), 4_096)
                .delayed(Duration::from_millis(1));
            let deadline = Duration::from_micros((i as u64 * 137) % 12_000);
            tasks.push(tokio::spawn(async move {
                tokio::time::timeout(deadline, pipeline.load_body(body, request(fixture.file)))
                    .await
                    .map(|loaded| loaded.map(|loaded| loaded.report.route))
            }));
        }
        let mut cancelled = 0;
        for task in tasks {
            match task.await.unwrap_or_else(|error| panic!("{error}")) {
                Err(_elapsed) => cancelled += 1,
                Ok(result) => {
                    result.unwrap_or_else(|error| panic!("{error}"));
                }
            }
        }
        assert!(
            cancelled > 0,
            "no load was cancelled; the deadlines are too long"
        );
        assert_clean(&pipeline).await;
    }
}

#[test]
fn a_load_dropped_while_waiting_for_the_main_thread_gives_its_clip_back() {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let finalized = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&finalized);
    let pipeline = runtime
        .block_on(async {
            AudioPipeline::builder()
                .temp_root(dir.path())
                .policy(DecodePolicy::always(Route::Stream))
                .on_finalize(move |_: &mut LoadedAudio| {
                    counter.fetch_add(1, Ordering::SeqCst);
                })
                .build()
        })
        .unwrap_or_else(|error| panic!("{error}"));
    let load = {
        let pipeline = pipeline.clone();
        runtime.spawn(async move {
            pipeline
                .load_body(body("tone.flac"), request("tone.flac"))
                .await
                .map(|_| ())
        })
    };
    // Nobody pumps: the load decodes, posts its finalization, and waits.
    runtime.block_on(common::wait_for("the finalization to be posted", || {
        pipeline.metrics().pending_finalizations == 1
    }));
    assert_eq!(pipeline.metrics().temp.active_files, 1);
    load.abort();
    let aborted = runtime.block_on(load);
    assert!(aborted.is_err_and(|error| error.is_cancelled()));
    // The clip was reclaimed by the dropped load; the late pump finds nothing.
    let main = pipeline.main_thread();
    assert_eq!(main.pump(), Ok(1));
    assert_eq!(finalized.load(Ordering::SeqCst), 0);
    runtime.block_on(assert_clean(&pipeline));
}

/// A file system that fails chosen steps, for I/O fault injection.
#[derive(Debug)]
struct FaultyFs {
    fail_writes: bool,
    fail_open_read: bool,
}

impl TempFs for FaultyFs {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        OsFs.create_dir(path)
    }
    fn symlink_metadata(&self, path: &Path) -> io::Result<std::fs::Metadata> {
        OsFs.symlink_metadata(path)
    }
    fn create_new(&self, path: &Path) -> io::Result<std::fs::File> {
        OsFs.create_new(path)
    }
    fn write_all(&self, file: &mut std::fs::File, path: &Path, buf: &[u8]) -> io::Result<()> {
        if self.fail_writes {
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        OsFs.write_all(file, path, buf)
    }
    fn sync_data(&self, file: &std::fs::File, path: &Path) -> io::Result<()> {
        OsFs.sync_data(file, path)
    }
    fn open_read(&self, path: &Path) -> io::Result<std::fs::File> {
        if self.fail_open_read {
            return Err(io::Error::from_raw_os_error(24)); // EMFILE
        }
        OsFs.open_read(path)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        OsFs.remove_file(path)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<std::path::PathBuf>> {
        OsFs.read_dir(path)
    }
    fn open_lock_file(&self, path: &Path, create_new: bool) -> io::Result<std::fs::File> {
        OsFs.open_lock_file(path, create_new)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsFs.rename(from, to)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_body_decode_and_io_failures_are_typed_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let pipeline = caller_pipeline(dir.path(), DecodePolicy::always(Route::Worker));
    let flac = common::bytes("tone.flac");

    let broken = pipeline
        .load_body(
            ChunkedBody::new(&flac, 4_096).failing_after(2),
            request("a.flac"),
        )
        .await;
    assert!(
        matches!(broken, Err(PipelineError::Body { .. })),
        "{broken:?}"
    );

    let short = pipeline
        .load_body(
            Full::new(Bytes::from(flac[..10_000].to_vec())),
            request("b.flac").with_expected_len(Some(flac.len() as u64)),
        )
        .await;
    assert!(
        matches!(short, Err(PipelineError::LengthMismatch { expected, received: 10_000 }) if expected == flac.len() as u64),
        "{short:?}"
    );

    let mut corrupt = flac.clone();
    corrupt[..4].copy_from_slice(b"JUNK");
    for (name, bytes, kind) in [
        ("corrupt header", corrupt, "unsupported"),
        ("opus", common::bytes("unsupported-opus.ogg"), "unsupported"),
        ("empty", Vec::new(), "corrupt"),
        ("truncated", flac[..40].to_vec(), "corrupt"),
    ] {
        let failed = pipeline
            .load_body(Full::new(Bytes::from(bytes)), request(name))
            .await;
        match failed {
            Err(PipelineError::Decode(error)) => assert_eq!(error.kind(), kind, "{name}: {error}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_clean(&pipeline).await;

    let limited = AudioPipeline::builder()
        .temp_root(dir.path())
        .max_body_bytes(20_000)
        .finalize_on(FinalizeOn::Caller)
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    let declared = limited
        .load_body(
            body("tone.flac"),
            request("d.flac").with_expected_len(Some(flac.len() as u64)),
        )
        .await;
    assert!(
        matches!(
            declared,
            Err(PipelineError::BodyTooLarge { max_bytes: 20_000 })
        ),
        "{declared:?}"
    );
    assert_eq!(limited.metrics().temp.created, 0, "refused before any file");
    let streamed = limited
        .load_body(ChunkedBody::new(&flac, 4_096), request("e.flac"))
        .await;
    assert!(
        matches!(
            streamed,
            Err(PipelineError::BodyTooLarge { max_bytes: 20_000 })
        ),
        "{streamed:?}"
    );
    assert_clean(&limited).await;

    let capped = AudioPipeline::builder()
        .temp_root(dir.path())
        .max_decoded_samples(10_000)
        .finalize_on(FinalizeOn::Caller)
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    let bomb = capped
        .load_body(body("tone.flac"), request("bomb.flac"))
        .await;
    assert!(
        matches!(
            bomb,
            Err(PipelineError::Decode(DecodeError::TooLarge {
                max_samples: 10_000
            }))
        ),
        "{bomb:?}"
    );
    assert_clean(&capped).await;

    for fs in [
        FaultyFs {
            fail_writes: true,
            fail_open_read: false,
        },
        FaultyFs {
            fail_writes: false,
            fail_open_read: true,
        },
    ] {
        let manager = TempFileManager::builder()
            .root(dir.path())
            .fs(Arc::new(fs))
            .build()
            .unwrap_or_else(|error| panic!("{error}"));
        let faulty = AudioPipeline::builder()
            .temp_manager(manager)
            .finalize_on(FinalizeOn::Caller)
            .build()
            .unwrap_or_else(|error| panic!("{error}"));
        let failed = faulty.load_body(body("tone.mp3"), request("c.mp3")).await;
        assert!(matches!(failed, Err(PipelineError::Temp(_))), "{failed:?}");
        assert_eq!(faulty.metrics().failed, 1);
        assert_clean(&faulty).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_file_bound_fails_typed_when_asked_not_to_wait() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let pipeline = AudioPipeline::builder()
        .temp_root(dir.path())
        .policy(DecodePolicy::always(Route::Stream))
        .max_active_files(1)
        .when_busy(WhenBusy::Fail)
        .finalize_on(FinalizeOn::Caller)
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    let held = pipeline
        .load_body(body("tone.ogg"), request("tone.ogg"))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(pipeline.metrics().active_files, 1);
    let refused = pipeline
        .load_body(body("tone.ogg"), request("tone.ogg"))
        .await;
    assert!(
        matches!(
            refused,
            Err(PipelineError::Busy {
                resource: "temp files",
                limit: 1
            })
        ),
        "{refused:?}"
    );
    // A waiting pipeline on the same bound (its own root, since this one's clip
    // is still alive): a waiter that gives up leaves the queue.
    let waiting_dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let waiting = AudioPipeline::builder()
        .temp_root(waiting_dir.path())
        .policy(DecodePolicy::always(Route::Stream))
        .max_active_files(1)
        .finalize_on(FinalizeOn::Caller)
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    let first = waiting
        .load_body(body("tone.ogg"), request("tone.ogg"))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let waiter = {
        let waiting = waiting.clone();
        tokio::spawn(async move {
            waiting
                .load_body(body("tone.ogg"), request("tone.ogg"))
                .await
        })
    };
    common::wait_for("the waiter to queue", || {
        waiting.metrics().file_queue_depth == 1
    })
    .await;
    waiter.abort();
    common::wait_for("the waiter to leave", || {
        waiting.metrics().file_queue_depth == 0
    })
    .await;
    drop(first);
    assert_clean(&waiting).await;

    // The streaming clip holds the slot and the file; dropping it frees both.
    let path = held.report.temp_path.clone().unwrap_or_default();
    assert!(path.exists());
    drop(held);
    pipeline
        .load_body(body("tone.ogg"), request("tone.ogg"))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_clean(&pipeline).await;
    assert!(!path.exists());
}

#[test]
fn finalization_runs_on_the_pumping_thread_and_never_on_a_worker() {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let hook_threads = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&hook_threads);
    let pipeline = runtime
        .block_on(async {
            AudioPipeline::builder()
                .temp_root(dir.path())
                .policy(DecodePolicy::always(Route::Worker))
                .workers(2)
                .on_finalize(move |loaded: &mut LoadedAudio| {
                    if let Ok(mut threads) = recorder.lock() {
                        threads.push((std::thread::current().id(), loaded.report.decoded_on));
                    }
                })
                .build()
        })
        .unwrap_or_else(|error| panic!("{error}"));
    let main = pipeline.main_thread();
    let handles: Vec<_> = (0..40)
        .map(|i| {
            let fixture = &common::FIXTURES[i % common::FIXTURES.len()];
            let pipeline = pipeline.clone();
            runtime.spawn(async move {
                pipeline
                    .load_body(body(fixture.file), request(fixture.file))
                    .await
            })
        })
        .collect();
    // Workers decode and post, but nothing is finalized until this thread pumps.
    runtime.block_on(common::wait_for("the loads to reach finalization", || {
        pipeline.metrics().pending_finalizations == 40
    }));
    assert!(
        hook_threads
            .lock()
            .map(|threads| threads.is_empty())
            .unwrap_or(false)
    );
    assert!(handles.iter().all(|handle| !handle.is_finished()));

    let me = std::thread::current().id();
    assert_eq!(main.pump(), Ok(40));
    for handle in handles {
        let loaded = runtime
            .block_on(handle)
            .unwrap_or_else(|error| panic!("{error}"))
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(loaded.report.finalized_on, me);
        assert_eq!(loaded.report.ran_on, Route::Worker);
        assert_ne!(loaded.report.decoded_on, me);
    }
    let threads = hook_threads.lock().map(|t| t.clone()).unwrap_or_default();
    assert_eq!(threads.len(), 40);
    for (finalized_on, decoded_on) in threads {
        assert_eq!(finalized_on, me);
        assert_ne!(decoded_on, me, "a clip was decoded on the main thread");
    }
    // Another thread may not pump this queue now that it has an owner.
    let other = std::thread::spawn(move || main.pump())
        .join()
        .unwrap_or_else(|_| panic!("the pumping thread panicked"));
    assert!(other.is_err());
    runtime.block_on(assert_clean(&pipeline));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_fallback_and_workers_give_bit_identical_clips_per_fixture() {
    // Separate roots: each pipeline's clean-up check looks at its root only
    // after draining its own deletions.
    let (dir, other_dir) = (
        tempfile::tempdir().unwrap_or_else(|error| panic!("{error}")),
        tempfile::tempdir().unwrap_or_else(|error| panic!("{error}")),
    );
    let with_workers = caller_pipeline(dir.path(), DecodePolicy::always(Route::Worker));
    let without = AudioPipeline::builder()
        .temp_root(other_dir.path())
        .policy(DecodePolicy::always(Route::Worker))
        .workers(0)
        .finalize_on(FinalizeOn::Caller)
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    for fixture in &common::FIXTURES {
        let a = with_workers
            .load_body(body(fixture.file), request(fixture.file))
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", fixture.file));
        let b = without
            .load_body(body(fixture.file), request(fixture.file))
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", fixture.file));
        assert_eq!(
            (a.report.ran_on, b.report.ran_on),
            (Route::Worker, Route::Inline)
        );
        let bits = |loaded: &LoadedAudio| -> Vec<u32> {
            loaded
                .audio
                .as_decoded()
                .map(|clip| clip.samples().iter().map(|s| s.to_bits()).collect())
                .unwrap_or_default()
        };
        assert!(!bits(&a).is_empty(), "{}", fixture.file);
        assert_eq!(bits(&a), bits(&b), "{}", fixture.file);
    }
    assert_clean(&with_workers).await;
    assert_clean(&without).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_file_loads_without_a_temp_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let pipeline = caller_pipeline(dir.path(), DecodePolicy::default());
    let loaded = pipeline
        .load_path(&common::path("tone.m4a"))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(loaded.report.format, AudioFormat::Aac);
    assert_eq!(loaded.report.temp_path, None);
    assert_eq!(loaded.report.stored_after, Duration::ZERO);
    assert_eq!(pipeline.metrics().temp.created, 0);
    let missing = pipeline.load_path(&dir.path().join("missing.mp3")).await;
    assert!(
        matches!(missing, Err(PipelineError::Open { .. })),
        "{missing:?}"
    );
    assert_clean(&pipeline).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_is_not_a_file_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let pipeline = caller_pipeline(dir.path(), DecodePolicy::default());
    let fifo = dir.path().join("clip.mp3");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(made.success());
    let link = dir.path().join("zero.wav");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap_or_else(|error| panic!("{error}"));
    let folder = dir.path().join("folder.ogg");
    std::fs::create_dir(&folder).unwrap_or_else(|error| panic!("{error}"));
    for (path, kind, words) in [
        (&fifo, PathKind::Fifo, "is a FIFO"),
        (&link, PathKind::CharDevice, "is a character device"),
        (&folder, PathKind::Directory, "is a directory"),
    ] {
        // Bounded: a FIFO used to block the load (and a runtime thread) forever.
        let result = tokio::time::timeout(Duration::from_secs(20), pipeline.load_path(path))
            .await
            .unwrap_or_else(|_| panic!("load_path({}) hung", path.display()));
        let Err(error) = result else {
            panic!("{}: loaded", path.display());
        };
        let message = error.to_string();
        match error {
            PipelineError::NotAFile {
                path: found,
                kind: found_kind,
            } => {
                assert_eq!(&found, path);
                assert_eq!(found_kind, kind);
                assert!(message.contains(words), "{message}");
                assert!(message.contains(&path.display().to_string()), "{message}");
            }
            other => panic!("{}: expected NotAFile, got {other:?}", path.display()),
        }
    }
    assert_clean(&pipeline).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_packets_are_skipped_unless_the_pipeline_is_strict() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let path = dir.path().join("damaged.mp3");
    std::fs::write(&path, common::damaged_mp3()).unwrap_or_else(|error| panic!("{error}"));
    let tolerant = caller_pipeline(dir.path(), DecodePolicy::always(Route::Inline));
    let loaded = tolerant
        .load_path(&path)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let Audio::Decoded(clip) = &loaded.audio else {
        panic!("decoded inline");
    };
    assert_eq!(clip.skipped_packets(), 2);
    let strict = AudioPipeline::builder()
        .temp_root(dir.path())
        .policy(DecodePolicy::always(Route::Inline))
        .strict_decode(true)
        .finalize_on(FinalizeOn::Caller)
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    let result = strict.load_path(&path).await;
    assert!(
        matches!(
            result,
            Err(PipelineError::Decode(DecodeError::TooDamaged { .. }))
        ),
        "{result:?}"
    );
    assert_clean(&tolerant).await;
    assert_clean(&strict).await;
}
