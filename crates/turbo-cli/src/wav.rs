//! WAV with `hound`: [`write_audio`] writes a loaded clip (decoded whole, or
//! streaming, decoded chunk by chunk as it is written) as 16-bit PCM, and
//! [`sine_wav`] makes the generated clips the demo serves.
//!
//! ```
//! use std::time::Duration;
//! use turbo_cli::wav::sine_wav;
//!
//! let wav = sine_wav(Duration::from_millis(500), 8_000, 1)?;
//! // A 44-byte header, then 4,000 16-bit samples.
//! assert_eq!(wav.len(), 44 + 4_000 * 2);
//! assert_eq!(&wav[..4], b"RIFF");
//! # Ok::<(), hound::Error>(())
//! ```

use std::io::{Cursor, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use turbo_audio::pipeline::Audio;

use crate::error::CliError;

/// Samples asked of a streaming clip per read.
const CHUNK: usize = 16 * 1024;

/// A 440 Hz sine of `duration` at a quarter of full scale, as a 16-bit PCM WAV
/// file with `channels` identical channels.
///
/// # Errors
///
/// What `hound` reports for an impossible header (zero channels).
pub fn sine_wav(
    duration: Duration,
    sample_rate: u32,
    channels: u16,
) -> Result<Vec<u8>, hound::Error> {
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let frames = (duration.as_secs_f64() * f64::from(sample_rate)).round() as usize;
    let mut out = Cursor::new(Vec::with_capacity(44 + frames * 2 * usize::from(channels)));
    let mut writer = hound::WavWriter::new(&mut out, spec)?;
    let step = 440.0 * std::f64::consts::TAU / f64::from(sample_rate.max(1));
    for frame in 0..frames {
        let sample = ((frame as f64 * step).sin() * 0.25 * f64::from(i16::MAX)) as i16;
        for _ in 0..channels {
            writer.write_sample(sample)?;
        }
    }
    writer.finalize()?;
    Ok(out.into_inner())
}

/// What [`write_audio`] or [`drain_audio`] went through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Samples {
    /// Frames (samples per channel).
    pub frames: u64,
    /// Time spent decoding a streaming clip (zero for one decoded on load).
    pub decode: Duration,
}

/// Why samples could not be written.
#[derive(Debug)]
enum SinkError {
    Wav(hound::Error),
    Decode(turbo_audio::decode::DecodeError),
}

/// Writes `audio` to `path` as 16-bit PCM WAV. A half-written file is removed.
///
/// # Errors
///
/// [`CliError::Output`] if the file cannot be written, [`CliError::AudioDecode`]
/// if a streaming clip fails midway.
pub fn write_audio(audio: &mut Audio, path: &Path) -> Result<Samples, CliError> {
    let file = std::fs::File::create(path).map_err(|e| CliError::output(Some(path), e))?;
    let result = write_to(audio, std::io::BufWriter::new(file));
    if result.is_err() {
        // No half-written WAV left behind; a file already gone is fine.
        let _ = std::fs::remove_file(path);
    }
    result.map_err(|error| match error {
        SinkError::Wav(hound::Error::IoError(io)) => CliError::output(Some(path), io),
        SinkError::Wav(other) => CliError::output(Some(path), std::io::Error::other(other)),
        SinkError::Decode(source) => CliError::AudioDecode(source),
    })
}

/// Decodes a streaming clip to its end without keeping the samples (the demo's
/// decode-speed figure); a decoded clip only reports its length.
///
/// # Errors
///
/// [`CliError::AudioDecode`] if the stream fails midway.
pub fn drain_audio(audio: &mut Audio) -> Result<Samples, CliError> {
    let channels = u64::from(audio.channels().max(1));
    match audio {
        Audio::Streaming(clip) => {
            let started = Instant::now();
            let mut buffer = vec![0f32; CHUNK];
            let mut samples = 0u64;
            loop {
                let read = clip.read(&mut buffer).map_err(CliError::AudioDecode)?;
                if read == 0 {
                    break;
                }
                samples += read as u64;
            }
            Ok(Samples {
                frames: samples / channels,
                decode: started.elapsed(),
            })
        }
        other => Ok(Samples {
            frames: other.as_decoded().map_or(0, |clip| clip.frames()),
            decode: Duration::ZERO,
        }),
    }
}

fn write_to<W: Write + Seek>(audio: &mut Audio, out: W) -> Result<Samples, SinkError> {
    let spec = hound::WavSpec {
        channels: audio.channels(),
        sample_rate: audio.sample_rate(),
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let channels = u64::from(spec.channels.max(1));
    let mut writer = hound::WavWriter::new(out, spec).map_err(SinkError::Wav)?;
    let mut samples = 0u64;
    let mut decode = Duration::ZERO;
    match audio {
        Audio::Streaming(clip) => {
            let mut buffer = vec![0f32; CHUNK];
            loop {
                let started = Instant::now();
                let read = clip.read(&mut buffer).map_err(SinkError::Decode)?;
                decode += started.elapsed();
                if read == 0 {
                    break;
                }
                write_samples(&mut writer, &buffer[..read])?;
                samples += read as u64;
            }
        }
        other => {
            if let Some(clip) = other.as_decoded() {
                write_samples(&mut writer, clip.samples())?;
                samples = clip.samples().len() as u64;
            }
        }
    }
    writer.finalize().map_err(SinkError::Wav)?;
    Ok(Samples {
        frames: samples / channels,
        decode,
    })
}

fn write_samples<W: Write + Seek>(
    writer: &mut hound::WavWriter<W>,
    samples: &[f32],
) -> Result<(), SinkError> {
    for &sample in samples {
        // The decoder maps 16-bit PCM to f32 by dividing by 32768; the inverse,
        // rounded and clamped (decoders may overshoot full scale), makes 16-bit
        // sources round-trip exactly.
        let int = (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        writer.write_sample(int).map_err(SinkError::Wav)?;
    }
    Ok(())
}
