//! How long `Player::play` takes to return for a 2-second sound with 16 callers
//! at once, against the ADR's hook budget of 100 ms: p50 and p99 of single
//! calls (a custom bench; criterion reports means of batches).
//!
//! The "sound" is `sh -c 'exec sleep 2'` standing in for a player, so the figure is the
//! library's own cost (config snapshot, checks, spawn, reaper hand-off) and the
//! process start, without an audio device. Each round starts 16 threads behind
//! a barrier; every playback is cancelled after the round, so a round does not
//! wait out the 2 seconds. No throttle (window 0), `max_concurrent` 16.
//!
//! Arguments are ignored: `cargo bench` passes criterion's flags to every bench.

use std::error::Error;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use turbo_playback::{Player, SoundConfig, Status, Throttle};
use turbo_testkit::report::{quick, write_case};

const CALLERS: usize = 16;
const PEER: &str = "adr_budget_100ms";
const PEER_NS: f64 = 100_000_000.0;

fn main() -> Result<(), Box<dyn Error>> {
    let rounds = if quick() { 5 } else { 25 };
    let dir = tempfile::tempdir()?;
    let sound = dir.path().join("two-seconds.wav");
    std::fs::write(&sound, b"")?;
    let config = SoundConfig::parse(&format!(
        "player = [\"sh\", \"-c\", \"exec sleep 2\", \"{{file}}\"]\nthrottle_ms = 0\nmax_concurrent = {CALLERS}\n\
         timeout_ms = 5000\n[sounds]\na = '{}'\n",
        sound.display()
    ))?;
    let player = Player::new(config, Throttle::new(dir.path().join("state")));
    let mut samples: Vec<Duration> = Vec::with_capacity(rounds * CALLERS);
    for _ in 0..rounds {
        let barrier = Arc::new(Barrier::new(CALLERS));
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let player = player.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    let started = Instant::now();
                    let playback = player.play("a");
                    (started.elapsed(), playback)
                })
            })
            .collect();
        for caller in callers {
            let (took, playback) = caller.join().map_err(|_| "a caller panicked")?;
            let playback = playback?;
            if playback.outcome().status != Status::Started {
                return Err(format!("expected started, got {:?}", playback.outcome()).into());
            }
            samples.push(took);
            playback.cancel()?;
        }
    }
    samples.sort_unstable();
    let at = |fraction: f64| {
        let index = ((samples.len() as f64 * fraction).ceil() as usize).saturating_sub(1);
        samples[index.min(samples.len() - 1)]
    };
    let note = format!(
        "n={} calls, {CALLERS} callers at once, `exec sleep 2` as the player",
        samples.len()
    );
    for (suffix, value) in [("p50", at(0.50)), ("p99", at(0.99))] {
        write_case(
            &format!("play_16_callers_{suffix}"),
            value.as_nanos() as f64,
            PEER,
            PEER_NS,
            &note,
        )?;
    }
    Ok(())
}
