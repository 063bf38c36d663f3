//! `turbo audio URL|PATH [--out FILE.wav] [--stream]`: downloads a clip through
//! [`TurboClient::get_audio`] (the whole stack, the body streamed into the
//! pipeline's temp file) or reads a local one, loads it through the
//! [`AudioPipeline`] (temp file, decode policy, workers), optionally writes it as
//! WAV, and prints the route, the duration and the decode speed.

use std::path::Path;
use std::time::{Duration, Instant};

use turbo_audio::pipeline::{Audio, AudioPipeline, FinalizeOn, LoadReport};
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
            .strict_decode(args.strict)
            .build()
            .map_err(CliError::Audio)?;
        let result = load_and_write(&pipeline, args).await;
        pipeline.drain().await;
        result
    })
}

async fn load_and_write(pipeline: &AudioPipeline, args: &AudioArgs) -> Result<u8, CliError> {
    let started = Instant::now();
    let (mut audio, report) = if is_url(&args.source) {
        download(pipeline, &args.source).await?
    } else {
        let loaded = pipeline
            .load_path(Path::new(&args.source))
            .await
            .map_err(CliError::Audio)?;
        (loaded.audio, loaded.report)
    };
    let samples = match &args.out {
        Some(path) => wav::write_audio(&mut audio, path)?,
        None => wav::drain_audio(&mut audio)?,
    };
    if args.json {
        let json = summary_json(args, &audio, &report, samples, started.elapsed());
        println!("{json}");
        return Ok(0);
    }
    println!("{}", summary(&audio, &report, samples, started.elapsed()));
    if let Some(path) = &args.out {
        println!(
            "wrote {} ({} frames, 16-bit PCM)",
            path.display(),
            samples.frames
        );
    }
    Ok(0)
}

/// Downloads through the whole client stack into `pipeline`
/// ([`RequestBuilder::send_audio`](turbo_client::RequestBuilder::send_audio)).
async fn download(pipeline: &AudioPipeline, url: &str) -> Result<(Audio, LoadReport), CliError> {
    let client = TurboClient::builder()
        .timeout(Duration::from_secs(120))
        .audio_pipeline(pipeline.clone())
        .build()
        .map_err(CliError::Client)?;
    let result = client.get_audio(url).await;
    client.shutdown(StopMode::CancelPending).await;
    match result {
        Ok(download) => Ok((download.audio, download.report)),
        Err(error) => Err(match error.status_code() {
            Some(status) => CliError::HttpStatus {
                url: url.to_owned(),
                status,
            },
            None => CliError::Request {
                url: url.to_owned(),
                source: error,
            },
        }),
    }
}

/// The lines `turbo audio` prints: format, duration, route and decode speed.
fn summary(audio: &Audio, report: &LoadReport, samples: wav::Samples, total: Duration) -> String {
    let rate = audio.sample_rate().max(1);
    let duration = Duration::from_secs_f64(samples.frames as f64 / f64::from(rate));
    // Decoded on load: the pipeline's decode time; streaming: opening plus the
    // reads that decoded it.
    let decode = report.decode_time + samples.decode;
    let mut damage = String::new();
    if let Audio::Decoded(clip) = audio {
        if clip.skipped_packets() > 0 {
            damage.push_str(&format!(
                "\ndamaged: {} packets did not decode and were skipped ({:.3} s of audio lost)",
                clip.skipped_packets(),
                clip.skipped_duration().as_secs_f64()
            ));
        }
        if clip.truncated() {
            damage.push_str(
                "\ntruncated: the file ends inside a packet; this is the audio before the cut",
            );
        }
    }
    format!(
        "{}, {} Hz, {} ch, {:.2} s, {} bytes\nroute {} (ran {}), decoded in {:.1} ms = {} realtime; {:.1} ms in all{damage}",
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

/// `--json`: the summary as one `turbo-audio/1` object (see `docs/turbo-cli.md`).
fn summary_json(
    args: &AudioArgs,
    audio: &Audio,
    report: &LoadReport,
    samples: wav::Samples,
    total: Duration,
) -> serde_json::Value {
    let rate = audio.sample_rate().max(1);
    let duration = samples.frames as f64 / f64::from(rate);
    let decode = report.decode_time + samples.decode;
    let (skipped_packets, skipped_s, truncated) = match audio {
        Audio::Decoded(clip) => (
            Some(clip.skipped_packets()),
            Some(clip.skipped_duration().as_secs_f64()),
            Some(clip.truncated()),
        ),
        Audio::Streaming(_) => (None, None, None),
    };
    serde_json::json!({
        "schema": "turbo-audio/1",
        "source": args.source,
        "format": audio.format().to_string(),
        "sample_rate": audio.sample_rate(),
        "channels": audio.channels(),
        "frames": samples.frames,
        "duration_s": duration,
        "bytes": report.bytes,
        "route": report.route.name(),
        "ran_on": report.ran_on.name(),
        "decode_ms": decode.as_secs_f64() * 1e3,
        "speed_x": (!decode.is_zero()).then(|| duration / decode.as_secs_f64()),
        "total_ms": total.as_secs_f64() * 1e3,
        "skipped_packets": skipped_packets,
        "skipped_s": skipped_s,
        "truncated": truncated,
        "out": args.out.as_ref().map(|path| path.display().to_string()),
    })
}

/// `duration / decode` as "123x", or "-" when nothing was timed.
pub(crate) fn speed(duration: Duration, decode: Duration) -> String {
    if decode.is_zero() {
        "-".to_owned()
    } else {
        format!("{:.0}x", duration.as_secs_f64() / decode.as_secs_f64())
    }
}
