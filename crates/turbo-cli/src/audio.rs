//! `turbo audio URL|PATH [--out FILE.wav] [--stream]`: downloads (through
//! [`TurboClient`]) or reads a clip, loads it through the
//! [`AudioPipeline`] (temp file, decode
//! policy, workers), optionally writes it as WAV, and prints the route, the
//! duration and the decode speed.

use std::path::Path;
use std::time::{Duration, Instant};

use turbo_audio::pipeline::{AudioPipeline, AudioRequest, FinalizeOn, LoadedAudio};
use turbo_audio::policy::{DecodePolicy, Route};
use turbo_client::{StopMode, TurboClient};

use crate::cli::AudioArgs;
use crate::error::CliError;
use crate::get::parse_url;
use crate::wav;

/// Whether `source` names a URL rather than a local file.
fn is_url(source: &str) -> bool {
    source.contains("://")
}

/// Runs `turbo audio`; returns the exit status.
///
/// # Errors
///
/// A bad URL, a failed download, a missing file, audio that does not decode, or
/// an output that cannot be written, each as one line.
pub fn run(args: &AudioArgs) -> Result<u8, CliError> {
    if is_url(&args.source) {
        parse_url(&args.source)?;
    }
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let policy = if args.stream {
            DecodePolicy::always(Route::Stream)
        } else {
            DecodePolicy::default()
        };
        // A CLI has no main loop of its own: finalization runs in the load.
        let pipeline = AudioPipeline::builder()
            .policy(policy)
            .finalize_on(FinalizeOn::Caller)
            .build()
            .map_err(CliError::Audio)?;
        let result = load_and_write(&pipeline, args).await;
        pipeline.drain().await;
        result
    })
}

async fn load_and_write(pipeline: &AudioPipeline, args: &AudioArgs) -> Result<u8, CliError> {
    let started = Instant::now();
    let mut loaded = if is_url(&args.source) {
        download(pipeline, &args.source).await?
    } else {
        pipeline
            .load_path(Path::new(&args.source))
            .await
            .map_err(CliError::Audio)?
    };
    let written = match &args.out {
        Some(path) => Some(wav::write_audio(&mut loaded.audio, path)?),
        None => None,
    };
    let streamed = match written {
        Some(samples) => samples,
        None => wav::drain_audio(&mut loaded.audio)?,
    };
    println!("{}", summary(&loaded, streamed, started.elapsed()));
    if let Some(path) = &args.out {
        println!(
            "wrote {} ({} frames, 16-bit PCM)",
            path.display(),
            streamed.frames
        );
    }
    Ok(0)
}

async fn download(pipeline: &AudioPipeline, url: &str) -> Result<LoadedAudio, CliError> {
    let client = TurboClient::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(CliError::Client)?;
    let request_error = |source| CliError::Request {
        url: url.to_owned(),
        source,
    };
    let result = async {
        let response = client
            .get(url)
            .send()
            .await
            .map_err(request_error)?
            .error_for_status()
            .map_err(|e| match e.status_code() {
                Some(status) => CliError::HttpStatus {
                    url: url.to_owned(),
                    status,
                },
                None => request_error(e),
            })?;
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        let request = AudioRequest::url(url)
            .with_content_type(content_type.as_deref())
            .with_expected_len(length);
        pipeline
            .load_body(response.into_body(), request)
            .await
            .map_err(CliError::Audio)
    }
    .await;
    client.shutdown(StopMode::CancelPending).await;
    result
}

/// The lines `turbo audio` prints: format, duration, route and decode speed.
fn summary(loaded: &LoadedAudio, streamed: wav::Samples, total: Duration) -> String {
    let report = &loaded.report;
    let audio = &loaded.audio;
    let rate = audio.sample_rate().max(1);
    let duration = Duration::from_secs_f64(streamed.frames as f64 / f64::from(rate));
    // Decoded on load: the pipeline's decode time; streaming: opening plus the
    // reads that decoded it.
    let decode = report.decode_time + streamed.decode;
    format!(
        "{}, {} Hz, {} ch, {:.2} s, {} bytes\nroute {} (ran {}), decoded in {:.1} ms = {} realtime; {:.1} ms in all",
        audio.format(),
        audio.sample_rate(),
        audio.channels(),
        duration.as_secs_f64(),
        report.bytes,
        report.route.name(),
        report.ran_on.name(),
        decode.as_secs_f64() * 1e3,
        speed(duration, decode),
        total.as_secs_f64() * 1e3,
    )
}

/// `duration / decode` as "123x", or "-" when nothing was timed.
pub(crate) fn speed(duration: Duration, decode: Duration) -> String {
    if decode.is_zero() {
        "-".to_owned()
    } else {
        format!("{:.0}x", duration.as_secs_f64() / decode.as_secs_f64())
    }
}
