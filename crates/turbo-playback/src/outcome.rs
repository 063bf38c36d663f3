//! [`Outcome`]: what one [`Player::play`](crate::Player::play) did, as a value and
//! as JSON.

use std::path::PathBuf;

use serde::{Deserialize, Serialize, Serializer};

use crate::throttle::StateReport;

/// What happened to the sound. Serialized as the outcome's `status` field, with
/// the variant's own fields beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// The player process was started and is playing: what
    /// [`Player::play`](crate::Player::play) reports when it returns; the
    /// [`Playback`](crate::Playback) ends with one of the statuses below.
    Started,
    /// The player ran and exited successfully.
    Played,
    /// The key played less than a throttle window ago (in this or another
    /// process); no player was started.
    Throttled {
        /// Milliseconds until the window ends.
        retry_after_ms: u64,
    },
    /// Sounds are switched off, globally or for this key.
    Disabled,
    /// No sound is configured for the key, or its file does not exist or is not
    /// a regular file (a directory, a FIFO a player would wait on; then the
    /// outcome's `path` says which file).
    NotFound,
    /// No player program was found (the configured one, or none of the known
    /// ones on `PATH`).
    NoPlayer,
    /// The bound on concurrent playbacks was reached; nothing was started and
    /// the throttle window was not used up.
    Busy {
        /// The bound (`max_concurrent`).
        limit: usize,
    },
    /// The player ran and failed.
    Failed {
        /// Its exit code, if it exited.
        exit_code: Option<i32>,
        /// The signal that ended it, if one did (Unix).
        signal: Option<i32>,
    },
    /// The player ran past the playback timeout and was killed and reaped.
    TimedOut {
        /// The timeout that was applied.
        timeout_ms: u64,
        /// The signal that ended it, as reaped (`9`, SIGKILL, on Unix).
        signal: Option<i32>,
    },
    /// The playback was cancelled ([`Playback::cancel`](crate::Playback::cancel))
    /// and the player was killed and reaped.
    Cancelled {
        /// The signal that ended it, as reaped (`9`, SIGKILL, on Unix).
        signal: Option<i32>,
    },
}

impl Status {
    /// The variant's name as it appears in JSON (`played`, `throttled`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Played => "played",
            Self::Throttled { .. } => "throttled",
            Self::Disabled => "disabled",
            Self::NotFound => "not_found",
            Self::NoPlayer => "no_player",
            Self::Busy { .. } => "busy",
            Self::Failed { .. } => "failed",
            Self::TimedOut { .. } => "timed_out",
            Self::Cancelled { .. } => "cancelled",
        }
    }

    /// The exit code a `turbo play` command should use for this status (see the
    /// playback guide): 0 started or played, 3 throttled, 4 disabled, 5 busy,
    /// 6 not found, 7 no player, 8 failed, 9 timed out, 14 cancelled.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Started | Self::Played => 0,
            Self::Throttled { .. } => 3,
            Self::Disabled => 4,
            Self::Busy { .. } => 5,
            Self::NotFound => 6,
            Self::NoPlayer => 7,
            Self::Failed { .. } => 8,
            Self::TimedOut { .. } => 9,
            Self::Cancelled { .. } => 14,
        }
    }
}

/// Where the time of one play went, in microseconds. A phase that did not run
/// is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// The whole call: until `play` returned, or for a playback's final
    /// outcome, until the player was reaped.
    pub total_us: u64,
    /// The throttle check, lock wait included.
    pub throttle_us: Option<u64>,
    /// Waiting for the throttle lock.
    pub lock_wait_us: Option<u64>,
    /// From starting the player to reaping it (`None` while it runs).
    pub playback_us: Option<u64>,
}

/// The result of one [`Player::play`](crate::Player::play).
///
/// As JSON (`serde_json::to_string(&outcome)`), for example:
///
/// ```json
/// {"key":"pretooluse","status":"throttled","retry_after_ms":1650,
///  "path":"/home/me/sounds/pre.wav",
///  "command":["/usr/bin/paplay","--volume=32768","/home/me/sounds/pre.wav"],
///  "pid":null,"state":{"kind":"ok"},
///  "timings":{"total_us":143,"throttle_us":118,"lock_wait_us":3,"playback_us":null}}
/// ```
///
/// The status's own fields (`retry_after_ms`, `limit`, `exit_code`, `signal`,
/// `timeout_ms`) sit beside `status`; see the playback guide for every variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The normalized key.
    pub key: String,
    /// What happened.
    #[serde(flatten)]
    pub status: Status,
    /// The resolved sound file, once the key was found in the configuration.
    #[serde(serialize_with = "lossy_path")]
    pub path: Option<PathBuf>,
    /// The player command line (program and arguments) that was or would have
    /// been run, once a player was chosen.
    pub command: Option<Vec<String>>,
    /// The player's process id, if one was started.
    pub pid: Option<u32>,
    /// What the throttle found in its state directory, if it was consulted.
    pub state: Option<StateReport>,
    /// Where the time went.
    pub timings: Timings,
}

impl Outcome {
    /// Whether the sound played to its end.
    pub fn played(&self) -> bool {
        self.status == Status::Played
    }

    /// The outcome as one line of JSON.
    ///
    /// # Errors
    ///
    /// Only if serialization itself fails, which these types do not cause.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Paths as strings, lossily if not UTF-8, so serializing never fails.
fn lossy_path<S: Serializer>(path: &Option<PathBuf>, serializer: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(path) => serializer.serialize_some(&path.to_string_lossy()),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: Status) -> Outcome {
        Outcome {
            key: "stop".to_owned(),
            status,
            path: Some(PathBuf::from("/s/stop.wav")),
            command: Some(vec!["true".to_owned(), "/s/stop.wav".to_owned()]),
            pid: Some(42),
            state: Some(StateReport::Corrupt {
                reason: "bad".to_owned(),
            }),
            timings: Timings {
                total_us: 10,
                throttle_us: Some(5),
                lock_wait_us: Some(1),
                playback_us: None,
            },
        }
    }

    #[test]
    fn json_shape_is_flat_and_round_trips() {
        let value = outcome(Status::Failed {
            exit_code: Some(2),
            signal: None,
        });
        let json = value.to_json().unwrap();
        assert_eq!(
            json,
            r#"{"key":"stop","status":"failed","exit_code":2,"signal":null,"path":"/s/stop.wav","command":["true","/s/stop.wav"],"pid":42,"state":{"kind":"corrupt","reason":"bad"},"timings":{"total_us":10,"throttle_us":5,"lock_wait_us":1,"playback_us":null}}"#
        );
        let back: Outcome = serde_json::from_str(&json).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn names_and_exit_codes_are_distinct() {
        let all = [
            Status::Played,
            Status::Throttled { retry_after_ms: 1 },
            Status::Disabled,
            Status::NotFound,
            Status::NoPlayer,
            Status::Busy { limit: 1 },
            Status::Failed {
                exit_code: None,
                signal: Some(9),
            },
            Status::TimedOut {
                timeout_ms: 1,
                signal: Some(9),
            },
            Status::Cancelled { signal: Some(9) },
        ];
        for status in all.iter().chain([&Status::Started]) {
            let json = serde_json::to_value(outcome(status.clone())).unwrap();
            assert_eq!(json["status"], status.name());
        }
        let mut codes: Vec<u8> = all.iter().map(Status::exit_code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert_eq!(Status::Played.exit_code(), 0);
        // Started is success too: the sound is playing.
        assert_eq!(Status::Started.exit_code(), 0);
    }
}
