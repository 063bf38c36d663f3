//! A tour of turbo-pool: reuse, caps under contention, tenant isolation, and the
//! zero-copy hand-off to `bytes::Bytes`.
//!
//! Run with `cargo run --release -p turbo-pool --example pool_tour`.

use std::thread;
use std::time::Instant;

use turbo_pool::{BytePool, ClearPolicy, ObjectPool, Reset};

struct Record {
    fields: Vec<(String, u64)>,
}

impl Reset for Record {
    fn reset(&mut self) {
        self.fields.clear();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Objects: 4 threads share a pool of 8; idle objects never exceed the cap.
    let records = ObjectPool::new(8, || Record {
        fields: Vec::with_capacity(8),
    });
    let started = Instant::now();
    thread::scope(|s| {
        for t in 0..4u64 {
            let records = &records;
            s.spawn(move || {
                for i in 0..250_000u64 {
                    let mut record = records.get();
                    record.fields.push(("thread".to_owned(), t * i));
                }
            });
        }
    });
    let stats = records.stats();
    println!(
        "ObjectPool: 1,000,000 get+put on 4 threads in {:?}; created {}, reused {}, idle {} (cap {})",
        started.elapsed(),
        stats.created,
        stats.reused,
        stats.idle,
        stats.capacity
    );

    // Bytes: a renter never reads an earlier tenant's bytes.
    let bytes = BytePool::builder()
        .clear_policy(ClearPolicy::OnReturn)
        .build()?;
    let mut secret = bytes.rent(64 * 1024)?;
    secret.extend_from_slice(b"password=hunter2");
    drop(secret);
    let next = bytes.rent(64 * 1024)?;
    println!(
        "BytePool: next tenant sees {} readable bytes (policy {:?}, the old ones were zeroed on return)",
        next.len(),
        bytes.clear_policy()
    );
    drop(next);

    // Zero-copy freeze: the buffer returns when the last `Bytes` clone drops.
    let mut body = bytes.rent(1500)?;
    body.extend_from_slice(b"{\"ok\":true}");
    let frozen = body.freeze();
    let shared = frozen.clone();
    drop(frozen);
    println!(
        "frozen body {:?}, still shared",
        std::str::from_utf8(&shared)?
    );
    drop(shared);
    let stats = bytes.stats();
    println!(
        "BytePool: idle buffers {}, idle bytes {} of {}, rent(0) is {:?}",
        stats.idle_buffers,
        stats.idle_bytes,
        stats.max_idle_bytes,
        bytes.rent(0).err()
    );
    Ok(())
}
