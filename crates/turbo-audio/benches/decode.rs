//! Decode throughput on 10-minute stereo clips: turbo-audio against a bare
//! symphonia decode loop over the same file, and four clips decoded in parallel
//! on the decode workers against the same four decoded one after another.
//!
//! Cases (ours / peer, lower is better):
//! - `decode_mp3`, `decode_flac`, `decode_vorbis`, `decode_aac`: one whole-clip
//!   decode through [`turbo_audio::decode::decode`] / `symphonia_bare`, the loop
//!   symphonia's own example shows (probe, default track, decode, copy to one
//!   interleaved `Vec<f32>`). Target: ratio at most 1.05 (0.95x throughput).
//! - `decode_parallel4`: four decodes of the MP3 clip through
//!   [`DecodeWorkers`] with four slots / `decode_serial4`, the same four in a row.
//!   Target on 2 cores: at most 0.59 (1.7x the throughput).
//!
//! A custom bench (not criterion): one decode of a 10-minute clip takes about a
//! second, so criterion's batching adds nothing; each pair is run alternately
//! (ours, peer, ours, peer, ...) so machine noise hits both, and the medians are
//! recorded with `turbo_testkit::report`.
//!
//! The clips are generated at bench time and cached under
//! `<target>/turbo-bench/audio-clips`: a 44.1 kHz stereo WAV written by
//! `turbo_testkit::wav` (no ffmpeg needed), encoded to MP3, FLAC, Vorbis and AAC
//! with ffmpeg when it is installed. Without ffmpeg the four codec cases are
//! skipped (said on stderr) and `decode_parallel4` runs on the WAV clip. Where
//! ffmpeg is installed, its single-threaded decode time of the same file
//! (`ffmpeg -threads 1 -i clip -f null -`) is added to each note, for information.
//!
//! Arguments are ignored: `cargo xtask bench --quick` passes criterion's flags to
//! every bench binary.

use std::error::Error;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use turbo_audio::decode::{DecodeOptions, decode};
use turbo_audio::worker::{DecodeWorkers, WhenBusy};
use turbo_testkit::report::{quick, report_dir, write_case};
use turbo_testkit::wav::{tone, write_wav};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const RATE: u32 = 44_100;
const SECONDS: u64 = 600;

/// One codec case: the case name, the clip's file name and ffmpeg's encoder flags.
const CODECS: [(&str, &str, &[&str]); 4] = [
    (
        "decode_mp3",
        "clip.mp3",
        &["-c:a", "libmp3lame", "-b:a", "128k"],
    ),
    (
        "decode_flac",
        "clip.flac",
        &["-c:a", "flac", "-sample_fmt", "s16"],
    ),
    (
        "decode_vorbis",
        "clip.ogg",
        &["-c:a", "libvorbis", "-q:a", "4"],
    ),
    ("decode_aac", "clip.m4a", &["-c:a", "aac", "-b:a", "128k"]),
];

fn main() -> Result<()> {
    let rounds = if quick() { 3 } else { 7 };
    let dir = report_dir().join("audio-clips");
    std::fs::create_dir_all(&dir)?;
    let wav = dir.join("clip.wav");
    if !wav.exists() {
        println!("generating the 10-minute WAV clip at {}", wav.display());
        let partial = dir.join("clip.wav.partial");
        write_wav(&partial, RATE, 2, SECONDS * u64::from(RATE), tone(RATE))?;
        std::fs::rename(&partial, &wav)?;
    }
    let ffmpeg = ffmpeg_available();
    if !ffmpeg {
        eprintln!(
            "ffmpeg is not installed: skipping decode_mp3, decode_flac, decode_vorbis and \
             decode_aac (their clips are encoded with ffmpeg); decode_parallel4 uses the WAV clip"
        );
    }
    let mut parallel_clip = wav.clone();
    if ffmpeg {
        for (case, file, codec) in CODECS {
            let clip = dir.join(file);
            if !clip.exists() {
                encode(&wav, &clip, codec)?;
            }
            let (ours, peer) = race(rounds, || ours_once(&clip), || bare_once(&clip))?;
            let mut note = format!(
                "10-min 44.1 kHz stereo, median of {rounds}; ours {:.0}x realtime",
                SECONDS as f64 * 1e9 / ours
            );
            if let Some(ns) = ffmpeg_null_ns(&clip) {
                note.push_str(&format!("; ffmpeg -threads 1 -f null {:.0} ms", ns / 1e6));
            }
            write_case(case, ours, "symphonia_bare", peer, &note)?;
            if case == "decode_mp3" {
                parallel_clip = clip;
            }
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()?;
    let workers = DecodeWorkers::new(4);
    let (ours, peer) = race(
        rounds,
        || runtime.block_on(parallel4_once(&workers, &parallel_clip)),
        || serial4_once(&parallel_clip),
    )?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let note = format!(
        "4 x {} on {cores} cores, median of {rounds}; {:.2}x the serial throughput",
        file_name(&parallel_clip),
        peer / ours
    );
    write_case("decode_parallel4", ours, "decode_serial4", peer, &note)?;
    Ok(())
}

/// Runs `ours` and `peer` alternately `rounds` times after one warm-up each;
/// returns their median times in nanoseconds.
fn race(
    rounds: usize,
    mut ours: impl FnMut() -> Result<u64>,
    mut peer: impl FnMut() -> Result<u64>,
) -> Result<(f64, f64)> {
    ours()?;
    peer()?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(ours()?);
        b.push(peer()?);
    }
    Ok((median(a), median(b)))
}

fn median(mut samples: Vec<u64>) -> f64 {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or(0) as f64
}

/// One decode through turbo-audio; returns its time and checks the length.
fn ours_once(path: &Path) -> Result<u64> {
    let started = Instant::now();
    let clip = decode(File::open(path)?, &DecodeOptions::new())?;
    let elapsed = started.elapsed();
    check_length(path, clip.frames())?;
    Ok(elapsed.as_nanos() as u64)
}

/// One decode with symphonia alone, the loop of its own example.
fn bare_once(path: &Path) -> Result<u64> {
    let started = Instant::now();
    let stream = MediaSourceStream::new(Box::new(File::open(path)?), Default::default());
    let mut reader = symphonia::default::get_probe().probe(
        &Hint::new(),
        stream,
        FormatOptions::default(),
        MetadataOptions::default(),
    )?;
    let track = reader
        .default_track(TrackType::Audio)
        .ok_or("no audio track")?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|params| params.audio())
        .ok_or("no audio parameters")?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())?;
    let mut samples: Vec<f32> = Vec::new();
    let mut channels = 1;
    while let Some(packet) = reader.next_packet()? {
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buffer) => {
                channels = buffer.spec().channels().count().max(1);
                let start = samples.len();
                samples.resize(start + buffer.samples_interleaved(), 0.0);
                buffer.copy_to_slice_interleaved(&mut samples[start..]);
            }
            Err(SymphoniaError::DecodeError(_)) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let elapsed = started.elapsed();
    check_length(path, (samples.len() / channels) as u64)?;
    Ok(elapsed.as_nanos() as u64)
}

async fn parallel4_once(workers: &DecodeWorkers, path: &Path) -> Result<u64> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (workers, file) = (workers.clone(), File::open(path)?);
        tasks.push(tokio::spawn(async move {
            workers
                .decode(file, DecodeOptions::new(), WhenBusy::Wait)
                .await
        }));
    }
    let mut frames = Vec::new();
    for task in tasks {
        frames.push(task.await??.0.frames());
    }
    let elapsed = started.elapsed();
    for frames in frames {
        check_length(path, frames)?;
    }
    Ok(elapsed.as_nanos() as u64)
}

fn serial4_once(path: &Path) -> Result<u64> {
    let started = Instant::now();
    let mut frames = Vec::new();
    for _ in 0..4 {
        frames.push(decode(File::open(path)?, &DecodeOptions::new())?.frames());
    }
    let elapsed = started.elapsed();
    for frames in frames {
        check_length(path, frames)?;
    }
    Ok(elapsed.as_nanos() as u64)
}

/// Both sides must decode the whole clip (AAC keeps its priming frames, so a
/// little more is allowed), or the race compares different work.
fn check_length(path: &Path, frames: u64) -> Result<()> {
    let expected = SECONDS * u64::from(RATE);
    if frames + u64::from(RATE) < expected || frames > expected + u64::from(RATE) {
        return Err(format!(
            "{}: decoded {frames} frames, expected about {expected}",
            path.display()
        )
        .into());
    }
    Ok(())
}

fn ffmpeg_available() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn encode(wav: &Path, out: &Path, codec: &[&str]) -> Result<()> {
    println!("encoding {} with ffmpeg", out.display());
    let partial: PathBuf = out.with_extension(format!(
        "partial.{}",
        out.extension().and_then(|e| e.to_str()).unwrap_or("bin")
    ));
    let status = Command::new("ffmpeg")
        .args(["-y", "-hide_banner", "-loglevel", "error", "-i"])
        .arg(wav)
        .args(["-map_metadata", "-1"])
        .args(codec)
        .arg(&partial)
        .status()?;
    if !status.success() {
        return Err(format!("ffmpeg failed encoding {}: {status}", out.display()).into());
    }
    std::fs::rename(&partial, out)?;
    Ok(())
}

/// ffmpeg's own single-threaded decode time of `clip`, for the note.
fn ffmpeg_null_ns(clip: &Path) -> Option<f64> {
    let started = Instant::now();
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-threads", "1", "-i"])
        .arg(clip)
        .args(["-f", "null", "-"])
        .status()
        .ok()?;
    status
        .success()
        .then(|| started.elapsed().as_nanos() as f64)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
