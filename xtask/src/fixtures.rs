//! `cargo xtask fixtures`: regenerate turbo-audio's committed decode fixtures.
//!
//! The fixtures are small (well under 100 KiB each) so they can live in git; tests
//! only read them and never need ffmpeg. This command is the record of exactly how
//! they were made: every file is one ffmpeg invocation over the same synthetic
//! signal (a 440 Hz tone on the left channel, 660 Hz on the right, so a channel
//! swap or a de-interleaving bug changes the samples), with metadata and encoder
//! version tags stripped (`-bitexact`, `-map_metadata -1`) so a rerun with the same
//! ffmpeg gives the same bytes.
//!
//! Besides the five supported formats there is one file symphonia cannot decode by
//! design (Opus in Ogg: the container is known, the codec is not enabled), for the
//! `Unsupported` error path.

use std::path::Path;
use std::process::Command;

use crate::{run_checked, workspace_root};

/// Where the fixtures live, relative to the workspace root.
const DIR: &str = "crates/turbo-audio/tests/fixtures";

/// Two tones, one per channel, at 22.05 kHz: small files, still stereo.
const SIGNAL: &str = "aevalsrc=0.5*sin(2*PI*440*t)|0.5*sin(2*PI*660*t):s=22050";

/// The size limit the issue sets for a committed fixture.
const MAX_BYTES: u64 = 100 * 1024;

/// One fixture: file name, duration in seconds, and the encoder arguments.
struct Fixture {
    file: &'static str,
    seconds: &'static str,
    codec: &'static [&'static str],
}

const FIXTURES: [Fixture; 6] = [
    // 16-bit PCM is the largest per second, so it gets half a second (43 KiB).
    Fixture {
        file: "tone.wav",
        seconds: "0.5",
        codec: &["-c:a", "pcm_s16le"],
    },
    Fixture {
        file: "tone.flac",
        seconds: "1",
        // 16-bit like the WAV (ffmpeg would pick 24-bit for the float source), so
        // the two lossless files hold the same samples.
        codec: &["-c:a", "flac", "-sample_fmt", "s16"],
    },
    Fixture {
        file: "tone.mp3",
        seconds: "1",
        codec: &["-c:a", "libmp3lame", "-b:a", "64k"],
    },
    Fixture {
        file: "tone.ogg",
        seconds: "1",
        codec: &["-c:a", "libvorbis", "-q:a", "2"],
    },
    // The `ipod` muxer is what ffmpeg picks for `.m4a`; named here so it is explicit.
    Fixture {
        file: "tone.m4a",
        seconds: "1",
        codec: &["-c:a", "aac", "-b:a", "64k", "-f", "ipod"],
    },
    Fixture {
        file: "unsupported-opus.ogg",
        seconds: "1",
        codec: &["-c:a", "libopus", "-b:a", "32k", "-ar", "48000"],
    },
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("unexpected argument `{arg}` for `fixtures`"));
    }
    let dir = workspace_root().join(DIR);
    std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    for fixture in &FIXTURES {
        let out = dir.join(fixture.file);
        run_checked(
            command(fixture, &out),
            &format!("ffmpeg for {}", fixture.file),
        )?;
        let size = std::fs::metadata(&out)
            .map_err(|error| format!("{}: {error}", out.display()))?
            .len();
        if size > MAX_BYTES {
            return Err(format!(
                "{}: {size} bytes, over the {MAX_BYTES}-byte fixture limit",
                out.display()
            ));
        }
        println!("xtask: wrote {} ({size} bytes)", out.display());
    }
    Ok(())
}

/// The ffmpeg invocation for one fixture.
fn command(fixture: &Fixture, out: &Path) -> Command {
    let mut command = Command::new("ffmpeg");
    command
        .args(["-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi"])
        .args(["-i", SIGNAL, "-t", fixture.seconds])
        .args([
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:a",
            "+bitexact",
        ])
        .args(fixture.codec)
        .arg(out);
    command
}
