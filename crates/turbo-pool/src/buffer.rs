//! [`PooledBuf`]: a byte buffer rented from a [`BytePool`](crate::BytePool).

use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};

use bytes::Bytes;

use crate::byte_pool::{ByteShared, IdleBuf, Lent};
use crate::sync::Arc;

/// A growable byte buffer rented from a [`BytePool`](crate::BytePool); it returns
/// to its size class when dropped (or, after [`freeze`](Self::freeze), when the
/// last `Bytes` clone drops).
///
/// [`BytePool::rent`](crate::BytePool::rent) lends one that borrows the pool
/// (`PooledBuf<'_>`), which costs no reference count;
/// [`BytePool::rent_owned`](crate::BytePool::rent_owned) and
/// [`into_owned`](Self::into_owned) give a `PooledBuf<'static>` that holds a
/// handle to the pool, to move into spawned tasks or other threads.
///
/// It starts with a readable length of 0 and a capacity of at least the rented
/// size. Only bytes this renter wrote are readable: the API has no way to expose
/// spare capacity, which is what isolates tenants without zeroing.
///
/// Writing past the capacity grows the buffer like a `Vec`; a grown buffer no
/// longer fits its class and is freed instead of returned.
pub struct PooledBuf<'a> {
    bytes: Vec<u8>,
    /// High-water mark of `bytes.len()`: how much zeroing a clear policy needs.
    dirty: usize,
    /// Where to return to; `None` for an unpooled (oversize) buffer and after
    /// `into_vec`.
    home: Option<Home<'a>>,
}

/// The pool and class a pooled buffer returns to.
struct Home<'a> {
    class: usize,
    pool: Handle<'a>,
}

/// How a buffer reaches its pool: a borrow (no reference count to pay) or a
/// handle of its own (`'static`).
enum Handle<'a> {
    /// `lent` is the slot it came from, kept locked until the buffer is back.
    Borrowed {
        shared: &'a Arc<ByteShared>,
        lent: Option<Lent<'a>>,
    },
    Owned(Arc<ByteShared>),
}

impl<'a> PooledBuf<'a> {
    pub(crate) fn borrowed(
        buf: IdleBuf,
        class: usize,
        shared: &'a Arc<ByteShared>,
        lent: Option<Lent<'a>>,
    ) -> Self {
        Self {
            bytes: buf.bytes,
            dirty: buf.dirty,
            home: Some(Home {
                class,
                pool: Handle::Borrowed { shared, lent },
            }),
        }
    }

    pub(crate) fn owned(buf: IdleBuf, class: usize, shared: Arc<ByteShared>) -> Self {
        Self {
            bytes: buf.bytes,
            dirty: buf.dirty,
            home: Some(Home {
                class,
                pool: Handle::Owned(shared),
            }),
        }
    }

    pub(crate) fn unpooled(buf: IdleBuf) -> Self {
        Self {
            bytes: buf.bytes,
            dirty: buf.dirty,
            home: None,
        }
    }

    /// Readable bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether no byte is readable.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Bytes the buffer holds without growing.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Whether this buffer returns to a size class on drop (false for oversize rents).
    pub fn is_pooled(&self) -> bool {
        self.home.is_some()
    }

    /// The readable bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    /// The readable bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Appends `data`.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        self.mark_written();
    }

    /// Appends one byte.
    pub fn push(&mut self, byte: u8) {
        self.bytes.push(byte);
        self.mark_written();
    }

    /// Sets the readable length to `len`, filling new bytes with `value`.
    pub fn resize(&mut self, len: usize, value: u8) {
        self.bytes.resize(len, value);
        self.mark_written();
    }

    /// Shortens the readable length to `len`; no effect if it is already shorter.
    pub fn truncate(&mut self, len: usize) {
        self.bytes.truncate(len);
    }

    /// Sets the readable length to 0.
    pub fn clear(&mut self) {
        self.bytes.clear();
    }

    /// Converts into [`Bytes`] without copying; the buffer returns to the pool
    /// when the last clone of the `Bytes` drops.
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self.into_owned())
    }

    /// The same buffer with a pool handle of its own, so that it can outlive the
    /// borrow of the pool it was rented from (a spawned task, another thread).
    /// Costs one reference-count increment for a borrowed buffer, nothing for one
    /// that already owns its handle or is unpooled.
    pub fn into_owned(mut self) -> PooledBuf<'static> {
        let home = self.home.take().map(|home| Home {
            class: home.class,
            pool: match home.pool {
                // The slot it was lent from is released empty (`lent` drops).
                Handle::Borrowed { shared, .. } => Handle::Owned(Arc::clone(shared)),
                Handle::Owned(shared) => Handle::Owned(shared),
            },
        });
        PooledBuf {
            bytes: std::mem::take(&mut self.bytes),
            dirty: self.dirty,
            home,
        }
    }

    /// Takes the bytes out of the pool for good, as a `Vec` of the same capacity.
    pub fn into_vec(mut self) -> Vec<u8> {
        self.home = None;
        std::mem::take(&mut self.bytes)
    }

    fn mark_written(&mut self) {
        self.dirty = self.dirty.max(self.bytes.len());
    }
}

impl Drop for PooledBuf<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(home) = self.home.take() {
            let bytes = std::mem::take(&mut self.bytes);
            let buf = IdleBuf {
                bytes,
                dirty: self.dirty,
            };
            match home.pool {
                Handle::Borrowed {
                    shared,
                    lent: Some(lent),
                } => shared.give_back_lent(home.class, lent, buf),
                Handle::Borrowed { shared, lent: None } => shared.give_back(home.class, buf),
                Handle::Owned(shared) => shared.give_back(home.class, buf),
            }
        }
    }
}

impl Deref for PooledBuf<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl DerefMut for PooledBuf<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

impl AsRef<[u8]> for PooledBuf<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl AsMut<[u8]> for PooledBuf<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

impl io::Write for PooledBuf<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for PooledBuf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuf")
            .field("len", &self.bytes.len())
            .field("capacity", &self.bytes.capacity())
            .field("pooled", &self.home.is_some())
            .finish()
    }
}
