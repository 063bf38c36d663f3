//! Peak memory of streaming a 10-minute stereo clip against decoding it on load,
//! measured with a counting allocator. One test in this binary, so no other test
//! thread allocates while it measures.

use std::fs::File;

use turbo_audio::decode::{DecodeOptions, decode};
use turbo_audio::streaming::StreamingClip;
use turbo_testkit::CountingAllocator;
use turbo_testkit::wav::{tone, write_wav};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

const RATE: u32 = 44_100;
const MINUTES: u64 = 10;

#[test]
fn streaming_a_ten_minute_clip_peaks_at_under_a_twentieth_of_decoding_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let path = dir.path().join("ten-minutes.wav");
    let frames = MINUTES * 60 * u64::from(RATE);
    write_wav(&path, RATE, 2, frames, tone(RATE)).unwrap_or_else(|error| panic!("{error}"));
    let open = || File::open(&path).unwrap_or_else(|error| panic!("{error}"));

    let base = ALLOC.snapshot().live_bytes;
    ALLOC.reset_peak();
    let mut clip = StreamingClip::open(open(), &DecodeOptions::new(), None)
        .unwrap_or_else(|error| panic!("{error}"));
    let mut buffer = vec![0.0f32; 4_096];
    let mut streamed = 0u64;
    let mut checksum = 0.0f64;
    loop {
        let read = clip
            .read(&mut buffer)
            .unwrap_or_else(|error| panic!("{error}"));
        if read == 0 {
            break;
        }
        streamed += read as u64;
        checksum += f64::from(buffer[read / 2]);
    }
    drop(clip);
    let streaming_peak = ALLOC.snapshot().peak_live_bytes - base;

    let base = ALLOC.snapshot().live_bytes;
    ALLOC.reset_peak();
    let whole = decode(open(), &DecodeOptions::new()).unwrap_or_else(|error| panic!("{error}"));
    let decoding_peak = ALLOC.snapshot().peak_live_bytes - base;

    assert_eq!(streamed, 2 * frames);
    assert_eq!(whole.frames(), frames);
    assert!(checksum.is_finite());
    println!(
        "10-minute stereo clip: streaming peak {streaming_peak} bytes, decode-on-load peak \
         {decoding_peak} bytes (ratio {:.4})",
        streaming_peak as f64 / decoding_peak as f64
    );
    assert!(
        streaming_peak * 20 <= decoding_peak,
        "streaming peaked at {streaming_peak} bytes, decode-on-load at {decoding_peak}"
    );
    // Decode-on-load holds every sample; streaming holds a constant.
    assert!(decoding_peak >= whole.memory_bytes());
}
