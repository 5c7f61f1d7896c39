//! Activation types and the shape-only layers (Flatten).

use dfdx::nn::Module;
use dfdx::prelude::*;

/// A batch of NHWC images: runtime batch size, compile-time height, width, channels.
pub type Nhwc<const H: usize, const W: usize, const C: usize, T = NoneTape> =
    Tensor<(usize, Const<H>, Const<W>, Const<C>), f32, Cpu, T>;

/// A batch of flat feature vectors.
pub type Features<const N: usize, T = NoneTape> = Tensor<(usize, Const<N>), f32, Cpu, T>;

/// Flattens `H x W x C` NHWC samples into `OUT = H * W * C` features, in
/// (row, column, channel) order like Keras' `Flatten` on channels-last data.
/// Free: the data is already contiguous, only the shape changes. A declared
/// `OUT` other than `H * W * C` does not compile (see `tests/compile_fail/`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Flatten<const H: usize, const W: usize, const C: usize, const OUT: usize>;

impl<const H: usize, const W: usize, const C: usize, const OUT: usize> Flatten<H, W, C, OUT> {
    /// Compile-time proof that `OUT = H * W * C`.
    pub const SHAPE_CHECK: () = assert!(OUT == H * W * C, "Flatten: OUT must be H * W * C");

    /// One line for the model card.
    pub fn describe(name: &str) -> String {
        let () = Self::SHAPE_CHECK;
        format!("{name}: Flatten {H}x{W}x{C} (row, column, channel order) -> {OUT}")
    }
}

impl<const H: usize, const W: usize, const C: usize, const OUT: usize, T: Tape<f32, Cpu>>
    Module<Nhwc<H, W, C, T>> for Flatten<H, W, C, OUT>
{
    type Output = Features<OUT, T>;
    type Error = CpuError;

    fn try_forward(&self, x: Nhwc<H, W, C, T>) -> Result<Self::Output, CpuError> {
        let () = Self::SHAPE_CHECK;
        let batch = x.shape().0;
        x.try_reshape_like(&(batch, Const::<OUT>))
    }
}
