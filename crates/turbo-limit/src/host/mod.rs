//! The per-host concurrency limit: [`HostConcurrencyLimitLayer`].

mod cache;
mod layer;
mod registry;
mod service;

pub use layer::{HostConcurrencyLimitLayer, HostConcurrencyLimitLayerBuilder};
pub use registry::{HostLimitStats, HostLimiter, HostStats, KeyFn};
pub use service::HostConcurrencyLimit;
