//! Pools raced against their peers in the same run (see docs/benchmarks.md).
//!
//! Each criterion group is one case; its functions are `ours` and the peer.

// criterion's macros generate undocumented public items in this bench binary.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use lockfree_object_pool::LinearObjectPool;
use turbo_pool::{BytePool, ClearPolicy, ObjectPool, Reset};

fn byte_rent_return(c: &mut Criterion) {
    let pool = BytePool::new();
    for (case, len) in [
        ("bytepool_4k", 4 * 1024),
        ("bytepool_64k", 64 * 1024),
        ("bytepool_1m", 1024 * 1024),
    ] {
        let mut group = c.benchmark_group(case);
        group.bench_function("ours", |b| {
            b.iter(|| drop(black_box(pool.rent(black_box(len)))))
        });
        group.bench_function("vec_zeroed", |b| {
            b.iter(|| drop(black_box(vec![0u8; black_box(len)])))
        });
        group.finish();
    }

    // A buffer with its own pool handle, as a spawned task needs: what the
    // reference count adds to `bytepool_64k`.
    let mut group = c.benchmark_group("bytepool_64k_owned");
    group.bench_function("ours", |b| {
        b.iter(|| drop(black_box(pool.rent_owned(black_box(64 * 1024)))))
    });
    group.bench_function("vec_zeroed", |b| {
        b.iter(|| drop(black_box(vec![0u8; black_box(64 * 1024)])))
    });
    group.finish();

    // A tenant that fills a 64 KiB buffer with data that must not linger: the
    // pool scrubs it on return; the peer gets zeroed memory and frees it.
    let zeroing = BytePool::builder()
        .clear_policy(ClearPolicy::OnReturn)
        .build()
        .expect("valid pool");
    let len = 64 * 1024;
    let mut group = c.benchmark_group("bytepool_64k_zeroing");
    group.bench_function("ours", |b| {
        b.iter(|| {
            let mut buf = zeroing.rent(black_box(len)).expect("non-zero");
            buf.resize(len, 0x5A);
            drop(black_box(buf));
        })
    });
    group.bench_function("vec_zeroed", |b| {
        b.iter(|| {
            let mut buf = vec![0u8; black_box(len)];
            buf.fill(0x5A);
            drop(black_box(buf));
        })
    });
    group.finish();
}

/// Rent on this thread, free on another: what happens when tokio moves a buffer
/// between workers. Both sides pay the same channel hand-off.
fn byte_cross_thread(c: &mut Criterion) {
    let len = 64 * 1024;
    let pool = BytePool::new();
    let mut group = c.benchmark_group("bytepool_64k_cross_thread");
    group.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            let pool = pool.clone();
            // Moving to another thread needs a `'static` buffer.
            cross_thread(iters, move || pool.rent_owned(len).expect("non-zero"))
        })
    });
    group.bench_function("vec_zeroed", |b| {
        b.iter_custom(|iters| cross_thread(iters, move || vec![0u8; len]))
    });
    group.finish();
}

fn cross_thread<T: Send + 'static>(iters: u64, make: impl Fn() -> T) -> Duration {
    let (tx, rx) = mpsc::sync_channel::<T>(64);
    let dropper = thread::spawn(move || {
        for item in rx.iter() {
            drop(item)
        }
    });
    let start = Instant::now();
    for _ in 0..iters {
        tx.send(black_box(make())).expect("dropper alive");
    }
    drop(tx);
    dropper.join().expect("dropper thread");
    start.elapsed()
}

#[derive(Default)]
struct Record {
    fields: Vec<u64>,
}

impl Reset for Record {
    fn reset(&mut self) {
        self.fields.clear();
    }
}

fn new_record() -> Record {
    Record {
        fields: Vec::with_capacity(16),
    }
}

fn object_get_put(c: &mut Criterion) {
    let ours = ObjectPool::new(64, new_record);
    let peer = LinearObjectPool::new(new_record, |r: &mut Record| r.fields.clear());

    let mut group = c.benchmark_group("objectpool_1t");
    group.bench_function("ours", |b| b.iter(|| black_box(ours.get()).fields.push(1)));
    group.bench_function("lockfree_object_pool", |b| {
        b.iter(|| black_box(peer.pull()).fields.push(1))
    });
    group.finish();

    let mut group = c.benchmark_group("objectpool_1t_box");
    group.bench_function("ours", |b| b.iter(|| black_box(ours.get()).fields.push(1)));
    group.bench_function("box_new", |b| {
        b.iter(|| black_box(Box::new(new_record())).fields.push(1))
    });
    group.finish();

    let ours = Arc::new(ours);
    let peer = Arc::new(peer);
    let mut group = c.benchmark_group("objectpool_2t");
    group.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            let pool = Arc::clone(&ours);
            contended(iters, move || black_box(pool.get()).fields.push(1))
        })
    });
    group.bench_function("lockfree_object_pool", |b| {
        b.iter_custom(|iters| {
            let pool = Arc::clone(&peer);
            contended(iters, move || black_box(pool.pull()).fields.push(1))
        })
    });
    group.finish();
}

/// Two threads each run `iters` operations at once; the result is wall time per
/// `iters`, so it reads as time per operation pair under contention.
fn contended(iters: u64, op: impl Fn() + Send + Sync + 'static) -> Duration {
    let op = Arc::new(op);
    let barrier = Arc::new(Barrier::new(3));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let op = Arc::clone(&op);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    op();
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for worker in workers {
        worker.join().expect("worker thread");
    }
    start.elapsed()
}

criterion_group!(benches, byte_rent_return, byte_cross_thread, object_get_put);
criterion_main!(benches);
