//! [`DecodePolicy`]: where a clip is decoded, decided from what is known about
//! it, as a pure function that tests can call without any I/O.
//!
//! | what is known | route |
//! |---|---|
//! | the container states a duration above [`stream_above`](DecodePolicy::stream_above) (default 30 s) | [`Route::Stream`] |
//! | the compressed size is above [`stream_above_bytes`](DecodePolicy::stream_above_bytes) (default 4 MiB) | [`Route::Stream`] |
//! | the compressed size is at least [`worker_from_bytes`](DecodePolicy::worker_from_bytes) (default 256 KiB), or unknown | [`Route::Worker`] |
//! | otherwise (a short sound) | [`Route::Inline`] |
//!
//! Why these defaults: 30 s of 44.1 kHz stereo is 10 MiB of `f32`, past which
//! holding the whole clip in memory stops being cheap; 4 MiB compressed is about
//! four minutes of 128 kbit/s MP3 when the duration is not stated. Below 256 KiB a
//! decode takes a few milliseconds, less than a hop to a worker and back is worth.
//! WAV is PCM already, so its size says more about its length than its cost: it
//! is decoded inline up to the streaming limit.
//!
//! A `Worker` route with workers disabled runs inline instead (see
//! [`worker`](crate::worker)): the policy says what is wanted, the pool says what
//! is possible, and the load report shows both.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use turbo_audio::decode::AudioFormat;
//! use turbo_audio::policy::{ClipFacts, DecodePolicy, Route};
//!
//! let policy = DecodePolicy::default();
//! let ping = ClipFacts::new().byte_len(9_000).format(AudioFormat::Mp3);
//! assert_eq!(policy.route(&ping), Route::Inline);
//! let song = ClipFacts::new().byte_len(3_000_000).duration(Duration::from_secs(180));
//! assert_eq!(policy.route(&song), Route::Stream);
//! let effect = ClipFacts::new().byte_len(800_000).duration(Duration::from_secs(20));
//! assert_eq!(policy.route(&effect), Route::Worker);
//! ```

use std::fmt;
use std::time::Duration;

use crate::decode::AudioFormat;

/// Where a clip is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// Decoded whole, on the calling thread: short clips, or no workers.
    Inline,
    /// Decoded whole, on a bounded decode worker.
    Worker,
    /// Kept compressed in its temp file and decoded packet by packet on demand.
    Stream,
}

impl Route {
    /// The lowercase name used in reports and timelines.
    pub fn name(self) -> &'static str {
        match self {
            Route::Inline => "inline",
            Route::Worker => "worker",
            Route::Stream => "stream",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is known about a clip when it is routed. Every field is optional:
/// a chunked download has no length until it is stored, and MP3 without a Xing
/// header states no duration.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClipFacts {
    /// The compressed size in bytes.
    pub byte_len: Option<u64>,
    /// The format, from the decoder's probe or a hint.
    pub format: Option<AudioFormat>,
    /// The duration the container states.
    pub duration: Option<Duration>,
}

impl ClipFacts {
    /// Nothing known.
    pub fn new() -> Self {
        Self::default()
    }

    /// With the compressed size.
    pub fn byte_len(mut self, bytes: u64) -> Self {
        self.byte_len = Some(bytes);
        self
    }

    /// With the format.
    pub fn format(mut self, format: AudioFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// With the stated duration.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }
}

/// The thresholds that route a clip; see the module docs for the rule and the
/// reasons behind the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodePolicy {
    /// Stream a clip whose stated duration is above this. Default 30 s.
    pub stream_above: Duration,
    /// Stream a clip whose compressed size is above this. Default 4 MiB.
    pub stream_above_bytes: u64,
    /// Decode on a worker from this compressed size up (and when the size is
    /// unknown). Default 256 KiB.
    pub worker_from_bytes: u64,
    /// Route every clip this way regardless of the facts. Default `None`.
    pub force: Option<Route>,
}

/// The default streaming duration threshold.
pub const DEFAULT_STREAM_ABOVE: Duration = Duration::from_secs(30);
/// The default streaming size threshold.
pub const DEFAULT_STREAM_ABOVE_BYTES: u64 = 4 * 1024 * 1024;
/// The default worker size threshold.
pub const DEFAULT_WORKER_FROM_BYTES: u64 = 256 * 1024;

impl Default for DecodePolicy {
    fn default() -> Self {
        DecodePolicy {
            stream_above: DEFAULT_STREAM_ABOVE,
            stream_above_bytes: DEFAULT_STREAM_ABOVE_BYTES,
            worker_from_bytes: DEFAULT_WORKER_FROM_BYTES,
            force: None,
        }
    }
}

impl DecodePolicy {
    /// A policy that routes every clip to `route` (for tests, tools, and hosts
    /// that know better).
    pub fn always(route: Route) -> Self {
        DecodePolicy {
            force: Some(route),
            ..Self::default()
        }
    }

    /// The route for a clip with these facts. Pure: the same facts always give
    /// the same route.
    pub fn route(&self, facts: &ClipFacts) -> Route {
        if let Some(route) = self.force {
            return route;
        }
        let long = facts
            .duration
            .is_some_and(|duration| duration > self.stream_above);
        let big = facts
            .byte_len
            .is_some_and(|bytes| bytes > self.stream_above_bytes);
        if long || big {
            return Route::Stream;
        }
        let pcm = facts.format == Some(AudioFormat::Wav);
        match facts.byte_len {
            Some(bytes) if pcm || bytes < self.worker_from_bytes => Route::Inline,
            _ => Route::Worker,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{ClipFacts, DecodePolicy, Route};
    use crate::decode::AudioFormat;

    const KIB: u64 = 1024;

    #[test]
    fn default_thresholds_route_by_duration_then_size() {
        let policy = DecodePolicy::default();
        let route = |facts: ClipFacts| policy.route(&facts);
        assert_eq!(route(ClipFacts::new().byte_len(10 * KIB)), Route::Inline);
        assert_eq!(
            route(ClipFacts::new().byte_len(256 * KIB - 1)),
            Route::Inline
        );
        assert_eq!(route(ClipFacts::new().byte_len(256 * KIB)), Route::Worker);
        assert_eq!(
            route(ClipFacts::new().byte_len(4 * KIB * KIB)),
            Route::Worker
        );
        assert_eq!(
            route(ClipFacts::new().byte_len(4 * KIB * KIB + 1)),
            Route::Stream
        );
        assert_eq!(route(ClipFacts::new()), Route::Worker);
        let thirty = Duration::from_secs(30);
        assert_eq!(
            route(ClipFacts::new().byte_len(10 * KIB).duration(thirty)),
            Route::Inline
        );
        assert_eq!(
            route(
                ClipFacts::new()
                    .byte_len(10 * KIB)
                    .duration(thirty + Duration::from_millis(1))
            ),
            Route::Stream
        );
    }

    #[test]
    fn wav_stays_inline_until_it_is_long() {
        let policy = DecodePolicy::default();
        let wav = ClipFacts::new().format(AudioFormat::Wav);
        assert_eq!(policy.route(&wav.byte_len(3 * KIB * KIB)), Route::Inline);
        assert_eq!(policy.route(&wav.byte_len(5 * KIB * KIB)), Route::Stream);
        let mp3 = ClipFacts::new().format(AudioFormat::Mp3);
        assert_eq!(policy.route(&mp3.byte_len(3 * KIB * KIB)), Route::Worker);
    }

    #[test]
    fn presets_route_everything_one_way() {
        let cases = [
            ClipFacts::new(),
            ClipFacts::new().byte_len(1),
            ClipFacts::new().byte_len(u64::MAX).duration(Duration::MAX),
        ];
        for facts in cases {
            for route in [Route::Inline, Route::Worker, Route::Stream] {
                assert_eq!(DecodePolicy::always(route).route(&facts), route);
            }
        }
    }
}
