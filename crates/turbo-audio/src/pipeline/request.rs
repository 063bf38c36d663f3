//! What a load is asked for ([`AudioRequest`]) and what it gives back
//! ([`LoadedAudio`]: the [`Audio`] and its [`LoadReport`]).

use std::path::PathBuf;
use std::thread::ThreadId;
use std::time::Duration;

use crate::decode::{AudioClip, AudioFormat};
use crate::policy::Route;
use crate::streaming::StreamingClip;

/// What is known about a body before it is read: where it came from, what the
/// server said it is, and how long it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioRequest {
    url: String,
    content_type: Option<String>,
    expected_len: Option<u64>,
}

impl AudioRequest {
    /// A request for `url`: it tags the temp file (its owner) and its path's
    /// extension is a format hint.
    pub fn url(url: &str) -> Self {
        AudioRequest {
            url: url.to_owned(),
            content_type: None,
            expected_len: None,
        }
    }

    /// The response's `Content-Type`, a format hint.
    pub fn with_content_type(mut self, content_type: Option<&str>) -> Self {
        self.content_type = content_type.map(str::to_owned);
        self
    }

    /// The response's `Content-Length`: a body that ends at another length is a
    /// [`LengthMismatch`](super::PipelineError::LengthMismatch).
    pub fn with_expected_len(mut self, expected_len: Option<u64>) -> Self {
        self.expected_len = expected_len;
        self
    }

    /// The URL given.
    pub fn url_str(&self) -> &str {
        &self.url
    }

    /// The content type given.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The expected length given.
    pub fn expected_len(&self) -> Option<u64> {
        self.expected_len
    }

    /// The extension of the URL's last path segment (query and fragment
    /// ignored), if it has a short alphanumeric one.
    pub(crate) fn url_extension(&self) -> Option<&str> {
        let path = self.url.split(['?', '#']).next().unwrap_or_default();
        let path = path.split_once("://").map_or(path, |(_, rest)| {
            rest.split_once('/').map_or("", |(_, path)| path)
        });
        let name = path.rsplit('/').next().unwrap_or_default();
        let (stem, extension) = name.rsplit_once('.')?;
        let plausible = !stem.is_empty()
            && (1..=8).contains(&extension.len())
            && extension.bytes().all(|b| b.is_ascii_alphanumeric());
        plausible.then_some(extension)
    }

    /// The format the request's metadata names: the content type first, then
    /// the URL's extension.
    pub(crate) fn format_hint(&self) -> Option<AudioFormat> {
        self.content_type
            .as_deref()
            .and_then(AudioFormat::from_content_type)
            .or_else(|| self.url_extension().and_then(AudioFormat::from_extension))
    }
}

/// The audio a load produced.
#[derive(Debug)]
pub enum Audio {
    /// Decoded whole, on load.
    Decoded(AudioClip),
    /// Kept compressed and decoded on demand; dropping it deletes its temp file.
    Streaming(StreamingClip),
}

impl Audio {
    /// Frames per second.
    pub fn sample_rate(&self) -> u32 {
        match self {
            Audio::Decoded(clip) => clip.sample_rate(),
            Audio::Streaming(clip) => clip.sample_rate(),
        }
    }

    /// Channels per frame.
    pub fn channels(&self) -> u16 {
        match self {
            Audio::Decoded(clip) => clip.channels(),
            Audio::Streaming(clip) => clip.channels(),
        }
    }

    /// The format the decoder found.
    pub fn format(&self) -> AudioFormat {
        match self {
            Audio::Decoded(clip) => clip.format(),
            Audio::Streaming(clip) => clip.format(),
        }
    }

    /// The decoded clip, if this was decoded on load.
    pub fn as_decoded(&self) -> Option<&AudioClip> {
        match self {
            Audio::Decoded(clip) => Some(clip),
            Audio::Streaming(_) => None,
        }
    }

    /// The streaming clip, if this streams.
    pub fn as_streaming_mut(&mut self) -> Option<&mut StreamingClip> {
        match self {
            Audio::Decoded(_) => None,
            Audio::Streaming(clip) => Some(clip),
        }
    }
}

/// How a load went: the route, where the work ran, and when each stage ended
/// (times since the load started).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// The route the policy chose, from the stored size and the probed format
    /// and duration.
    pub route: Route,
    /// Where the probe and decode ran: [`Route::Worker`] or [`Route::Inline`]
    /// (the policy's inline route, or the fallback when workers are off).
    pub ran_on: Route,
    /// The format the decoder found.
    pub format: AudioFormat,
    /// The compressed size (bytes stored, or the local file's size).
    pub bytes: u64,
    /// When the body was stored (zero for a local file).
    pub stored_after: Duration,
    /// When decoding (or, streaming, opening) finished.
    pub decoded_after: Duration,
    /// When finalization ran.
    pub finalized_after: Duration,
    /// The playing time: exact when decoded, as the container states it when
    /// streaming (`None` if it does not say).
    pub duration: Option<Duration>,
    /// The time the probe and decode took, without waiting for a slot.
    pub decode_time: Duration,
    /// The thread that decoded.
    pub decoded_on: ThreadId,
    /// The thread that finalized: the main thread's, unless the pipeline
    /// finalizes on the caller.
    pub finalized_on: ThreadId,
    /// The temp file that held the body (`None` for a local file). A decoded
    /// clip's is deleted already; a streaming clip's lives until it is dropped.
    pub temp_path: Option<PathBuf>,
}

/// A loaded clip and how it was loaded.
#[derive(Debug)]
pub struct LoadedAudio {
    /// The audio.
    pub audio: Audio,
    /// How the load went.
    pub report: LoadReport,
}

#[cfg(test)]
mod tests {
    use super::AudioRequest;
    use crate::decode::AudioFormat;

    #[test]
    fn the_url_extension_ignores_queries_hosts_and_junk() {
        let ext = |url: &str| AudioRequest::url(url).url_extension().map(str::to_owned);
        assert_eq!(
            ext("https://cdn.example/a/b/song.mp3?sig=x.y#t=1").as_deref(),
            Some("mp3")
        );
        assert_eq!(ext("https://cdn.example.com").as_deref(), None);
        assert_eq!(ext("https://cdn.example/dir.v2/track").as_deref(), None);
        assert_eq!(ext("/local/.hidden").as_deref(), None);
        assert_eq!(ext("x.toolongextension").as_deref(), None);
        assert_eq!(ext("x.m4a").as_deref(), Some("m4a"));
        let request = AudioRequest::url("https://h/x.mp3").with_content_type(Some("audio/flac"));
        assert_eq!(request.format_hint(), Some(AudioFormat::Flac));
        assert_eq!(
            AudioRequest::url("https://h/x.ogg").format_hint(),
            Some(AudioFormat::Vorbis)
        );
    }
}
