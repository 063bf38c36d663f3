//! Audio for turbo.
//!
//! - [`playback`]: notification sounds for hooks and tools, with a reloadable
//!   config, a throttle that lets exactly one process play a sound per window,
//!   and an external player run with a timeout.
//! - [`temp`]: temp files for downloaded audio: sharded, exclusive-created,
//!   registered, deleted in the background with bounded retries, swept at
//!   startup after crashes, with bounded file I/O.
//!
//! # Examples
//!
//! ```
//! use turbo_audio::playback::{Player, SoundConfig, Status, Throttle};
//!
//! let dir = tempfile::tempdir()?;
//! let sound = dir.path().join("stop.wav");
//! std::fs::write(&sound, b"")?;
//! let config = SoundConfig::parse(&format!(
//!     "player = \"true\"\n[sounds]\nstop = '{}'\n",
//!     sound.display()
//! ))?;
//! let player = Player::new(config, Throttle::new(dir.path().join("state")));
//! assert_eq!(player.play("Stop")?.status, Status::Played);
//! assert!(matches!(player.play("stop")?.status, Status::Throttled { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod decode;
pub mod main_thread;
pub mod pipeline;
pub mod playback;
pub mod policy;
pub mod streaming;
pub mod temp;
pub mod worker;

pub use temp::{TempError, TempFile, TempFileManager, TempFileManagerBuilder, TempMetrics};
