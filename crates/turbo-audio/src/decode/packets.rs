//! The one decode loop every path shares: probe, pick the audio track, decode
//! packet by packet into interleaved `f32`, with symphonia's errors mapped to
//! [`DecodeError`] and its panics caught at this boundary.

use std::any::Any;
use std::io::{self, Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use symphonia::core::units::TimeBase;

use super::{AudioFormat, DecodeError, DecodeOptions};

/// What the caller knows about the input before it is opened.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceHint {
    pub(crate) extension: Option<String>,
    pub(crate) content_type: Option<String>,
}

/// The facts of an opened stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StreamInfo {
    pub(crate) format: AudioFormat,
    pub(crate) sample_rate: u32,
    pub(crate) channels: u16,
    /// Playable frames as the container states them, if it does.
    pub(crate) declared_frames: Option<u64>,
    /// The duration the container states, if it does.
    pub(crate) declared_duration: Option<Duration>,
}

/// A probed stream and its decoder, handing out one packet's samples at a time.
pub(crate) struct PacketDecoder {
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    info: StreamInfo,
    /// The first packet's samples, decoded by `open` to learn the real layout.
    primed: Vec<f32>,
    /// Set after the end, an error or a caught panic: the state may be
    /// inconsistent, so nothing is read from it again.
    finished: Option<Finish>,
    skipped_packets: u64,
    /// The track's time base, to turn a skipped packet's duration into time.
    time_base: Option<TimeBase>,
    /// Seconds of audio in the skipped packets (as the container states them).
    lost_secs: f64,
    /// The input ended inside a packet or header after audio had decoded.
    truncated: bool,
    /// How many skipped packets are tolerated before the decode fails.
    max_skipped: u64,
    /// Whether a truncated input ends the clip (`true`) or fails it.
    accept_truncated: bool,
}

#[derive(Debug, Clone, Copy)]
enum Finish {
    End,
    Failed,
}

impl std::fmt::Debug for PacketDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketDecoder")
            .field("track_id", &self.track_id)
            .field("info", &self.info)
            .field("skipped_packets", &self.skipped_packets)
            .finish_non_exhaustive()
    }
}

impl PacketDecoder {
    /// Probes `source`, opens a decoder for its default audio track and decodes
    /// the first packet (so the layout reported is the decoder's, not only the
    /// container's claim).
    pub(crate) fn open<R>(source: R, options: &DecodeOptions) -> Result<PacketDecoder, DecodeError>
    where
        R: Read + Seek + Send + Sync + 'static,
    {
        let source = Source::new(source)?;
        if source.len == Some(0) {
            return Err(DecodeError::corrupt("empty input (0 bytes)"));
        }
        guarded("probing", || Self::open_unguarded(source, options))
    }

    fn open_unguarded<R>(source: Source<R>, options: &DecodeOptions) -> Result<Self, DecodeError>
    where
        R: Read + Seek + Send + Sync + 'static,
    {
        let hint = options.hint();
        let stream = MediaSourceStream::new(Box::new(source), Default::default());
        let mut probe_hint = Hint::new();
        if let Some(extension) = &hint.extension {
            probe_hint.with_extension(extension);
        }
        if let Some(content_type) = &hint.content_type {
            probe_hint.mime_type(content_type);
        }
        let reader = symphonia::default::get_probe()
            .probe(
                &probe_hint,
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(map_error)?;
        let track = reader
            .default_track(TrackType::Audio)
            .ok_or_else(|| DecodeError::unsupported("the container holds no audio track"))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|params| params.audio())
            .ok_or_else(|| DecodeError::unsupported("the audio track has no codec parameters"))?;
        let format =
            AudioFormat::identify(reader.format_info().format, params.codec).ok_or_else(|| {
                DecodeError::unsupported(unsupported_codec(
                    params.codec,
                    reader.format_info().short_name,
                ))
            })?;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
            .map_err(map_error)?;
        let rate = params.sample_rate.filter(|rate| *rate > 0);
        let declared_frames = track.num_frames;
        let declared_duration = match (declared_frames, rate) {
            (Some(frames), Some(rate)) => {
                Some(Duration::from_secs_f64(frames as f64 / f64::from(rate)))
            }
            _ => track
                .time_base
                .zip(track.duration)
                .and_then(|(base, duration)| base.calc_duration(duration))
                .and_then(|time| Duration::try_from_secs_f64(time.as_secs_f64()).ok()),
        };
        let track_id = track.id;
        let time_base = track.time_base;
        let mut decoder = PacketDecoder {
            reader,
            decoder,
            track_id,
            info: StreamInfo {
                format,
                sample_rate: 0,
                channels: 0,
                declared_frames,
                declared_duration,
            },
            primed: Vec::new(),
            finished: None,
            skipped_packets: 0,
            time_base,
            lost_secs: 0.0,
            truncated: false,
            max_skipped: options.skipped_packets_cap(),
            accept_truncated: options.accepts_truncated(),
        };
        let mut first = Vec::new();
        match decoder.next_unguarded(&mut first, usize::MAX)? {
            Some(_) => decoder.primed = first,
            None if decoder.truncated => {
                return Err(DecodeError::corrupt(
                    "the input ends inside a packet or header (truncated) before any audio",
                ));
            }
            None => return Err(DecodeError::corrupt("the stream holds no audio frames")),
        }
        Ok(decoder)
    }

    /// The stream's facts (layout from the first decoded packet).
    pub(crate) fn info(&self) -> StreamInfo {
        self.info
    }

    /// Packets skipped because the decoder rejected them (symphonia's advice for a
    /// `DecodeError` from `decode`: skip the packet, keep going).
    pub(crate) fn skipped_packets(&self) -> u64 {
        self.skipped_packets
    }

    /// The audio in the skipped packets, where the container states packet
    /// durations (zero where it does not).
    pub(crate) fn lost(&self) -> Duration {
        Duration::try_from_secs_f64(self.lost_secs).unwrap_or(Duration::ZERO)
    }

    /// Whether the input ended inside a packet or header after audio had
    /// decoded (the clip holds what decoded before).
    pub(crate) fn truncated(&self) -> bool {
        self.truncated
    }

    /// Appends the next packet's interleaved samples to `out`. `Ok(None)` at the
    /// end; `TooLarge` if they would take `out` past `max_len` samples.
    pub(crate) fn next_into(
        &mut self,
        out: &mut Vec<f32>,
        max_len: usize,
    ) -> Result<Option<usize>, DecodeError> {
        match self.finished {
            Some(Finish::End) => return Ok(None),
            Some(Finish::Failed) => {
                return Err(DecodeError::corrupt("the decoder failed earlier"));
            }
            None => {}
        }
        let result = guarded("decoding", || self.next_unguarded(out, max_len));
        match &result {
            Ok(Some(_)) => {}
            Ok(None) => self.finished = Some(Finish::End),
            Err(_) => self.finished = Some(Finish::Failed),
        }
        result
    }

    fn next_unguarded(
        &mut self,
        out: &mut Vec<f32>,
        max_len: usize,
    ) -> Result<Option<usize>, DecodeError> {
        if !self.primed.is_empty() {
            let primed = std::mem::take(&mut self.primed);
            check_room(out.len(), primed.len(), max_len)?;
            out.extend_from_slice(&primed);
            return Ok(Some(primed.len()));
        }
        loop {
            let packet = match self.reader.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => return Ok(None),
                // A chained Ogg stream starting a new logical stream: this clip
                // is the first one, so it ends here.
                Err(SymphoniaError::ResetRequired) => return Ok(None),
                // Cut short after audio decoded: the clip is what came before.
                Err(SymphoniaError::IoError(io))
                    if io.kind() == io::ErrorKind::UnexpectedEof && self.accept_truncated =>
                {
                    self.truncated = true;
                    return Ok(None);
                }
                // The demuxer rejected a page or frame (a CRC mismatch): skipped
                // like a packet the codec rejects, under the same bound, which
                // also ends the loop should the demuxer not move on.
                Err(SymphoniaError::DecodeError(detail)) => {
                    self.skip(detail, None)?;
                    continue;
                }
                Err(error) => return Err(map_error(error)),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let buffer = match self.decoder.decode(&packet) {
                Ok(buffer) => buffer,
                Err(SymphoniaError::DecodeError(detail)) => {
                    self.skip(detail, Some(packet.dur))?;
                    continue;
                }
                // The packet's bits ran out inside it: damaged or cut short.
                Err(SymphoniaError::IoError(io)) if io.kind() == io::ErrorKind::UnexpectedEof => {
                    self.skip("a packet ends before its data does", Some(packet.dur))?;
                    continue;
                }
                Err(error) => return Err(map_error(error)),
            };
            let frames = buffer.frames();
            if frames == 0 {
                continue;
            }
            let spec = buffer.spec();
            let channels = u16::try_from(spec.channels().count())
                .map_err(|_| DecodeError::unsupported("more than 65535 channels"))?;
            if channels == 0 || spec.rate() == 0 {
                return Err(DecodeError::corrupt(
                    "a packet decoded to zero channels or a zero sample rate",
                ));
            }
            if self.info.channels == 0 {
                self.info.channels = channels;
                self.info.sample_rate = spec.rate();
            } else if (channels, spec.rate()) != (self.info.channels, self.info.sample_rate) {
                return Err(DecodeError::corrupt(format!(
                    "the layout changed mid-stream from {} channels at {} Hz to {channels} at {} Hz",
                    self.info.channels,
                    self.info.sample_rate,
                    spec.rate()
                )));
            }
            let count = buffer.samples_interleaved();
            check_room(out.len(), count, max_len)?;
            let start = out.len();
            out.resize(start + count, 0.0);
            buffer.copy_to_slice_interleaved(&mut out[start..]);
            return Ok(Some(count));
        }
    }
}

impl PacketDecoder {
    /// Counts one skipped packet (and its audio, if its duration is known);
    /// fails once more than the bound are skipped.
    fn skip(
        &mut self,
        detail: &str,
        duration: Option<symphonia::core::units::Duration>,
    ) -> Result<(), DecodeError> {
        self.skipped_packets += 1;
        if let Some(lost) = self
            .time_base
            .zip(duration)
            .and_then(|(base, duration)| base.calc_duration(duration))
        {
            self.lost_secs += lost.as_secs_f64();
        }
        if self.skipped_packets > self.max_skipped {
            return Err(DecodeError::TooDamaged {
                skipped_packets: self.skipped_packets,
                max: self.max_skipped,
                last: detail.to_owned(),
            });
        }
        Ok(())
    }
}

fn check_room(len: usize, add: usize, max_len: usize) -> Result<(), DecodeError> {
    if len.saturating_add(add) > max_len {
        Err(DecodeError::TooLarge {
            max_samples: max_len as u64,
        })
    } else {
        Ok(())
    }
}

/// Runs one step of symphonia behind `catch_unwind`: a panic on hostile input
/// becomes `Corrupt` instead of taking the thread (a worker, or the caller's).
fn guarded<T>(
    stage: &str,
    step: impl FnOnce() -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    // AssertUnwindSafe: after a panic the decoder state is never used again
    // (`finished` is set to `Failed` by the caller, or the value is dropped).
    catch_unwind(AssertUnwindSafe(step)).unwrap_or_else(|payload| {
        Err(DecodeError::corrupt(format!(
            "the decoder panicked while {stage}: {}",
            panic_message(payload.as_ref())
        )))
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-text panic payload")
}

fn map_error(error: SymphoniaError) -> DecodeError {
    match error {
        SymphoniaError::IoError(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            DecodeError::corrupt("the input ends inside a packet or header (truncated)")
        }
        SymphoniaError::IoError(io) => DecodeError::Io(io),
        SymphoniaError::DecodeError(detail) => DecodeError::corrupt(detail),
        SymphoniaError::Unsupported(detail) => DecodeError::unsupported(detail),
        SymphoniaError::LimitError(detail) => {
            DecodeError::corrupt(format!("a demuxer or decoder limit was reached: {detail}"))
        }
        other => DecodeError::corrupt(other.to_string()),
    }
}

/// Any seekable reader as a symphonia media source, read from its beginning,
/// with its length measured once (symphonia uses it to look for trailing tags and
/// to bound reads).
struct Source<R> {
    inner: R,
    len: Option<u64>,
}

impl<R: Read + Seek> Source<R> {
    fn new(mut inner: R) -> Result<Self, DecodeError> {
        let len = inner.seek(SeekFrom::End(0)).map_err(DecodeError::Io)?;
        inner.seek(SeekFrom::Start(0)).map_err(DecodeError::Io)?;
        Ok(Source {
            inner,
            len: Some(len),
        })
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R: Seek> Seek for Source<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl<R: Read + Seek + Send + Sync> MediaSource for Source<R> {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        self.len
    }
}

/// What to tell a user about a codec turbo does not decode: its name where
/// known (Opus is the one users meet: Ogg and WebM files often hold it), and
/// what turbo does decode.
fn unsupported_codec(
    codec: symphonia::core::codecs::audio::AudioCodecId,
    container: &str,
) -> String {
    use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
    const SUPPORTED: &str = "turbo decodes WAV (PCM), FLAC, MP3, Ogg Vorbis and AAC";
    if codec == CODEC_ID_OPUS {
        format!("Opus is not supported (found in a {container} container); {SUPPORTED}")
    } else {
        format!("codec {codec} in a {container} container is not supported; {SUPPORTED}")
    }
}
