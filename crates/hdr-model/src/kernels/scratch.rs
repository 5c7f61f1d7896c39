//! Scratch memory for the kernels: per-thread slots for a chunk's
//! temporaries, and a process-wide pool for buffers that outlive a call.
//!
//! A training step moves tens of megabytes through short-lived buffers.
//! Fresh allocations of that size come from the OS as untouched pages, and
//! faulting them in can cost more than the convolutions themselves. So:
//! - a chunk's temporaries (im2col rows, full-resolution conv outputs, pooled
//!   maps) live in this thread's [`Scratch`] slots, which keep their capacity;
//! - buffers handed from a forward pass to its backward pass (pooled outputs,
//!   argmax maps, input copies) come from a small pool ([`Buffer`]) and go
//!   back to it when dropped.
//!
//! Every float slot is cache-line aligned, so 512-bit loads at offsets that
//! are multiples of 16 floats never straddle two lines.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// One cache line of floats.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A float buffer whose start is cache-line aligned.
#[derive(Clone, Debug, Default)]
pub(crate) struct Aligned {
    lines: Vec<Line>,
    len: usize,
}

impl Aligned {
    /// `len` zeros.
    pub(crate) fn zeros(len: usize) -> Self {
        let mut a = Self::default();
        a.sized(len).fill(0.0);
        a
    }

    /// Grows the buffer to at least `len` floats and returns the first `len`
    /// (new floats are zero, old ones keep their values).
    pub(crate) fn sized(&mut self, len: usize) -> &mut [f32] {
        let lines = len.div_ceil(16);
        if self.lines.len() < lines {
            self.lines.resize(lines, Line::default());
        }
        self.len = len;
        &mut self[..]
    }
}

impl Deref for Aligned {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` around `[f32; 16]` with size 64 and no
        // padding, so the lines are `16 * lines.len() >= len` contiguous floats.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }
}

impl DerefMut for Aligned {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`; the borrow is unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

/// Float slots per thread.
const FLOAT_SLOTS: usize = 6;
/// Byte slots per thread.
const BYTE_SLOTS: usize = 2;

/// This thread's scratch slots; a kernel sizes the ones it needs with
/// [`Aligned::sized`] / [`sized`] and may leave stale values in them.
#[derive(Default)]
pub(crate) struct Scratch {
    /// Float slots.
    pub floats: [Aligned; FLOAT_SLOTS],
    /// Byte slots (argmax maps).
    pub bytes: [Vec<u8>; BYTE_SLOTS],
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch slots. Not reentrant: a kernel takes
/// the slots once per chunk and passes them down.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| f(&mut s.borrow_mut()))
}

/// Grows `v` to at least `len` elements and returns the first `len`.
pub(crate) fn sized<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}

/// Pooled buffers kept for reuse, per element type; beyond this many, dropped ones are freed.
const KEEP: usize = 64;
/// Bytes kept for reuse, per element type; beyond this, dropped buffers are freed.
const KEEP_BYTES: usize = 64 << 20;

static F32_POOL: Mutex<Vec<Aligned>> = Mutex::new(Vec::new());
static U8_POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Element types with a pool, and the storage their buffers use.
pub(crate) trait Pooled: Copy + Default + Send + 'static {
    /// Growable storage of this type (aligned for floats).
    type Storage: Default + Send + Deref<Target = [Self]> + DerefMut;
    /// This type's pool.
    fn pool() -> &'static Mutex<Vec<Self::Storage>>;
    /// Elements `storage` can hold without reallocating.
    fn capacity(storage: &Self::Storage) -> usize;
    /// Makes `storage` exactly `len` elements long.
    fn resize(storage: &mut Self::Storage, len: usize);
}

impl Pooled for f32 {
    type Storage = Aligned;
    fn pool() -> &'static Mutex<Vec<Aligned>> {
        &F32_POOL
    }
    fn capacity(storage: &Aligned) -> usize {
        storage.lines.capacity() * 16
    }
    fn resize(storage: &mut Aligned, len: usize) {
        storage.sized(len);
    }
}

impl Pooled for u8 {
    type Storage = Vec<u8>;
    fn pool() -> &'static Mutex<Vec<Vec<u8>>> {
        &U8_POOL
    }
    fn capacity(storage: &Vec<u8>) -> usize {
        storage.capacity()
    }
    fn resize(storage: &mut Vec<u8>, len: usize) {
        storage.resize(len, 0);
    }
}

/// A buffer of `len` elements from the pool, returned to it on drop. Its
/// contents are unspecified (left from an earlier use): callers overwrite it.
pub(crate) struct Buffer<T: Pooled> {
    data: T::Storage,
}

impl<T: Pooled> Buffer<T> {
    /// A buffer of exactly `len` elements, reusing a pooled one large enough if any.
    pub(crate) fn take(len: usize) -> Self {
        let reused = {
            let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
            // The smallest one that fits and is not more than twice too big,
            // so big buffers stay for big requests.
            let best = pool
                .iter()
                .enumerate()
                .filter(|(_, b)| T::capacity(b) >= len && T::capacity(b) / 2 <= len)
                .min_by_key(|(_, b)| T::capacity(b))
                .map(|(i, _)| i);
            best.map(|i| pool.swap_remove(i))
        };
        let mut data = reused.unwrap_or_default();
        T::resize(&mut data, len);
        Self { data }
    }

    /// A buffer of `len` zeros.
    pub(crate) fn zeros(len: usize) -> Self {
        let mut b = Self::take(len);
        b.fill(T::default());
        b
    }
}

impl<T: Pooled> Drop for Buffer<T> {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
        let kept: usize = pool.iter().map(T::capacity).sum();
        let bytes = (kept + T::capacity(&data)) * std::mem::size_of::<T>();
        if pool.len() < KEEP && bytes <= KEEP_BYTES {
            pool.push(data);
        }
    }
}

impl<T: Pooled> Deref for Buffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.data
    }
}

impl<T: Pooled> DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_have_the_asked_length_and_are_reused() {
        let mut a = Buffer::<f32>::take(1000);
        assert_eq!(a.len(), 1000);
        a.fill(1.0);
        drop(a);
        // Other tests share the pool: only the lengths are certain.
        let b = Buffer::<f32>::take(10);
        assert_eq!(b.len(), 10);
        let c = Buffer::<u8>::take(7);
        assert_eq!(c.len(), 7);
        let d = Buffer::<f32>::take(3000);
        assert_eq!(d.len(), 3000);
    }

    #[test]
    fn aligned_slots_start_on_a_cache_line_and_keep_values_when_grown() {
        let mut a = Aligned::zeros(5);
        a[4] = 2.0;
        assert_eq!(a.as_ptr() as usize % 64, 0);
        let grown = a.sized(40);
        assert_eq!((grown.len(), grown[4], grown[39]), (40, 2.0, 0.0));
        with_scratch(|s| {
            let slot = s.floats[0].sized(100);
            assert_eq!((slot.len(), slot.as_ptr() as usize % 64), (100, 0));
        });
    }
}
