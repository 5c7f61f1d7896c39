//! The fused Conv2D → ReLU → MaxPool2D op: one op on dfdx's tape per block.
//!
//! Numerically the same as running the three typed layers one after the other
//! (tests check it), but the full-resolution convolution output is never
//! materialised: only the pooled values plus one argmax byte per pooled value
//! are kept for the backward pass.
//!
//! The kernels are picked by the block's geometry (see `kernels::Block`):
//! the seed network's two blocks run kernels written for them, other 3x3
//! blocks over 8 or more channels Winograd kernels with the pooling fused
//! into their tiles, any other geometry the generic im2col/GEMM kernels.

use dfdx::prelude::*;

use super::conv::{add_into, Conv2D};
use super::pool::MaxPool2D;
use super::shapes::Nhwc;
use super::tensors::{cached_tensor, values_of};
use crate::kernels::{Block, Buffer};

/// `pool(relu(conv(x)))` in one op on the tape. The types tie the conv's
/// output to the pool's input, so only a matching pair can be fused.
/// `input_grad: false` skips the gradient w.r.t. `x` (for a first layer,
/// whose input is data).
#[allow(clippy::type_complexity)]
pub fn conv_relu_pool<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const IN_H: usize,
    const IN_W: usize,
    const MID_H: usize,
    const MID_W: usize,
    const P: usize,
    const OUT_H: usize,
    const OUT_W: usize,
    T: Tape<f32, Cpu>,
>(
    conv: &Conv2D<IN_C, OUT_C, K, IN_H, IN_W, MID_H, MID_W>,
    _pool: &MaxPool2D<P, MID_H, MID_W, OUT_H, OUT_W>,
    x: Nhwc<IN_H, IN_W, IN_C, T>,
    input_grad: bool,
) -> Nhwc<OUT_H, OUT_W, OUT_C, T> {
    let () = Conv2D::<IN_C, OUT_C, K, IN_H, IN_W, MID_H, MID_W>::SHAPE_CHECK;
    let () = MaxPool2D::<P, MID_H, MID_W, OUT_H, OUT_W>::SHAPE_CHECK;
    let cg = Conv2D::<IN_C, OUT_C, K, IN_H, IN_W, MID_H, MID_W>::GEOM;
    let pg = MaxPool2D::<P, MID_H, MID_W, OUT_H, OUT_W>::geom(OUT_C);
    // Contiguous (a no-op unless `x` is a strided view), so its buffer is NHWC.
    let (x, mut tape) = x.contiguous().split_tape();
    let batch = x.shape().0;
    let x_data = values_of(&x);
    let mut out = Buffer::<f32>::take(batch * pg.out_len());
    let mut argmax = Buffer::<u8>::take(batch * pg.out_len());
    let block = Block::new(cg, pg, conv.weight.as_vec(), conv.bias.as_vec(), input_grad);
    block.forward(&x_data, &mut out, &mut argmax);
    let out = cached_tensor(x.device(), (batch, Const, Const, Const), &out);
    if T::OWNS_TAPE {
        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        let (w_ghost, b_ghost) = (conv.weight.ghost(), conv.bias.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&w_ghost)?;
            grads.try_alloc_for(&b_ghost)?;
            let d_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            let mut dx = if input_grad {
                Some(std::mem::take(&mut **grads.get_or_alloc_mut(&x_ghost)?))
            } else {
                None
            };
            let (dw, db) = block.backward(&x_data, &d_out, &argmax, dx.as_deref_mut());
            if let Some(dx) = dx {
                **grads.get_or_alloc_mut(&x_ghost)? = dx;
            }
            **grads.get_or_alloc_mut(&out_ghost)? = d_out;
            add_into(grads.get_or_alloc_mut(&w_ghost)?, &dw);
            add_into(grads.get_or_alloc_mut(&b_ghost)?, &db);
            Ok(())
        });
    }
    out.put_tape(tape)
}

#[cfg(test)]
mod tests {
    use dfdx::nn::Module;

    use super::*;
    use crate::kernels::test_data::random;
    use crate::layers::test_ops::values_and_grads;

    /// A geometry other than the seed's runs the generic kernels: same values
    /// and gradients as the separate typed layers.
    #[test]
    fn generic_geometry_equals_the_separate_layers() {
        let dev = Cpu::default();
        let mut conv = Conv2D::<2, 3, 3, 7, 6, 5, 4>::zeros(&dev);
        conv.weight.copy_from(&random(3 * 3 * 2 * 3, 1));
        conv.bias.copy_from(&random(3, 2));
        let pool = MaxPool2D::<2, 5, 4, 2, 2>;
        let batch = 11;
        let x_data = random(batch * 7 * 6 * 2, 3);
        let r = random(batch * 2 * 2 * 3, 4);
        let fused = values_and_grads(&conv.weight, &conv.bias, &x_data, &r, batch, |x| {
            conv_relu_pool(&conv, &pool, x, true)
        });
        let layers = values_and_grads(&conv.weight, &conv.bias, &x_data, &r, batch, |x| {
            pool.forward(conv.forward(x).relu())
        });
        for (k, (a, b)) in fused.iter().zip(&layers).enumerate() {
            assert!(b.iter().any(|v| *v != 0.0), "quantity {k} is all zero");
            for (x, y) in a.iter().zip(b) {
                assert!(
                    (x - y).abs() <= 1e-6 * (1.0 + y.abs()),
                    "quantity {k}: {x} vs {y}"
                );
            }
        }
    }
}
