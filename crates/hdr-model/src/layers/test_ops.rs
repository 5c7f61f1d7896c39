//! What the layer tests compare between a fused op and the separate layers
//! it stands for.

use dfdx::prelude::*;

use super::shapes::Nhwc;

/// Runs `op` on the batch `x` (traced) and returns what a test compares:
/// its values, and the gradients of `sum(y * r)` with respect to `x` and
/// the op's convolution kernel `weight` and `bias`.
pub(super) fn values_and_grads<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const IN_H: usize,
    const IN_W: usize,
    const OUT_H: usize,
    const OUT_W: usize,
>(
    weight: &Tensor<Rank4<K, K, IN_C, OUT_C>, f32, Cpu>,
    bias: &Tensor<Rank1<OUT_C>, f32, Cpu>,
    x: &[f32],
    r: &[f32],
    batch: usize,
    op: impl FnOnce(
        Nhwc<IN_H, IN_W, IN_C, OwnedTape<f32, Cpu>>,
    ) -> Nhwc<OUT_H, OUT_W, OUT_C, OwnedTape<f32, Cpu>>,
) -> [Vec<f32>; 4] {
    let dev = weight.device().clone();
    let x: Nhwc<IN_H, IN_W, IN_C> = dev.tensor_from_vec(x.to_vec(), (batch, Const, Const, Const));
    let y = op(x.leaky_trace());
    let values = y.retaped::<NoneTape>().as_vec();
    let r = dev.tensor_from_vec(r.to_vec(), (batch, Const, Const, Const));
    let grads = (y * r).sum().backward();
    [
        values,
        grads.get(&x).as_vec(),
        grads.get(weight).as_vec(),
        grads.get(bias).as_vec(),
    ]
}
