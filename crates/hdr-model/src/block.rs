//! The fused Conv2D → ReLU → MaxPool2D op used by the network's hot path.
//!
//! Numerically the same as running the three typed layers one after the other
//! (tests check it), but the full-resolution convolution output is never
//! materialised: each chunk of samples is convolved into per-thread scratch,
//! rectified and pooled there, and only the pooled values plus one argmax byte
//! per pooled value are kept for the backward pass.

use dfdx::prelude::*;

use crate::conv::{add_into, Conv2D};
use crate::kernels;
use crate::pool::MaxPool2D;
use crate::shapes::Nhwc;

/// `pool(relu(conv(x)))` in one op. The types tie the conv's output to the
/// pool's input, so only a matching pair can be fused.
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
    let (x, mut tape) = x.split_tape();
    let batch = x.shape().0;
    let x_data = x.as_vec();
    let w = conv.weight.as_vec();
    let (out, argmax) = kernels::block_forward(&cg, &pg, &x_data, batch, &w, &conv.bias.as_vec());
    let out = x
        .device()
        .tensor_from_vec(out, (batch, Const, Const, Const));
    if T::OWNS_TAPE {
        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        let (w_ghost, b_ghost) = (conv.weight.ghost(), conv.bias.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&w_ghost)?;
            grads.try_alloc_for(&b_ghost)?;
            let d_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            let (dw, db) = if input_grad {
                let mut dx = std::mem::take(&mut **grads.get_or_alloc_mut(&x_ghost)?);
                let r = kernels::block_backward(
                    &cg,
                    &pg,
                    &x_data,
                    batch,
                    &w,
                    &d_out,
                    &argmax,
                    Some(&mut dx),
                );
                **grads.get_or_alloc_mut(&x_ghost)? = dx;
                r
            } else {
                kernels::block_backward(&cg, &pg, &x_data, batch, &w, &d_out, &argmax, None)
            };
            **grads.get_or_alloc_mut(&out_ghost)? = d_out;
            add_into(grads.get_or_alloc_mut(&w_ghost)?, &dw);
            add_into(grads.get_or_alloc_mut(&b_ghost)?, &db);
            Ok(())
        });
    }
    out.put_tape(tape)
}
