//! [`BytePool`]: size-classed byte buffers with bounded idle memory.

use std::fmt;

use crate::buffer::PooledBuf;
use crate::error::{BytePoolBuildError, RentError};
use crate::search::{BYTE_HINT, bump, search_order};
use crate::sync::{Arc, AtomicBool, AtomicU64, Ordering};
use crate::try_lock::{Lease, TryLock, TryLockGuard};

/// The standard size classes, smallest first. Classes above the last one are
/// powers of two, up to the one that holds the configured maximum.
pub const STANDARD_CLASSES: [usize; 5] = [256, 1024, 4 * 1024, 16 * 1024, 64 * 1024];

const DEFAULT_MAX_BUFFER: usize = 4 * 1024 * 1024;
const DEFAULT_MAX_IDLE_PER_CLASS: usize = 32;
const DEFAULT_MAX_IDLE_BYTES: usize = 64 * 1024 * 1024;
/// The most idle buffers a class may keep: each has a slot allocated up front
/// (64 bytes), and a search for an idle buffer or a free slot may visit them all.
pub const MAX_IDLE_PER_CLASS_LIMIT: usize = 1024;
/// The largest class size a pool accepts: 1 GiB. Larger buffers are always unpooled.
const LARGEST_CLASS_LIMIT: usize = 1 << 30;

/// When pooled bytes are zeroed.
///
/// In every mode a renter starts with a buffer whose readable length is 0, and the
/// safe API only reads bytes the current renter wrote, so **no renter can read a
/// previous tenant's bytes in any mode**. The modes differ in what remains in
/// memory for something outside the safe API to see: a memory dump, a core file,
/// or `unsafe`/FFI code that reads a buffer's spare capacity.
///
/// | mode | renter can read old bytes | old bytes in idle buffers (dump) | old bytes in a rented buffer's spare capacity | cost |
/// |---|---|---|---|---|
/// | [`OnRent`](Self::OnRent) (default) | no | yes | yes | O(1) |
/// | [`OnReturn`](Self::OnReturn) | no | no | no | O(bytes written) on return |
/// | [`ZeroOnRent`](Self::ZeroOnRent) | no | yes | no | O(bytes written before) on rent |
/// | [`Both`](Self::Both) | no | no | no | O(bytes written) on return and a check on rent |
///
/// "Bytes written" is the high-water mark of the buffer's length, so a tenant that
/// wrote 100 bytes into a 1 MiB buffer costs 100 bytes of zeroing, not 1 MiB.
///
/// The seed's "clear on rent" safety mode is [`OnRent`](Self::OnRent): clearing is
/// the length reset, which is enough for isolation in safe Rust and free. Zeroing is
/// the opt-in for secrets that must not linger in idle memory. There is no mode that
/// lets a renter see old bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClearPolicy {
    /// Reset the readable length to 0; zero nothing.
    #[default]
    OnRent,
    /// Zero the bytes a tenant wrote when its buffer comes back to the pool.
    OnReturn,
    /// Zero the bytes an earlier tenant wrote when a buffer is handed out.
    ZeroOnRent,
    /// Zero on return, and again on rent for any buffer that is still dirty.
    Both,
}

impl ClearPolicy {
    pub(crate) fn zeroes_on_return(self) -> bool {
        matches!(self, Self::OnReturn | Self::Both)
    }

    pub(crate) fn zeroes_on_rent(self) -> bool {
        matches!(self, Self::ZeroOnRent | Self::Both)
    }
}

/// A pool of byte buffers in size classes.
///
/// Classes are [`STANDARD_CLASSES`] (256 B to 64 KiB, each 4x the last) and then
/// powers of two, ending at the first class at least
/// [`max_buffer_size`](BytePoolBuilder::max_buffer_size) (default 4 MiB). A
/// request is served from the smallest class that fits it.
///
/// Bounds: the pool never keeps more than `max_idle_bytes` of idle capacity, and no
/// class more than `max_idle_per_class` idle buffers. The byte bound is split into
/// per-class caps when the pool is built (see
/// [`max_idle_bytes`](BytePoolBuilder::max_idle_bytes)), so each class has a fixed
/// number of slots and the bounds hold structurally under any interleaving. A
/// buffer that finds no free slot on return is freed instead.
///
/// A request larger than the largest class is served **unpooled**: a fresh buffer
/// of exactly that capacity that is freed on drop, never retained. Such rents are
/// counted in [`BytePoolStats::unpooled`].
///
/// # Examples
///
/// ```
/// use turbo_pool::BytePool;
///
/// let pool = BytePool::new();
/// let mut buf = pool.rent(1500)?;
/// assert!(buf.is_empty() && buf.capacity() >= 1500);
/// buf.extend_from_slice(b"hello");
/// let frozen = buf.freeze(); // zero-copy `bytes::Bytes`
/// assert_eq!(&frozen[..], b"hello");
/// drop(frozen); // the buffer goes back to its class
/// assert_eq!(pool.stats().idle_buffers, 1);
/// # Ok::<(), turbo_pool::RentError>(())
/// ```
#[derive(Clone)]
pub struct BytePool {
    shared: Arc<ByteShared>,
}

pub(crate) struct ByteShared {
    classes: Box<[SizeClass]>,
    policy: ClearPolicy,
    max_idle_bytes: usize,
    unpooled: AtomicU64,
}

/// One size class: a fixed array of slots, each holding at most one idle buffer.
struct SizeClass {
    size: usize,
    slots: Box<[ByteSlot]>,
    /// Rents that found no idle buffer; counted off the hot path (they allocate).
    misses: AtomicU64,
    /// Returns that found no free slot or a grown buffer; they free it anyway.
    discarded: AtomicU64,
}

/// A place for one idle buffer, on its own cache line so that threads working on
/// neighbouring slots do not share a line.
///
/// The counters and the `idle` flag are only written by the holder of the slot's
/// lock (a plain load and store, no read-modify-write); `stats` reads them without
/// locking.
#[repr(align(64))]
pub(crate) struct ByteSlot {
    buf: TryLock<Option<IdleBuf>>,
    /// Whether a buffer is idle here, so searches skip slots without locking them.
    idle: AtomicBool,
    hits: AtomicU64,
    returned: AtomicU64,
}

/// The slot a borrowed buffer was lent from: still locked, so the buffer goes
/// back to it with a plain store and no search.
pub(crate) struct Lent<'a> {
    slot: &'a ByteSlot,
    lease: Lease<'a, Option<IdleBuf>>,
}

/// An idle buffer and how much of it an earlier tenant wrote.
pub(crate) struct IdleBuf {
    pub(crate) bytes: Vec<u8>,
    pub(crate) dirty: usize,
}

/// Configures a [`BytePool`].
#[derive(Debug, Clone)]
pub struct BytePoolBuilder {
    max_buffer_size: usize,
    max_idle_per_class: usize,
    max_idle_bytes: usize,
    policy: ClearPolicy,
}

impl Default for BytePoolBuilder {
    fn default() -> Self {
        Self {
            max_buffer_size: DEFAULT_MAX_BUFFER,
            max_idle_per_class: DEFAULT_MAX_IDLE_PER_CLASS,
            max_idle_bytes: DEFAULT_MAX_IDLE_BYTES,
            policy: ClearPolicy::default(),
        }
    }
}

impl BytePoolBuilder {
    /// The largest pooled buffer (default 4 MiB), rounded up to the next class
    /// size: the next of [`STANDARD_CLASSES`] up to 64 KiB, the next power of
    /// two above it (1000 becomes 1 KiB, 100 KiB becomes 128 KiB). Requests up
    /// to the rounded size are pooled in the largest class; larger requests are
    /// served unpooled.
    pub fn max_buffer_size(mut self, bytes: usize) -> Self {
        self.max_buffer_size = bytes;
        self
    }

    /// The most idle buffers each class keeps (default 32, at most
    /// [`MAX_IDLE_PER_CLASS_LIMIT`]). A class may keep fewer when
    /// [`max_idle_bytes`](Self::max_idle_bytes) cannot hold that many of its size.
    pub fn max_idle_per_class(mut self, count: usize) -> Self {
        self.max_idle_per_class = count;
        self
    }

    /// The most idle bytes (by capacity) the whole pool keeps (default 64 MiB).
    ///
    /// The bound is split between the classes when the pool is built, so that the
    /// classes' caps add up to at most this many bytes and no call has to count
    /// bytes at run time. Each class gets an equal share, as many whole buffers as
    /// fit in it (up to `max_idle_per_class`); what small classes leave of their
    /// share goes to the larger ones, and what is left after that goes to the
    /// largest classes that still have room for a buffer. With the defaults, the
    /// classes up to 256 KiB keep 32 buffers each, 512 KiB 24, 1 MiB 13, 2 MiB 6
    /// and 4 MiB 3. [`BytePoolStats::classes`] reports each class's cap.
    pub fn max_idle_bytes(mut self, bytes: usize) -> Self {
        self.max_idle_bytes = bytes;
        self
    }

    /// When bytes are zeroed (default [`ClearPolicy::OnRent`]).
    pub fn clear_policy(mut self, policy: ClearPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Builds the pool.
    ///
    /// # Errors
    ///
    /// [`BytePoolBuildError::MaxBufferSize`] if the largest buffer is 0 or above
    /// 1 GiB; [`BytePoolBuildError::MaxIdlePerClass`] if the idle count per class
    /// is above [`MAX_IDLE_PER_CLASS_LIMIT`].
    pub fn build(self) -> Result<BytePool, BytePoolBuildError> {
        if self.max_buffer_size == 0 || self.max_buffer_size > LARGEST_CLASS_LIMIT {
            return Err(BytePoolBuildError::MaxBufferSize {
                requested: self.max_buffer_size,
                limit: LARGEST_CLASS_LIMIT,
            });
        }
        if self.max_idle_per_class > MAX_IDLE_PER_CLASS_LIMIT {
            return Err(BytePoolBuildError::MaxIdlePerClass {
                requested: self.max_idle_per_class,
                limit: MAX_IDLE_PER_CLASS_LIMIT,
            });
        }
        let sizes = class_sizes(self.max_buffer_size);
        let caps = class_caps(&sizes, self.max_idle_per_class, self.max_idle_bytes);
        let classes = sizes
            .into_iter()
            .zip(caps)
            .map(|(size, cap)| SizeClass {
                size,
                slots: (0..cap)
                    .map(|_| ByteSlot {
                        buf: TryLock::new(None),
                        idle: AtomicBool::new(false),
                        hits: AtomicU64::new(0),
                        returned: AtomicU64::new(0),
                    })
                    .collect(),
                misses: AtomicU64::new(0),
                discarded: AtomicU64::new(0),
            })
            .collect();
        Ok(BytePool {
            shared: Arc::new(ByteShared {
                classes,
                policy: self.policy,
                max_idle_bytes: self.max_idle_bytes,
                unpooled: AtomicU64::new(0),
            }),
        })
    }
}

/// How many idle buffers each class may keep so that, all full, they hold at most
/// `budget` bytes: an equal share of what is left per class, smallest class first
/// (so the shares small classes do not use pass to larger ones), then the
/// remainder to the largest classes that still fit a buffer.
fn class_caps(sizes: &[usize], per_class: usize, budget: usize) -> Vec<usize> {
    let mut caps = Vec::with_capacity(sizes.len());
    let mut left = budget;
    for (i, &size) in sizes.iter().enumerate() {
        let share = left / (sizes.len() - i);
        let cap = (share / size).min(per_class);
        caps.push(cap);
        // cap * size <= share <= left: neither overflows.
        left -= cap * size;
    }
    for (cap, &size) in caps.iter_mut().zip(sizes).rev() {
        let more = (left / size).min(per_class - *cap);
        *cap += more;
        left -= more * size;
    }
    caps
}

/// The class sizes for a pool whose largest buffer is `max`.
fn class_sizes(max: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = Vec::new();
    for &size in &STANDARD_CLASSES {
        sizes.push(size);
        if size >= max {
            return sizes;
        }
    }
    let mut size = STANDARD_CLASSES[STANDARD_CLASSES.len() - 1];
    while size < max {
        size *= 2;
        sizes.push(size);
    }
    sizes
}

/// The index of the smallest standard-ladder-or-above class that fits `len`
/// (`len >= 1`), assuming unlimited classes; the caller bounds it.
#[inline]
fn class_index(len: usize) -> usize {
    // Ceiling of log2(len): 256 -> 8, 257 -> 9.
    let bits = (usize::BITS - (len - 1).leading_zeros()) as usize;
    if bits <= 8 {
        0
    } else if bits <= 16 {
        // 2 bits per step up to 64 KiB: 9-10 -> 1 KiB, 11-12 -> 4 KiB, ...
        (bits - 7) / 2
    } else {
        STANDARD_CLASSES.len() - 1 + (bits - 16)
    }
}

impl Default for BytePool {
    fn default() -> Self {
        Self::new()
    }
}

impl BytePool {
    /// A pool with the default bounds: classes up to 4 MiB, 32 idle buffers per
    /// class, 64 MiB of idle bytes, [`ClearPolicy::OnRent`].
    pub fn new() -> Self {
        match BytePoolBuilder::default().build() {
            Ok(pool) => pool,
            Err(error) => unreachable!("the default configuration is valid: {error}"),
        }
    }

    /// Starts configuring a pool.
    pub fn builder() -> BytePoolBuilder {
        BytePoolBuilder::default()
    }

    /// Rents a buffer with room for at least `len` bytes and a readable length of 0.
    ///
    /// The buffer borrows the pool, like [`ObjectPool::get`](crate::ObjectPool::get):
    /// renting and returning it touches one slot lock each way and no reference
    /// count. Use [`rent_owned`](Self::rent_owned) (or
    /// [`PooledBuf::into_owned`]) for a buffer that must be `'static`.
    ///
    /// A borrowed buffer occupies one of its class's idle slots until it is
    /// dropped (that is what makes its return a single store): while it is out,
    /// that slot cannot keep another returned buffer, and a borrowed buffer that is
    /// forgotten (`mem::forget`, a leaked task) takes the slot for good. The caps
    /// still hold. Rent long-lived buffers with [`rent_owned`](Self::rent_owned),
    /// which holds no slot while out.
    ///
    /// # Errors
    ///
    /// [`RentError::ZeroSize`] when `len` is 0: a zero-byte rent is almost always
    /// an arithmetic bug upstream, so it is reported rather than served.
    #[inline]
    pub fn rent(&self, len: usize) -> Result<PooledBuf<'_>, RentError> {
        if len == 0 {
            return Err(RentError::ZeroSize);
        }
        let index = class_index(len);
        let Some(class) = self.shared.classes.get(index) else {
            return Ok(PooledBuf::unpooled(self.unpooled(len)));
        };
        let (mut buf, lent) = class.lend();
        if self.shared.policy.zeroes_on_rent() {
            zero_written(&mut buf);
        }
        Ok(PooledBuf::borrowed(buf, index, &self.shared, lent))
    }

    /// Rents a buffer as [`rent`](Self::rent) does, with a handle to the pool of
    /// its own: it can move to another task or thread and outlive every
    /// `BytePool` value. Costs a reference-count increment and decrement more
    /// than `rent`.
    ///
    /// # Errors
    ///
    /// As [`rent`](Self::rent).
    pub fn rent_owned(&self, len: usize) -> Result<PooledBuf<'static>, RentError> {
        Ok(match self.take(len)? {
            (buf, Some(class)) => PooledBuf::owned(buf, class, Arc::clone(&self.shared)),
            (buf, None) => PooledBuf::unpooled(buf),
        })
    }

    /// A buffer for `len` bytes and the class it returns to (`None`: unpooled),
    /// taken out of its slot.
    fn take(&self, len: usize) -> Result<(IdleBuf, Option<usize>), RentError> {
        if len == 0 {
            return Err(RentError::ZeroSize);
        }
        let index = class_index(len);
        let Some(class) = self.shared.classes.get(index) else {
            return Ok((self.unpooled(len), None));
        };
        let mut buf = match class.take_idle() {
            Some(buf) => buf,
            None => class.fresh(),
        };
        if self.shared.policy.zeroes_on_rent() {
            zero_written(&mut buf);
        }
        Ok((buf, Some(index)))
    }

    /// A buffer above the largest class: exactly `len`, never kept.
    fn unpooled(&self, len: usize) -> IdleBuf {
        self.shared.unpooled.fetch_add(1, Ordering::Relaxed);
        IdleBuf {
            bytes: Vec::with_capacity(len),
            dirty: 0,
        }
    }

    /// Rents a buffer whose readable length is `len`, all zeros; the same as
    /// [`rent`](Self::rent) followed by `resize(len, 0)`.
    ///
    /// # Errors
    ///
    /// As [`rent`](Self::rent).
    pub fn rent_zeroed(&self, len: usize) -> Result<PooledBuf<'_>, RentError> {
        let mut buf = self.rent(len)?;
        buf.resize(len, 0);
        Ok(buf)
    }

    /// The class sizes of this pool, smallest first.
    pub fn class_sizes(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.shared.classes.iter().map(|class| class.size)
    }

    /// The clearing policy of this pool.
    pub fn clear_policy(&self) -> ClearPolicy {
        self.shared.policy
    }

    /// A snapshot of the counters.
    ///
    /// Read without locking, slot by slot: approximate while other threads use
    /// the pool, exact once they are quiet. Never blocks.
    pub fn stats(&self) -> BytePoolStats {
        let mut stats = BytePoolStats {
            max_idle_bytes: self.shared.max_idle_bytes,
            unpooled: self.shared.unpooled.load(Ordering::Relaxed),
            ..BytePoolStats::default()
        };
        for class in self.shared.classes.iter() {
            let mut idle = 0;
            for slot in class.slots.iter() {
                idle += usize::from(slot.idle.load(Ordering::Relaxed));
                stats.hits += slot.hits.load(Ordering::Relaxed);
                stats.returned += slot.returned.load(Ordering::Relaxed);
            }
            stats.misses += class.misses.load(Ordering::Relaxed);
            stats.discarded += class.discarded.load(Ordering::Relaxed);
            // Only buffers of exactly the class size are kept (see `give_back`).
            let idle_bytes = idle * class.size;
            stats.idle_buffers += idle;
            stats.idle_bytes += idle_bytes;
            stats.classes.push(ClassStats {
                size: class.size,
                max_idle: class.slots.len(),
                idle,
                idle_bytes,
            });
        }
        stats
    }
}

impl fmt::Debug for BytePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BytePool")
            .field("classes", &self.shared.classes.len())
            .field("policy", &self.shared.policy)
            .field("max_idle_bytes", &self.shared.max_idle_bytes)
            .finish_non_exhaustive()
    }
}

/// Zeroes the bytes earlier tenants wrote, without touching the rest.
pub(crate) fn zero_written(buf: &mut IdleBuf) {
    if buf.dirty > 0 {
        buf.bytes.clear();
        buf.bytes.resize(buf.dirty, 0);
        buf.bytes.clear();
        buf.dirty = 0;
    }
}

impl SizeClass {
    /// A new buffer of this class, for a rent that found no idle one.
    fn fresh(&self) -> IdleBuf {
        self.misses.fetch_add(1, Ordering::Relaxed);
        IdleBuf {
            bytes: Vec::with_capacity(self.size),
            dirty: 0,
        }
    }

    /// A buffer lent from a slot that stays locked until it comes back: an idle
    /// buffer if one is found, else a new one in an empty slot, else (every slot
    /// busy) a new one with no slot.
    #[inline]
    fn lend(&self) -> (IdleBuf, Option<Lent<'_>>) {
        if let Some((buf, slot, held)) = self.lock_idle_slot() {
            return (
                buf,
                Some(Lent {
                    slot,
                    lease: held.into_lease(),
                }),
            );
        }
        let buf = self.fresh();
        match self.lock_empty_slot() {
            Some((slot, held)) => (
                buf,
                Some(Lent {
                    slot,
                    lease: held.into_lease(),
                }),
            ),
            None => (buf, None),
        }
    }

    /// Takes an idle buffer out of a slot, if one is found.
    #[inline]
    fn take_idle(&self) -> Option<IdleBuf> {
        self.lock_idle_slot().map(|(buf, _, _held)| buf)
    }

    /// The first slot of the search that holds an idle buffer, still locked, and
    /// the buffer taken out of it.
    #[inline]
    fn lock_idle_slot(&self) -> Option<(IdleBuf, &ByteSlot, TryLockGuard<'_, Option<IdleBuf>>)> {
        let mut order = search_order(&BYTE_HINT, self.slots.len());
        while let Some(index) = order.next() {
            let slot = &self.slots[index];
            // A slot that looks empty is not worth locking; a stale answer only
            // costs a miss (a new allocation), never a bound.
            if !slot.idle.load(Ordering::Relaxed) {
                continue;
            }
            let Some(mut held) = slot.buf.try_lock() else {
                continue;
            };
            if let Some(buf) = held.take() {
                slot.idle.store(false, Ordering::Relaxed);
                bump(&slot.hits);
                order.remember(index);
                return Some((buf, slot, held));
            }
        }
        None
    }

    /// The first slot of the search that is empty, locked.
    #[inline]
    fn lock_empty_slot(&self) -> Option<(&ByteSlot, TryLockGuard<'_, Option<IdleBuf>>)> {
        let mut order = search_order(&BYTE_HINT, self.slots.len());
        while let Some(index) = order.next() {
            let slot = &self.slots[index];
            if slot.idle.load(Ordering::Relaxed) {
                continue;
            }
            let Some(held) = slot.buf.try_lock() else {
                continue;
            };
            if held.is_none() {
                order.remember(index);
                return Some((slot, held));
            }
        }
        None
    }

    /// Puts a buffer into an empty slot; gives it back if every slot is taken.
    #[inline]
    fn put_idle(&self, buf: IdleBuf) -> Result<(), IdleBuf> {
        let Some((slot, mut held)) = self.lock_empty_slot() else {
            return Err(buf);
        };
        *held = Some(buf);
        slot.idle.store(true, Ordering::Relaxed);
        bump(&slot.returned);
        Ok(())
    }
}

impl ByteShared {
    /// Takes a lent buffer back into the slot it was lent from (still locked).
    #[inline]
    pub(crate) fn give_back_lent(&self, index: usize, lent: Lent<'_>, mut buf: IdleBuf) {
        let mut held = lent.lease.into_guard();
        let kept = match self.classes.get(index) {
            Some(class) if buf.bytes.capacity() == class.size => {
                if self.policy.zeroes_on_return() {
                    zero_written(&mut buf);
                }
                buf.bytes.clear();
                *held = Some(buf);
                lent.slot.idle.store(true, Ordering::Relaxed);
                bump(&lent.slot.returned);
                None
            }
            Some(class) => {
                class.discarded.fetch_add(1, Ordering::Relaxed);
                Some(buf)
            }
            None => Some(buf),
        };
        drop(held);
        // A grown buffer is freed here, after the slot is unlocked.
        drop(kept);
    }

    /// Takes a buffer back into class `index`, or frees it if it has no place.
    pub(crate) fn give_back(&self, index: usize, mut buf: IdleBuf) {
        let Some(class) = self.classes.get(index) else {
            return;
        };
        if buf.bytes.capacity() != class.size {
            // The renter grew the buffer past its class; keeping it would let one
            // class hold buffers of any size (and break the byte bound).
            class.discarded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.policy.zeroes_on_return() {
            zero_written(&mut buf);
        }
        buf.bytes.clear();
        if let Err(rejected) = class.put_idle(buf) {
            class.discarded.fetch_add(1, Ordering::Relaxed);
            // Freed here, outside every slot lock.
            drop(rejected);
        }
    }
}

/// A snapshot of a [`BytePool`]'s counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BytePoolStats {
    /// Idle buffers across all classes.
    pub idle_buffers: usize,
    /// Idle capacity across all classes, in bytes.
    pub idle_bytes: usize,
    /// The pool-wide idle byte bound.
    pub max_idle_bytes: usize,
    /// Rents served by an idle buffer.
    pub hits: u64,
    /// Rents that allocated a new class-sized buffer.
    pub misses: u64,
    /// Buffers kept on return.
    pub returned: u64,
    /// Buffers freed on return because a bound was reached or the buffer had
    /// grown past its class.
    pub discarded: u64,
    /// Rents above the largest class, served unpooled.
    pub unpooled: u64,
    /// Per-class figures, smallest class first.
    pub classes: Vec<ClassStats>,
}

/// One size class in a [`BytePoolStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClassStats {
    /// Buffer capacity of this class.
    pub size: usize,
    /// The most idle buffers this class keeps.
    pub max_idle: usize,
    /// Idle buffers now.
    pub idle: usize,
    /// Idle bytes now.
    pub idle_bytes: usize,
}

#[cfg(all(test, not(turbo_loom)))]
mod tests {
    use super::*;

    #[test]
    fn class_index_matches_the_ladder() {
        let cases = [
            (1, 256),
            (256, 256),
            (257, 1024),
            (1024, 1024),
            (1025, 4096),
            (4096, 4096),
            (16 * 1024, 16 * 1024),
            (16 * 1024 + 1, 64 * 1024),
            (64 * 1024, 64 * 1024),
            (64 * 1024 + 1, 128 * 1024),
            (1 << 20, 1 << 20),
            ((1 << 20) + 1, 2 << 20),
        ];
        let sizes = class_sizes(1 << 30);
        for (len, expected) in cases {
            assert_eq!(sizes[class_index(len)], expected, "len {len}");
        }
    }

    #[test]
    fn class_sizes_stop_at_the_maximum() {
        assert_eq!(class_sizes(1000), vec![256, 1024]);
        assert_eq!(class_sizes(64 * 1024), STANDARD_CLASSES.to_vec());
        assert_eq!(
            class_sizes(200 * 1024),
            [&STANDARD_CLASSES[..], &[128 * 1024, 256 * 1024]].concat()
        );
    }

    #[test]
    fn zero_rent_is_an_error() {
        assert_eq!(BytePool::new().rent(0).err(), Some(RentError::ZeroSize));
    }

    #[test]
    fn invalid_builds_are_errors() {
        assert!(BytePool::builder().max_buffer_size(0).build().is_err());
        assert!(
            BytePool::builder()
                .max_buffer_size(usize::MAX)
                .build()
                .is_err()
        );
    }

    #[test]
    fn max_buffer_size_rounds_up_to_the_next_class() {
        // Below 64 KiB: the next standard class (1000 -> 1 KiB).
        let pool = BytePool::builder().max_buffer_size(1000).build().unwrap();
        assert_eq!(pool.class_sizes().collect::<Vec<_>>(), [256, 1024]);
        let buf = pool.rent(1024).unwrap();
        assert!(buf.is_pooled(), "a rent up to the rounded size is pooled");
        assert_eq!(buf.capacity(), 1024);
        assert!(!pool.rent(1025).unwrap().is_pooled());
        // Above 64 KiB: the next power of two (100 KiB -> 128 KiB).
        let pool = BytePool::builder()
            .max_buffer_size(100 * 1024)
            .build()
            .unwrap();
        assert_eq!(pool.class_sizes().last(), Some(128 * 1024));
        assert!(pool.rent(128 * 1024).unwrap().is_pooled());
        assert!(!pool.rent(128 * 1024 + 1).unwrap().is_pooled());
    }

    #[test]
    fn oversize_is_unpooled_and_never_retained() {
        let pool = BytePool::builder().max_buffer_size(4096).build().unwrap();
        let buf = pool.rent(10_000).unwrap();
        assert!(buf.capacity() >= 10_000);
        assert!(!buf.is_pooled());
        drop(buf);
        let stats = pool.stats();
        assert_eq!(stats.unpooled, 1);
        assert_eq!(stats.idle_buffers, 0);
    }

    #[test]
    fn grown_buffer_is_discarded() {
        let pool = BytePool::new();
        let mut buf = pool.rent(256).unwrap();
        buf.extend_from_slice(&[1; 1000]);
        drop(buf);
        let stats = pool.stats();
        assert_eq!(stats.idle_buffers, 0);
        assert_eq!(stats.discarded, 1);
    }

    #[test]
    fn idle_byte_budget_is_split_into_class_caps() {
        let pool = BytePool::builder()
            .max_idle_per_class(4)
            .max_idle_bytes(4096 + 1024)
            .build()
            .unwrap();
        let caps: Vec<(usize, usize)> = pool
            .stats()
            .classes
            .iter()
            .map(|class| (class.size, class.max_idle))
            .filter(|&(_, cap)| cap > 0)
            .collect();
        // An equal share (465 bytes) fits one 256 B buffer; the rest goes to the
        // largest class that fits a buffer (4 KiB), then back down to 256 B.
        assert_eq!(caps, vec![(256, 4), (4096, 1)]);
        let a = pool.rent(4096).unwrap();
        let b = pool.rent(4096).unwrap();
        let c = pool.rent(1024).unwrap();
        drop((a, b, c));
        let stats = pool.stats();
        assert_eq!(stats.idle_bytes, 4096);
        assert_eq!((stats.returned, stats.discarded), (1, 2));
    }

    #[test]
    fn default_caps_match_the_documentation() {
        let stats = BytePool::new().stats();
        let caps: Vec<usize> = stats.classes.iter().map(|class| class.max_idle).collect();
        assert_eq!(caps, vec![32, 32, 32, 32, 32, 32, 32, 24, 13, 6, 3]);
        let worst: usize = stats.classes.iter().map(|c| c.size * c.max_idle).sum();
        assert!(worst <= DEFAULT_MAX_IDLE_BYTES);
    }

    #[test]
    fn class_caps_never_exceed_the_budget_and_fill_it_when_they_can() {
        let sizes = class_sizes(1 << 22);
        let demand: usize = sizes.iter().map(|size| size * 8).sum();
        for budget in (0..demand + 4096).step_by(997).chain([usize::MAX]) {
            let caps = class_caps(&sizes, 8, budget);
            let worst: usize = caps.iter().zip(&sizes).map(|(c, s)| c * s).sum();
            assert!(worst <= budget, "budget {budget}: caps hold {worst}");
            assert!(caps.iter().all(|&cap| cap <= 8));
            if budget >= demand {
                assert!(caps.iter().all(|&cap| cap == 8), "budget {budget}");
            } else {
                // Nothing that still fits was left out: no class with room
                // could take one more buffer.
                let spare = budget - worst;
                for (cap, size) in caps.iter().zip(&sizes) {
                    assert!(*cap == 8 || *size > spare, "budget {budget}");
                }
            }
        }
    }

    #[test]
    fn buffers_can_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<PooledBuf<'_>>();
        let pool = BytePool::new();
        let mut lent = pool.rent(100).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| lent.extend_from_slice(b"from another thread"));
        });
        // Returned on another thread than the one it was rented on.
        std::thread::scope(|s| {
            s.spawn(move || drop(lent));
        });
        assert_eq!(pool.stats().idle_buffers, 1);
        let owned = pool.rent_owned(100).unwrap();
        std::thread::spawn(move || drop(owned)).join().unwrap();
        assert_eq!(pool.stats().hits, 1);
        assert_eq!(pool.stats().idle_buffers, 1);
    }

    #[test]
    fn a_lent_buffer_keeps_its_slot_until_it_returns() {
        let pool = BytePool::builder().max_idle_per_class(1).build().unwrap();
        drop(pool.rent(100).unwrap());
        let lent = pool.rent(100).unwrap();
        // The only slot is locked by `lent`: an owned buffer has nowhere to go.
        drop(pool.rent_owned(100).unwrap());
        assert_eq!(pool.stats().discarded, 1);
        drop(lent);
        let stats = pool.stats();
        assert_eq!((stats.idle_buffers, stats.returned), (1, 2));
        // `into_owned` releases the slot empty, so the buffer can return to it.
        let owned = pool.rent(100).unwrap().into_owned();
        assert_eq!(pool.stats().idle_buffers, 0);
        drop(owned);
        assert_eq!(pool.stats().idle_buffers, 1);
    }

    #[test]
    fn a_buffer_dropped_while_unwinding_returns() {
        let pool = BytePool::new();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut buf = pool.rent(4096).unwrap();
            buf.extend_from_slice(b"half-written");
            panic!("tenant panics while holding the buffer");
        }));
        assert!(result.is_err());
        assert_eq!(pool.stats().idle_buffers, 1);
        assert!(pool.rent(4096).unwrap().is_empty());
    }

    #[test]
    fn caps_hold_under_threads() {
        let pool = BytePool::builder()
            .max_buffer_size(64 * 1024)
            .max_idle_per_class(3)
            .max_idle_bytes(100 * 1024)
            .build()
            .unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let pool = &pool;
                s.spawn(move || {
                    for i in 0..2_000usize {
                        let len = [100, 1000, 5000, 60_000][(i + t) % 4];
                        let mut held: Vec<PooledBuf<'_>> = (0..(i % 4))
                            .map(|k| match (i + k) % 3 {
                                0 => pool.rent(len).unwrap(),
                                1 => pool.rent_owned(len).unwrap(),
                                _ => pool.rent(len).unwrap().into_owned(),
                            })
                            .collect();
                        for buf in &mut held {
                            assert!(buf.is_empty(), "a renter starts with nothing readable");
                            buf.push(t as u8);
                        }
                        let stats = pool.stats();
                        assert!(stats.idle_bytes <= 100 * 1024);
                        assert!(stats.classes.iter().all(|class| class.idle <= 3));
                    }
                });
            }
        });
        let stats = pool.stats();
        assert!(stats.idle_bytes <= 100 * 1024);
        assert_eq!(
            stats.misses,
            stats.idle_buffers as u64 + stats.discarded,
            "every buffer made is idle or was freed"
        );
        assert_eq!(stats.hits + stats.misses, stats.returned + stats.discarded);
    }

    #[test]
    fn too_many_idle_per_class_is_an_error() {
        let error = BytePool::builder()
            .max_idle_per_class(MAX_IDLE_PER_CLASS_LIMIT + 1)
            .build()
            .err();
        assert_eq!(
            error,
            Some(BytePoolBuildError::MaxIdlePerClass {
                requested: MAX_IDLE_PER_CLASS_LIMIT + 1,
                limit: MAX_IDLE_PER_CLASS_LIMIT,
            })
        );
    }
}
