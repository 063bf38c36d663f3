//! A pipeline built in a Tokio runtime and driven by another executor (a game
//! thread's own `block_on`): loads work, and nothing needs a Tokio context on the
//! polling thread.

#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake};
use std::thread::Thread;

use bytes::Bytes;
use http_body_util::Full;
use turbo_audio::pipeline::{AudioPipeline, AudioRequest, FinalizeOn};
use turbo_audio::policy::{DecodePolicy, Route};

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// The smallest executor there is: poll, park until woken, repeat.
fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

#[test]
fn loads_polled_outside_the_runtime_store_decode_and_clean_up() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for route in [Route::Inline, Route::Stream] {
        let pipeline = runtime
            .block_on(async {
                AudioPipeline::builder()
                    .temp_root(dir.path())
                    .policy(DecodePolicy::always(route))
                    .finalize_on(FinalizeOn::Caller)
                    .build()
            })
            .unwrap();
        // This thread has no Tokio context: the store's blocking calls must go to
        // the pipeline's runtime, not to `tokio::task::spawn_blocking` here.
        assert!(tokio::runtime::Handle::try_current().is_err());
        let loaded = block_on(pipeline.load_body(
            Full::new(Bytes::from(common::bytes("tone.wav"))),
            AudioRequest::url("https://example.invalid/tone.wav"),
        ))
        .unwrap();
        assert_eq!(loaded.report.route, route);
        assert!(loaded.audio.sample_rate() > 0);
        drop(loaded);
        runtime.block_on(pipeline.drain());
        assert_eq!(pipeline.metrics().temp.active_files, 0);
    }
}
