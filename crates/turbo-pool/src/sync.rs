//! Synchronization primitives, swapped for loom's models under `--cfg turbo_loom`.
//!
//! Every lock and atomic of the pools comes from here, so the loom
//! models in `tests/loom.rs` exercise exactly the code that ships.

#[cfg(not(turbo_loom))]
pub(crate) use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

#[cfg(turbo_loom)]
pub(crate) use loom::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
