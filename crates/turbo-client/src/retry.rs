//! [`RetryPolicy`]: which failed attempts the client sends again, when, and how
//! many in all.
//!
//! A retry is a new attempt through the whole stack: it takes its own host permit
//! and global slot, and the failed attempt's response (and so its permits) is
//! dropped before the backoff, so nothing is held while it sleeps. Only requests
//! that are safe to repeat are retried: an idempotent method (unless
//! [`RetryPolicy::non_idempotent`] says otherwise) with a body in memory.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, Request, StatusCode, Uri, Version};
use turbo_core::{EventKind, FieldValue, RequestContext};

use crate::error::{Error, ErrorKind};
use crate::transport::RequestBody;

/// The timeline event of an attempt that is a retry, recorded on its timeline once
/// it has its host permit and global slot: `attempt` (2 for the first retry),
/// `reason` (`connect`, `no_response`, `429`, `503`) and `backoff`.
pub const EVENT_RETRY: EventKind = EventKind::Custom("retry_scheduled");

/// Which failed attempts are sent again.
///
/// Retried: connect errors, a connection that closed or reset before any response
/// byte, and `429 Too Many Requests` and `503 Service Unavailable` answers (after
/// their `Retry-After` in seconds, when it is no longer than `max_backoff`; a longer
/// one is returned to the caller as it is). Backoff doubles from `base_backoff` up to
/// `max_backoff`, with jitter. A budget bounds retries to a share of requests, so a
/// failing host cannot multiply the load on it: every request adds `budget_percent`
/// of a retry to it, it also gains `budget_min_per_sec` retries a second, it holds
/// at most ten seconds of that minimum (and at least 100 retries), and each retry
/// takes one.
///
/// ```
/// use std::time::Duration;
///
/// use turbo_client::{RetryPolicy, TurboClient};
///
/// let client = TurboClient::builder()
///     .retry(RetryPolicy::default().max_retries(3).base_backoff(Duration::from_millis(50)))
///     .build()?;
/// let never = TurboClient::builder().retry(RetryPolicy::none()).build()?;
/// # let _ = (client, never);
/// # Ok::<(), turbo_client::Error>(())
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    max_retries: u32,
    base_backoff: Duration,
    max_backoff: Duration,
    non_idempotent: bool,
    budget_percent: f32,
    budget_min_per_sec: u32,
}

impl Default for RetryPolicy {
    /// Two retries, 100 ms doubling to 2 s, idempotent methods only, a budget of
    /// 20 % of requests plus 10 a second.
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            non_idempotent: false,
            budget_percent: 0.2,
            budget_min_per_sec: 10,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self::default().max_retries(0)
    }

    /// Retries per request (default 2; 0 turns retrying off).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The first backoff (default 100 ms); each retry doubles it, with jitter.
    pub fn base_backoff(mut self, backoff: Duration) -> Self {
        self.base_backoff = backoff;
        self
    }

    /// The longest backoff, and the longest `Retry-After` honoured (default 2 s).
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Retries `POST` and `PATCH` too (default: no; only methods that are safe to
    /// repeat: `GET`, `HEAD`, `PUT`, `DELETE`, `OPTIONS`, `TRACE`).
    pub fn non_idempotent(mut self, retry: bool) -> Self {
        self.non_idempotent = retry;
        self
    }

    /// The retry budget: each request adds `percent` of a retry (0.0 to 10.0;
    /// default 0.2), and it gains `min_per_sec` retries a second (default 10).
    pub fn budget(mut self, percent: f32, min_per_sec: u32) -> Self {
        self.budget_percent = percent.clamp(0.0, 10.0);
        self.budget_min_per_sec = min_per_sec;
        self
    }

    pub(crate) fn is_off(&self) -> bool {
        self.max_retries == 0
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_retries", &self.max_retries)
            .field("base_backoff", &self.base_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("non_idempotent", &self.non_idempotent)
            .field("budget_percent", &self.budget_percent)
            .field("budget_min_per_sec", &self.budget_min_per_sec)
            .finish()
    }
}

/// A client's policy with its budget, shared by its requests.
pub(crate) struct Retries {
    policy: RetryPolicy,
    budget: RetryBudget,
    jitter: RandomState,
}

/// Requests a stack clone counts before it tells the budget: one shared
/// read-modify-write per this many requests instead of one each.
pub(crate) const DEPOSIT_BATCH: u32 = 16;

impl Retries {
    /// `None` when the policy never retries, so requests skip all of this.
    pub(crate) fn new(policy: RetryPolicy) -> Option<Self> {
        if policy.is_off() {
            return None;
        }
        let budget = RetryBudget::new(policy.budget_percent, policy.budget_min_per_sec);
        Some(Self {
            policy,
            budget,
            jitter: RandomState::new(),
        })
    }

    /// Counts `requests` into the budget.
    pub(crate) fn deposit(&self, requests: u32) {
        self.budget.deposit(requests);
    }

    /// Whether a request with `method` may be retried.
    fn allows(&self, method: &Method) -> bool {
        let idempotent = matches!(
            *method,
            Method::GET
                | Method::HEAD
                | Method::PUT
                | Method::DELETE
                | Method::OPTIONS
                | Method::TRACE
        );
        idempotent || self.policy.non_idempotent
    }
}

/// What a request keeps to be sent again: for a retry (when `retries` allow its
/// method and its body is in memory) or to follow a redirect (when `redirects`);
/// `None` when it can be neither.
pub(crate) fn plan(
    request: &Request<RequestBody>,
    retries: Option<&Retries>,
    redirects: bool,
) -> Option<Replay> {
    let body = request.body().try_clone();
    let retryable =
        body.is_some() && retries.is_some_and(|retries| retries.allows(request.method()));
    if !retryable && !redirects {
        return None;
    }
    Some(Replay {
        method: request.method().clone(),
        uri: request.uri().clone(),
        version: request.version(),
        headers: request.headers().clone(),
        extensions: request.extensions().clone(),
        body,
        retryable,
        attempt: 1,
        visited: Vec::new(),
    })
}

/// Retries the budget allows, as a token bucket counted in thousandths of a retry.
struct RetryBudget {
    tokens: AtomicI64,
    per_request: i64,
    per_second: i64,
    max: i64,
    refilled: Mutex<Instant>,
}

/// One retry, in the budget's unit.
const RETRY: i64 = 1000;

impl RetryBudget {
    fn new(percent: f32, min_per_sec: u32) -> Self {
        let per_second = i64::from(min_per_sec) * RETRY;
        let max = (per_second * 10).max(100 * RETRY);
        Self {
            // Starts with ten seconds of the minimum, as if the client had been
            // idle that long.
            tokens: AtomicI64::new((per_second * 10).min(max)),
            per_request: (f64::from(percent) * RETRY as f64) as i64,
            per_second,
            max,
            refilled: Mutex::new(Instant::now()),
        }
    }

    fn add(&self, tokens: i64) {
        if tokens > 0 {
            let _ = self
                .tokens
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                    Some(now.saturating_add(tokens).min(self.max))
                });
        }
    }

    fn deposit(&self, requests: u32) {
        self.add(i64::from(requests).saturating_mul(self.per_request));
    }

    fn withdraw(&self) -> bool {
        if self.per_second > 0 {
            let mut refilled = match self.refilled.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            let elapsed = refilled.elapsed();
            let gained = (elapsed.as_secs_f64() * self.per_second as f64) as i64;
            if gained > 0 {
                self.add(gained);
                *refilled = Instant::now();
            }
        }
        self.tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                (now >= RETRY).then_some(now - RETRY)
            })
            .is_ok()
    }
}

/// A request's copy for its next attempt.
pub(crate) struct Replay {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) extensions: http::Extensions,
    /// The body to send again; `None` when it was a stream (sent once).
    pub(crate) body: Option<RequestBody>,
    /// Whether the request may be retried (its method and body allow it, and the
    /// client retries).
    pub(crate) retryable: bool,
    /// The attempt that is running (1 for the first).
    attempt: u32,
    /// Redirects followed so far, and the URIs they left (for loops).
    pub(crate) visited: Vec<Uri>,
}

/// Why an attempt is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Connect,
    NoResponse,
    TooManyRequests,
    Unavailable,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Connect => "connect",
            Reason::NoResponse => "no_response",
            Reason::TooManyRequests => "429",
            Reason::Unavailable => "503",
        }
    }
}

/// The next attempt's extension, recorded on its timeline by the deadline layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryAttempt {
    attempt: u32,
    reason: Reason,
    backoff: Duration,
}

impl RetryAttempt {
    /// Records the retry on the timeline of `request`'s context, if it has one.
    pub(crate) fn record<B>(request: &Request<B>) {
        if let (Some(retry), Some(context)) = (
            request.extensions().get::<RetryAttempt>(),
            RequestContext::of(request),
        ) {
            context.record_with(
                EVENT_RETRY,
                &[
                    ("attempt", FieldValue::U64(u64::from(retry.attempt))),
                    ("reason", FieldValue::Str(retry.reason.as_str())),
                    ("backoff", FieldValue::Duration(retry.backoff)),
                ],
            );
        }
    }
}

impl Replay {
    /// Whether the attempt's outcome is retried, and after how long; `None` hands
    /// the outcome to the caller.
    pub(crate) fn next<B>(
        &mut self,
        retries: &Retries,
        outcome: &Result<crate::Response<B>, Error>,
    ) -> Option<(Reason, Duration)>
    where
        B: http_body::Body,
    {
        let policy = &retries.policy;
        if !self.retryable || self.attempt > policy.max_retries {
            return None;
        }
        let (reason, retry_after) = match outcome {
            Err(error) => (classify(error)?, None),
            Ok(response) => {
                let reason = match response.status() {
                    StatusCode::TOO_MANY_REQUESTS => Reason::TooManyRequests,
                    StatusCode::SERVICE_UNAVAILABLE => Reason::Unavailable,
                    _ => return None,
                };
                (reason, retry_after(response.headers()))
            }
        };
        let backoff = match retry_after {
            Some(after) if after > policy.max_backoff => return None,
            Some(after) => after,
            None => self.backoff(retries),
        };
        if !retries.budget.withdraw() {
            return None;
        }
        self.attempt += 1;
        Some((reason, backoff))
    }

    /// Exponential backoff with jitter: a random time between half and all of
    /// `base * 2^(attempt - 1)`, capped at `max_backoff`.
    fn backoff(&self, retries: &Retries) -> Duration {
        let policy = &retries.policy;
        let shift = (self.attempt - 1).min(20);
        let ceiling = policy
            .base_backoff
            .saturating_mul(1 << shift)
            .min(policy.max_backoff);
        let random = retries.jitter.hash_one((self.attempt, Instant::now()));
        // A fraction in [0.5, 1.0): never so short that retries bunch up.
        let fraction = 0.5 + (random >> 11) as f64 / (1u64 << 54) as f64;
        ceiling.mul_f64(fraction)
    }

    /// The request for the next attempt.
    pub(crate) fn request(&self, reason: Reason, backoff: Duration) -> Request<RequestBody> {
        let mut request = self.to_request();
        request.extensions_mut().insert(RetryAttempt {
            attempt: self.attempt,
            reason,
            backoff,
        });
        request
    }

    /// The request as it stands now (after any redirect), with a copy of the body.
    pub(crate) fn to_request(&self) -> Request<RequestBody> {
        let body = self
            .body
            .as_ref()
            .and_then(RequestBody::try_clone)
            .unwrap_or_default();
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers.clone();
        *request.extensions_mut() = self.extensions.clone();
        request
    }
}

/// The retryable failures: nothing reached the server, or nothing came back.
fn classify(error: &Error) -> Option<Reason> {
    match error.kind() {
        ErrorKind::Connect => Some(Reason::Connect),
        // A connection that closed before the response head (hyper's incomplete
        // message) arrives as `Transport` from the send.
        ErrorKind::Transport => Some(Reason::NoResponse),
        _ => None,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not honoured: no retry delay is
/// taken from it, the policy's backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}
