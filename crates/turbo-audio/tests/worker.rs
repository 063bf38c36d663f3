//! Bounded worker decodes: the inline fallback gives the same bits and the same
//! errors, the bound holds, busy callers fail typed, and cancellation reaches a
//! running job.

mod common;

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use turbo_audio::decode::{DecodeError, DecodeOptions};
use turbo_audio::policy::Route;
use turbo_audio::worker::{DecodeWorkers, WhenBusy, WorkerError};

fn bits(samples: &[f32]) -> Vec<u32> {
    samples.iter().map(|sample| sample.to_bits()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_and_worker_decodes_are_bit_identical_for_every_fixture() {
    let workers = DecodeWorkers::new(2);
    let inline = DecodeWorkers::inline(2);
    for fixture in &common::FIXTURES {
        let bytes = common::bytes(fixture.file);
        let (on_worker, ran) = workers
            .decode(
                Cursor::new(bytes.clone()),
                DecodeOptions::new(),
                WhenBusy::Wait,
            )
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", fixture.file));
        assert_eq!(ran, Route::Worker);
        let (in_line, ran) = inline
            .decode(Cursor::new(bytes), DecodeOptions::new(), WhenBusy::Wait)
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", fixture.file));
        assert_eq!(ran, Route::Inline);
        assert_eq!(on_worker.frames(), in_line.frames(), "{}", fixture.file);
        assert_eq!(
            bits(on_worker.samples()),
            bits(in_line.samples()),
            "{}",
            fixture.file
        );
    }
    assert_eq!(inline.metrics().inline_runs, 5);
    assert_eq!(workers.metrics().inline_runs, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_paths_report_the_same_typed_errors() {
    let flac = common::bytes("tone.flac");
    let cases: Vec<(&str, Vec<u8>, DecodeOptions)> = vec![
        ("empty", Vec::new(), DecodeOptions::new()),
        (
            "opus",
            common::bytes("unsupported-opus.ogg"),
            DecodeOptions::new(),
        ),
        (
            "truncated header",
            flac[..30].to_vec(),
            DecodeOptions::new(),
        ),
        (
            "over the cap",
            flac,
            DecodeOptions::new().max_decoded_samples(100),
        ),
    ];
    for (name, bytes, options) in cases {
        let on_worker = DecodeWorkers::new(1)
            .decode(Cursor::new(bytes.clone()), options.clone(), WhenBusy::Wait)
            .await;
        let in_line = DecodeWorkers::inline(1)
            .decode(Cursor::new(bytes), options, WhenBusy::Wait)
            .await;
        let (Err(WorkerError::Decode(a)), Err(WorkerError::Decode(b))) = (on_worker, in_line)
        else {
            panic!("{name}: both paths must fail with a decode error");
        };
        assert_eq!(a.kind(), b.kind(), "{name}");
        assert_eq!(a.to_string(), b.to_string(), "{name}");
    }
}

#[test]
fn outside_a_runtime_the_decode_falls_back_to_inline() {
    let workers = DecodeWorkers::new(2);
    let future = workers.decode(
        Cursor::new(common::bytes("tone.mp3")),
        DecodeOptions::new(),
        WhenBusy::Wait,
    );
    let mut future = std::pin::pin!(future);
    // No runtime: the slot is free and the decode runs inside the first poll.
    let mut context = Context::from_waker(Waker::noop());
    let Poll::Ready(result) = future.as_mut().poll(&mut context) else {
        panic!("an inline decode with a free slot completes in one poll");
    };
    let (clip, ran) = result.unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(ran, Route::Inline);
    assert_eq!(clip.frames(), 22_050);
    assert_eq!(workers.metrics().inline_runs, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_max_concurrent_jobs_run_at_once() {
    let workers = DecodeWorkers::new(2);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (workers, running, most) = (workers.clone(), running.clone(), most.clone());
        tasks.push(tokio::spawn(async move {
            workers
                .run(WhenBusy::Wait, move |_| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(15));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, DecodeError>(())
                })
                .await
        }));
    }
    for task in tasks {
        let outcome = task.await.unwrap_or_else(|error| panic!("{error}"));
        assert!(outcome.is_ok());
    }
    assert_eq!(most.load(Ordering::SeqCst), 2);
    let metrics = workers.metrics();
    assert_eq!(
        (metrics.active, metrics.queued, metrics.completed),
        (0, 0, 12)
    );
}

/// Starts a job that holds its slot until `release` is set.
fn hold_slot(
    workers: &DecodeWorkers,
    release: &Arc<AtomicBool>,
    started: &Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Result<((), Route), WorkerError>> {
    let (workers, release, started) = (workers.clone(), release.clone(), started.clone());
    tokio::spawn(async move {
        workers
            .run(WhenBusy::Wait, move |_| {
                started.store(true, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(())
            })
            .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_caller_that_will_not_wait_gets_a_typed_error_and_a_waiter_can_leave() {
    let workers = DecodeWorkers::new(1);
    let (release, started) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let holder = hold_slot(&workers, &release, &started);
    common::wait_for("the holder to start", || started.load(Ordering::SeqCst)).await;

    let refused = workers
        .decode(
            Cursor::new(common::bytes("tone.wav")),
            DecodeOptions::new(),
            WhenBusy::Fail,
        )
        .await;
    assert!(
        matches!(refused, Err(WorkerError::Busy { max_concurrent: 1 })),
        "{refused:?}"
    );
    assert_eq!(workers.metrics().busy_rejections, 1);

    // A waiter queues, then gives up: the queue depth goes back to zero.
    let waiter = {
        let workers = workers.clone();
        tokio::spawn(async move {
            workers
                .decode(
                    Cursor::new(common::bytes("tone.wav")),
                    DecodeOptions::new(),
                    WhenBusy::Wait,
                )
                .await
        })
    };
    common::wait_for("the waiter to queue", || workers.metrics().queued == 1).await;
    waiter.abort();
    common::wait_for("the waiter to leave", || workers.metrics().queued == 0).await;

    release.store(true, Ordering::SeqCst);
    let held = holder.await.unwrap_or_else(|error| panic!("{error}"));
    assert!(held.is_ok());
    assert_eq!(workers.metrics().active, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_running_job_cancels_it_and_frees_its_slot() {
    let workers = DecodeWorkers::new(1);
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let job = {
        let (workers, saw_cancel, started) = (workers.clone(), saw_cancel.clone(), started.clone());
        tokio::spawn(async move {
            workers
                .run(WhenBusy::Wait, move |cancel| {
                    started.store(true, Ordering::SeqCst);
                    while !cancel.is_cancelled() {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    saw_cancel.store(true, Ordering::SeqCst);
                    Err::<(), _>(DecodeError::Cancelled)
                })
                .await
        })
    };
    common::wait_for("the job to start", || started.load(Ordering::SeqCst)).await;
    job.abort();
    common::wait_for("the job to see the cancel", || {
        saw_cancel.load(Ordering::SeqCst)
    })
    .await;
    common::wait_for("the slot to be free", || workers.metrics().active == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_panic_is_the_same_typed_error_on_both_paths() {
    for workers in [DecodeWorkers::new(1), DecodeWorkers::inline(1)] {
        let outcome = workers
            .run(WhenBusy::Wait, |_| -> Result<(), DecodeError> {
                panic!("a bug in a job")
            })
            .await;
        assert!(
            matches!(outcome, Err(WorkerError::Lost { .. })),
            "{outcome:?}"
        );
        assert_eq!(workers.metrics().active, 0);
    }
}
