//! Audio for turbo.
//!
//! - [`temp`]: temp files for downloaded audio: sharded, exclusive-created,
//!   registered, deleted in the background with bounded retries, swept at
//!   startup after crashes, with bounded file I/O.
//! - [`pipeline`]: downloaded audio to a playable clip: the body is stored in a
//!   temp file, [`policy`] routes it (decode inline, decode on a bounded
//!   [`worker`], or [`streaming`]), [`decode`] turns it into interleaved `f32`
//!   with typed errors, and the clip is finalized on the host's [`main_thread`].
//!
//! # Examples
//!
//! Loading a clip and finalizing it from a host loop that pumps the main-thread
//! queue (a game loop would pump once per frame):
//!
//! ```
//! use std::path::Path;
//! use std::time::Duration;
//! use turbo_audio::pipeline::AudioPipeline;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Runtime::new()?;
//! let temp_root = tempfile::tempdir()?;
//! let pipeline =
//!     runtime.block_on(async { AudioPipeline::builder().temp_root(temp_root.path()).build() })?;
//! let main = pipeline.main_thread();
//!
//! let load = runtime.spawn({
//!     let pipeline = pipeline.clone();
//!     async move {
//!         let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tone.ogg");
//!         pipeline.load_path(Path::new(path)).await
//!     }
//! });
//! // The host loop: the load decodes on the runtime, then waits for this thread.
//! while !load.is_finished() {
//!     main.pump()?;
//!     std::thread::sleep(Duration::from_millis(1));
//! }
//! let loaded = runtime.block_on(load)??;
//! assert_eq!(loaded.report.finalized_on, std::thread::current().id());
//! assert_eq!((loaded.audio.sample_rate(), loaded.audio.channels()), (22_050, 2));
//! # Ok(())
//! # }
//! ```
//!
//! Notification sounds (config, throttle, player) are the `turbo-playback` crate.

pub mod decode;
pub mod main_thread;
pub mod pipeline;
pub mod policy;
pub mod streaming;
pub mod temp;
pub mod worker;

pub use temp::{TempError, TempFile, TempFileManager, TempFileManagerBuilder, TempMetrics};
