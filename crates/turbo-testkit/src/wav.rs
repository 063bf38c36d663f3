//! A minimal 16-bit PCM WAV writer, for long clips generated at test and bench
//! time (never committed).

use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Writes a 16-bit PCM WAV file of `frames` frames; `sample(frame, channel)`
/// gives each sample in `[-1, 1]` (clamped).
///
/// # Errors
///
/// Any I/O error, or `InvalidInput` if the data would not fit a RIFF file
/// (4 GiB) or `channels` is 0.
pub fn write_wav(
    path: &Path,
    sample_rate: u32,
    channels: u16,
    frames: u64,
    mut sample: impl FnMut(u64, u16) -> f32,
) -> io::Result<()> {
    write_dyn(path, sample_rate, channels, frames, &mut sample)
}

/// The body of [`write_wav`], not generic so it is compiled (and optimized) in
/// this crate rather than in each caller's.
fn write_dyn(
    path: &Path,
    sample_rate: u32,
    channels: u16,
    frames: u64,
    sample: &mut dyn FnMut(u64, u16) -> f32,
) -> io::Result<()> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    if channels == 0 {
        return Err(invalid("a WAV file needs at least one channel"));
    }
    let block_align = u32::from(channels) * 2;
    let data_len = frames
        .checked_mul(u64::from(block_align))
        .and_then(|len| u32::try_from(len).ok())
        .filter(|len| *len <= u32::MAX - 36)
        .ok_or_else(|| invalid("the clip does not fit a RIFF file"))?;
    let mut out = BufWriter::with_capacity(1 << 16, std::fs::File::create(path)?);
    out.write_all(b"RIFF")?;
    out.write_all(&(36 + data_len).to_le_bytes())?;
    out.write_all(b"WAVEfmt ")?;
    out.write_all(&16u32.to_le_bytes())?;
    out.write_all(&1u16.to_le_bytes())?; // PCM
    out.write_all(&channels.to_le_bytes())?;
    out.write_all(&sample_rate.to_le_bytes())?;
    out.write_all(&(sample_rate * block_align).to_le_bytes())?;
    out.write_all(&(block_align as u16).to_le_bytes())?;
    out.write_all(&16u16.to_le_bytes())?;
    out.write_all(b"data")?;
    out.write_all(&data_len.to_le_bytes())?;
    for frame in 0..frames {
        for channel in 0..channels {
            let value = (sample(frame, channel).clamp(-1.0, 1.0) * 32_767.0).round() as i16;
            out.write_all(&value.to_le_bytes())?;
        }
    }
    out.flush()
}

/// The test tone: 440 Hz on even channels, 660 Hz on odd ones, at half scale.
///
/// Both frequencies are whole hertz, so the signal repeats every second: one
/// second is computed up front and replayed (minutes of audio would otherwise
/// spend most of their time in `sin`).
pub fn tone(sample_rate: u32) -> impl FnMut(u64, u16) -> f32 + use<> {
    let second = |hz: f64| -> Vec<f32> {
        (0..sample_rate)
            .map(|frame| {
                let t = f64::from(frame) / f64::from(sample_rate);
                (0.5 * (std::f64::consts::TAU * hz * t).sin()) as f32
            })
            .collect()
    };
    let (even, odd) = (second(440.0), second(660.0));
    let period = u64::from(sample_rate.max(1));
    move |frame, channel| {
        let table = if channel % 2 == 0 { &even } else { &odd };
        table.get((frame % period) as usize).copied().unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{tone, write_wav};

    #[test]
    fn writes_a_canonical_header_and_the_samples() -> std::io::Result<()> {
        let dir = std::env::temp_dir().join(format!("turbo-testkit-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("t.wav");
        write_wav(&path, 8_000, 2, 3, |frame, channel| {
            if channel == 0 {
                frame as f32 / 2.0
            } else {
                -1.5
            }
        })?;
        let bytes = std::fs::read(&path)?;
        std::fs::remove_dir_all(&dir)?;
        assert_eq!(bytes.len(), 44 + 3 * 4);
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]),
            12
        );
        let samples: Vec<i16> = bytes[44..]
            .chunks_exact(2)
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        assert_eq!(samples, [0, -32_767, 16_384, -32_767, 32_767, -32_767]);
        let mut tone = tone(8_000);
        assert_eq!(tone(0, 0), 0.0);
        assert!(tone(5, 1) > 0.0);
        Ok(())
    }
}
