//! Recycled scratch buffers for the tape ops, and tensors drawn from dfdx's
//! allocation cache.
//!
//! A training step moves tens of megabytes through short-lived buffers. Fresh
//! allocations of that size come from the OS as untouched pages, and faulting
//! them in cost more than the convolutions themselves (measured: ~2,300 page
//! faults per step at batch 128). So the ops' own buffers (input copies and
//! argmax maps kept for the backward pass, kernel outputs) come from a small
//! process-wide pool and go back to it when dropped, and every tensor a step
//! creates is allocated through dfdx's cache ([`cached_tensor`]), which
//! [`crate::Learner`] enables on its device: a dropped tensor's buffer then
//! serves the next allocation of the same size. Creating tensors from our own
//! `Vec`s instead would add a buffer to that cache every step and never take
//! it out again.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use dfdx::prelude::*;

/// Buffers kept for reuse, per element type; beyond this many, dropped ones are freed.
const KEEP: usize = 16;
/// Bytes kept for reuse, per element type; beyond this, dropped buffers are freed.
const KEEP_BYTES: usize = 64 << 20;

static F32_POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());
static U8_POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Element types with a pool.
pub(crate) trait Pooled: Copy + Default + Send + 'static {
    /// This type's pool.
    fn pool() -> &'static Mutex<Vec<Vec<Self>>>;
}

impl Pooled for f32 {
    fn pool() -> &'static Mutex<Vec<Vec<f32>>> {
        &F32_POOL
    }
}

impl Pooled for u8 {
    fn pool() -> &'static Mutex<Vec<Vec<u8>>> {
        &U8_POOL
    }
}

/// A buffer of `len` elements from the pool, returned to it on drop. Its
/// contents are unspecified (left from an earlier use): callers overwrite it.
pub(crate) struct Buffer<T: Pooled> {
    data: Vec<T>,
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
                .filter(|(_, b)| b.capacity() >= len && b.capacity() / 2 <= len)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            best.map(|i| pool.swap_remove(i))
        };
        let mut data = reused.unwrap_or_default();
        data.resize(len, T::default());
        Self { data }
    }
}

impl<T: Pooled> Drop for Buffer<T> {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
        let kept: usize = pool.iter().map(Vec::capacity).sum();
        let bytes = (kept + data.capacity()) * std::mem::size_of::<T>();
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

/// A tensor of `shape` holding `values`, its buffer allocated through the
/// device's cache (see the module docs).
pub(crate) fn cached_tensor<S: Shape>(dev: &Cpu, shape: S, values: &[f32]) -> Tensor<S, f32, Cpu> {
    let mut t = dev.zeros_like(&shape);
    t.copy_from(values);
    t
}

/// A contiguous copy of `x`'s values in a pooled buffer.
pub(crate) fn values_of<S: Shape, T>(x: &Tensor<S, f32, Cpu, T>) -> Buffer<f32> {
    let mut buf = Buffer::take(x.shape().num_elements());
    x.copy_into(&mut buf);
    buf
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
    fn cached_tensor_holds_the_values() {
        let dev = Cpu::default();
        dev.enable_cache();
        let t = cached_tensor(&dev, (2, Const::<3>), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(t.as_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        drop(t);
        let u = cached_tensor(&dev, (3, Const::<2>), &[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
        assert_eq!(u.as_vec(), vec![6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
    }
}
