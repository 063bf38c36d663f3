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
