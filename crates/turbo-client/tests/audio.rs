//! `get_audio` against a real hyper server on loopback: every fixture format
//! decoded by policy, streaming, and every failure path leaving no temp file, no
//! permit and no context behind.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use turbo_client::audio::{
    Audio, DecodePolicy, EVENT_DECODED, EVENT_FINALIZED, EVENT_STORED, Route,
};
use turbo_client::{ErrorKind, EventKind, FieldValue, Priority, StopMode, TurboClient};

/// Regular files left under the temp root (the session lock files excepted).
fn temp_files(root: &Path) -> Vec<std::path::PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(&path, found);
            } else if path.extension().is_none_or(|ext| ext != "lock") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(root, &mut found);
    found
}

async fn settle(client: &TurboClient, root: &Path) {
    if let Some(pipeline) = client.audio_pipeline() {
        pipeline.drain().await;
    }
    assert!(common::eventually(|| client.stats().is_quiescent()).await);
    assert_eq!(temp_files(root), Vec::<std::path::PathBuf>::new());
}

/// A loopback server and a client whose temp files go to a fresh directory.
async fn setup() -> (common::TestServer, tempfile::TempDir, TurboClient) {
    let server = common::start(&["127.0.0.1"]).await;
    let root = tempfile::tempdir().unwrap();
    let client = TurboClient::builder()
        .temp_root(root.path())
        .build()
        .unwrap();
    (server, root, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_downloads_and_decodes_on_one_timeline() {
    let (server, root, client) = setup().await;
    for name in ["tone.wav", "tone.flac", "tone.mp3", "tone.ogg", "tone.m4a"] {
        let size = std::fs::metadata(common::fixture(name)).unwrap().len();
        let download = client
            .get_audio(&server.url(0, &format!("/audio/{name}")))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(download.report.bytes, size, "{name}");
        assert_eq!(
            download.report.route,
            Route::Inline,
            "{name}: small clips decode inline"
        );
        let Audio::Decoded(clip) = &download.audio else {
            panic!("{name}: a small clip is decoded on load");
        };
        assert!(clip.frames() > 0, "{name}");
        assert!(clip.sample_rate() > 0, "{name}");

        // The request's events, then the audio stages, in time order.
        let kinds = download.timeline.kinds();
        let finished = kinds.iter().position(|k| *k == EventKind::BodyFinished);
        let stored = kinds.iter().position(|k| *k == EVENT_STORED);
        let decoded = kinds.iter().position(|k| *k == EVENT_DECODED);
        let finalized = kinds.iter().position(|k| *k == EVENT_FINALIZED);
        assert!(
            finished.is_some() && finished < stored && stored < decoded && decoded < finalized,
            "{name}: {kinds:?}"
        );
        let offsets: Vec<Duration> = download.timeline.iter().map(|e| e.at).collect();
        assert!(
            offsets.windows(2).all(|w| w[0] <= w[1]),
            "{name}: {offsets:?}"
        );
        let decoded_event = download.timeline.find(EVENT_DECODED).unwrap();
        assert_eq!(
            decoded_event.field("route"),
            Some(FieldValue::Str("inline"))
        );
        let stored_event = download.timeline.find(EVENT_STORED).unwrap();
        assert_eq!(stored_event.field("bytes"), Some(FieldValue::U64(size)));
    }
    settle(&client, root.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_clip_keeps_its_temp_file_until_dropped() {
    let server = common::start(&["127.0.0.1"]).await;
    let root = tempfile::tempdir().unwrap();
    let client = TurboClient::builder()
        .temp_root(root.path())
        .decode_policy(DecodePolicy::always(Route::Stream))
        .build()
        .unwrap();
    let mut download = client
        .get(&server.url(0, "/audio/tone.flac"))
        .priority(Priority::High)
        .send_audio()
        .await
        .unwrap();
    assert_eq!(download.report.route, Route::Stream);
    let temp_path = download.report.temp_path.clone().unwrap();
    assert!(temp_path.exists());
    let Some(clip) = download.audio.as_streaming_mut() else {
        panic!("the policy forces streaming");
    };
    assert!(clip.sample_rate() > 0);
    assert_eq!(
        client.audio_pipeline().unwrap().metrics().temp.active_files,
        1
    );
    // The request itself is over: its permit, slot and context are back.
    assert!(common::eventually(|| client.stats().is_quiescent()).await);

    drop(download);
    settle(&client, root.path()).await;
    assert!(!temp_path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_say_which_stage_failed_and_leave_nothing_behind() {
    let (server, root, client) = setup().await;

    let status = client
        .get_audio(&server.url(0, "/status/404"))
        .await
        .unwrap_err();
    assert_eq!(status.kind(), ErrorKind::Status);
    assert_eq!(status.status_code(), Some(http::StatusCode::NOT_FOUND));

    // `/ok` answers JSON: stored, then refused by the decoder.
    let decode = client.get_audio(&server.url(0, "/ok")).await.unwrap_err();
    assert_eq!(decode.kind(), ErrorKind::Decode, "{decode}");

    let unsupported = client
        .get_audio(&server.url(0, "/audio/unsupported-opus.ogg"))
        .await
        .unwrap_err();
    assert_eq!(unsupported.kind(), ErrorKind::Decode, "{unsupported}");

    let cut = client
        .get_audio(&server.url(0, "/audio-cut/tone.wav"))
        .await
        .unwrap_err();
    assert_eq!(cut.kind(), ErrorKind::Body, "{cut}");

    // A deadline that ends mid-body stays a timeout, not a generic body error.
    let slow = client
        .get(&server.url(0, "/slow-body/200"))
        .timeout(Duration::from_secs(1))
        .send_audio()
        .await
        .unwrap_err();
    assert_eq!(slow.kind(), ErrorKind::Timeout, "{slow}");

    let metrics = client.audio_pipeline().unwrap().metrics();
    assert_eq!(metrics.failed, 4, "{metrics:?}");
    settle(&client, root.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_temp_root_is_an_io_error_and_shutdown_closes_get_audio() {
    let server = common::start(&["127.0.0.1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"in the way").unwrap();
    let client = TurboClient::builder()
        .temp_root(&not_a_dir)
        .build()
        .unwrap();
    let error = client
        .get_audio(&server.url(0, "/audio/tone.wav"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Io, "{error}");
    assert!(client.audio_pipeline().is_none());

    let root = tempfile::tempdir().unwrap();
    let client = TurboClient::builder()
        .temp_root(root.path())
        .build()
        .unwrap();
    client
        .get_audio(&server.url(0, "/audio/tone.wav"))
        .await
        .unwrap();
    client.shutdown(StopMode::Drain).await;
    let closed = client
        .get_audio(&server.url(0, "/audio/tone.wav"))
        .await
        .unwrap_err();
    assert!(closed.is_closed(), "{closed}");
    settle(&client, root.path()).await;
}
