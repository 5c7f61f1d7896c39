//! `MaxPool2D`: `P x P` max pooling with stride `P`, flooring odd sizes like Keras.

use dfdx::nn::Module;
use dfdx::prelude::*;

use super::shapes::Nhwc;
use super::tensors::{cached_tensor, values_of};
use crate::kernels::{self, Buffer, PoolGeom};

/// Max pooling over `P x P` windows with stride `P` ("valid", like Keras'
/// `MaxPooling2D(P)`): `OUT = floor(IN / P)`, so with an odd input the last
/// row and column are never read and get a zero gradient (11 -> 5).
///
/// Ties: the first maximum in row-major window order (top-left first) gets
/// the whole gradient. Works on any number of channels (taken from the input type).
///
/// ```
/// use hdr_model::{dfdx::prelude::*, dfdx::nn::Module, MaxPool2D};
/// let dev = Cpu::default();
/// let x: Tensor<(usize, Const<11>, Const<11>, Const<64>), f32, Cpu> = dev.zeros_like(&(1, Const, Const, Const));
/// let y: Tensor<(usize, Const<5>, Const<5>, Const<64>), f32, Cpu> = MaxPool2D::<2, 11, 11, 5, 5>.forward(x);
/// # let _ = y;
/// ```
///
/// Rounding up instead of flooring does not compile (see `tests/compile_fail/`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MaxPool2D<
    const P: usize,
    const IN_H: usize,
    const IN_W: usize,
    const OUT_H: usize,
    const OUT_W: usize,
>;

impl<
        const P: usize,
        const IN_H: usize,
        const IN_W: usize,
        const OUT_H: usize,
        const OUT_W: usize,
    > MaxPool2D<P, IN_H, IN_W, OUT_H, OUT_W>
{
    /// Compile-time proof that the declared output size is `floor(IN / P)`.
    pub const SHAPE_CHECK: () = assert!(
        P >= 1 && P < 16 && OUT_H == IN_H / P && OUT_W == IN_W / P && OUT_H >= 1 && OUT_W >= 1,
        "MaxPool2D: OUT_H must be floor(IN_H / P) and OUT_W floor(IN_W / P)"
    );

    pub(crate) const fn geom(c: usize) -> PoolGeom {
        PoolGeom {
            p: P,
            in_h: IN_H,
            in_w: IN_W,
            out_h: OUT_H,
            out_w: OUT_W,
            c,
        }
    }

    /// One line for the model card, e.g. `pool1: MaxPool2D 2x2 stride 2 -> 32x13x13`.
    pub fn describe(name: &str, channels: usize) -> String {
        let () = Self::SHAPE_CHECK;
        let floor = if !IN_H.is_multiple_of(P) || !IN_W.is_multiple_of(P) {
            " (floor)"
        } else {
            ""
        };
        format!("{name}: MaxPool2D {P}x{P} stride {P}{floor} -> {channels}x{OUT_H}x{OUT_W}")
    }
}

impl<
        const P: usize,
        const IN_H: usize,
        const IN_W: usize,
        const OUT_H: usize,
        const OUT_W: usize,
        const C: usize,
        T: Tape<f32, Cpu>,
    > Module<Nhwc<IN_H, IN_W, C, T>> for MaxPool2D<P, IN_H, IN_W, OUT_H, OUT_W>
{
    type Output = Nhwc<OUT_H, OUT_W, C, T>;
    type Error = CpuError;

    fn try_forward(&self, x: Nhwc<IN_H, IN_W, C, T>) -> Result<Self::Output, CpuError> {
        let () = Self::SHAPE_CHECK;
        let g = Self::geom(C);
        let (x, mut tape) = x.contiguous().split_tape();
        let batch = x.shape().0;
        let mut out = Buffer::take(batch * g.out_len());
        let mut argmax = Buffer::<u8>::take(batch * g.out_len());
        kernels::pool_forward_batch(&g, &values_of(&x), &mut out, &mut argmax);
        let out = cached_tensor(x.device(), (batch, Const, Const, Const), &out);
        if T::OWNS_TAPE {
            let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
            tape.add_backward_op(move |grads| {
                let d_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
                kernels::pool_backward_batch(
                    &g,
                    &d_out,
                    &argmax,
                    grads.get_or_alloc_mut(&x_ghost)?,
                );
                **grads.get_or_alloc_mut(&out_ghost)? = d_out;
                Ok(())
            });
        }
        Ok(out.put_tape(tape))
    }
}
