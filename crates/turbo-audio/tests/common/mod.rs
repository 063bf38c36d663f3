//! Shared by the decode tests: the committed fixtures and a WAV writer for long
//! clips generated at test time.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use turbo_audio::decode::AudioFormat;

/// The directory of the committed fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every supported fixture with its format, frames (where exact) and rate.
pub struct Fixture {
    pub file: &'static str,
    pub format: AudioFormat,
    /// Exact frame count, for the gapless formats; AAC in MP4 is not gapless in
    /// symphonia, so it has none.
    pub frames: Option<u64>,
}

pub const FIXTURES: [Fixture; 5] = [
    Fixture {
        file: "tone.wav",
        format: AudioFormat::Wav,
        frames: Some(11_025),
    },
    Fixture {
        file: "tone.flac",
        format: AudioFormat::Flac,
        frames: Some(22_050),
    },
    Fixture {
        file: "tone.mp3",
        format: AudioFormat::Mp3,
        frames: Some(22_050),
    },
    Fixture {
        file: "tone.ogg",
        format: AudioFormat::Vorbis,
        frames: Some(22_050),
    },
    Fixture {
        file: "tone.m4a",
        format: AudioFormat::Aac,
        frames: None,
    },
];

pub fn path(file: &str) -> PathBuf {
    fixtures().join(file)
}

pub fn bytes(file: &str) -> Vec<u8> {
    std::fs::read(path(file)).unwrap_or_else(|error| panic!("{file}: {error}"))
}

/// A body that yields its chunks one frame at a time, optionally waiting before
/// each, and optionally failing after some chunks (a connection that breaks).
pub struct ChunkedBody {
    chunks: std::collections::VecDeque<bytes::Bytes>,
    fail_after: Option<usize>,
    delay: Option<std::time::Duration>,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    sent: usize,
}

impl ChunkedBody {
    pub fn new(bytes: &[u8], chunk: usize) -> Self {
        ChunkedBody {
            chunks: bytes
                .chunks(chunk.max(1))
                .map(bytes::Bytes::copy_from_slice)
                .collect(),
            fail_after: None,
            delay: None,
            sleep: None,
            sent: 0,
        }
    }

    pub fn failing_after(mut self, chunks: usize) -> Self {
        self.fail_after = Some(chunks);
        self
    }

    pub fn delayed(mut self, delay: std::time::Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

impl http_body::Body for ChunkedBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>> {
        use std::task::Poll;
        if let Some(delay) = self.delay {
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        if self.fail_after == Some(self.sent) {
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected: the connection broke",
            ))));
        }
        self.sent += 1;
        Poll::Ready(
            self.chunks
                .pop_front()
                .map(|chunk| Ok(http_body::Frame::data(chunk))),
        )
    }
}

/// Regular files under the temp manager's root, except the session lock files.
pub fn files_on_disk(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|name| name == "sessions") {
                continue;
            }
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => dirs.push(path),
                Ok(_) => found.push(path),
                Err(_) => {}
            }
        }
    }
    found
}

/// Polls until `condition` holds; the generous bound only keeps a broken build
/// from hanging.
pub async fn wait_for(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if condition() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("timed out waiting for {what}");
}

/// `tone.mp3` with every 97th byte of its middle half inverted: the codec
/// rejects exactly two of its frames (the same two on every run).
pub fn damaged_mp3() -> Vec<u8> {
    let mut bytes = bytes("tone.mp3");
    let len = bytes.len();
    let mut at = len / 4;
    while at < len * 3 / 4 {
        bytes[at] ^= 0xff;
        at += 97;
    }
    bytes
}
