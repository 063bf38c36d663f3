//! [`AudioFormat`]: the audio encodings turbo decodes, and how a name or a
//! content type maps to one.

use std::fmt;

use symphonia::core::codecs::audio::AudioCodecId;
use symphonia::core::codecs::audio::well_known::{
    CODEC_ID_AAC, CODEC_ID_FLAC, CODEC_ID_MP3, CODEC_ID_VORBIS,
};
use symphonia::core::formats::FormatId;
use symphonia::core::formats::well_known::FORMAT_ID_WAVE;

/// An audio encoding turbo decodes, named by its codec family.
///
/// Before a decode this is a hint (from a file extension or a `Content-Type`);
/// after one it is what the decoder found, which wins: a file named `.wav` that
/// holds MP3 decodes as MP3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AudioFormat {
    /// PCM in a RIFF WAVE file.
    Wav,
    /// FLAC, native or in Ogg.
    Flac,
    /// MPEG-1/2 Layer III.
    Mp3,
    /// Vorbis in Ogg.
    Vorbis,
    /// AAC-LC in MP4/M4A, or raw ADTS.
    Aac,
}

impl AudioFormat {
    /// Every format, in a fixed order (for tests and reports).
    pub const ALL: [AudioFormat; 5] = [
        AudioFormat::Wav,
        AudioFormat::Flac,
        AudioFormat::Mp3,
        AudioFormat::Vorbis,
        AudioFormat::Aac,
    ];

    /// The lowercase name used in reports and logs.
    pub fn name(self) -> &'static str {
        match self {
            AudioFormat::Wav => "wav",
            AudioFormat::Flac => "flac",
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Vorbis => "vorbis",
            AudioFormat::Aac => "aac",
        }
    }

    /// The usual file extension, without the dot (for temp-file names and hints).
    pub fn extension(self) -> &'static str {
        match self {
            AudioFormat::Wav => "wav",
            AudioFormat::Flac => "flac",
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Vorbis => "ogg",
            AudioFormat::Aac => "m4a",
        }
    }

    /// The format a file extension names (case-insensitive, with or without the
    /// dot), if it is one turbo decodes.
    pub fn from_extension(extension: &str) -> Option<AudioFormat> {
        let extension = extension.trim_start_matches('.').to_ascii_lowercase();
        Some(match extension.as_str() {
            "wav" | "wave" => AudioFormat::Wav,
            "flac" => AudioFormat::Flac,
            "mp3" => AudioFormat::Mp3,
            "ogg" | "oga" => AudioFormat::Vorbis,
            "m4a" | "mp4" | "aac" => AudioFormat::Aac,
            _ => return None,
        })
    }

    /// The format a `Content-Type` names (parameters such as `; codecs=...` are
    /// ignored), if it is one turbo decodes.
    pub fn from_content_type(content_type: &str) -> Option<AudioFormat> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        Some(match essence.as_str() {
            "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => AudioFormat::Wav,
            "audio/flac" | "audio/x-flac" => AudioFormat::Flac,
            "audio/mpeg" | "audio/mp3" | "audio/mpeg3" => AudioFormat::Mp3,
            "audio/ogg" | "audio/vorbis" | "application/ogg" => AudioFormat::Vorbis,
            "audio/mp4" | "audio/x-m4a" | "audio/m4a" | "audio/aac" | "audio/aacp" => {
                AudioFormat::Aac
            }
            _ => return None,
        })
    }

    /// What symphonia found: the codec decides, except that any codec in a WAVE
    /// container is reported as `Wav`.
    pub(crate) fn identify(container: FormatId, codec: AudioCodecId) -> Option<AudioFormat> {
        if container == FORMAT_ID_WAVE {
            return Some(AudioFormat::Wav);
        }
        match codec {
            c if c == CODEC_ID_FLAC => Some(AudioFormat::Flac),
            c if c == CODEC_ID_MP3 => Some(AudioFormat::Mp3),
            c if c == CODEC_ID_VORBIS => Some(AudioFormat::Vorbis),
            c if c == CODEC_ID_AAC => Some(AudioFormat::Aac),
            _ => None,
        }
    }
}

impl fmt::Display for AudioFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::AudioFormat;

    #[test]
    fn names_and_content_types_map_to_formats() {
        assert_eq!(AudioFormat::from_extension(".MP3"), Some(AudioFormat::Mp3));
        assert_eq!(AudioFormat::from_extension("m4a"), Some(AudioFormat::Aac));
        assert_eq!(AudioFormat::from_extension("txt"), None);
        assert_eq!(
            AudioFormat::from_content_type("audio/ogg; codecs=vorbis"),
            Some(AudioFormat::Vorbis)
        );
        assert_eq!(
            AudioFormat::from_content_type(" Audio/X-FLAC "),
            Some(AudioFormat::Flac)
        );
        assert_eq!(AudioFormat::from_content_type("text/html"), None);
        for format in AudioFormat::ALL {
            assert_eq!(
                AudioFormat::from_extension(format.extension()),
                Some(format)
            );
        }
    }
}
