//! Decoding compressed audio to interleaved `f32` PCM with symphonia 0.6.
//!
//! Formats: WAV (PCM), FLAC, MP3, Ogg Vorbis, and AAC-LC in MP4/M4A (or ADTS).
//! [`decode`] reads a whole clip into an [`AudioClip`]; [`probe`] reads only far
//! enough to report the format, layout and stated duration (what
//! [`DecodePolicy`](crate::policy::DecodePolicy) needs);
//! [`StreamingClip`](crate::streaming::StreamingClip) decodes on demand through
//! the same loop.
//!
//! Every failure is a [`DecodeError`]: `Unsupported` (not a format or codec
//! turbo decodes), `Corrupt` (damaged, truncated, empty, or a decoder panic,
//! which is caught here at the boundary), `TooLarge` (the output would pass
//! [`DecodeOptions::max_decoded_samples`], the decompression-bomb cap) and `Io`.
//! A packet the codec rejects is skipped, as symphonia advises, and counted
//! ([`AudioClip::skipped_packets`], and the audio lost in
//! [`AudioClip::skipped_duration`]); past [`DecodeOptions::max_skipped_packets`]
//! the decode fails with `TooDamaged`, and a clip in which no packet decodes is
//! `Corrupt`. Input that ends inside a packet after audio decoded gives that
//! audio, flagged [`AudioClip::truncated`]. [`DecodeOptions::strict`] fails both
//! instead.
//!
//! The loop is deterministic: the same bytes give the same samples, bit for bit,
//! on any thread, which is what lets [`worker`](crate::worker) fall back to an
//! inline decode without changing results.
//!
//! # Examples
//!
//! ```
//! use std::fs::File;
//! use turbo_audio::decode::{decode, AudioFormat, DecodeOptions};
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tone.flac");
//! let clip = decode(File::open(path)?, &DecodeOptions::new())?;
//! assert_eq!(clip.format(), AudioFormat::Flac);
//! assert_eq!((clip.sample_rate(), clip.channels()), (22_050, 2));
//! assert_eq!(clip.frames(), 22_050); // one second
//! assert_eq!(clip.samples().len(), 2 * 22_050); // interleaved: L R L R ...
//!
//! // The same bytes past a small cap are refused, not decoded.
//! let capped = DecodeOptions::new().max_decoded_samples(1_000);
//! assert!(decode(File::open(path)?, &capped).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod format;
pub(crate) mod packets;

use std::io::{Read, Seek};
use std::time::Duration;

pub use error::DecodeError;
pub use format::AudioFormat;
use packets::{PacketDecoder, SourceHint};

/// The default cap on decoded output: 64 Mi interleaved samples (256 MiB of
/// `f32`, about 12.7 minutes of 44.1 kHz stereo). Longer clips are meant to be
/// streamed, and a few kilobytes of hostile input must not claim gigabytes.
pub const DEFAULT_MAX_DECODED_SAMPLES: u64 = 64 * 1024 * 1024;

/// The default bound on packets a decode skips because the codec rejected them:
/// past it the decode fails with [`DecodeError::TooDamaged`].
pub const DEFAULT_MAX_SKIPPED_PACKETS: u64 = 100;

/// How to decode: the output cap and what is known about the input.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    max_decoded_samples: u64,
    max_skipped_packets: u64,
    accept_truncated: bool,
    hint: SourceHint,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_decoded_samples: DEFAULT_MAX_DECODED_SAMPLES,
            max_skipped_packets: DEFAULT_MAX_SKIPPED_PACKETS,
            accept_truncated: true,
            hint: SourceHint::default(),
        }
    }
}

impl DecodeOptions {
    /// The defaults: [`DEFAULT_MAX_DECODED_SAMPLES`],
    /// [`DEFAULT_MAX_SKIPPED_PACKETS`], truncated input accepted, no hint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Caps the decoded output at `samples` interleaved samples; decoding past it
    /// fails with [`DecodeError::TooLarge`]. Applies to whole-clip decodes, not to
    /// streaming, whose memory is bounded by its buffer.
    pub fn max_decoded_samples(mut self, samples: u64) -> Self {
        self.max_decoded_samples = samples;
        self
    }

    /// The cap in force.
    pub fn decoded_samples_cap(&self) -> u64 {
        self.max_decoded_samples
    }

    /// How many packets the codec may reject (each is skipped, and counted in
    /// [`AudioClip::skipped_packets`]) before the decode fails with
    /// [`DecodeError::TooDamaged`]. Default [`DEFAULT_MAX_SKIPPED_PACKETS`].
    pub fn max_skipped_packets(mut self, packets: u64) -> Self {
        self.max_skipped_packets = packets;
        self
    }

    /// The skipped-packet bound in force.
    pub fn skipped_packets_cap(&self) -> u64 {
        self.max_skipped_packets
    }

    /// Strict decoding: no packet may be skipped (the first rejected one fails
    /// the decode with [`DecodeError::TooDamaged`]) and input that ends inside a
    /// packet fails with [`DecodeError::Corrupt`] instead of giving the audio
    /// before it, flagged [`truncated`](AudioClip::truncated). `strict(false)`
    /// restores the defaults.
    pub fn strict(mut self, strict: bool) -> Self {
        self.accept_truncated = !strict;
        self.max_skipped_packets = if strict {
            0
        } else {
            DEFAULT_MAX_SKIPPED_PACKETS
        };
        self
    }

    /// Whether input that ends inside a packet gives the audio before it.
    pub fn accepts_truncated(&self) -> bool {
        self.accept_truncated
    }

    /// A file extension hint (`"mp3"`): it orders the probe, never overrides it.
    pub fn extension(mut self, extension: impl Into<String>) -> Self {
        self.hint.extension = Some(extension.into());
        self
    }

    /// A `Content-Type` hint (`"audio/mpeg"`): it orders the probe, never
    /// overrides it.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.hint.content_type = Some(content_type.into());
        self
    }

    pub(crate) fn hint(&self) -> &SourceHint {
        &self.hint
    }
}

/// A whole decoded clip: interleaved `f32` samples in `[-1, 1]` and their layout.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioClip {
    samples: Vec<f32>,
    sample_rate: u32,
    channels: u16,
    format: AudioFormat,
    skipped_packets: u64,
    lost: Duration,
    truncated: bool,
}

impl AudioClip {
    /// The samples, interleaved by channel (`L R L R ...` for stereo).
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// Takes the samples out.
    pub fn into_samples(self) -> Vec<f32> {
        self.samples
    }

    /// Frames per second.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Channels per frame.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Frames (samples per channel).
    pub fn frames(&self) -> u64 {
        (self.samples.len() / usize::from(self.channels.max(1))) as u64
    }

    /// The playing time.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.frames() as f64 / f64::from(self.sample_rate.max(1)))
    }

    /// The format the decoder found.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Packets the codec rejected and the decode skipped (0 for a clean file),
    /// at most [`DecodeOptions::max_skipped_packets`].
    pub fn skipped_packets(&self) -> u64 {
        self.skipped_packets
    }

    /// The audio lost in the skipped packets, as the container states their
    /// durations (zero where it states none).
    pub fn skipped_duration(&self) -> Duration {
        self.lost
    }

    /// Whether the input ended inside a packet or header: the clip is the audio
    /// that decoded before the cut (never set under
    /// [`DecodeOptions::strict`], which fails such input instead).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Bytes the samples occupy in memory.
    pub fn memory_bytes(&self) -> usize {
        self.samples.len() * std::mem::size_of::<f32>()
    }
}

/// What [`probe`] learns without decoding the clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeInfo {
    /// The format the decoder found.
    pub format: AudioFormat,
    /// Frames per second (from the first decoded packet).
    pub sample_rate: u32,
    /// Channels per frame (from the first decoded packet).
    pub channels: u16,
    /// The duration the container states, if it does (MP3 without a Xing or
    /// VBRI header, for one, does not).
    pub duration: Option<Duration>,
}

/// Decodes a whole clip from `source` (read from its beginning).
///
/// # Errors
///
/// A [`DecodeError`] saying why; see the module docs.
pub fn decode<R>(source: R, options: &DecodeOptions) -> Result<AudioClip, DecodeError>
where
    R: Read + Seek + Send + Sync + 'static,
{
    decode_until(source, options, &|| false)
}

/// Opens `source` and decodes its first packet: the format, layout and stated
/// duration, for routing before the real decode.
///
/// # Errors
///
/// The same errors [`decode`] gives for a bad header or first packet.
pub fn probe<R>(source: R, options: &DecodeOptions) -> Result<ProbeInfo, DecodeError>
where
    R: Read + Seek + Send + Sync + 'static,
{
    let info = PacketDecoder::open(source, options)?.info();
    Ok(ProbeInfo {
        format: info.format,
        sample_rate: info.sample_rate,
        channels: info.channels,
        duration: info.declared_duration,
    })
}

/// [`decode`], checking `cancelled` between packets (a worker whose caller went
/// away stops early and releases the file).
pub(crate) fn decode_until<R>(
    source: R,
    options: &DecodeOptions,
    cancelled: &dyn Fn() -> bool,
) -> Result<AudioClip, DecodeError>
where
    R: Read + Seek + Send + Sync + 'static,
{
    decode_packets(PacketDecoder::open(source, options)?, options, cancelled)
}

/// Decodes the rest of an opened stream into a whole clip, under the cap.
pub(crate) fn decode_packets(
    mut packets: PacketDecoder,
    options: &DecodeOptions,
    cancelled: &dyn Fn() -> bool,
) -> Result<AudioClip, DecodeError> {
    let max_len = usize::try_from(options.max_decoded_samples).unwrap_or(usize::MAX);
    let info = packets.info();
    let mut samples = Vec::new();
    // Reserve what the container states (plus slack for encoder padding), so a
    // long clip is not grown by doubling: that would briefly hold 1.5x its size.
    // A stated size past the cap reserves nothing; the cap then fails the decode
    // only if the samples really come.
    if let Some(frames) = info.declared_frames {
        let declared = frames.saturating_mul(u64::from(info.channels));
        let wanted = declared.saturating_add(declared / 64 + 8_192);
        if declared <= options.max_decoded_samples {
            samples.reserve_exact(usize::try_from(wanted).unwrap_or(0).min(max_len));
        }
    }
    loop {
        if cancelled() {
            return Err(DecodeError::Cancelled);
        }
        if packets.next_into(&mut samples, max_len)?.is_none() {
            break;
        }
    }
    samples.shrink_to_fit();
    Ok(AudioClip {
        samples,
        sample_rate: info.sample_rate,
        channels: info.channels,
        format: info.format,
        skipped_packets: packets.skipped_packets(),
        lost: packets.lost(),
        truncated: packets.truncated(),
    })
}
