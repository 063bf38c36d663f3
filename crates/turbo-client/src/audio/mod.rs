//! Audio downloads: [`TurboClient::get_audio`] and [`RequestBuilder::send_audio`].
//!
//! A download runs through the same stack as any request (context, host limit,
//! priority queue, deadline), then its body streams into a temp file of the
//! client's [`AudioPipeline`], which routes it by the [`DecodePolicy`]: decoded
//! whole (inline or on a decode worker) or kept as a [`StreamingClip`]
//! that decodes on demand and deletes its temp file when dropped. The body is never
//! buffered whole in memory, and the host permit and queue slot are held until its
//! last byte is stored.
//!
//! The result carries one [`Timeline`]: the request's own events (queued,
//! admitted, permit acquired, headers, body finished) followed by the audio stages
//! (`audio_stored`, `audio_decoded` with the route, `audio_finalized`), all as
//! offsets from the start of the request.
//!
//! # Which pipeline
//!
//! By default the client builds its pipeline on the first audio download, with the
//! builder's [`temp_root`](crate::TurboClientBuilder::temp_root) (default: the
//! platform cache directory) and [`decode_policy`](crate::TurboClientBuilder::decode_policy),
//! and finalizes clips in the download future ([`FinalizeOn::Caller`]): a client has
//! no main thread of its own. A game or UI host that finalizes on its main thread
//! passes its own pipeline with
//! [`audio_pipeline`](crate::TurboClientBuilder::audio_pipeline) and pumps that
//! pipeline's [`MainThread`](turbo_audio::main_thread::MainThread) while it awaits.
//!
//! # Examples
//!
//! ```no_run
//! use turbo_client::TurboClient;
//! use turbo_client::audio::{Audio, DecodePolicy};
//!
//! # async fn run() -> Result<(), turbo_client::Error> {
//! let client = TurboClient::builder()
//!     .temp_root("/var/cache/my-game")
//!     .decode_policy(DecodePolicy::default())
//!     .build()?;
//! let download = client.get_audio("https://cdn.example.com/sfx/click.ogg").await?;
//! println!("route {} in {:?}", download.report.route, download.report.decode_time);
//! match &download.audio {
//!     Audio::Decoded(clip) => println!("{} frames", clip.frames()),
//!     Audio::Streaming(clip) => println!("streams at {} Hz", clip.sample_rate()),
//! }
//! println!("{}", download.timeline);
//! # Ok(())
//! # }
//! ```

use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode, header};
use turbo_core::{EventKind, FieldValue, Timeline};

pub use turbo_audio::decode::{AudioClip, AudioFormat, DecodeError};
pub use turbo_audio::pipeline::{
    Audio, AudioPipeline, AudioPipelineBuilder, AudioRequest, FinalizeOn, LoadReport,
    PipelineError, PipelineMetrics,
};
pub use turbo_audio::policy::{DecodePolicy, Route};
pub use turbo_audio::streaming::StreamingClip;

pub(crate) mod state;

use state::from_pipeline;

use crate::client::TurboClient;
use crate::error::Error;
use crate::request::RequestBuilder;
use crate::transport::Transport;
use crate::url::IntoUrl;

/// The timeline event recorded when the body is stored in its temp file.
pub const EVENT_STORED: EventKind = EventKind::Custom("audio_stored");
/// The timeline event recorded when the clip is decoded (or opened for streaming);
/// its `route` field says which.
pub const EVENT_DECODED: EventKind = EventKind::Custom("audio_decoded");
/// The timeline event recorded when the clip is finalized.
pub const EVENT_FINALIZED: EventKind = EventKind::Custom("audio_finalized");

/// A downloaded clip: the audio, how it was loaded, and the request's timeline with
/// the audio stages appended.
#[derive(Debug)]
#[non_exhaustive]
pub struct AudioDownload {
    /// The clip, decoded or streaming as the policy routed it.
    pub audio: Audio,
    /// The route, the stage times and where each stage ran.
    pub report: LoadReport,
    /// The request's events followed by `audio_stored`, `audio_decoded` and
    /// `audio_finalized`, as offsets from the request's start.
    pub timeline: Timeline,
    /// The response status (always a success: an error status fails the download).
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
}

impl<T: Transport> TurboClient<T> {
    /// Downloads `url` and loads it as audio: a `GET` through the whole stack, the
    /// body streamed to a temp file, then decoded or opened for streaming as the
    /// decode policy routes it. The URL is a string or a parsed `http::Uri`, as
    /// for [`get`](TurboClient::get). See the [`audio`](crate::audio) module.
    ///
    /// # Errors
    ///
    /// The request's errors (`ClientClosed` after shutdown, `Connect`, `Timeout`,
    /// ...), `Status` for a non-success status, `Body` when the download breaks,
    /// `Decode` when the bytes are not audio turbo can decode, `Io` when the temp
    /// file fails, `QueueFull` when the pipeline is set not to wait for a free
    /// temp-file or decode slot. Whatever failed, the temp file is deleted.
    pub async fn get_audio(&self, url: impl IntoUrl) -> Result<AudioDownload, Error> {
        self.get(url).send_audio().await
    }

    /// The client's audio pipeline, for its metrics or to drain it; `None` until
    /// the first audio download built it (unless one was given to the builder).
    pub fn audio_pipeline(&self) -> Option<&AudioPipeline> {
        self.shared.audio.get()
    }
}

impl<T: Transport> RequestBuilder<'_, T> {
    /// Sends the request and loads the response body as audio, like
    /// [`TurboClient::get_audio`] but with this request's method, priority, headers
    /// and timeout.
    ///
    /// # Errors
    ///
    /// As [`TurboClient::get_audio`].
    pub async fn send_audio(self) -> Result<AudioDownload, Error> {
        let (client, request) = self.into_parts();
        let request = request?;
        let url = request.uri().to_string();
        // The context starts its clock a few hundred nanoseconds after this, inside
        // `send`; the audio events are placed against this instant, so they can read
        // late by that much and never early.
        let started = Instant::now();
        let pipeline = client.shared.audio.pipeline().await?;
        let response = client.send(request).await?.error_for_status()?;
        let snapshot = response.timeline().cloned();
        let status = response.status();
        let headers = response.headers().clone();
        let audio_request = AudioRequest::url(&url)
            .with_content_type(
                headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|value| value.to_str().ok()),
            )
            .with_expected_len(
                headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.parse().ok()),
            );
        let load_started = started.elapsed();
        let loaded = pipeline
            .load_body(response.into_body(), audio_request)
            .await
            .map_err(from_pipeline)?;
        // The body was read to its end (or dropped) inside the load, so the request's
        // timeline is final by now.
        let mut timeline = snapshot
            .and_then(|snapshot| snapshot.finished())
            .map(|finished| finished.timeline)
            .unwrap_or_default();
        append_audio_events(&mut timeline, load_started, &loaded.report);
        Ok(AudioDownload {
            audio: loaded.audio,
            report: loaded.report,
            timeline,
            status,
            headers,
        })
    }
}

/// Appends the pipeline's stages to a request timeline; `base` is when the load
/// began, as an offset from the request's start.
fn append_audio_events(timeline: &mut Timeline, base: Duration, report: &LoadReport) {
    timeline.push(
        EVENT_STORED,
        base + report.stored_after,
        &[("bytes", FieldValue::U64(report.bytes))],
    );
    timeline.push(
        EVENT_DECODED,
        base + report.decoded_after,
        &[
            ("route", FieldValue::Str(report.route.name())),
            ("ran_on", FieldValue::Str(report.ran_on.name())),
            ("format", FieldValue::Str(report.format.name())),
            ("decode_time", FieldValue::Duration(report.decode_time)),
        ],
    );
    timeline.push(EVENT_FINALIZED, base + report.finalized_after, &[]);
}
