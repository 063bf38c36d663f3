//! Test and bench support shared by the turbo crates (a dev-dependency only).
//!
//! - [`CountingAllocator`]: a global allocator that counts allocations, bytes, live
//!   bytes and the peak of live bytes, for allocation gates and memory comparisons.
//! - [`report`]: writes a bench case that criterion cannot measure (percentiles,
//!   throughput, allocation counts) in the format `cargo xtask bench` collects.
//! - [`wav`]: a 16-bit PCM WAV writer for long audio clips generated at test and
//!   bench time.
//!
//! # Examples
//!
//! ```
//! use turbo_testkit::CountingAllocator;
//!
//! // In a test or bench binary: `#[global_allocator]` makes it count everything.
//! static ALLOC: CountingAllocator = CountingAllocator::new();
//!
//! let before = ALLOC.snapshot();
//! let after = ALLOC.snapshot();
//! assert_eq!(after.since(&before).allocations, 0);
//! ```

// The one exception to `unsafe_code = "deny"`: implementing `GlobalAlloc` is an
// unsafe trait; the implementation only forwards to `System` and counts.
#[allow(unsafe_code)]
mod alloc;
pub mod report;
pub mod wav;

pub use alloc::{AllocSnapshot, CountingAllocator};
