//! The demo's audio: three callers download clips with
//! [`send_audio`](turbo_client::RequestBuilder::send_audio) through the same
//! [`TurboClient`] (so they share its host limits and queue) into the client's
//! audio pipeline, whose clips are finalized on the main thread, which the demo's
//! pump loop drives.
//!
//! The clips are the decode fixtures of `turbo-audio` plus a 40 s WAV generated
//! at start. The demo's [`policy`] is the default one with the worker threshold
//! lowered to 16 KiB, to fit these small fixtures: the 25 KB FLAC goes to a
//! decode worker, the smaller clips (and WAV, which is PCM already) decode
//! inline, and the 40 s clip streams. Caller `i` starts at clip `i`, and every
//! caller completes at least one load, so the first three loads take every route.

use std::collections::BTreeMap;
use std::path::Path;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use bytes::Bytes;
use turbo_audio::policy::{DecodePolicy, Route};
use turbo_client::transport::HttpTransport;
use turbo_client::{Priority, TurboClient};

use crate::error::CliError;
use crate::server::Asset;
use crate::wav;

/// Callers that download audio (besides the JSON callers).
pub(crate) const AUDIO_CALLERS: usize = 3;

/// The routes, in the order the report lists them.
pub(crate) const ROUTES: [Route; 3] = [Route::Inline, Route::Worker, Route::Stream];

/// The demo's decode policy: the default, with decode workers from 16 KiB.
pub(crate) fn policy() -> DecodePolicy {
    DecodePolicy {
        worker_from_bytes: 16 * 1024,
        ..DecodePolicy::default()
    }
}

/// The generated clip's length: above the policy's 30 s, so it streams.
const LONG_CLIP: Duration = Duration::from_secs(40);

/// The clips the demo serves under `/audio/`, in the order callers start at:
/// stream, worker, inline.
///
/// # Errors
///
/// Only if the generated WAV cannot be built (it always can).
pub(crate) fn assets() -> Result<Vec<Asset>, CliError> {
    let long = wav::sine_wav(LONG_CLIP, 22_050, 1)
        .map_err(|e| CliError::output(None, std::io::Error::other(e)))?;
    Ok(vec![
        Asset::new("/audio/long.wav", "audio/wav", Bytes::from(long)),
        fixture(
            "tone.flac",
            "audio/flac",
            include_bytes!("../../../turbo-audio/tests/fixtures/tone.flac"),
        ),
        fixture(
            "tone.mp3",
            "audio/mpeg",
            include_bytes!("../../../turbo-audio/tests/fixtures/tone.mp3"),
        ),
        fixture(
            "tone.wav",
            "audio/wav",
            include_bytes!("../../../turbo-audio/tests/fixtures/tone.wav"),
        ),
        fixture(
            "tone.ogg",
            "audio/ogg",
            include_bytes!("../../../turbo-audio/tests/fixtures/tone.ogg"),
        ),
        fixture(
            "tone.m4a",
            "audio/mp4",
            include_bytes!("../../../turbo-audio/tests/fixtures/tone.m4a"),
        ),
    ])
}

fn fixture(name: &str, content_type: &'static str, bytes: &'static [u8]) -> Asset {
    Asset::new(
        &format!("/audio/{name}"),
        content_type,
        Bytes::from_static(bytes),
    )
}

/// One route's loads.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RouteFigures {
    pub(crate) loads: u64,
    /// Playing time of the clips.
    pub(crate) audio: Duration,
    /// Time spent decoding them (for streams, opening plus reading through).
    pub(crate) decode: Duration,
}

/// What the audio callers saw.
#[derive(Debug, Default)]
pub(crate) struct AudioResult {
    pub(crate) loads: u64,
    pub(crate) failed: BTreeMap<String, u64>,
    pub(crate) routes: [RouteFigures; 3],
    pub(crate) finalized_on_main: u64,
}

impl AudioResult {
    pub(crate) fn merge(&mut self, other: AudioResult) {
        self.loads += other.loads;
        for (kind, count) in other.failed {
            *self.failed.entry(kind).or_default() += count;
        }
        for (mine, theirs) in self.routes.iter_mut().zip(other.routes) {
            mine.loads += theirs.loads;
            mine.audio += theirs.audio;
            mine.decode += theirs.decode;
        }
        self.finalized_on_main += other.finalized_on_main;
    }

    fn fail(&mut self, kind: &str) {
        *self.failed.entry(kind.to_owned()).or_default() += 1;
    }
}

/// Downloads and loads clips until `deadline`, at least one.
pub(crate) async fn caller(
    index: usize,
    client: TurboClient<HttpTransport>,
    urls: std::sync::Arc<[String]>,
    deadline: Instant,
    main_thread: ThreadId,
) -> AudioResult {
    let mut result = AudioResult::default();
    if urls.is_empty() {
        return result;
    }
    let mut next = index;
    loop {
        let url = &urls[next % urls.len()];
        next += 1;
        result.loads += 1;
        match load_one(&client, url).await {
            Ok((route, finalized_on, figures)) => {
                // A route this demo does not know (the enum may grow) counts as
                // a failure rather than being filed under another route.
                match ROUTES.iter().position(|r| *r == route) {
                    Some(index) => {
                        let slot = &mut result.routes[index];
                        slot.loads += 1;
                        slot.audio += figures.0;
                        slot.decode += figures.1;
                        if finalized_on == main_thread {
                            result.finalized_on_main += 1;
                        }
                    }
                    None => result.fail("audio_unknown_route"),
                }
            }
            Err(kind) => result.fail(&kind),
        }
        if Instant::now() >= deadline {
            return result;
        }
    }
}

/// One clip: downloaded through the client into its pipeline
/// ([`RequestBuilder::send_audio`](turbo_client::RequestBuilder::send_audio)),
/// then decoded through. The route, the finalizing thread, and (playing time,
/// decode time); or the failure's kind.
async fn load_one(
    client: &TurboClient<HttpTransport>,
    url: &str,
) -> Result<(Route, ThreadId, (Duration, Duration)), String> {
    let mut download = client
        .get(url)
        .priority(Priority::Normal)
        .send_audio()
        .await
        .map_err(|e| format!("audio_{}", e.kind().as_str()))?;
    let drained = wav::drain_audio(&mut download.audio).map_err(|_| "audio_decode".to_owned())?;
    let rate = f64::from(download.audio.sample_rate().max(1));
    let playing = Duration::from_secs_f64(drained.frames as f64 / rate);
    Ok((
        download.report.route,
        download.report.finalized_on,
        (playing, download.report.decode_time + drained.decode),
    ))
}

/// Files left in the temp manager's shard directories (`<root>/turbo/00` to
/// `0f`): after a drain, every one is an orphan.
pub(crate) fn orphans(root: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.len() == 2 && name.chars().all(|c| c.is_ascii_hexdigit())
        })
        .filter_map(|shard| std::fs::read_dir(shard.path()).ok())
        .map(|files| files.flatten().count() as u64)
        .sum()
}
