//! [`ClientConfig`]: every setting of a client, in one place. The builder fills it;
//! the stack is built from it. One option is one field here and one setter on
//! [`TurboClientBuilder`](crate::TurboClientBuilder).

use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::redirect::RedirectPolicy;
use crate::retry::RetryPolicy;

use turbo_core::HostKey;
use turbo_limit::ReleaseAt;
use turbo_pool::BytePool;

/// The most idle request contexts a client keeps: the pool's slots are made up
/// front, so a larger figure is a configuration error, not an allocation to try.
pub(crate) const MAX_CONTEXT_POOL: usize = 1 << 20;

/// The default most bytes a whole-body read gathers: 64 MiB.
pub(crate) const DEFAULT_MAX_BODY_SIZE: u64 = 64 * 1024 * 1024;

/// The default read-idle timeout: a request with no progress for this long fails.
pub(crate) const DEFAULT_READ_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A shutdown step, run once.
pub(crate) type ShutdownHook = Box<dyn FnOnce() + Send>;

/// Every setting of a client, with the defaults the builder documents.
pub(crate) struct ClientConfig {
    pub(crate) max_per_host: usize,
    pub(crate) host_limits: Vec<(HostKey, usize)>,
    pub(crate) max_hosts: usize,
    pub(crate) host_idle_timeout: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) max_queued: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) read_idle_timeout: Option<Duration>,
    pub(crate) end_to_end_timeout: Option<Duration>,
    pub(crate) release_at: ReleaseAt,
    pub(crate) context_pool: usize,
    pub(crate) buffers: Option<BytePool>,
    pub(crate) max_body_size: u64,
    pub(crate) retry: RetryPolicy,
    pub(crate) redirect: RedirectPolicy,
    #[cfg(feature = "decompression")]
    pub(crate) decompress: bool,
    pub(crate) hooks: Vec<ShutdownHook>,
    #[cfg(feature = "audio")]
    pub(crate) audio: crate::audio::state::AudioSettings,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            max_per_host: 6,
            host_limits: Vec::new(),
            max_hosts: 1024,
            host_idle_timeout: Duration::from_secs(60),
            max_in_flight: 64,
            max_queued: 1024,
            timeout: None,
            read_idle_timeout: Some(DEFAULT_READ_IDLE_TIMEOUT),
            end_to_end_timeout: None,
            release_at: ReleaseAt::BodyEnd,
            context_pool: 256,
            buffers: None,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            retry: RetryPolicy::default(),
            redirect: RedirectPolicy::default(),
            #[cfg(feature = "decompression")]
            decompress: true,
            hooks: Vec::new(),
            #[cfg(feature = "audio")]
            audio: crate::audio::state::AudioSettings::default(),
        }
    }
}

impl ClientConfig {
    /// Refuses settings the client cannot honour, naming the setting.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let invalid = |message: String| Err(Error::new(ErrorKind::InvalidRequest, message));
        if self.max_per_host == 0 || self.max_in_flight == 0 || self.max_hosts == 0 {
            return invalid(
                "per-host limit, in-flight limit and host cap must be at least 1".to_owned(),
            );
        }
        if let Some((host, _)) = self.host_limits.iter().find(|(_, limit)| *limit == 0) {
            return invalid(format!("the per-host limit for {host} must be at least 1"));
        }
        if self.context_pool > MAX_CONTEXT_POOL {
            return invalid(format!(
                "context_pool({}) is more than {MAX_CONTEXT_POOL} idle contexts",
                self.context_pool
            ));
        }
        Ok(())
    }
}
