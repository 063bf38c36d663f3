//! Decoding every fixture format, and the typed errors for hostile input.

mod common;

use std::io::Cursor;
use std::time::Duration;

use turbo_audio::decode::{AudioFormat, DecodeError, DecodeOptions, decode, probe};

#[test]
fn every_fixture_decodes_to_its_stereo_tone() {
    for fixture in &common::FIXTURES {
        let clip = decode(
            Cursor::new(common::bytes(fixture.file)),
            &DecodeOptions::new(),
        )
        .unwrap_or_else(|error| panic!("{}: {error}", fixture.file));
        assert_eq!(clip.format(), fixture.format, "{}", fixture.file);
        assert_eq!(clip.sample_rate(), 22_050, "{}", fixture.file);
        assert_eq!(clip.channels(), 2, "{}", fixture.file);
        assert_eq!(clip.skipped_packets(), 0, "{}", fixture.file);
        match fixture.frames {
            Some(frames) => assert_eq!(clip.frames(), frames, "{}", fixture.file),
            // Not gapless: priming and padding frames stay in, so only a range.
            None => assert!(
                (22_050..=22_050 + 4_096).contains(&clip.frames()),
                "{}: {} frames",
                fixture.file,
                clip.frames()
            ),
        }
        // Left is 440 Hz, right 660 Hz at half scale: both channels carry the
        // tone (RMS near 0.5 / sqrt 2 = 0.354; lossy codecs wobble around it) and
        // are not copies of each other.
        let left: Vec<f32> = clip.samples().iter().step_by(2).copied().collect();
        let right: Vec<f32> = clip.samples().iter().skip(1).step_by(2).copied().collect();
        for (name, channel) in [("left", &left), ("right", &right)] {
            let rms = (channel.iter().map(|s| s * s).sum::<f32>() / channel.len() as f32).sqrt();
            assert!(
                (0.3..0.4).contains(&rms),
                "{} {name} rms {rms}",
                fixture.file
            );
        }
        assert!(
            zero_crossings(&right) > zero_crossings(&left),
            "{}: the 660 Hz channel must cross zero more often than the 440 Hz one",
            fixture.file
        );
    }
}

fn zero_crossings(channel: &[f32]) -> usize {
    channel
        .windows(2)
        .filter(|pair| (pair[0] < 0.0) != (pair[1] < 0.0))
        .count()
}

#[test]
fn probe_reports_format_layout_and_stated_duration() {
    let info = probe(
        Cursor::new(common::bytes("tone.flac")),
        &DecodeOptions::new(),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(info.format, AudioFormat::Flac);
    assert_eq!((info.sample_rate, info.channels), (22_050, 2));
    assert_eq!(info.duration.map(|d| d.as_millis()), Some(1_000));
}

fn error_for(bytes: Vec<u8>, options: &DecodeOptions) -> DecodeError {
    match decode(Cursor::new(bytes), options) {
        Ok(clip) => panic!("decoded {} frames from bad input", clip.frames()),
        Err(error) => error,
    }
}

#[test]
fn empty_input_is_corrupt() {
    let error = error_for(Vec::new(), &DecodeOptions::new());
    assert!(matches!(error, DecodeError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("empty"), "{error}");
}

#[test]
fn text_and_noise_are_unsupported() {
    let error = error_for(b"<html>not audio</html>".repeat(100), &DecodeOptions::new());
    assert!(matches!(error, DecodeError::Unsupported { .. }), "{error}");
}

#[test]
fn opus_is_unsupported_not_corrupt() {
    let error = error_for(common::bytes("unsupported-opus.ogg"), &DecodeOptions::new());
    assert!(matches!(error, DecodeError::Unsupported { .. }), "{error}");
    // Named as a user knows it, not by symphonia's codec number.
    let message = error.to_string();
    assert!(message.contains("Opus is not supported"), "{message}");
    assert!(!message.contains("0x1001"), "{message}");
}

#[test]
fn a_header_cut_short_is_a_typed_error() {
    for fixture in &common::FIXTURES {
        let bytes = common::bytes(fixture.file);
        for cut in [4, 16, 64] {
            let cut_bytes = bytes[..cut].to_vec();
            // 64 bytes of WAV hold its header and five frames: by default those
            // decode, flagged truncated; strict decoding refuses them.
            if let Ok(clip) = decode(Cursor::new(cut_bytes.clone()), &DecodeOptions::new()) {
                assert!(clip.truncated(), "{} cut at {cut}", fixture.file);
                assert_eq!((fixture.file, cut), ("tone.wav", 64));
            }
            let error = error_for(cut_bytes, &DecodeOptions::new().strict(true));
            assert!(
                matches!(
                    error,
                    DecodeError::Corrupt { .. } | DecodeError::Unsupported { .. }
                ),
                "{} cut at {cut}: {error}",
                fixture.file
            );
        }
    }
}

#[test]
fn a_wrong_extension_hint_does_not_change_the_result() {
    let honest = decode(
        Cursor::new(common::bytes("tone.mp3")),
        &DecodeOptions::new().extension("mp3"),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let lying = decode(
        Cursor::new(common::bytes("tone.mp3")),
        &DecodeOptions::new()
            .extension("wav")
            .content_type("audio/flac"),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(lying.format(), AudioFormat::Mp3);
    assert_eq!(honest, lying);
}

#[test]
fn the_sample_cap_refuses_a_clip_past_it_and_accepts_one_at_it() {
    let bytes = common::bytes("tone.flac");
    let exact = 2 * 22_050;
    let error = error_for(
        bytes.clone(),
        &DecodeOptions::new().max_decoded_samples(exact - 1),
    );
    assert!(
        matches!(error, DecodeError::TooLarge { max_samples } if max_samples == exact - 1),
        "{error}"
    );
    let clip = decode(
        Cursor::new(bytes),
        &DecodeOptions::new().max_decoded_samples(exact),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(clip.samples().len() as u64, exact);
}

#[test]
fn lossless_formats_agree_bit_for_bit_with_the_pcm() {
    // The WAV is the first half second of the same 16-bit signal the FLAC holds.
    let wav = decode(
        Cursor::new(common::bytes("tone.wav")),
        &DecodeOptions::new(),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let flac = decode(
        Cursor::new(common::bytes("tone.flac")),
        &DecodeOptions::new(),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let raw = common::bytes("tone.wav");
    // The canonical 44-byte header ffmpeg writes with -bitexact, then s16le data.
    let pcm: Vec<f32> = raw[44..]
        .chunks_exact(2)
        .map(|pair| f32::from(i16::from_le_bytes([pair[0], pair[1]])) / 32_768.0)
        .collect();
    assert_eq!(wav.samples().len(), pcm.len());
    let bits = |samples: &[f32]| samples.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(wav.samples()), bits(&pcm));
    assert_eq!(bits(&flac.samples()[..pcm.len()]), bits(&pcm));
}

#[test]
fn skipped_packets_are_counted_with_the_audio_they_held() {
    let clip = decode(Cursor::new(common::damaged_mp3()), &DecodeOptions::new()).unwrap();
    assert_eq!(clip.skipped_packets(), 2);
    // Two MP3 frames at 22.05 kHz: 1,152 frames each is 52 ms.
    let lost = clip.skipped_duration();
    assert!(
        lost > Duration::ZERO && lost < Duration::from_secs(1),
        "{lost:?}"
    );
    assert!(clip.frames() > 0);
    assert!(!clip.truncated());
    let clean = decode(
        Cursor::new(common::bytes("tone.mp3")),
        &DecodeOptions::new(),
    )
    .unwrap();
    assert_eq!(clean.skipped_duration(), Duration::ZERO);
}

#[test]
fn past_the_skip_bound_or_under_strict_the_decode_fails_typed() {
    for (options, skipped, max) in [
        (DecodeOptions::new().max_skipped_packets(1), 2, 1),
        (DecodeOptions::new().strict(true), 1, 0),
    ] {
        match decode(Cursor::new(common::damaged_mp3()), &options) {
            Err(DecodeError::TooDamaged {
                skipped_packets,
                max: found_max,
                ..
            }) => assert_eq!((skipped_packets, found_max), (skipped, max)),
            other => panic!("expected TooDamaged, got {other:?}"),
        }
    }
    // Strict decoding of a clean file is a clean decode.
    let strict = DecodeOptions::new().strict(true);
    for fixture in &common::FIXTURES {
        let clip = decode(Cursor::new(common::bytes(fixture.file)), &strict).unwrap();
        assert_eq!(clip.skipped_packets(), 0, "{}", fixture.file);
    }
}

#[test]
fn a_cut_file_gives_the_audio_before_the_cut_flagged_truncated() {
    for file in ["tone.wav", "tone.flac"] {
        let whole = decode(Cursor::new(common::bytes(file)), &DecodeOptions::new()).unwrap();
        assert!(!whole.truncated(), "{file}");
        let bytes = common::bytes(file);
        let cut = bytes[..bytes.len() * 6 / 10].to_vec();
        let clip = decode(Cursor::new(cut.clone()), &DecodeOptions::new()).unwrap();
        assert!(clip.truncated(), "{file}");
        assert!(
            clip.frames() > 0 && clip.frames() < whole.frames(),
            "{file}"
        );
        let strict = decode(Cursor::new(cut), &DecodeOptions::new().strict(true));
        match strict {
            Err(DecodeError::Corrupt { detail }) => {
                assert!(detail.contains("truncated"), "{detail}")
            }
            other => panic!("{file}: expected Corrupt under strict, got {other:?}"),
        }
    }
}
