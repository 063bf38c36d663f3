//! Notification sounds for hooks and tools: a reloadable [`SoundConfig`], a
//! [`Throttle`] that lets exactly one process play a key per window, and a
//! [`Player`] that runs an external player with a timeout and reports an
//! [`Outcome`].
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use turbo_playback::{Player, SoundConfig, SoundConfigHandle, Status, Throttle};
//!
//! let dir = tempfile::tempdir()?;
//! let sound = dir.path().join("attention.wav");
//! std::fs::write(&sound, b"")?;
//!
//! // `true` stands in for a real player such as paplay.
//! let config = SoundConfig::parse(&format!(
//!     "player = \"true\"\nthrottle_ms = 2000\n[sounds]\nNeeds-Attention = '{}'\n",
//!     sound.display()
//! ))?;
//! let config = SoundConfigHandle::new(config);
//!
//! // Every process that uses this state directory shares the throttle.
//! let throttle = Throttle::builder(dir.path().join("state"))
//!     .lock_timeout(Duration::from_millis(500))
//!     .build();
//! let player = Player::new(config, throttle);
//!
//! // `play` returns once the player has started; `wait` until it has ended.
//! let first = player.play("needs_attention")?;
//! assert_eq!(first.outcome().status, Status::Started);
//! assert_eq!(first.wait()?.status, Status::Played);
//! let second = player.play("NEEDS ATTENTION")?;
//! assert!(matches!(second.outcome().status, Status::Throttled { .. }));
//! assert!(second.outcome().to_json()?.contains(r#""status":"throttled""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Pieces
//!
//! - [`SoundConfig`] is parsed from TOML; every problem names its file, line and
//!   key. [`SoundConfigHandle`] shares one and reloads it without ever blocking
//!   readers; a failed reload keeps the previous configuration.
//! - [`Throttle`] is one atomic check-and-set per call under an exclusive lock on
//!   a separate lock file, with the state replaced by rename (the protocol, and
//!   why it holds across processes, is in `docs/architecture.md`, "turbo-playback").
//! - [`Player`] starts the player and returns a [`Playback`] at once; a reaper
//!   thread kills (with its process group) and reaps a player that overruns the
//!   timeout; concurrent playbacks are bounded; nothing panics: every answer is
//!   an [`Outcome`] and every failure of the machinery a [`PlayError`].

mod clock;
mod config;
mod error;
mod file;
mod fs;
mod key;
mod outcome;
mod playback;
mod player;
mod throttle;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    DEFAULT_MAX_CONCURRENT, DEFAULT_THROTTLE, DEFAULT_TIMEOUT, MAX_CONCURRENT_LIMIT,
    MAX_CONFIG_BYTES, MAX_PROBLEMS, MAX_THROTTLE, MAX_TIMEOUT, Sound, SoundConfig,
    SoundConfigHandle,
};
pub use error::{
    ConfigError, ConfigProblem, FsOp, PlayError, ProblemKind, ReloadError, ThrottleError,
};
pub use file::{FileKind, NotRegularFile, not_regular_error};
pub use fs::{OsFs, StateFs};
pub use key::normalize_key;
pub use outcome::{Outcome, Status, Timings};
pub use playback::Playback;
pub use player::{KNOWN_PLAYERS, Player, PlayerBuilder};
pub use throttle::{
    DEFAULT_LOCK_TIMEOUT, LOCK_FILE, MAX_KEY_BYTES, MAX_KEYS, MAX_STATE_BYTES, STATE_FILE,
    StateReport, TEMP_FILE, Throttle, ThrottleBuilder, ThrottleCheck, Verdict,
};
