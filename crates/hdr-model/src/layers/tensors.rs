//! Tensors whose buffers come from dfdx's allocation cache, and contiguous
//! copies of tensor values in pooled buffers.
//!
//! Every tensor a training step creates is allocated through the device's
//! cache ([`cached_tensor`]), which the learner enables on its device: a
//! dropped tensor's buffer then serves the next allocation of the same size.
//! Creating tensors from our own `Vec`s instead would add a buffer to that
//! cache every step and never take it out again.

use dfdx::prelude::*;

use crate::kernels::Buffer;

/// A tensor of `shape` holding `values`, its buffer allocated through the
/// device's cache.
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
    fn cached_tensor_holds_the_values() {
        let dev = Cpu::default();
        dev.enable_cache();
        let t = cached_tensor(&dev, (2, Const::<3>), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(t.as_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        drop(t);
        let u = cached_tensor(&dev, (3, Const::<2>), &[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
        assert_eq!(u.as_vec(), vec![6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
        assert_eq!(values_of(&u).to_vec(), u.as_vec());
    }
}
