//! [`Timeline`]: what happened to a request, and when.

use std::fmt;
use std::time::Duration;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// The request joined a queue.
    Queued,
    /// A queue admitted the request.
    Admitted,
    /// The request started waiting for a per-host permit.
    PermitWaitStarted,
    /// The request got its per-host permit.
    PermitAcquired,
    /// The transport sent the request.
    TransportSent,
    /// Response headers arrived.
    HeadersReceived,
    /// The response body ended.
    BodyFinished,
    /// The request or its body failed.
    Failed,
    /// The request was dropped before it finished.
    Cancelled,
    /// A name the application chose.
    Custom(&'static str),
}

impl EventKind {
    /// A short lowercase name (`permit_acquired`, or the custom name).
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Admitted => "admitted",
            EventKind::PermitWaitStarted => "permit_wait_started",
            EventKind::PermitAcquired => "permit_acquired",
            EventKind::TransportSent => "transport_sent",
            EventKind::HeadersReceived => "headers_received",
            EventKind::BodyFinished => "body_finished",
            EventKind::Failed => "failed",
            EventKind::Cancelled => "cancelled",
            EventKind::Custom(name) => name,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A small value attached to an event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue {
    /// An unsigned number (counts, bytes, ids).
    U64(u64),
    /// A signed number.
    I64(i64),
    /// A floating-point number.
    F64(f64),
    /// A flag.
    Bool(bool),
    /// A duration (for example how long a wait took).
    Duration(Duration),
    /// A fixed label.
    Str(&'static str),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::U64(v) => write!(f, "{v}"),
            FieldValue::I64(v) => write!(f, "{v}"),
            FieldValue::F64(v) => write!(f, "{v}"),
            FieldValue::Bool(v) => write!(f, "{v}"),
            FieldValue::Duration(v) => write!(f, "{v:?}"),
            FieldValue::Str(v) => f.write_str(v),
        }
    }
}

/// A named value attached to an event.
pub type Field = (&'static str, FieldValue);

/// One event as stored: its fields live in the timeline's shared field list so that
/// an event costs no allocation of its own.
#[derive(Debug, Clone, Copy, PartialEq)]
struct StoredEvent {
    kind: EventKind,
    at: Duration,
    first_field: u32,
    field_count: u32,
}

/// An ordered record of events, each with its offset from the request's start and a
/// few key/value fields.
///
/// A timeline reuses its storage: [`clear`](Self::clear) keeps the capacity, which is
/// how pooled contexts avoid allocating per request.
#[derive(Clone, Default, PartialEq)]
pub struct Timeline {
    events: Vec<StoredEvent>,
    fields: Vec<Field>,
}

/// One event of a [`Timeline`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event<'a> {
    /// What happened.
    pub kind: EventKind,
    /// When, measured from the request's start.
    pub at: Duration,
    /// The event's fields, in the order they were given.
    pub fields: &'a [Field],
}

impl Event<'_> {
    /// The value of field `name`, if the event has it.
    pub fn field(&self, name: &str) -> Option<FieldValue> {
        self.fields
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
    }
}

impl Timeline {
    /// An empty timeline with room for `events` events and `fields` fields.
    pub fn with_capacity(events: usize, fields: usize) -> Self {
        Self {
            events: Vec::with_capacity(events),
            fields: Vec::with_capacity(fields),
        }
    }

    /// Appends an event at offset `at`.
    pub fn push(&mut self, kind: EventKind, at: Duration, fields: &[Field]) {
        let first_field = self.fields.len() as u32;
        self.fields.extend_from_slice(fields);
        self.events.push(StoredEvent {
            kind,
            at,
            first_field,
            field_count: fields.len() as u32,
        });
    }

    /// The offset of the last event, if there is one.
    pub(crate) fn last_at(&self) -> Option<Duration> {
        self.events.last().map(|event| event.at)
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there is no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The events in the order they were recorded.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Event<'_>> + '_ {
        self.events.iter().map(|event| {
            let start = event.first_field as usize;
            let end = start + event.field_count as usize;
            Event {
                kind: event.kind,
                at: event.at,
                fields: self.fields.get(start..end).unwrap_or_default(),
            }
        })
    }

    /// The first event of `kind`.
    pub fn find(&self, kind: EventKind) -> Option<Event<'_>> {
        self.iter().find(|event| event.kind == kind)
    }

    /// The event kinds in order; handy in tests and logs.
    pub fn kinds(&self) -> Vec<EventKind> {
        self.events.iter().map(|event| event.kind).collect()
    }

    /// Removes every event and field, keeping the storage.
    pub fn clear(&mut self) {
        self.events.clear();
        self.fields.clear();
    }

    /// Makes `self` a copy of `other`, reusing `self`'s storage.
    pub fn copy_from(&mut self, other: &Timeline) {
        self.events.clear();
        self.events.extend_from_slice(&other.events);
        self.fields.clear();
        self.fields.extend_from_slice(&other.fields);
    }
}

impl fmt::Debug for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for Timeline {
    /// One line per event: offset, kind, fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for event in self.iter() {
            write!(
                f,
                "{:>10.3} ms  {}",
                event.at.as_secs_f64() * 1e3,
                event.kind
            )?;
            for (key, value) in event.fields {
                write!(f, " {key}={value}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_their_own_fields() {
        let mut timeline = Timeline::default();
        timeline.push(
            EventKind::Queued,
            Duration::from_micros(1),
            &[("depth", FieldValue::U64(3))],
        );
        timeline.push(EventKind::Admitted, Duration::from_micros(5), &[]);
        timeline.push(
            EventKind::Custom("retry"),
            Duration::from_micros(9),
            &[
                ("attempt", FieldValue::U64(2)),
                ("final", FieldValue::Bool(true)),
            ],
        );
        let events: Vec<_> = timeline.iter().collect();
        assert_eq!(events[0].field("depth"), Some(FieldValue::U64(3)));
        assert!(events[1].fields.is_empty());
        assert_eq!(events[2].fields.len(), 2);
        assert_eq!(events[2].kind.name(), "retry");
        assert!(timeline.to_string().contains("attempt=2 final=true"));
        timeline.clear();
        assert!(timeline.is_empty() && timeline.iter().next().is_none());
    }
}
