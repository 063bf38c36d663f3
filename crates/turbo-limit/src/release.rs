//! [`ReleaseAt`]: when a layer lets go of its permit or slot.

/// When a layer lets go of its permit or slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReleaseAt {
    /// When the response body ends (finished, failed or dropped): the default,
    /// because a download keeps the host (or the slot) busy until its last byte.
    #[default]
    BodyEnd,
    /// As soon as the response headers arrive.
    Headers,
}
