//! The priority request queue: [`PriorityQueueLayer`].

mod layer;
mod service;

pub use layer::{PriorityQueueLayer, PriorityQueueLayerBuilder, QueueHandle, QueueStats};
pub use service::PriorityQueue;
