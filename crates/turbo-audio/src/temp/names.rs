//! Temp-file and session-lock names.
//!
//! A name is `<uuid>.<ext>` where the UUID (version 8, "custom") carries the
//! session in its first 8 bytes and a per-session counter in the last 8. The
//! counter makes names unique within a session, the random session prefix
//! across sessions, and `O_EXCL` makes a collision an error instead of an
//! overwrite. Because the session is in the name, the startup sweep can tell
//! whose file it is by looking at the name alone, without a manifest on the hot
//! path.

use uuid::{Builder, Uuid};

use super::ext::is_sanitized;

/// The 8 bytes that identify one manager's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionId([u8; 8]);

impl SessionId {
    /// A fresh random session id, with the version nibble already set so that
    /// names built from it keep the prefix byte for byte.
    pub(crate) fn random() -> Self {
        let random = Uuid::new_v4();
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&random.as_bytes()[..8]);
        prefix[6] = (prefix[6] & 0x0f) | 0x80;
        Self(prefix)
    }

    /// The lock file's stem: 16 lowercase hex digits.
    pub(crate) fn hex(self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// Parses [`SessionId::hex`] back.
    pub(crate) fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 16
            || !text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let mut prefix = [0u8; 8];
        for (index, byte) in prefix.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
        }
        Some(Self(prefix))
    }

    /// The file name for the `counter`-th file of this session.
    pub(crate) fn file_name(self, counter: u64, ext: &str) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.0);
        bytes[8..].copy_from_slice(&counter.to_be_bytes());
        let uuid = Builder::from_custom_bytes(bytes).into_uuid();
        format!("{}.{ext}", uuid.as_simple())
    }
}

/// The session of a file name the manager could have created, or `None` for
/// any other name.
pub(crate) fn session_of(file_name: &str) -> Option<SessionId> {
    let (stem, ext) = file_name.split_once('.')?;
    if stem.len() != 32 || !is_sanitized(ext) {
        return None;
    }
    let uuid = Uuid::try_parse(stem).ok()?;
    if uuid.get_version_num() != 8 {
        return None;
    }
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&uuid.as_bytes()[..8]);
    Some(SessionId(prefix))
}

/// What a name in the sessions directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockName {
    /// `<session>.lock`: a session that got going.
    Lock(SessionId),
    /// `<session>.new`: a session's lock file before it was renamed into place.
    New(SessionId),
}

/// Parses a name in the sessions directory.
pub(crate) fn lock_name(file_name: &str) -> Option<LockName> {
    if let Some(stem) = file_name.strip_suffix(".lock") {
        return SessionId::from_hex(stem).map(LockName::Lock);
    }
    let stem = file_name.strip_suffix(".new")?;
    SessionId::from_hex(stem).map(LockName::New)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_session() {
        let session = SessionId::random();
        let other = SessionId::random();
        assert_ne!(session, other);
        for counter in [0, 1, u64::from(u32::MAX), (1 << 62) - 1] {
            let name = session.file_name(counter, "mp3");
            assert_eq!(session_of(&name), Some(session), "{name}");
        }
        assert_ne!(session.file_name(1, "mp3"), session.file_name(2, "mp3"));
    }

    #[test]
    fn foreign_names_are_not_ours() {
        let session = SessionId::random();
        let name = session.file_name(7, "ogg");
        assert_eq!(session_of(&name.replace(".ogg", ".OGG")), None);
        assert_eq!(session_of(&format!("{name}.x/..")), None);
        assert_eq!(session_of("notes.txt"), None);
        let v4 = format!("{}.mp3", Uuid::new_v4().as_simple());
        assert_eq!(session_of(&v4), None);
    }

    #[test]
    fn lock_names_round_trip() {
        let session = SessionId::random();
        let hex = session.hex();
        assert_eq!(
            lock_name(&format!("{hex}.lock")),
            Some(LockName::Lock(session))
        );
        assert_eq!(
            lock_name(&format!("{hex}.new")),
            Some(LockName::New(session))
        );
        assert_eq!(lock_name("x.lock"), None);
    }

    #[test]
    fn uppercase_lock_names_are_not_ours() {
        // A fixed session with letters in its hex: a random one can be all
        // digits, and then its uppercase form is the same name.
        let session = SessionId([0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x87, 0x89]);
        let hex = session.hex();
        assert_eq!(hex, "abcdef0123458789");
        assert_eq!(
            lock_name(&format!("{hex}.lock")),
            Some(LockName::Lock(session))
        );
        assert_eq!(lock_name(&format!("{}.lock", hex.to_uppercase())), None);
        assert_eq!(lock_name(&format!("{}.new", hex.to_uppercase())), None);
    }
}
