//! Streaming gives the samples a whole decode gives, and drops its guard (the
//! temp file's handle) when the clip is dropped or fails to open.

mod common;

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use turbo_audio::decode::{DecodeError, DecodeOptions, decode};
use turbo_audio::streaming::StreamingClip;

fn bits(samples: &[f32]) -> Vec<u32> {
    samples.iter().map(|sample| sample.to_bits()).collect()
}

#[test]
fn streamed_samples_equal_the_whole_decode_for_every_fixture() {
    for fixture in &common::FIXTURES {
        let bytes = common::bytes(fixture.file);
        let whole = decode(Cursor::new(bytes.clone()), &DecodeOptions::new())
            .unwrap_or_else(|error| panic!("{}: {error}", fixture.file));
        // An odd buffer size, so frames and packets straddle reads.
        let mut clip = StreamingClip::open(Cursor::new(bytes), &DecodeOptions::new(), None)
            .unwrap_or_else(|error| panic!("{}: {error}", fixture.file));
        assert_eq!(clip.format(), whole.format());
        let mut streamed = Vec::new();
        let mut buffer = [0.0f32; 333];
        loop {
            let read = clip
                .read(&mut buffer)
                .unwrap_or_else(|error| panic!("{}: {error}", fixture.file));
            if read == 0 {
                break;
            }
            streamed.extend_from_slice(&buffer[..read]);
        }
        assert_eq!(bits(&streamed), bits(whole.samples()), "{}", fixture.file);
        assert_eq!(clip.frames_read(), whole.frames(), "{}", fixture.file);
        assert_eq!(
            clip.read(&mut buffer).ok(),
            Some(0),
            "{}: stays ended",
            fixture.file
        );
    }
}

#[test]
fn chunks_and_reads_interleave_without_losing_samples() {
    let bytes = common::bytes("tone.ogg");
    let whole = decode(Cursor::new(bytes.clone()), &DecodeOptions::new())
        .unwrap_or_else(|error| panic!("{error}"));
    let mut clip = StreamingClip::open(Cursor::new(bytes), &DecodeOptions::new(), None)
        .unwrap_or_else(|error| panic!("{error}"));
    let mut streamed = Vec::new();
    let mut small = [0.0f32; 7];
    let mut turn = 0;
    loop {
        turn += 1;
        if turn % 2 == 0 {
            match clip.next_chunk() {
                Ok(Some(chunk)) => streamed.extend_from_slice(chunk),
                Ok(None) => break,
                Err(error) => panic!("{error}"),
            }
        } else {
            match clip.read(&mut small) {
                Ok(0) => break,
                Ok(read) => streamed.extend_from_slice(&small[..read]),
                Err(error) => panic!("{error}"),
            }
        }
    }
    assert_eq!(bits(&streamed), bits(whole.samples()));
}

/// Counts its drops: stands in for a temp file's handle.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn the_guard_drops_with_the_clip_and_when_opening_fails() {
    let drops = Arc::new(AtomicUsize::new(0));
    let clip = StreamingClip::open(
        Cursor::new(common::bytes("tone.flac")),
        &DecodeOptions::new(),
        Some(Box::new(DropCounter(drops.clone()))),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert!(clip.is_guarded());
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(clip);
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    let failed = StreamingClip::open(
        Cursor::new(b"definitely not audio".to_vec()),
        &DecodeOptions::new(),
        Some(Box::new(DropCounter(drops.clone()))),
    );
    assert!(matches!(failed, Err(DecodeError::Unsupported { .. })));
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn a_streaming_clip_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<StreamingClip>();
}

#[test]
fn a_stream_reports_skipped_packets_and_a_cut_like_a_whole_decode() {
    let drain = |clip: &mut StreamingClip| {
        let mut buffer = [0.0f32; 333];
        while clip
            .read(&mut buffer)
            .unwrap_or_else(|error| panic!("{error}"))
            > 0
        {}
    };
    let damaged = common::damaged_mp3();
    let whole = decode(Cursor::new(damaged.clone()), &DecodeOptions::new())
        .unwrap_or_else(|error| panic!("{error}"));
    let mut clip = StreamingClip::open(Cursor::new(damaged), &DecodeOptions::new(), None)
        .unwrap_or_else(|error| panic!("{error}"));
    drain(&mut clip);
    assert_eq!(clip.skipped_packets(), whole.skipped_packets());
    assert_eq!(clip.skipped_duration(), whole.skipped_duration());
    assert!(!clip.truncated());

    let bytes = common::bytes("tone.wav");
    let cut = bytes[..bytes.len() * 6 / 10].to_vec();
    let mut clip = StreamingClip::open(Cursor::new(cut), &DecodeOptions::new(), None)
        .unwrap_or_else(|error| panic!("{error}"));
    drain(&mut clip);
    assert!(clip.truncated());
}
