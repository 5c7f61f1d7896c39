//! `Conv2D`: a valid-padding, stride-1 2-D convolution with bias, as a dfdx module.

use dfdx::nn::{Module, ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::prelude::*;

use super::shapes::Nhwc;
use super::tensors::{cached_tensor, values_of};
use crate::kernels::{self, Buffer, ConvGeom, ConvKernel};

/// A valid-padding, stride-1 convolution with bias over NHWC batches, whose
/// input and output sizes are part of its type.
///
/// The relation `OUT = IN - K + 1` is checked when the layer is constructed
/// or run (a const assertion evaluated at monomorphisation), and chaining
/// layers makes their tensor types meet, so a mis-sized network does not compile.
///
/// Parameters, in dfdx tensors so dfdx's optimizers and safetensors see them:
/// - `weight`: `[K, K, IN_C, OUT_C]` (kernel row, kernel column, input channel,
///   output channel), Keras' HWIO kernel layout;
/// - `bias`: `[OUT_C]`.
///
/// ```
/// use hdr_model::{dfdx::prelude::*, dfdx::nn::Module, Conv2D};
/// let dev = Cpu::default();
/// let conv = Conv2D::<1, 32, 3, 28, 28, 26, 26>::zeros(&dev);
/// let x: Tensor<(usize, Const<28>, Const<28>, Const<1>), f32, Cpu> = dev.zeros_like(&(2, Const, Const, Const));
/// let y: Tensor<(usize, Const<26>, Const<26>, Const<32>), f32, Cpu> = conv.forward(x);
/// assert_eq!(y.shape().0, 2);
/// ```
///
/// A declared output that does not follow from the input fails to compile
/// (see `tests/compile_fail/`).
#[derive(Debug, Clone)]
pub struct Conv2D<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const IN_H: usize,
    const IN_W: usize,
    const OUT_H: usize,
    const OUT_W: usize,
> {
    /// Kernel, `[K, K, IN_C, OUT_C]` (HWIO).
    pub weight: Tensor<Rank4<K, K, IN_C, OUT_C>, f32, Cpu>,
    /// Bias, `[OUT_C]`.
    pub bias: Tensor<Rank1<OUT_C>, f32, Cpu>,
}

impl<
        const IN_C: usize,
        const OUT_C: usize,
        const K: usize,
        const IN_H: usize,
        const IN_W: usize,
        const OUT_H: usize,
        const OUT_W: usize,
    > Conv2D<IN_C, OUT_C, K, IN_H, IN_W, OUT_H, OUT_W>
{
    /// Compile-time proof that the declared output size follows from the input.
    pub const SHAPE_CHECK: () = assert!(
        K >= 1 && IN_C >= 1 && OUT_C >= 1 && OUT_H + K == IN_H + 1 && OUT_W + K == IN_W + 1,
        "Conv2D: a valid, stride-1 convolution needs OUT_H = IN_H - K + 1 and OUT_W = IN_W - K + 1"
    );

    /// Number of trainable parameters (kernel and bias).
    pub const PARAMETERS: usize = K * K * IN_C * OUT_C + OUT_C;

    pub(crate) const GEOM: ConvGeom = ConvGeom {
        in_c: IN_C,
        out_c: OUT_C,
        k: K,
        in_h: IN_H,
        in_w: IN_W,
        out_h: OUT_H,
        out_w: OUT_W,
    };

    /// A layer with all parameters zero.
    pub fn zeros(dev: &Cpu) -> Self {
        let () = Self::SHAPE_CHECK;
        Self {
            weight: dev.zeros(),
            bias: dev.zeros(),
        }
    }

    /// One line for the model card, e.g. `conv1: Conv2D 1->32 3x3 valid + bias -> 32x26x26`.
    pub fn describe(name: &str) -> String {
        let () = Self::SHAPE_CHECK;
        format!("{name}: Conv2D {IN_C}->{OUT_C} {K}x{K} valid + bias -> {OUT_C}x{OUT_H}x{OUT_W}")
    }

    /// Forward pass; `input_grad: false` skips the input gradient in the
    /// backward pass (for a first layer, whose input is data).
    pub fn forward_with<T: Tape<f32, Cpu>>(
        &self,
        x: Nhwc<IN_H, IN_W, IN_C, T>,
        input_grad: bool,
    ) -> Nhwc<OUT_H, OUT_W, OUT_C, T> {
        self.run(x, input_grad, false)
    }

    /// `relu(conv(x))` as one op on the tape: the same values and gradients
    /// as `forward_with(x, input_grad).relu()`, with the ReLU and its
    /// gradient done by the convolution's parallel chunks instead of a
    /// separate pass over the whole batch.
    pub fn forward_relu<T: Tape<f32, Cpu>>(
        &self,
        x: Nhwc<IN_H, IN_W, IN_C, T>,
        input_grad: bool,
    ) -> Nhwc<OUT_H, OUT_W, OUT_C, T> {
        self.run(x, input_grad, true)
    }

    fn run<T: Tape<f32, Cpu>>(
        &self,
        x: Nhwc<IN_H, IN_W, IN_C, T>,
        input_grad: bool,
        relu: bool,
    ) -> Nhwc<OUT_H, OUT_W, OUT_C, T> {
        let () = Self::SHAPE_CHECK;
        let g = Self::GEOM;
        let (x, mut tape) = x.contiguous().split_tape();
        let batch = x.shape().0;
        let x_data = values_of(&x);
        let kernel = ConvKernel::new(&g, self.weight.as_vec());
        let mut out = Buffer::take(batch * g.out_len());
        kernels::conv_forward(&g, &x_data, &kernel, &self.bias.as_vec(), relu, &mut out);
        let out_tensor = cached_tensor(x.device(), (batch, Const, Const, Const), &out);
        // The backward pass of a ReLU needs the outputs; a plain one does not.
        let relu_out = relu.then_some(out);
        if T::OWNS_TAPE {
            let (x_ghost, out_ghost) = (x.ghost(), out_tensor.ghost());
            let (w_ghost, b_ghost) = (self.weight.ghost(), self.bias.ghost());
            tape.add_backward_op(move |grads| {
                grads.try_alloc_for(&w_ghost)?;
                grads.try_alloc_for(&b_ghost)?;
                let d_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
                let relu_out = relu_out.as_deref();
                let (dw, db) = if input_grad {
                    let mut dx = std::mem::take(&mut **grads.get_or_alloc_mut(&x_ghost)?);
                    let r = kernels::conv_backward(
                        &g,
                        &x_data,
                        batch,
                        &kernel,
                        &d_out,
                        relu_out,
                        Some(&mut dx),
                    );
                    **grads.get_or_alloc_mut(&x_ghost)? = dx;
                    r
                } else {
                    kernels::conv_backward(&g, &x_data, batch, &kernel, &d_out, relu_out, None)
                };
                **grads.get_or_alloc_mut(&out_ghost)? = d_out;
                add_into(grads.get_or_alloc_mut(&w_ghost)?, &dw);
                add_into(grads.get_or_alloc_mut(&b_ghost)?, &db);
                Ok(())
            });
        }
        out_tensor.put_tape(tape)
    }
}

/// Lets dfdx and this crate's parameter visitors walk the kernel and bias.
impl<
        const IN_C: usize,
        const OUT_C: usize,
        const K: usize,
        const IN_H: usize,
        const IN_W: usize,
        const OUT_H: usize,
        const OUT_W: usize,
    > TensorCollection<f32, Cpu> for Conv2D<IN_C, OUT_C, K, IN_H, IN_W, OUT_H, OUT_W>
{
    /// Converting to another dtype/device is not supported (the kernels are f32, CPU).
    type To<E2: Dtype, D2: Device<E2>> = ();

    fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(
        visitor: &mut V,
    ) -> Result<Option<()>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_to_zeros(),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_to_zeros(),
                ),
            ),
            |_| (),
        )
    }
}

/// `acc += v`, elementwise.
pub(crate) fn add_into(acc: &mut [f32], v: &[f32]) {
    assert_eq!(acc.len(), v.len());
    acc.iter_mut().zip(v).for_each(|(a, b)| *a += b);
}

impl<
        const IN_C: usize,
        const OUT_C: usize,
        const K: usize,
        const IN_H: usize,
        const IN_W: usize,
        const OUT_H: usize,
        const OUT_W: usize,
        T: Tape<f32, Cpu>,
    > Module<Nhwc<IN_H, IN_W, IN_C, T>> for Conv2D<IN_C, OUT_C, K, IN_H, IN_W, OUT_H, OUT_W>
{
    type Output = Nhwc<OUT_H, OUT_W, OUT_C, T>;
    type Error = CpuError;

    fn try_forward(&self, x: Nhwc<IN_H, IN_W, IN_C, T>) -> Result<Self::Output, CpuError> {
        Ok(self.forward_with(x, true))
    }
}

#[cfg(test)]
mod tests {
    use dfdx::nn::Module;

    use super::*;
    use crate::kernels::test_data::random;
    use crate::layers::test_ops::values_and_grads;

    /// `forward_relu` gives the bits of `forward(..).relu()`, and the same
    /// gradients, on an im2col geometry and a Winograd one.
    fn fused_relu_equals_the_separate_ops<
        const IN_C: usize,
        const OUT_C: usize,
        const IN_H: usize,
        const IN_W: usize,
        const OUT_H: usize,
        const OUT_W: usize,
    >() {
        let dev = Cpu::default();
        let mut conv = Conv2D::<IN_C, OUT_C, 3, IN_H, IN_W, OUT_H, OUT_W>::zeros(&dev);
        conv.weight.copy_from(&random(9 * IN_C * OUT_C, 1));
        conv.bias.copy_from(&random(OUT_C, 2));
        let batch = 11;
        let x_data = random(batch * IN_H * IN_W * IN_C, 3);
        let r = random(batch * OUT_H * OUT_W * OUT_C, 4);
        let fused = values_and_grads(&conv.weight, &conv.bias, &x_data, &r, batch, |x| {
            conv.forward_relu(x, true)
        });
        let layers = values_and_grads(&conv.weight, &conv.bias, &x_data, &r, batch, |x| {
            conv.forward(x).relu()
        });
        assert!(fused[0].contains(&0.0) && fused[0].iter().any(|v| *v > 0.0));
        for (k, (a, b)) in fused.iter().zip(&layers).enumerate() {
            assert!(b.iter().any(|v| *v != 0.0), "quantity {k} is all zero");
            assert_eq!(a, b, "quantity {k}");
        }
    }

    #[test]
    fn fused_relu_on_im2col() {
        fused_relu_equals_the_separate_ops::<2, 5, 7, 6, 5, 4>();
    }

    #[test]
    fn fused_relu_on_winograd() {
        fused_relu_equals_the_separate_ops::<8, 9, 9, 8, 7, 6>();
    }
}
