//! Tenant isolation: a renter never reads an earlier tenant's bytes, under every
//! clear policy; zeroing policies also scrub what a memory dump would see.

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]
// Reading a returned buffer's spare capacity is the only way to observe what a
// memory dump would see; the test reads only bytes an earlier tenant wrote.
#![allow(unsafe_code)]

use turbo_pool::{BytePool, ClearPolicy};

const SECRET: u8 = 0xA5;
const WRITTEN: usize = 1000;

/// The first `WRITTEN` bytes of `buf`'s allocation, past its length.
fn leftover(buf: turbo_pool::PooledBuf) -> Vec<u8> {
    let mut bytes = buf.into_vec();
    assert!(bytes.capacity() >= WRITTEN);
    let spare = bytes.spare_capacity_mut();
    // SAFETY: a previous tenant of this same allocation initialised these bytes
    // (the test asserts the allocation was reused); `clear` only moved the length.
    spare[..WRITTEN]
        .iter()
        .map(|byte| unsafe { byte.assume_init() })
        .collect()
}

/// The second tenant of a buffer: rented owned, so it outlives the pool value
/// (borrowed and owned rents share the same slots).
fn second_tenant(policy: ClearPolicy) -> turbo_pool::PooledBuf<'static> {
    let pool = BytePool::builder().clear_policy(policy).build().unwrap();
    let mut first = pool.rent(64 * 1024).unwrap();
    first.resize(WRITTEN, SECRET);
    drop(first);
    let second = pool.rent_owned(64 * 1024).unwrap();
    assert_eq!(pool.stats().hits, 1, "the same allocation must be reused");
    assert_eq!(
        second.len(),
        0,
        "{policy:?}: renter starts with nothing readable"
    );
    assert!(second.iter().all(|&b| b != SECRET));
    second
}

#[test]
fn renter_cannot_read_old_bytes_under_any_policy() {
    for policy in [
        ClearPolicy::OnRent,
        ClearPolicy::OnReturn,
        ClearPolicy::ZeroOnRent,
        ClearPolicy::Both,
    ] {
        let mut buf = second_tenant(policy);
        buf.resize(WRITTEN, 0);
        assert!(
            buf.iter().all(|&b| b == 0),
            "{policy:?}: grown bytes are the fill value"
        );
    }
}

#[test]
fn zeroing_policies_scrub_memory_and_on_rent_does_not() {
    let left = leftover(second_tenant(ClearPolicy::OnRent));
    assert!(
        left.iter().all(|&b| b == SECRET),
        "OnRent zeroes nothing: the old bytes stay in memory (documented)"
    );
    for policy in [
        ClearPolicy::OnReturn,
        ClearPolicy::ZeroOnRent,
        ClearPolicy::Both,
    ] {
        let left = leftover(second_tenant(policy));
        assert!(
            left.iter().all(|&b| b == 0),
            "{policy:?} must scrub written bytes"
        );
    }
}

#[test]
fn on_return_scrubs_idle_buffers() {
    let pool = BytePool::builder()
        .clear_policy(ClearPolicy::OnReturn)
        .build()
        .unwrap();
    let mut buf = pool.rent(4096).unwrap();
    buf.resize(WRITTEN, SECRET);
    // Truncating does not hide bytes from the scrub: it covers the high-water mark.
    buf.truncate(10);
    drop(buf);
    let left = leftover(pool.rent(4096).unwrap());
    assert!(left.iter().all(|&b| b == 0));
}

#[test]
fn frozen_bytes_return_when_the_last_clone_drops() {
    let pool = BytePool::new();
    let mut buf = pool.rent(300).unwrap();
    buf.extend_from_slice(b"payload");
    let frozen = buf.freeze();
    let clone = frozen.clone();
    drop(frozen);
    assert_eq!(pool.stats().idle_buffers, 0, "a clone is still alive");
    assert_eq!(&clone[..], b"payload");
    drop(clone);
    assert_eq!(pool.stats().idle_buffers, 1);
}
