//! `turbo audio`: local files and downloads through the pipeline, WAV output,
//! and the error paths (missing file, unsupported audio, bad URL, error status).

mod common;

use bytes::Bytes;
use common::{
    Server, assert_user_error, fixture, mkfifo, refused, stderr, stdout, turbo_with_env,
    turbo_within_env,
};
use turbo_cli::server::Asset;

/// Runs `turbo` with the pipeline's temp root (the platform cache directory,
/// `$XDG_CACHE_HOME` on Linux) inside a temp dir of the test, and checks that
/// no temp file is left there afterwards.
fn turbo(args: &[&str]) -> std::process::Output {
    let cache = tempfile::tempdir().expect("temp dir");
    let output = turbo_with_env(args, &[("XDG_CACHE_HOME", cache.path())]);
    let shards = cache.path().join("turbo");
    if output.status.success() {
        // The pipeline's temp directory was really made there.
        assert!(shards.is_dir(), "no temp directory under XDG_CACHE_HOME");
    }
    let left: Vec<_> = std::fs::read_dir(&shards)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.len() == 2 && name.chars().all(|c| c.is_ascii_hexdigit())
        })
        .flat_map(|shard| {
            std::fs::read_dir(shard.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|file| file.path())
        .collect();
    assert!(left.is_empty(), "temp files left behind: {left:?}");
    output
}

fn read_wav(path: &std::path::Path) -> (hound::WavSpec, Vec<i16>) {
    let mut reader = hound::WavReader::open(path).expect("a WAV file");
    let spec = reader.spec();
    let samples = reader
        .samples::<i16>()
        .collect::<Result<_, _>>()
        .expect("16-bit samples");
    (spec, samples)
}

/// `turbo audio tone.mp3 --out DIR/tone.wav` plus `extra`; the temp dir holds
/// the WAV until it drops.
fn tone_to_wav(extra: &[&str]) -> (std::process::Output, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("tone.wav");
    let source = fixture("tone.mp3");
    let mut args = vec![
        "audio",
        source.to_str().expect("UTF-8 path"),
        "--out",
        out.to_str().expect("UTF-8 path"),
    ];
    args.extend_from_slice(extra);
    let output = turbo(&args);
    (output, dir, out)
}

#[test]
fn a_local_clip_is_decoded_and_written_as_wav() {
    let (output, _dir, out) = tone_to_wav(&[]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(text.starts_with("mp3, 22050 Hz, 2 ch, 1.00 s"), "{text}");
    assert!(text.contains("route inline"), "{text}");
    assert!(text.contains("x realtime"), "{text}");
    let (spec, samples) = read_wav(&out);
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (22_050, 2, 16)
    );
    assert_eq!(samples.len(), 22_050 * 2);
    // A tone, not silence.
    assert!(samples.iter().any(|&s| s.unsigned_abs() > 1000));
}

#[test]
fn a_download_streams_when_asked() {
    let wav = std::fs::read(fixture("tone.wav")).expect("fixture");
    let server = Server::with_assets(vec![Asset::new(
        "/clips/tone.wav",
        "audio/wav",
        Bytes::from(wav),
    )]);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("copy.wav");
    let url = server.url("/clips/tone.wav");
    let output = turbo(&[
        "audio",
        &url,
        "--stream",
        "--out",
        out.to_str().expect("UTF-8 path"),
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(text.contains("route stream"), "{text}");
    let (_, copied) = read_wav(&out);
    let (_, original) = read_wav(&fixture("tone.wav"));
    // 16-bit PCM survives decode and re-encode exactly.
    assert_eq!(copied.len(), original.len());
    let first_difference = copied.iter().zip(&original).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "samples differ");
    assert_eq!(server.server.hosts()[0].requests, 1);
}

#[test]
fn audio_errors_are_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.mp3");
    let output = turbo(&["audio", missing.to_str().expect("UTF-8 path")]);
    assert_user_error(&output, 1, "missing.mp3");

    let opus = fixture("unsupported-opus.ogg");
    let output = turbo(&["audio", opus.to_str().expect("UTF-8 path")]);
    assert_user_error(&output, 1, "Opus is not supported");

    let output = turbo(&["audio", "ftp://example.com/a.mp3"]);
    assert_user_error(&output, 2, "unsupported scheme");

    let refused = refused();
    let output = turbo(&["audio", &format!("{}a.mp3", refused.url)]);
    assert_user_error(&output, 1, "could not connect");

    let server = Server::start();
    let output = turbo(&["audio", &server.url("/status/404")]);
    assert_user_error(&output, 15, "404 Not Found");
}

#[test]
fn an_unwritable_output_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("no-such-dir").join("x.wav");
    let source = fixture("tone.flac");
    let output = turbo(&[
        "audio",
        source.to_str().expect("UTF-8 path"),
        "--out",
        out.to_str().expect("UTF-8 path"),
    ]);
    assert_user_error(&output, 1, "cannot write");
    assert!(!out.exists());
}

#[test]
fn a_fifo_or_a_directory_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("clip.mp3");
    mkfifo(&fifo);
    for (path, words) in [
        (fifo.as_path(), "is a FIFO"),
        (dir.path(), "is a directory"),
    ] {
        let path = path.to_str().expect("UTF-8 temp path");
        let output = turbo_within_env(
            &["audio", path],
            &[("XDG_CACHE_HOME", dir.path())],
            std::time::Duration::from_secs(20),
        );
        assert_user_error(&output, 1, words);
        assert!(stderr(&output).contains(path), "{}", stderr(&output));
    }
}

#[test]
fn damaged_audio_is_reported_and_refused_under_strict() {
    // tone.mp3 with every 97th byte of its middle half inverted: two frames do
    // not decode (the same two as in turbo-audio's decode tests).
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bytes = std::fs::read(fixture("tone.mp3")).expect("fixture");
    let len = bytes.len();
    let mut at = len / 4;
    while at < len * 3 / 4 {
        bytes[at] ^= 0xff;
        at += 97;
    }
    let path = dir.path().join("damaged.mp3");
    std::fs::write(&path, bytes).expect("write");
    let path = path.to_str().expect("UTF-8 path");
    let output = turbo(&["audio", path]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("damaged: 2 packets did not decode"), "{text}");
    let output = turbo(&["audio", path, "--strict"]);
    assert_user_error(&output, 1, "did not decode");
}

#[test]
fn json_prints_one_object_with_the_summary() {
    let (output, _dir, out) = tone_to_wav(&["--json"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert_eq!(text.lines().count(), 1, "one line of JSON: {text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
    assert_eq!(json["schema"], "turbo-audio/1");
    assert_eq!(json["format"], "mp3");
    assert_eq!(json["sample_rate"], 22_050);
    assert_eq!(json["channels"], 2);
    assert_eq!(json["frames"], 22_050);
    assert_eq!(json["route"], "inline");
    assert_eq!(json["skipped_packets"], 0);
    assert_eq!(json["truncated"], false);
    assert_eq!(json["out"], out.to_str().expect("UTF-8 path"));
    assert!(json["decode_ms"].as_f64().is_some(), "{json}");
    assert!(out.is_file(), "--json still writes the WAV");
}
