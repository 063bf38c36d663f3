//! [`DecodeError`]: every way a decode can fail, as a value.

use std::fmt;

/// Why a clip could not be decoded.
///
/// The same input gives the same variant on every path (inline, on a worker,
/// streaming): the variants come from one mapping of symphonia's errors in one
/// decode loop.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is not audio turbo can decode: an unknown container, no audio
    /// track, or a codec whose decoder is not built in (for example Opus).
    Unsupported {
        /// What was not supported, in symphonia's or turbo's words.
        detail: String,
    },
    /// The input looks like a supported format but its bytes are damaged: empty,
    /// truncated inside a packet, malformed headers or packets, no decodable frame,
    /// or a decoder that panicked on it (the panic is caught and reported here).
    Corrupt {
        /// What was wrong.
        detail: String,
    },
    /// More packets than [`DecodeOptions::max_skipped_packets`](super::DecodeOptions::max_skipped_packets)
    /// did not decode (0 under [`strict`](super::DecodeOptions::strict)): the
    /// clip is too damaged to be worth what is left of it.
    TooDamaged {
        /// Packets skipped when the decode gave up.
        skipped_packets: u64,
        /// The bound that was passed.
        max: u64,
        /// What the codec said about the last one.
        last: String,
    },
    /// Decoding would produce more samples than the configured cap: a
    /// decompression bomb, or a clip too long to decode on load.
    TooLarge {
        /// The cap, in interleaved samples (frames times channels).
        max_samples: u64,
    },
    /// Reading the source failed (not an end of data, which is `Corrupt`).
    Io(std::io::Error),
    /// The caller gave up on the decode (dropped its future) before it finished;
    /// nobody is waiting for this value, it only ends the worker's loop early.
    Cancelled,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Unsupported { detail } => write!(f, "unsupported audio: {detail}"),
            DecodeError::Corrupt { detail } => write!(f, "corrupt audio: {detail}"),
            DecodeError::TooDamaged {
                skipped_packets,
                max,
                last,
            } => write!(
                f,
                "corrupt audio: {skipped_packets} packets did not decode, more than the {max} \
                 allowed (the last: {last})"
            ),
            DecodeError::TooLarge { max_samples } => write!(
                f,
                "audio too large: decoding would exceed the cap of {max_samples} samples"
            ),
            DecodeError::Io(error) => write!(f, "reading the audio source failed: {error}"),
            DecodeError::Cancelled => f.write_str("the decode was cancelled by its caller"),
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl DecodeError {
    pub(crate) fn corrupt(detail: impl Into<String>) -> Self {
        DecodeError::Corrupt {
            detail: detail.into(),
        }
    }

    pub(crate) fn unsupported(detail: impl Into<String>) -> Self {
        DecodeError::Unsupported {
            detail: detail.into(),
        }
    }

    /// The variant's name, for metrics and logs (`"unsupported"`, `"corrupt"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Unsupported { .. } => "unsupported",
            DecodeError::Corrupt { .. } => "corrupt",
            DecodeError::TooDamaged { .. } => "too_damaged",
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::Io(_) => "io",
            DecodeError::Cancelled => "cancelled",
        }
    }
}
