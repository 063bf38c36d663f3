//! The response future both layers share: wait for a permit inside the future (never
//! in `poll_ready`), call the inner service, and hand the permit to the response body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower::Service;
use turbo_core::{BodyEnd, BodyGuard, EventKind, FieldValue, GuardedBody, RequestContext};

use turbo_core::Priority;

use crate::error::LimitError;
use crate::semaphore::{Acquire, AcquireError, PriorityPermit, PrioritySemaphore, TryAcquireError};

/// When a layer lets go of its permit or slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReleaseAt {
    /// When the response body ends (finished, failed or dropped): the default,
    /// because a download keeps the host (or the slot) busy until its last byte.
    #[default]
    BodyEnd,
    /// As soon as the response headers arrive.
    Headers,
}

/// The timeline events of a layer.
pub(crate) trait Admission {
    /// The event recorded when the request has to wait.
    const WAIT_EVENT: EventKind;
    /// The event recorded when the request is let through.
    const ADMIT_EVENT: EventKind;
}

/// A layer's permit, held by a response body until it ends.
pub struct Pass {
    _permit: PriorityPermit,
}

impl BodyGuard for Pass {
    fn finish(self, _end: BodyEnd) {
        // Dropping releases the permit.
    }
}

impl std::fmt::Debug for Pass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pass").finish_non_exhaustive()
    }
}

/// A request waiting for its permit, boxed so that the common case (a permit is
/// free at `call`) keeps the future small and allocation-free.
struct Waiting<S, R> {
    acquire: Acquire,
    service: S,
    request: R,
    since: Instant,
}

pin_project! {
    #[project = StateProj]
    enum State<S, R>
    where
        S: Service<R>,
    {
        Waiting {
            waiting: Option<Box<Waiting<S, R>>>,
        },
        Calling {
            #[pin]
            future: S::Future,
            permit: Option<PriorityPermit>,
        },
        Refused {
            error: Option<LimitError<S::Error>>,
        },
        Done,
    }
}

pin_project! {
    /// The response future of the limit layers: waits for a permit (when none was
    /// free at `call`), calls the inner service, and moves the permit into the
    /// response body (or drops it at the headers, if the layer is configured so).
    /// Dropping it at any point releases the permit or leaves the wait queue.
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, Request<ReqBody>>,
        context: Option<RequestContext>,
        release_at: ReleaseAt,
        admit_event: EventKind,
    }
}

/// Drops a ready `service` that will not be called, in favour of a clone that has
/// not been polled: what its readiness reserved goes back at once.
fn unready<S: Clone>(service: &mut S) {
    let fresh = service.clone();
    drop(std::mem::replace(service, fresh));
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>> + Clone,
{
    /// Admits `request` through `semaphore`: at once if a permit is free (calling
    /// the ready `service` right here), or else in the returned future, which then
    /// owns the ready service while `service` is left with a clone (tower's rule
    /// for services that are cloned into futures).
    #[inline]
    pub(crate) fn admit<A: Admission>(
        semaphore: PrioritySemaphore,
        service: &mut S,
        request: Request<ReqBody>,
        release_at: ReleaseAt,
    ) -> Self {
        let context = RequestContext::of(&request);
        let refused = match semaphore.try_acquire_owned() {
            Ok(permit) => {
                if let Some(ctx) = context {
                    ctx.record(A::ADMIT_EVENT);
                }
                return Self::calling::<A>(permit, service.call(request), release_at);
            }
            Err(refused) => refused,
        };
        let context = context.cloned();
        let state = match refused {
            (_, TryAcquireError::Closed) => {
                unready(service);
                State::Refused {
                    error: Some(LimitError::Closed),
                }
            }
            (semaphore, TryAcquireError::NoPermits) => {
                if let Some(ctx) = context.as_ref() {
                    ctx.record(A::WAIT_EVENT);
                }
                let clone = service.clone();
                let ready = std::mem::replace(service, clone);
                State::Waiting {
                    waiting: Some(Box::new(Waiting {
                        acquire: semaphore.acquire_owned(Priority::of(&request)),
                        service: ready,
                        request,
                        since: Instant::now(),
                    })),
                }
            }
        };
        Self {
            state,
            context,
            release_at,
            admit_event: A::ADMIT_EVENT,
        }
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    /// The future of a request that took `permit` at once and was passed to the
    /// inner service, which returned `future`; the caller has recorded the
    /// admission on the request's context, if it has one.
    ///
    /// Taking the inner future rather than the request lets a caller read the
    /// request's context once, before the request moves, instead of looking it
    /// up again in the moved copy.
    #[inline]
    pub(crate) fn calling<A: Admission>(
        permit: PriorityPermit,
        future: S::Future,
        release_at: ReleaseAt,
    ) -> Self {
        Self {
            state: State::Calling {
                future,
                permit: Some(permit),
            },
            // Only a wait records through the future's own handle; not cloning
            // one here saves two reference-count updates per layer and request.
            context: None,
            release_at,
            admit_event: A::ADMIT_EVENT,
        }
    }

    /// A future that fails with `error` without calling `service`.
    ///
    /// `service` was made ready by `poll_ready` and is not called: it is swapped
    /// for a fresh clone, so that whatever its readiness reserved (a permit of a
    /// tower `ConcurrencyLimit` below, a `Buffer` slot) is released now rather
    /// than held by a service that may sit unused in a pool of clones.
    pub(crate) fn refuse(service: &mut S, error: LimitError<S::Error>) -> Self
    where
        S: Clone,
    {
        unready(service);
        Self {
            state: State::Refused { error: Some(error) },
            context: None,
            release_at: ReleaseAt::default(),
            admit_event: EventKind::Admitted,
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Output = Result<Response<GuardedBody<ResBody, Option<Pass>>>, LimitError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting { waiting } => {
                    let Some(parked) = waiting.as_mut() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(LimitError::Closed));
                    };
                    let permit = match Pin::new(&mut parked.acquire).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(permit)) => permit,
                        Poll::Ready(Err(error)) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(match error {
                                AcquireError::Closed => LimitError::Closed,
                                AcquireError::QueueFull => LimitError::QueueFull,
                                AcquireError::Cancelled => LimitError::QueueStopped,
                            }));
                        }
                    };
                    let Some(parked) = waiting.take() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(LimitError::Closed));
                    };
                    let Waiting {
                        mut service,
                        request,
                        since,
                        ..
                    } = *parked;
                    if let Some(ctx) = this.context.as_ref() {
                        ctx.record_with(
                            *this.admit_event,
                            &[("waited", FieldValue::Duration(since.elapsed()))],
                        );
                    }
                    let future = service.call(request);
                    this.state.set(State::Calling {
                        future,
                        permit: Some(permit),
                    });
                }
                StateProj::Calling { future, permit } => {
                    let result = ready!(future.poll(cx));
                    let permit = permit.take();
                    this.state.set(State::Done);
                    // On an error the permit drops here, released at once.
                    let response = result.map_err(LimitError::Inner)?;
                    let guard = match (*this.release_at, permit) {
                        (ReleaseAt::BodyEnd, Some(permit)) => Some(Pass { _permit: permit }),
                        _ => None,
                    };
                    return Poll::Ready(Ok(response.map(|body| GuardedBody::new(body, guard))));
                }
                StateProj::Refused { error } => {
                    let error = error.take().unwrap_or(LimitError::Closed);
                    this.state.set(State::Done);
                    return Poll::Ready(Err(error));
                }
                StateProj::Done => return Poll::Ready(Err(LimitError::Closed)),
            }
        }
    }
}
