//! Bounded object and byte pools: reset before reuse, caps enforced under contention.
//!
//! - [`ObjectPool<T>`] keeps at most `capacity` idle objects, hands them out behind
//!   guards that return them on drop, and runs a reset step before any reuse.
//! - [`BytePool`] keeps byte buffers in size classes (256 B to 64 KiB, then powers
//!   of two), with a bound per class and on the pool's total idle bytes. A rented
//!   [`PooledBuf`] starts with a readable length of 0, so no renter can read an
//!   earlier tenant's bytes; [`ClearPolicy`] adds zeroing for secrets.
//!
//! Both pools are `Send + Sync`, cheap to clone (clones share the idle items) and
//! never grow past their bounds: an item that does not fit on return is dropped and
//! counted.
//!
//! # Examples
//!
//! ```
//! use turbo_pool::{BytePool, ClearPolicy, ObjectPool, Reset};
//!
//! // Objects: a reusable scratch vector.
//! struct Scratch(Vec<u64>);
//! impl Reset for Scratch {
//!     fn reset(&mut self) {
//!         self.0.clear();
//!     }
//! }
//! let objects = ObjectPool::new(16, || Scratch(Vec::with_capacity(64)));
//! objects.get().0.push(1);
//! assert!(objects.get().0.is_empty());
//!
//! // Bytes: a buffer that is zeroed when it comes back, for secrets.
//! let bytes = BytePool::builder()
//!     .clear_policy(ClearPolicy::OnReturn)
//!     .build()?;
//! let mut buf = bytes.rent(64 * 1024)?;
//! buf.extend_from_slice(b"secret");
//! drop(buf);
//! let again = bytes.rent(64 * 1024)?;
//! assert!(again.is_empty(), "a renter never sees an earlier tenant's bytes");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod buffer;
mod byte_pool;
mod error;
mod object_pool;
mod search;
mod sync;
// The one exception to `unsafe_code = "deny"`: the per-slot try-lock of both pools
// hands out `&mut T` from an `UnsafeCell` under a one-flag lock (see the module docs
// for why `std::sync::Mutex` costs twice as much there). It is model-checked by loom,
// and public so that other crates need no lock of their own.
#[allow(unsafe_code)]
mod try_lock;

pub use buffer::PooledBuf;
pub use byte_pool::{
    BytePool, BytePoolBuilder, BytePoolStats, ClassStats, ClearPolicy, MAX_IDLE_PER_CLASS_LIMIT,
    STANDARD_CLASSES,
};
pub use error::{BytePoolBuildError, RentError};
pub use object_pool::{ObjectPool, OwnedPooled, PoolStats, Pooled, Reset};
pub use try_lock::{TryLock, TryLockGuard};
