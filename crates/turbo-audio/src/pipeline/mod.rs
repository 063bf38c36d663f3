//! [`AudioPipeline`]: from a response body (or a local file) to a finalized
//! clip, through a temp file, the decode policy, the bounded decode workers and
//! the main-thread queue.
//!
//! ```text
//! load_body(body, request)
//!   temp-file slot   at most max_active_files temp files live (wait or Busy)
//!   store            body -> TempFile (through the temp manager's I/O limit)
//!   route            size + hint: inline for small clips, else a worker; there the
//!                    probe adds format and stated duration, and DecodePolicy decides:
//!                    decode whole (the temp file is deleted after) or stream (the
//!                    StreamingClip keeps the temp file and its slot until dropped)
//!   finalize         posted to the MainThread queue; runs when the host pumps
//!   -> LoadedAudio { audio, report }
//! ```
//!
//! # Finalization and the load future
//!
//! `load_body` and `load_path` resolve only **after** the clip was finalized on
//! the main thread: the last stage posts a task to [`MainThread`] and the future
//! waits for it. The task stamps the report (`finalized_on`, `finalized_after`)
//! and runs the host's hook ([`AudioPipelineBuilder::on_finalize`]), which is
//! where thread-affine host objects (an engine's clip handle) are made. So the
//! main thread must be pumped while a load is awaited, either by the host loop
//! calling [`MainThread::pump`] or by awaiting the load inside
//! [`MainThread::run_until`] on the main thread. Never block the main thread on
//! a load without pumping: the load would wait for itself.
//!
//! Programs with no main thread of their own (a CLI, a server) build with
//! [`FinalizeOn::Caller`]: the same step runs in the load future instead.
//!
//! Dropping a load future at any point cancels it: a running decode stops at the
//! next packet, a clip waiting for finalization is taken back and dropped, and its
//! temp file is deleted through the temp manager's deletion queue.
//! [`drain`](AudioPipeline::drain) waits until no load or decode job is left and
//! every scheduled deletion has finished.
//!
//! # Examples
//!
//! ```
//! use http_body_util::Full;
//! use turbo_audio::pipeline::{AudioPipeline, AudioRequest};
//! use turbo_audio::policy::Route;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Runtime::new()?;
//! let dir = tempfile::tempdir()?;
//! let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tone.mp3"))?;
//! let pipeline = runtime.block_on(async {
//!     AudioPipeline::builder().temp_root(dir.path()).workers(2).build()
//! })?;
//! let main = pipeline.main_thread();
//!
//! // This thread is the main thread: it drives the load and pumps the queue.
//! let loaded = runtime.block_on(main.run_until(pipeline.load_body(
//!     Full::new(bytes::Bytes::from(bytes)),
//!     AudioRequest::url("https://example.invalid/tone.mp3"),
//! )))??;
//! assert_eq!(loaded.report.route, Route::Inline);
//! assert_eq!(loaded.report.finalized_on, std::thread::current().id());
//! assert_eq!(loaded.audio.as_decoded().map(|clip| clip.frames()), Some(22_050));
//!
//! runtime.block_on(pipeline.drain());
//! assert_eq!(pipeline.metrics().temp.active_files, 0);
//! # Ok(())
//! # }
//! ```

mod error;
mod request;

use std::error::Error as StdError;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError, oneshot};

pub use error::{PathKind, PipelineError};
pub use request::{Audio, AudioRequest, LoadReport, LoadedAudio};

use crate::decode::packets::PacketDecoder;
use crate::decode::{self, DEFAULT_MAX_DECODED_SAMPLES, DecodeOptions};
use crate::main_thread::MainThread;
use crate::policy::{ClipFacts, DecodePolicy, Route};
use crate::streaming::{StreamGuard, StreamingClip};
use crate::temp::{TempFile, TempFileManager, TempMetrics};
use crate::worker::{DecodeWorkers, Decrement, WhenBusy, WorkerMetrics};

/// Where finalization runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinalizeOn {
    /// On the thread that pumps the pipeline's [`MainThread`] queue.
    #[default]
    MainThread,
    /// In the load future, on whatever thread polls it (CLIs, servers).
    Caller,
}

/// The host's finalization step, run where [`FinalizeOn`] says.
pub type FinalizeHook = Arc<dyn Fn(&mut LoadedAudio) + Send + Sync>;

/// The default bound on live temp files.
pub const DEFAULT_MAX_ACTIVE_FILES: usize = 64;

/// The default limit on a stored body: 1 GiB, above an hour of FLAC, so only a
/// runaway or hostile body reaches it before filling the disk.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1 << 30;

/// Counters for diagnostics; each is read atomically, the set is not a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineMetrics {
    /// The decode slots: `queued` is the decode queue depth, `active` the
    /// decodes running.
    pub decode: WorkerMetrics,
    /// The temp-file manager's counters (files, bytes, I/O queue, retries,
    /// failures, cleanup lag).
    pub temp: TempMetrics,
    /// Temp-file slots held (a load storing or decoding, or a streaming clip).
    pub active_files: usize,
    /// The bound on temp-file slots.
    pub max_active_files: usize,
    /// Loads waiting for a temp-file slot.
    pub file_queue_depth: usize,
    /// Loads and decode jobs not finished yet.
    pub in_flight: usize,
    /// Finalizations waiting for the main thread to pump.
    pub pending_finalizations: usize,
    /// Loads that returned a clip.
    pub loaded: u64,
    /// Loads that returned an error.
    pub failed: u64,
    /// Clips the policy routed inline.
    pub routed_inline: u64,
    /// Clips the policy routed to a worker.
    pub routed_worker: u64,
    /// Clips the policy routed to streaming.
    pub routed_stream: u64,
}

/// Configures an [`AudioPipeline`].
pub struct AudioPipelineBuilder {
    temp_root: Option<PathBuf>,
    temp: Option<TempFileManager>,
    policy: DecodePolicy,
    workers: usize,
    max_active_files: usize,
    max_decoded_samples: u64,
    strict_decode: bool,
    max_body_bytes: u64,
    when_busy: WhenBusy,
    main: Option<MainThread>,
    finalize_on: FinalizeOn,
    on_finalize: Option<FinalizeHook>,
}

impl std::fmt::Debug for AudioPipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioPipelineBuilder")
            .field("temp_root", &self.temp_root)
            .field("policy", &self.policy)
            .field("workers", &self.workers)
            .field("max_active_files", &self.max_active_files)
            .field("max_decoded_samples", &self.max_decoded_samples)
            .field("strict_decode", &self.strict_decode)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("when_busy", &self.when_busy)
            .field("finalize_on", &self.finalize_on)
            .finish_non_exhaustive()
    }
}

impl AudioPipelineBuilder {
    /// The directory under which the temp manager keeps `turbo/` (default: the
    /// temp manager's own default, the platform cache directory).
    pub fn temp_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.temp_root = Some(root.into());
        self
    }

    /// A temp manager built elsewhere (shared with other users, or with a
    /// fault-injecting file system in tests); overrides `temp_root`.
    pub fn temp_manager(mut self, manager: TempFileManager) -> Self {
        self.temp = Some(manager);
        self
    }

    /// The routing thresholds (default [`DecodePolicy::default`]).
    pub fn policy(mut self, policy: DecodePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Decode workers, which is also the bound on concurrent decodes (default:
    /// the number of cores, at most 4). `0` disables worker threads: every
    /// decode runs inline on its caller, still at most one per core at once.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// The bound on live temp files (default [`DEFAULT_MAX_ACTIVE_FILES`]).
    /// Streaming clips hold theirs until dropped.
    pub fn max_active_files(mut self, files: usize) -> Self {
        self.max_active_files = files;
        self
    }

    /// The cap on a whole-clip decode, in interleaved samples (default
    /// [`DEFAULT_MAX_DECODED_SAMPLES`]); past it a load fails with
    /// [`DecodeError::TooLarge`](crate::decode::DecodeError::TooLarge).
    pub fn max_decoded_samples(mut self, samples: u64) -> Self {
        self.max_decoded_samples = samples;
        self
    }

    /// Decodes strictly (default false): a packet the codec rejects, or input
    /// that ends inside a packet, fails the load instead of being skipped or
    /// giving the audio before the cut; see
    /// [`DecodeOptions::strict`](crate::decode::DecodeOptions::strict).
    pub fn strict_decode(mut self, strict: bool) -> Self {
        self.strict_decode = strict;
        self
    }

    /// The largest body a load stores (default [`DEFAULT_MAX_BODY_BYTES`]);
    /// past it the load fails with [`PipelineError::BodyTooLarge`].
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// What a load does when a bound is reached (default: wait).
    pub fn when_busy(mut self, when_busy: WhenBusy) -> Self {
        self.when_busy = when_busy;
        self
    }

    /// The host's main-thread queue, if it already has one (default: a new
    /// queue, available from [`AudioPipeline::main_thread`]).
    pub fn main_thread(mut self, main: MainThread) -> Self {
        self.main = Some(main);
        self
    }

    /// Where finalization runs (default [`FinalizeOn::MainThread`]).
    pub fn finalize_on(mut self, finalize_on: FinalizeOn) -> Self {
        self.finalize_on = finalize_on;
        self
    }

    /// The host's finalization step: runs once per loaded clip, on the main
    /// thread, before the load future resolves. A panic in it unwinds out of
    /// `pump` and the load fails with [`PipelineError::Lost`].
    pub fn on_finalize(mut self, hook: impl Fn(&mut LoadedAudio) + Send + Sync + 'static) -> Self {
        self.on_finalize = Some(Arc::new(hook));
        self
    }

    /// Builds the pipeline; call it inside a Tokio runtime (the temp manager's
    /// deletions run there).
    ///
    /// # Errors
    ///
    /// [`PipelineError::Config`] for a zero `max_active_files` or
    /// `max_decoded_samples`; [`PipelineError::Temp`] if the temp manager cannot
    /// be built (no runtime, an unusable root).
    pub fn build(self) -> Result<AudioPipeline, PipelineError> {
        if self.max_active_files == 0 {
            return Err(PipelineError::Config {
                setting: "max_active_files",
                reason: "must be at least 1",
            });
        }
        if self.max_decoded_samples == 0 {
            return Err(PipelineError::Config {
                setting: "max_decoded_samples",
                reason: "must be at least 1",
            });
        }
        let temp = match (self.temp, self.temp_root) {
            (Some(manager), _) => manager,
            (None, Some(root)) => TempFileManager::builder().root(root).build()?,
            (None, None) => TempFileManager::builder().build()?,
        };
        let workers = if self.workers == 0 {
            DecodeWorkers::inline(default_workers())
        } else {
            DecodeWorkers::new(self.workers)
        };
        Ok(AudioPipeline {
            inner: Arc::new(Inner {
                temp,
                policy: self.policy,
                workers,
                files: Arc::new(Semaphore::new(self.max_active_files)),
                max_active_files: self.max_active_files,
                max_decoded_samples: self.max_decoded_samples,
                strict_decode: self.strict_decode,
                max_body_bytes: self.max_body_bytes,
                when_busy: self.when_busy,
                main: self.main.unwrap_or_default(),
                finalize_on: self.finalize_on,
                on_finalize: self.on_finalize,
                stats: Stats::default(),
            }),
        })
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The audio pipeline; see the module docs. Clone it to share (an `Arc`
/// inside).
#[derive(Clone)]
pub struct AudioPipeline {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AudioPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioPipeline")
            .field("policy", &self.inner.policy)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

struct Inner {
    temp: TempFileManager,
    policy: DecodePolicy,
    workers: DecodeWorkers,
    files: Arc<Semaphore>,
    max_active_files: usize,
    max_decoded_samples: u64,
    strict_decode: bool,
    max_body_bytes: u64,
    when_busy: WhenBusy,
    main: MainThread,
    finalize_on: FinalizeOn,
    on_finalize: Option<FinalizeHook>,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    in_flight: AtomicUsize,
    idle: Notify,
    file_waiters: AtomicUsize,
    active_files: AtomicUsize,
    loaded: AtomicU64,
    failed: AtomicU64,
    routed: [AtomicU64; 3],
}

/// Counts a load or job as in flight until dropped; `drain` waits for zero.
struct InFlight(Arc<Inner>);

impl InFlight {
    fn new(inner: &Arc<Inner>) -> Self {
        inner.stats.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(inner))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.stats.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.stats.idle.notify_waiters();
        }
    }
}

/// A temp file with its slot: dropping it schedules the file's deletion and
/// frees the slot. A streaming clip holds it as its guard.
struct HeldFile {
    _file: TempFile,
    _slot: FileSlot,
}

struct FileSlot {
    _permit: OwnedSemaphorePermit,
    inner: Arc<Inner>,
}

impl Drop for FileSlot {
    fn drop(&mut self) {
        self.inner
            .stats
            .active_files
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the decode stage hands to finalization.
struct Decoded {
    audio: Audio,
    route: Route,
    duration: Option<Duration>,
    decode_time: Duration,
    decoded_on: ThreadId,
}

/// What a load knows before decoding.
struct Stored {
    source: File,
    temp_path: Option<PathBuf>,
    guard: Option<StreamGuard>,
    bytes: u64,
    stored_after: Duration,
    options: DecodeOptions,
    facts: ClipFacts,
}

impl AudioPipeline {
    /// A builder with the defaults.
    pub fn builder() -> AudioPipelineBuilder {
        AudioPipelineBuilder {
            temp_root: None,
            temp: None,
            policy: DecodePolicy::default(),
            workers: default_workers(),
            max_active_files: DEFAULT_MAX_ACTIVE_FILES,
            max_decoded_samples: DEFAULT_MAX_DECODED_SAMPLES,
            strict_decode: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            when_busy: WhenBusy::Wait,
            main: None,
            finalize_on: FinalizeOn::MainThread,
            on_finalize: None,
        }
    }

    /// The main-thread queue finalizations are posted to; the host pumps it.
    pub fn main_thread(&self) -> MainThread {
        self.inner.main.clone()
    }

    /// The temp manager the pipeline stores bodies with.
    pub fn temp_manager(&self) -> &TempFileManager {
        &self.inner.temp
    }

    /// The counters now.
    pub fn metrics(&self) -> PipelineMetrics {
        let stats = &self.inner.stats;
        PipelineMetrics {
            decode: self.inner.workers.metrics(),
            temp: self.inner.temp.metrics(),
            active_files: stats.active_files.load(Ordering::Relaxed),
            max_active_files: self.inner.max_active_files,
            file_queue_depth: stats.file_waiters.load(Ordering::Relaxed),
            in_flight: stats.in_flight.load(Ordering::Relaxed),
            pending_finalizations: self.inner.main.pending(),
            loaded: stats.loaded.load(Ordering::Relaxed),
            failed: stats.failed.load(Ordering::Relaxed),
            routed_inline: stats.routed[0].load(Ordering::Relaxed),
            routed_worker: stats.routed[1].load(Ordering::Relaxed),
            routed_stream: stats.routed[2].load(Ordering::Relaxed),
        }
    }

    /// Waits until no load or decode job is in flight and every scheduled
    /// temp-file deletion has finished (or given up). Loads waiting for
    /// finalization count as in flight: keep pumping while draining.
    pub async fn drain(&self) {
        loop {
            let idle = self.inner.stats.idle.notified();
            if self.inner.stats.in_flight.load(Ordering::Acquire) == 0 {
                break;
            }
            idle.await;
        }
        self.inner.workers.idle().await;
        self.inner.temp.drain_deletions().await;
    }

    /// Stores `body` in a temp file, decodes or opens it for streaming as the
    /// policy routes it, and finalizes it on the main thread (see the module
    /// docs: pump while awaiting this).
    ///
    /// # Errors
    ///
    /// A [`PipelineError`] saying which stage failed; the temp file is deleted.
    pub async fn load_body<B>(
        &self,
        body: B,
        request: AudioRequest,
    ) -> Result<LoadedAudio, PipelineError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let started = Instant::now();
        let in_flight = InFlight::new(&self.inner);
        let result = async {
            let stored = self.store(body, &request, started).await?;
            self.decode_and_finalize(stored, started).await
        }
        .await;
        self.count(&result);
        drop(in_flight);
        result
    }

    /// Decodes or opens for streaming a local file, as the policy routes it, and
    /// finalizes it like [`load_body`](Self::load_body). No temp file is made;
    /// the file is only read. A symbolic link is followed, but only a regular
    /// file is read: a directory, a FIFO or a device is refused without being
    /// read, and a FIFO without being waited on (on Unix it is opened with
    /// `O_NONBLOCK`, and the opened file's type checked again).
    ///
    /// # Errors
    ///
    /// [`PipelineError::NotAFile`] for a path that is not a regular file,
    /// [`PipelineError::Open`] if the file cannot be opened, else as
    /// [`load_body`](Self::load_body).
    pub async fn load_path(&self, path: &Path) -> Result<LoadedAudio, PipelineError> {
        let started = Instant::now();
        let in_flight = InFlight::new(&self.inner);
        let result = async {
            let open_error = |source| PipelineError::Open {
                path: path.to_path_buf(),
                source,
            };
            let source = open_regular(path)?;
            let bytes = source.metadata().map_err(open_error)?.len();
            let extension = path.extension().and_then(|e| e.to_str());
            let mut options = self.decode_options();
            let mut facts = ClipFacts::new().byte_len(bytes);
            if let Some(extension) = extension {
                options = options.extension(extension);
                if let Some(format) = decode::AudioFormat::from_extension(extension) {
                    facts = facts.format(format);
                }
            }
            let stored = Stored {
                source,
                temp_path: None,
                guard: None,
                bytes,
                stored_after: Duration::ZERO,
                options,
                facts,
            };
            self.decode_and_finalize(stored, started).await
        }
        .await;
        self.count(&result);
        drop(in_flight);
        result
    }

    fn decode_options(&self) -> DecodeOptions {
        DecodeOptions::new()
            .max_decoded_samples(self.inner.max_decoded_samples)
            .strict(self.inner.strict_decode)
    }

    fn count<T>(&self, result: &Result<T, PipelineError>) {
        let counter = match result {
            Ok(_) => &self.inner.stats.loaded,
            Err(_) => &self.inner.stats.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    async fn acquire_file_slot(&self) -> Result<FileSlot, PipelineError> {
        let inner = &self.inner;
        let permit = match inner.files.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits) if inner.when_busy == WhenBusy::Fail => {
                return Err(PipelineError::Busy {
                    resource: "temp files",
                    limit: inner.max_active_files,
                });
            }
            Err(_) => {
                inner.stats.file_waiters.fetch_add(1, Ordering::Relaxed);
                // A guard, so a load dropped while waiting leaves the count too.
                let _waiting = Decrement(&inner.stats.file_waiters);
                inner
                    .files
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| PipelineError::Lost {
                        detail: "the temp-file slots were closed".to_owned(),
                    })?
            }
        };
        inner.stats.active_files.fetch_add(1, Ordering::Relaxed);
        Ok(FileSlot {
            _permit: permit,
            inner: Arc::clone(inner),
        })
    }

    /// Takes a temp-file slot and writes the body to a new temp file.
    async fn store<B>(
        &self,
        body: B,
        request: &AudioRequest,
        started: Instant,
    ) -> Result<Stored, PipelineError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let max_bytes = self.inner.max_body_bytes;
        if request.expected_len().is_some_and(|len| len > max_bytes) {
            return Err(PipelineError::BodyTooLarge { max_bytes });
        }
        let slot = self.acquire_file_slot().await?;
        let hint = request.format_hint();
        let extension = request
            .url_extension()
            .map(str::to_owned)
            .or_else(|| hint.map(|format| format.extension().to_owned()));
        let mut body = pin!(body);
        // The first data frame goes in with the create: one blocking call for
        // both, and a body that fails before its first byte never makes a file.
        let mut first = Bytes::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| PipelineError::Body {
                source: error.into(),
            })?;
            if let Ok(data) = frame.into_data()
                && !data.is_empty()
            {
                first = data;
                break;
            }
        }
        if first.len() as u64 > max_bytes {
            return Err(PipelineError::BodyTooLarge { max_bytes });
        }
        // `create_with` is cancel-safe: a load dropped mid-create leaves a handle
        // that deletes the file, and `drain` (through `drain_deletions`) waits for it.
        let mut file = self
            .inner
            .temp
            .create_with(extension.as_deref(), request.url_str(), first)
            .await?;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| PipelineError::Body {
                source: error.into(),
            })?;
            if let Ok(data) = frame.into_data() {
                if file.len().saturating_add(data.len() as u64) > max_bytes {
                    return Err(PipelineError::BodyTooLarge { max_bytes });
                }
                file.write(&data).await?;
            }
        }
        let bytes = file.finish().await?;
        if let Some(expected) = request.expected_len()
            && expected != bytes
        {
            return Err(PipelineError::LengthMismatch {
                expected,
                received: bytes,
            });
        }
        let source = file.open_read()?;
        let mut options = self.decode_options();
        if let Some(extension) = &extension {
            options = options.extension(extension.clone());
        }
        if let Some(content_type) = request.content_type() {
            options = options.content_type(content_type);
        }
        let mut facts = ClipFacts::new().byte_len(bytes);
        if let Some(format) = hint {
            facts = facts.format(format);
        }
        Ok(Stored {
            source,
            temp_path: Some(file.path().to_path_buf()),
            guard: Some(Box::new(HeldFile {
                _file: file,
                _slot: slot,
            })),
            bytes,
            stored_after: started.elapsed(),
            options,
            facts,
        })
    }

    async fn decode_and_finalize(
        &self,
        stored: Stored,
        started: Instant,
    ) -> Result<LoadedAudio, PipelineError> {
        let Stored {
            source,
            temp_path,
            guard,
            bytes,
            stored_after,
            options,
            facts,
        } = stored;
        let policy = self.inner.policy;
        let job_in_flight = InFlight::new(&self.inner);
        let job = move |cancel: &crate::worker::CancelToken| {
            // The job may outlive a cancelled load future; drain waits for it.
            // The count travels with the result and drops after it (a tuple drops
            // its fields in order), so a cancelled load's clip and temp file are
            // gone before drain can see zero; and `guard`, declared after it, drops
            // before it on an early return.
            let in_flight = job_in_flight;
            let guard = guard;
            let began = Instant::now();
            let packets = PacketDecoder::open(source, &options)?;
            let info = packets.info();
            let route = policy.route(&ClipFacts {
                byte_len: Some(bytes),
                format: Some(info.format),
                duration: info.declared_duration,
            });
            let (audio, duration) = if route == Route::Stream {
                let clip = StreamingClip::from_decoder(packets, guard);
                (Audio::Streaming(clip), info.declared_duration)
            } else {
                let clip = decode::decode_packets(packets, &options, &|| cancel.is_cancelled())?;
                // Decoded: the compressed bytes are no longer needed.
                drop(guard);
                let duration = clip.duration();
                (Audio::Decoded(clip), Some(duration))
            };
            let decoded = Decoded {
                audio,
                route,
                duration,
                decode_time: began.elapsed(),
                decoded_on: std::thread::current().id(),
            };
            Ok((decoded, in_flight))
        };
        let workers = &self.inner.workers;
        let when_busy = self.inner.when_busy;
        let ((decoded, job_in_flight), ran_on) = if policy.route(&facts) == Route::Inline {
            workers.run_inline(when_busy, job).await?
        } else {
            workers.run(when_busy, job).await?
        };
        // The load's own count covers the rest.
        drop(job_in_flight);
        let index = match decoded.route {
            Route::Inline => 0,
            Route::Worker => 1,
            Route::Stream => 2,
        };
        self.inner.stats.routed[index].fetch_add(1, Ordering::Relaxed);
        let decoded_after = started.elapsed();
        let finalize = Finalize {
            hook: self.inner.on_finalize.clone(),
            started,
            partial: Partial {
                route: decoded.route,
                ran_on,
                bytes,
                stored_after,
                decoded_after,
                duration: decoded.duration,
                decode_time: decoded.decode_time,
                decoded_on: decoded.decoded_on,
                temp_path,
            },
        };
        match self.inner.finalize_on {
            FinalizeOn::Caller => Ok(finalize.run(decoded.audio)),
            FinalizeOn::MainThread => self.finalize_on_main(finalize, decoded.audio).await,
        }
    }

    /// Posts finalization to the main thread and waits for it. If this future
    /// is dropped first, the clip is taken back and dropped here.
    async fn finalize_on_main(
        &self,
        finalize: Finalize,
        audio: Audio,
    ) -> Result<LoadedAudio, PipelineError> {
        let slot = Arc::new(Mutex::new(Some(audio)));
        let (sender, receiver) = oneshot::channel();
        let task_slot = Arc::clone(&slot);
        self.inner.main.post(move || {
            let audio = task_slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            // None: the load was cancelled and took its clip back.
            if let Some(audio) = audio {
                // A closed receiver hands the clip back; it is dropped here.
                let _ = sender.send(finalize.run(audio));
            }
        });
        let _reclaim = Reclaim(slot);
        receiver.await.map_err(|_| PipelineError::Lost {
            detail: "the main-thread finalization did not complete (the finalizer panicked)"
                .to_owned(),
        })
    }
}

/// Drops a clip still waiting for finalization when the load is dropped.
struct Reclaim(Arc<Mutex<Option<Audio>>>);

impl Drop for Reclaim {
    fn drop(&mut self) {
        let audio = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(audio);
    }
}

/// The report fields known before finalization.
struct Partial {
    route: Route,
    ran_on: Route,
    bytes: u64,
    stored_after: Duration,
    decoded_after: Duration,
    duration: Option<Duration>,
    decode_time: Duration,
    decoded_on: ThreadId,
    temp_path: Option<PathBuf>,
}

/// The finalization step: stamps the report and runs the host's hook.
struct Finalize {
    hook: Option<FinalizeHook>,
    started: Instant,
    partial: Partial,
}

impl Finalize {
    fn run(self, audio: Audio) -> LoadedAudio {
        let Partial {
            route,
            ran_on,
            bytes,
            stored_after,
            decoded_after,
            duration,
            decode_time,
            decoded_on,
            temp_path,
        } = self.partial;
        let mut loaded = LoadedAudio {
            report: LoadReport {
                route,
                ran_on,
                format: audio.format(),
                bytes,
                stored_after,
                decoded_after,
                finalized_after: self.started.elapsed(),
                duration,
                decode_time,
                decoded_on,
                finalized_on: std::thread::current().id(),
                temp_path,
            },
            audio,
        };
        if let Some(hook) = &self.hook {
            hook(&mut loaded);
        }
        loaded
    }
}
/// Opens `path` for reading if it leads to a regular file; see
/// [`AudioPipeline::load_path`].
fn open_regular(path: &Path) -> Result<File, PipelineError> {
    let open_error = |source| PipelineError::Open {
        path: path.to_path_buf(),
        source,
    };
    let not_a_file = |kind| PipelineError::NotAFile {
        path: path.to_path_buf(),
        kind,
    };
    let meta = std::fs::metadata(path).map_err(open_error)?;
    if let Some(kind) = PathKind::of(&meta) {
        return Err(not_a_file(kind));
    }
    let file = open_nonblocking(path).map_err(open_error)?;
    // The path may have been swapped between the look and the open.
    if let Some(kind) = PathKind::of(&file.metadata().map_err(open_error)?) {
        return Err(not_a_file(kind));
    }
    Ok(file)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::open(path, flags, Mode::empty())?))
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}
