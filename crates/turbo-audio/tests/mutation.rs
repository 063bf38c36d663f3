//! Damaged fixtures through the whole pipeline: bit flips, truncation, inserted
//! bytes and swapped headers never panic, never leak a temp file, and always give
//! a clip or a typed decode error.

mod common;

use bytes::Bytes;
use http_body_util::Full;
use proptest::prelude::*;
use turbo_audio::pipeline::{Audio, AudioPipeline, AudioRequest, FinalizeOn, PipelineError};
use turbo_audio::policy::{DecodePolicy, Route};

#[derive(Debug, Clone)]
enum Damage {
    /// Flip these bits (positions taken modulo the length).
    Flips(Vec<(usize, u8)>),
    /// Keep only this fraction (in thousandths) of the bytes.
    Truncate(u16),
    /// Insert these bytes at this position (modulo the length).
    Insert(usize, Vec<u8>),
    /// Replace the first `n` bytes with another fixture's first `n`.
    SwapHeader(usize, usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        prop::collection::vec((any::<usize>(), 0u8..8), 1..16).prop_map(Damage::Flips),
        (0u16..1_000).prop_map(Damage::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Damage::Insert(at, bytes)),
        (0usize..5, 4usize..256).prop_map(|(other, n)| Damage::SwapHeader(other, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, damage: &Damage) -> Vec<u8> {
    let len = bytes.len().max(1);
    match damage {
        Damage::Flips(flips) => {
            for (at, bit) in flips {
                if let Some(byte) = bytes.get_mut(at % len) {
                    *byte ^= 1 << bit;
                }
            }
        }
        Damage::Truncate(thousandths) => {
            bytes.truncate(bytes.len() * usize::from(*thousandths) / 1_000);
        }
        Damage::Insert(at, inserted) => {
            let at = at % len;
            bytes.splice(at..at, inserted.iter().copied());
        }
        Damage::SwapHeader(other, n) => {
            let header = common::bytes(common::FIXTURES[*other].file);
            let n = (*n).min(header.len()).min(bytes.len());
            bytes[..n].copy_from_slice(&header[..n]);
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn damaged_audio_gives_a_clip_or_a_typed_error_and_leaves_no_file(
        fixture in 0usize..5,
        damage in damage(),
        route in prop_oneof![Just(Route::Inline), Just(Route::Worker), Just(Route::Stream)],
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let dir = tempfile::tempdir()?;
        let bytes = apply(common::bytes(common::FIXTURES[fixture].file), &damage);
        runtime.block_on(async {
            let pipeline = AudioPipeline::builder()
                .temp_root(dir.path())
                .policy(DecodePolicy::always(route))
                // A damaged header may claim hours of audio: keep the cap small.
                .max_decoded_samples(4_000_000)
                .finalize_on(FinalizeOn::Caller)
                .build()
                .map_err(|error| TestCaseError::fail(error.to_string()))?;
            let result = pipeline
                .load_body(
                    Full::new(Bytes::from(bytes)),
                    AudioRequest::url(common::FIXTURES[fixture].file),
                )
                .await;
            match result {
                Ok(mut loaded) => {
                    if let Audio::Streaming(clip) = &mut loaded.audio {
                        let mut buffer = [0.0f32; 4_096];
                        // A stream may fail part-way; the error must be typed.
                        while let Ok(read) = clip.read(&mut buffer) {
                            if read == 0 {
                                break;
                            }
                        }
                    }
                }
                Err(PipelineError::Decode(_)) => {}
                Err(other) => return Err(TestCaseError::fail(format!("untyped failure: {other}"))),
            }
            pipeline.drain().await;
            let manager = pipeline.temp_manager();
            prop_assert!(common::files_on_disk(manager.root()).is_empty());
            prop_assert!(manager.files().is_empty());
            Ok(())
        })?;
    }
}
