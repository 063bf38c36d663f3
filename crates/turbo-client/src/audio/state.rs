//! The client's audio settings and its pipeline, made on the first download: what
//! the client keeps for `get_audio`, apart from the download itself.

use std::fmt;
use std::path::PathBuf;

use tokio::sync::OnceCell;
use turbo_audio::pipeline::{AudioPipeline, FinalizeOn, PipelineError};
use turbo_audio::policy::DecodePolicy;

use crate::error::{BoxError, Error, ErrorKind};

/// How the client gets its pipeline: given, or built on first use.
#[derive(Default)]
pub(crate) struct AudioSettings {
    pub(crate) temp_root: Option<PathBuf>,
    pub(crate) policy: DecodePolicy,
    pub(crate) pipeline: Option<AudioPipeline>,
}

/// The client's pipeline, made on the first download (building one needs a Tokio
/// runtime, which [`TurboClientBuilder::build`](crate::TurboClientBuilder::build)
/// does not).
pub(crate) struct AudioState {
    temp_root: Option<PathBuf>,
    policy: DecodePolicy,
    pipeline: OnceCell<AudioPipeline>,
}

impl AudioState {
    pub(crate) fn new(settings: AudioSettings) -> Self {
        Self {
            temp_root: settings.temp_root,
            policy: settings.policy,
            pipeline: match settings.pipeline {
                Some(pipeline) => OnceCell::new_with(Some(pipeline)),
                None => OnceCell::new(),
            },
        }
    }

    /// The pipeline, built now if this is the first download. A failed build is
    /// returned and tried again on the next download.
    pub(crate) async fn pipeline(&self) -> Result<&AudioPipeline, Error> {
        self.pipeline
            .get_or_try_init(|| async {
                let mut builder = AudioPipeline::builder()
                    .policy(self.policy)
                    .finalize_on(FinalizeOn::Caller);
                if let Some(root) = &self.temp_root {
                    builder = builder.temp_root(root.clone());
                }
                builder.build().map_err(from_pipeline)
            })
            .await
    }

    /// The pipeline if a download already made it (or one was given).
    pub(crate) fn get(&self) -> Option<&AudioPipeline> {
        self.pipeline.get()
    }
}

impl fmt::Debug for AudioState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioState")
            .field("temp_root", &self.temp_root)
            .field("policy", &self.policy)
            .field("pipeline", &self.pipeline.get())
            .finish()
    }
}

/// Says which stage of the load failed, keeping the pipeline's error as the source
/// (and the client's own error when the body failed, so a deadline stays a
/// `Timeout`).
pub(crate) fn from_pipeline(error: PipelineError) -> Error {
    let (kind, message) = match &error {
        PipelineError::Busy { .. } => (
            ErrorKind::QueueFull,
            "every audio slot is busy and the pipeline is set not to wait",
        ),
        PipelineError::Body { .. } => (ErrorKind::Body, "the audio download failed"),
        PipelineError::LengthMismatch { .. } => (
            ErrorKind::Body,
            "the audio download ended early or ran long",
        ),
        PipelineError::BodyTooLarge { .. } => (
            ErrorKind::Body,
            "the audio download is larger than the pipeline stores",
        ),
        PipelineError::Decode(_) => (ErrorKind::Decode, "the download is not decodable audio"),
        PipelineError::Config { .. } => (
            ErrorKind::InvalidRequest,
            "the audio pipeline is misconfigured",
        ),
        PipelineError::Lost { .. } => (
            ErrorKind::Decode,
            "the audio load was lost before it finished (a panicking decoder or \
             finalizer, or the runtime shutting down)",
        ),
        _ => (
            ErrorKind::Io,
            "storing or reading the audio temp file failed",
        ),
    };
    if let PipelineError::Body { source } = error {
        return match source.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => Error::new(kind, message).with_source(other),
        };
    }
    Error::new(kind, message).with_source(BoxError::from(error))
}
