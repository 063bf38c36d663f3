//! [`ResponseFuture`], the response future both layers share: wait for a permit
//! inside the future (never in `poll_ready`), ready and call the inner service, and
//! hand the permit to the response body as a [`Pass`].

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

use crate::BoxError;
use crate::error::LimitError;
use crate::release::ReleaseAt;
use crate::semaphore::{Acquire, AcquireError, PriorityPermit, PrioritySemaphore, TryAcquireError};

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
///
/// `service` is a clone that has not been polled: a waiting request holds no
/// readiness of the inner service (no `ConcurrencyLimit` permit, no `Buffer`
/// slot), so requests to other hosts are not held up behind it. Once `permit` is
/// in hand, the future readies `service` itself and calls it, as tower's
/// `Oneshot` does.
struct Waiting<S, R> {
    acquire: Acquire,
    permit: Option<PriorityPermit>,
    service: S,
    request: Option<R>,
    since: Instant,
}

pin_project! {
    #[project = StateProj]
    enum State<S, R>
    where
        S: Service<R>,
    {
        Waiting {
            waiting: Box<Waiting<S, R>>,
        },
        Calling {
            #[pin]
            future: S::Future,
            permit: Option<PriorityPermit>,
        },
        Refused {
            error: Option<LimitError>,
        },
        Done,
    }
}

pin_project! {
    /// The response future of the limit layers: waits for a permit (when none was
    /// free at `call`), readies and calls the inner service, and moves the permit
    /// into the response body (or drops it at the headers, if the layer is
    /// configured so). Dropping it at any point releases the permit or leaves the
    /// wait queue.
    ///
    /// Its error is a [`BoxError`]: the inner service's error as it was, or a
    /// boxed [`LimitError`] when the layer refused the request.
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
    /// the ready `service` right here), or else in the returned future. A request
    /// that has to wait gives back what `service`'s readiness reserved (the ready
    /// service is swapped for a fresh clone) and takes a clone of its own, which
    /// it readies only once it has its permit.
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
                unready(service);
                State::Waiting {
                    waiting: Box::new(Waiting {
                        acquire: semaphore.acquire_owned(Priority::of(&request)),
                        permit: None,
                        service: service.clone(),
                        request: Some(request),
                        since: Instant::now(),
                    }),
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
    pub(crate) fn refuse(service: &mut S, error: LimitError) -> Self
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
    S::Error: Into<BoxError>,
    ResBody: Body,
{
    type Output = Result<Response<GuardedBody<ResBody, Option<Pass>>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting { waiting } => {
                    if waiting.permit.is_none() {
                        let permit = match Pin::new(&mut waiting.acquire).poll(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Ok(permit)) => permit,
                            Poll::Ready(Err(error)) => {
                                this.state.set(State::Done);
                                return Poll::Ready(Err(Box::new(match error {
                                    AcquireError::Closed => LimitError::Closed,
                                    AcquireError::QueueFull => LimitError::QueueFull,
                                    AcquireError::Cancelled => LimitError::QueueStopped,
                                })));
                            }
                        };
                        if let Some(ctx) = this.context.as_ref() {
                            ctx.record_with(
                                *this.admit_event,
                                &[("waited", FieldValue::Duration(waiting.since.elapsed()))],
                            );
                        }
                        waiting.permit = Some(permit);
                    }
                    // The permit is held while the inner service gets ready: the
                    // request is admitted, and only the service below can make it
                    // wait now. On an error the permit drops with the state.
                    if let Err(error) = ready!(waiting.service.poll_ready(cx)) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(error.into()));
                    }
                    let (Some(request), Some(permit)) =
                        (waiting.request.take(), waiting.permit.take())
                    else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(Box::new(LimitError::Closed)));
                    };
                    let future = waiting.service.call(request);
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
                    let response = result.map_err(Into::into)?;
                    let guard = match (*this.release_at, permit) {
                        (ReleaseAt::BodyEnd, Some(permit)) => Some(Pass { _permit: permit }),
                        _ => None,
                    };
                    return Poll::Ready(Ok(response.map(|body| GuardedBody::new(body, guard))));
                }
                StateProj::Refused { error } => {
                    let error = error.take().unwrap_or(LimitError::Closed);
                    this.state.set(State::Done);
                    return Poll::Ready(Err(Box::new(error)));
                }
                StateProj::Done => return Poll::Ready(Err(Box::new(LimitError::Closed))),
            }
        }
    }
}
