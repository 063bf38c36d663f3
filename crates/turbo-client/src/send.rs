//! [`SendFuture`]: one request on its way through the stack.
//!
//! The request enters the stack when the future is made (in `send`), with a clone
//! lent from the client's pool: when the clone is ready at once (every turbo layer
//! is; a transport nearly always is), `call` runs right away and the clone goes back
//! to the pool, so the future owns only the stack's response future and borrows
//! nothing: it is `Send + 'static` and can be spawned. A stack that is not ready
//! keeps its clone (out of the pool) in the future until it is.
//!
//! Entering at `send` rather than at the first poll is what lets the future own
//! nothing of the client: a lazy future would have to keep a handle to the client
//! (a reference count on the client's shared state, written by both cores for every
//! request) only to reach the pool at its first poll.
//!
//! A hand-written future rather than an `async fn`: the compiler's state machine for
//! the same steps kept the request, the clone, the response future and the response
//! side by side (1.6 KB), and every caller moved that much at each `.await`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use http::Request;
use pin_project_lite::pin_project;
use tower::Service;
use turbo_pool::Pooled;

use crate::client::{ClientLink, StackClone, TurboClient};
use crate::error::Error;
use crate::redirect::is_redirect;
use crate::response::{Response, ResponseBuffers};
use crate::retry::{DEPOSIT_BATCH, Reason, Replay, plan};
use crate::stack::Stack;
use crate::timeout::{Elapsed, EndToEnd};
use crate::transport::{RequestBody, Transport};

/// The stack's response future.
type StackFuture<T> = <Stack<T> as Service<Request<RequestBody>>>::Future;

pin_project! {
    /// The future of [`TurboClient::send`] and
    /// [`RequestBuilder::send`](crate::RequestBuilder::send): resolves to the
    /// response head (the body streams afterwards) or the [`Error`] of the stage
    /// that failed. Dropping it cancels the request and releases whatever it holds.
    ///
    /// The future is `Send + 'static`: it borrows nothing from the client, so it
    /// can be handed to `tokio::spawn`.
    ///
    /// # Cancel safety
    ///
    /// Dropping it at any point releases what the request holds: its place in a
    /// wait queue, its host permit and global slot, its context. A request whose
    /// headers had not arrived is abandoned; the server may still have seen it.
    ///
    /// With a [`RetryPolicy`](crate::RetryPolicy), a failed attempt that may be
    /// repeated is sent again after its backoff, as a new attempt through the
    /// whole stack; the future resolves to the last attempt's outcome.
    #[must_use = "a request runs only while its future is polled"]
    pub struct SendFuture<T: Transport> {
        #[pin]
        attempt: Attempt<T>,
        // Boxed and only for requests that may be retried, so the common future
        // stays small.
        retry: Option<Box<RetryState<T>>>,
        // Only with an end-to-end deadline: its timer, armed at `send`.
        end_to_end: Option<(Pin<Box<tokio::time::Sleep>>, Duration)>,
    }
}

/// What a request that may be retried keeps: its copy, the way back to the client
/// to send it through, and the backoff once one is scheduled.
struct RetryState<T: Transport> {
    replay: Replay,
    link: ClientLink<T>,
    backoff: Option<(Pin<Box<tokio::time::Sleep>>, Reason, Duration)>,
}

pin_project! {
    /// One attempt through the stack.
    struct Attempt<T: Transport> {
        #[pin]
        state: State<T>,
    }
}

pin_project! {
    #[project = StateProj]
    #[project_replace = StateTaken]
    enum State<T: Transport> {
        /// The request is in the stack; `buffers` is the lent clone's handle to the
        /// byte pool, for the response.
        Calling {
            #[pin]
            future: StackFuture<T>,
            buffers: ResponseBuffers,
        },
        /// The stack was not ready at once: this clone (out of the pool, since it
        /// may have reserved capacity or registered the waker) is polled until it is.
        NotReady {
            stack: StackClone<T>,
            request: Option<Request<RequestBody>>,
        },
        /// Failed before the stack (a closed client or an invalid request), or
        /// finished.
        Failed {
            error: Option<Error>,
        },
    }
}

impl<T: Transport> SendFuture<T> {
    /// Sends `request` through `client`, keeping a copy to retry it if the
    /// client's policy allows.
    pub(crate) fn new(client: &TurboClient<T>, mut request: Request<RequestBody>) -> Self {
        let shared = &client.shared;
        let end_to_end = shared.end_to_end.and_then(|limit| {
            let at = tokio::time::Instant::now().checked_add(limit)?;
            request.extensions_mut().insert(EndToEnd { at, limit });
            Some((Box::pin(tokio::time::sleep_until(at)), limit))
        });
        let replay = if shared.retries.is_some() || shared.redirects > 0 {
            plan(&request, shared.retries.as_ref(), shared.redirects > 0)
        } else {
            None
        };
        let (attempt, link) = Attempt::start(client, request, First(replay.is_some()));
        let retry = replay.zip(link).map(|(replay, link)| {
            Box::new(RetryState {
                replay,
                link,
                backoff: None,
            })
        });
        Self {
            attempt,
            retry,
            end_to_end,
        }
    }

    /// A future that fails with `error` when polled.
    pub(crate) fn failed(error: Error) -> Self {
        Self {
            attempt: Attempt::failed(error),
            retry: None,
            end_to_end: None,
        }
    }
}

impl<T: Transport> Future for SendFuture<T> {
    type Output = Result<Response<T::ResponseBody>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some((sleep, limit)) = this.end_to_end.as_mut()
            && sleep.as_mut().poll(cx).is_ready()
        {
            let limit = *limit;
            // Whatever the request holds (a place in line, a permit, a backoff)
            // goes now.
            this.attempt.set(Attempt::failed(Error::closed()));
            *this.retry = None;
            *this.end_to_end = None;
            return Poll::Ready(Err(Error::from_stack(Box::new(Elapsed::end_to_end(limit)))));
        }
        loop {
            if let Some(retry) = this.retry.as_mut()
                && let Some((sleep, reason, backoff)) = retry.backoff.as_mut()
            {
                ready!(sleep.as_mut().poll(cx));
                let (reason, backoff) = (*reason, *backoff);
                retry.backoff = None;
                let request = retry.replay.request(reason, backoff);
                let attempt = match retry.link.client() {
                    Some(client) => Attempt::start(&client, request, Retry).0,
                    // Every handle to the client is gone: nothing to send with.
                    None => Attempt::failed(Error::closed()),
                };
                this.attempt.set(attempt);
            }
            let outcome = ready!(this.attempt.as_mut().poll(cx));
            let Some(retry) = this.retry.as_mut() else {
                return Poll::Ready(outcome);
            };
            let Some(client) = retry.link.client() else {
                return Poll::Ready(outcome);
            };
            if let Ok(response) = &outcome
                && client.shared.redirects > 0
                && is_redirect(response.status())
            {
                let max = client.shared.redirects;
                match retry
                    .replay
                    .redirect(response.status(), response.headers(), max)
                {
                    Ok(None) => return Poll::Ready(outcome),
                    Ok(Some(request)) => {
                        // The previous hop's response, and its permits, go first:
                        // the next hop takes its own host's permit.
                        drop(outcome);
                        this.attempt.set(Attempt::start(&client, request, Retry).0);
                        continue;
                    }
                    Err(error) => return Poll::Ready(Err(error)),
                }
            }
            let Some(retries) = client.shared.retries.as_ref() else {
                return Poll::Ready(outcome);
            };
            let Some((reason, backoff)) = retry.replay.next(retries, &outcome) else {
                return Poll::Ready(outcome);
            };
            // The failed attempt's response, and with it its permits, goes now:
            // nothing is held while the backoff runs.
            drop(outcome);
            retry.backoff = Some((Box::pin(tokio::time::sleep(backoff)), reason, backoff));
        }
    }
}

/// What kind of attempt [`Attempt::start`] starts.
trait AttemptKind: Copy {
    /// Whether the request counts into the retry budget (a retry does not).
    const COUNTS: bool;
    /// Whether the caller wants the way back to the client, to retry.
    fn wants_link(self) -> bool;
}

/// A request's first attempt; `.0` says whether it may be retried.
#[derive(Clone, Copy)]
struct First(bool);

impl AttemptKind for First {
    const COUNTS: bool = true;
    fn wants_link(self) -> bool {
        self.0
    }
}

/// A retry.
#[derive(Clone, Copy)]
struct Retry;

impl AttemptKind for Retry {
    const COUNTS: bool = false;
    fn wants_link(self) -> bool {
        false
    }
}

impl<T: Transport> Attempt<T> {
    /// Enters `request` into `client`'s stack: called at once when a lent stack
    /// clone is ready (nearly always), or else kept with that clone until it is.
    /// Also returns the lent clone's way back to the client, when `kind` wants it.
    fn start<K: AttemptKind>(
        client: &TurboClient<T>,
        request: Request<RequestBody>,
        kind: K,
    ) -> (Self, Option<ClientLink<T>>) {
        if client.is_closed() {
            return (Self::failed(Error::closed()), None);
        }
        let mut lent = Lent(Some(client.shared.stacks.get()));
        if K::COUNTS
            && let Some(retries) = client.shared.retries.as_ref()
        {
            // Counted on the clone, told to the budget in batches: the budget
            // is shared by every core, the clone is this thread's.
            lent.unbudgeted += 1;
            if lent.unbudgeted >= DEPOSIT_BATCH {
                retries.deposit(lent.unbudgeted);
                lent.unbudgeted = 0;
            }
        }
        let link = kind.wants_link().then(|| lent.link.clone());
        // Readiness is tried with a waker that does nothing: if the stack is not
        // ready, the future's first poll asks again with the caller's waker.
        let state = match lent
            .stack
            .poll_ready(&mut Context::from_waker(Waker::noop()))
        {
            // The clone goes back to the pool when `lent` drops at the end of this
            // function: its `call` future owns all it needs, and the response a
            // counted handle to the byte pool. The count is the clone's own, on a
            // line this thread already owns (the pool lends a thread the slot it
            // used last).
            Poll::Ready(Ok(())) => {
                let future = lent.stack.call(request);
                let buffers = lent.buffers.clone();
                State::Calling { future, buffers }
            }
            // A service that failed is not reused (tower's contract).
            Poll::Ready(Err(error)) => {
                drop(lent.detach());
                State::Failed {
                    error: Some(Error::from_stack(error)),
                }
            }
            Poll::Pending => State::NotReady {
                stack: lent.detach(),
                request: Some(request),
            },
        };
        (Self { state }, link)
    }

    /// A future that fails with `error` when polled.
    pub(crate) fn failed(error: Error) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl<T: Transport> Future for Attempt<T> {
    type Output = Result<Response<T::ResponseBody>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future, .. } => {
                    let result = ready!(future.poll(cx));
                    // The handle moves into the response (no count taken here).
                    let StateTaken::Calling { buffers, .. } = this
                        .state
                        .as_mut()
                        .project_replace(State::Failed { error: None })
                    else {
                        unreachable!("this arm runs only in the Calling state");
                    };
                    let response = result.map_err(Error::from_stack)?;
                    return Poll::Ready(Ok(Response::new(response, buffers)));
                }
                StateProj::NotReady { stack, request } => {
                    if let Err(error) = ready!(stack.stack.poll_ready(cx)) {
                        this.state.set(State::Failed {
                            error: Some(Error::from_stack(error)),
                        });
                        continue;
                    }
                    let Some(request) = request.take() else {
                        this.state.set(State::Failed { error: None });
                        continue;
                    };
                    let future = stack.stack.call(request);
                    let buffers = stack.buffers.clone();
                    this.state.set(State::Calling { future, buffers });
                }
                StateProj::Failed { error } => {
                    // `None`: polled again after completion.
                    return Poll::Ready(Err(error.take().unwrap_or_else(Error::closed)));
                }
            }
        }
    }
}

impl<T: Transport> TurboClient<T> {
    /// Sends a prepared request: it enters the stack now (takes its context, and
    /// its host permit and global slot if they are free, or its place in line), and
    /// the returned future, `Send + 'static`, drives it from there. Its
    /// [`Priority`](turbo_core::Priority) and [`RequestTimeout`](crate::RequestTimeout)
    /// extensions are honoured. The future fails with an [`Error`] naming the stage
    /// that failed; `ClientClosed` after shutdown.
    pub fn send(&self, request: Request<RequestBody>) -> SendFuture<T> {
        SendFuture::new(self, request)
    }
}

/// A stack clone lent from the client's pool for one `poll_ready` + `call`. If a
/// layer panics while it is out, unwinding drops it here and it is taken out of
/// the pool instead of going back: a clone left half-used (ready, or stopped in
/// the middle of a `call`) must not serve the next request.
struct Lent<'p, S>(Option<Pooled<'p, S>>);

impl<S> Lent<'_, S> {
    /// Takes the clone out of the pool for good.
    fn detach(mut self) -> S {
        match self.0.take() {
            Some(pooled) => pooled.detach(),
            // Only `drop` and this method take it, each once.
            None => unreachable!("a lent stack clone is detached once"),
        }
    }
}

impl<S> std::ops::Deref for Lent<'_, S> {
    type Target = S;

    fn deref(&self) -> &S {
        match &self.0 {
            Some(pooled) => pooled,
            None => unreachable!("a lent stack clone is used only before it is detached"),
        }
    }
}

impl<S> std::ops::DerefMut for Lent<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        match &mut self.0 {
            Some(pooled) => pooled,
            None => unreachable!("a lent stack clone is used only before it is detached"),
        }
    }
}

impl<S> Drop for Lent<'_, S> {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(pooled) = self.0.take()
        {
            drop(pooled.detach());
        }
    }
}

impl<T: Transport> fmt::Debug for SendFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.attempt.state {
            State::Calling { .. } => "calling",
            State::NotReady { .. } => "not ready",
            State::Failed { .. } => "failed",
        };
        f.debug_struct("SendFuture")
            .field("state", &state)
            .field("may_retry", &self.retry.is_some())
            .finish_non_exhaustive()
    }
}
