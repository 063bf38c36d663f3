//! [`StreamingClip`]: a long clip kept compressed in its file and decoded
//! packet by packet as it is read.
//!
//! Memory is a small constant whatever the duration: symphonia's read buffer
//! (64 KiB), the decoder's state, and one packet of decoded samples (a few
//! thousand frames; at most 65,535 frames for FLAC's largest block). A 10-minute
//! clip streams in well under a megabyte where decoding it whole takes 200 MiB.
//!
//! The clip owns an optional *guard*, dropped after the file is closed: the
//! pipeline passes the temp file's handle, so dropping the clip deletes the file.
//! The decoded-samples cap of [`DecodeOptions`] does not apply here; a reader
//! takes samples at its own pace, so nothing accumulates.
//!
//! # Examples
//!
//! ```
//! use std::fs::File;
//! use turbo_audio::decode::DecodeOptions;
//! use turbo_audio::streaming::StreamingClip;
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tone.mp3");
//! let mut clip = StreamingClip::open(File::open(path)?, &DecodeOptions::new(), None)?;
//! assert_eq!((clip.sample_rate(), clip.channels()), (22_050, 2));
//! let mut buffer = [0.0f32; 1_024];
//! let mut total = 0;
//! loop {
//!     let read = clip.read(&mut buffer)?;
//!     if read == 0 {
//!         break;
//!     }
//!     total += read;
//! }
//! assert_eq!(total, 2 * 22_050);
//! assert_eq!(clip.frames_read(), 22_050);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::{Read, Seek};
use std::time::Duration;

use crate::decode::packets::{PacketDecoder, StreamInfo};
use crate::decode::{AudioFormat, DecodeError, DecodeOptions};

/// Something the clip keeps alive and drops after its file is closed (a temp
/// file's handle, a lease on a cache entry).
pub type StreamGuard = Box<dyn Send + Sync>;

/// A clip decoded on demand; see the module docs.
pub struct StreamingClip {
    packets: PacketDecoder,
    info: StreamInfo,
    /// Decoded samples of the current packet; `buffer[position..]` are unread.
    buffer: Vec<f32>,
    position: usize,
    samples_read: u64,
    // Declared last so it drops last: the decoder (and its file) closes first.
    guard: Option<StreamGuard>,
}

impl fmt::Debug for StreamingClip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingClip")
            .field("info", &self.info)
            .field("buffered", &(self.buffer.len() - self.position))
            .field("samples_read", &self.samples_read)
            .field("guarded", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

impl StreamingClip {
    /// Opens `source` (read from its beginning) and decodes its first packet.
    /// `guard` is dropped with the clip, or at once if opening fails.
    ///
    /// # Errors
    ///
    /// The same [`DecodeError`]s a whole-clip decode gives for a bad header or
    /// first packet.
    pub fn open<R>(
        source: R,
        options: &DecodeOptions,
        guard: Option<StreamGuard>,
    ) -> Result<StreamingClip, DecodeError>
    where
        R: Read + Seek + Send + Sync + 'static,
    {
        let packets = PacketDecoder::open(source, options)?;
        Ok(Self::from_decoder(packets, guard))
    }

    /// A clip over a stream the pipeline has already opened (and routed).
    pub(crate) fn from_decoder(packets: PacketDecoder, guard: Option<StreamGuard>) -> Self {
        StreamingClip {
            info: packets.info(),
            packets,
            buffer: Vec::new(),
            position: 0,
            samples_read: 0,
            guard,
        }
    }

    /// Fills `out` with the next interleaved samples, decoding packets as
    /// needed; returns how many were written, 0 at the end. Frames may span two
    /// calls when `out.len()` is not a multiple of [`channels`](Self::channels).
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] from the packet that failed; samples written before it
    /// in this call are lost with it, and later calls return an error too.
    pub fn read(&mut self, out: &mut [f32]) -> Result<usize, DecodeError> {
        let mut written = 0;
        while written < out.len() {
            if self.position == self.buffer.len() && !self.refill()? {
                break;
            }
            let available = &self.buffer[self.position..];
            let take = available.len().min(out.len() - written);
            out[written..written + take].copy_from_slice(&available[..take]);
            self.position += take;
            written += take;
        }
        self.samples_read += written as u64;
        Ok(written)
    }

    /// The next packet's samples as decoded, without a copy; `None` at the end.
    /// Unread samples left by [`read`](Self::read) come first.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn next_chunk(&mut self) -> Result<Option<&[f32]>, DecodeError> {
        if self.position == self.buffer.len() && !self.refill()? {
            return Ok(None);
        }
        let chunk = &self.buffer[self.position..];
        self.samples_read += chunk.len() as u64;
        self.position = self.buffer.len();
        Ok(Some(chunk))
    }

    /// Decodes the next packet into the (reused) buffer; false at the end.
    fn refill(&mut self) -> Result<bool, DecodeError> {
        self.buffer.clear();
        self.position = 0;
        Ok(self
            .packets
            .next_into(&mut self.buffer, usize::MAX)?
            .is_some())
    }

    /// Frames per second.
    pub fn sample_rate(&self) -> u32 {
        self.info.sample_rate
    }

    /// Channels per frame.
    pub fn channels(&self) -> u16 {
        self.info.channels
    }

    /// The format the decoder found.
    pub fn format(&self) -> AudioFormat {
        self.info.format
    }

    /// The duration the container states, if it does.
    pub fn duration(&self) -> Option<Duration> {
        self.info.declared_duration
    }

    /// Whole frames handed out so far.
    pub fn frames_read(&self) -> u64 {
        self.samples_read / u64::from(self.info.channels.max(1))
    }

    /// Samples the buffer can hold without growing (one packet's worth, once a
    /// packet has been decoded): the bound on the clip's decoded memory.
    pub fn buffer_capacity(&self) -> usize {
        self.buffer.capacity()
    }

    /// Whether the clip holds a guard (a temp file to delete on drop).
    pub fn is_guarded(&self) -> bool {
        self.guard.is_some()
    }

    /// Packets skipped so far because they did not decode (see
    /// [`AudioClip::skipped_packets`](crate::decode::AudioClip::skipped_packets));
    /// past the options' bound a read fails with
    /// [`DecodeError::TooDamaged`].
    pub fn skipped_packets(&self) -> u64 {
        self.packets.skipped_packets()
    }

    /// The audio in the packets skipped so far, where the container states
    /// their durations.
    pub fn skipped_duration(&self) -> Duration {
        self.packets.lost()
    }

    /// Whether the input has been found to end inside a packet: the stream
    /// ended there, after the audio before the cut.
    pub fn truncated(&self) -> bool {
        self.packets.truncated()
    }
}
