//! A run of convolutions, each with its ReLU and some with 2x2 max pooling,
//! as one op on dfdx's tape.
//!
//! Each layer on its own is an op whose output is a dfdx tensor, and dfdx
//! gives no way to write a tensor's storage or read it in place: every
//! output is filled and then copied in, copied out again by the next
//! layer, and its gradient allocated zeroed, all on one thread while the
//! workers wait (a fifth of a training step of the deep network). Inside a
//! stack the activations between layers stay in this crate's buffers; only
//! the stack's input and output are dfdx tensors. The kernels, and so the
//! values and gradients, are those of the single-layer ops
//! ([`Conv2D::forward_relu`], [`conv_relu_pool`](super::conv_relu_pool)),
//! bit for bit (tests check it).
//!
//! The builder's types chain the layers: each one's input shape is the
//! previous one's output, checked at compile time like the layers themselves.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::conv::{add_into, Conv2D};
use super::pool::MaxPool2D;
use super::shapes::Nhwc;
use super::tensors::{cached_tensor, values_of};
use crate::kernels::{self, Block, Buffer, ConvGeom, ConvKernel, PoolGeom};

/// Adds a layer's kernel and bias gradients to dfdx's.
type AddGrads = Box<dyn FnOnce(&mut Gradients<f32, Cpu>, &[f32], &[f32]) -> Result<(), CpuError>>;

/// One layer of a stack: geometry, parameter values, and where its
/// gradients go.
struct Layer {
    conv: ConvGeom,
    pool: Option<PoolGeom>,
    weight: Vec<f32>,
    bias: Vec<f32>,
    add_grads: AddGrads,
}

impl Layer {
    fn new<
        const IC: usize,
        const OC: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        conv: &Conv2D<IC, OC, K, H, W, OH, OW>,
        pool: Option<PoolGeom>,
    ) -> Self {
        let () = Conv2D::<IC, OC, K, H, W, OH, OW>::SHAPE_CHECK;
        let (w, b) = (conv.weight.ghost(), conv.bias.ghost());
        Self {
            conv: Conv2D::<IC, OC, K, H, W, OH, OW>::GEOM,
            pool,
            weight: conv.weight.as_vec(),
            bias: conv.bias.as_vec(),
            add_grads: Box::new(move |grads, dw, db| {
                add_into(grads.get_or_alloc_mut(&w)?, dw);
                add_into(grads.get_or_alloc_mut(&b)?, db);
                Ok(())
            }),
        }
    }

    /// Floats (and argmax bytes) per sample of the layer's output.
    fn out_len(&self) -> usize {
        self.pool.map_or(self.conv.out_len(), |p| p.out_len())
    }
}

/// A layer's kernels, ready for its backward pass.
enum Prepared {
    /// conv + bias + ReLU; the backward pass masks by the layer's output.
    Conv(ConvKernel),
    /// conv + bias + ReLU + pool, and where each pooled value came from.
    Pooled(Block, Buffer<u8>),
}

/// A stack from input `IH x IW x IC` whose layers so far end at `H x W x C`.
pub struct Stack<
    const IH: usize,
    const IW: usize,
    const IC: usize,
    const H: usize,
    const W: usize,
    const C: usize,
> {
    layers: Vec<Layer>,
}

impl<const IH: usize, const IW: usize, const IC: usize> Stack<IH, IW, IC, IH, IW, IC> {
    /// An empty stack on `IH x IW x IC` inputs.
    pub fn new() -> Self {
        Self { layers: Vec::new() }
    }
}

impl<const IH: usize, const IW: usize, const IC: usize> Default for Stack<IH, IW, IC, IH, IW, IC> {
    fn default() -> Self {
        Self::new()
    }
}

impl<
        const IH: usize,
        const IW: usize,
        const IC: usize,
        const H: usize,
        const W: usize,
        const C: usize,
    > Stack<IH, IW, IC, H, W, C>
{
    /// Then `relu(conv(..))`.
    pub fn conv_relu<const OC: usize, const K: usize, const OH: usize, const OW: usize>(
        mut self,
        conv: &Conv2D<C, OC, K, H, W, OH, OW>,
    ) -> Stack<IH, IW, IC, OH, OW, OC> {
        self.layers.push(Layer::new(conv, None));
        Stack {
            layers: self.layers,
        }
    }

    /// Then `pool(relu(conv(..)))`.
    pub fn conv_relu_pool<
        const OC: usize,
        const K: usize,
        const MH: usize,
        const MW: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
    >(
        mut self,
        conv: &Conv2D<C, OC, K, H, W, MH, MW>,
        _pool: &MaxPool2D<P, MH, MW, OH, OW>,
    ) -> Stack<IH, IW, IC, OH, OW, OC> {
        let () = MaxPool2D::<P, MH, MW, OH, OW>::SHAPE_CHECK;
        let pool = MaxPool2D::<P, MH, MW, OH, OW>::geom(OC);
        self.layers.push(Layer::new(conv, Some(pool)));
        Stack {
            layers: self.layers,
        }
    }

    /// The stack on `x`, as one op on the tape. `input_grad: false` skips
    /// the gradient w.r.t. `x` (for a first layer, whose input is data).
    pub fn forward<T: Tape<f32, Cpu>>(
        mut self,
        x: Nhwc<IH, IW, IC, T>,
        input_grad: bool,
    ) -> Nhwc<H, W, C, T> {
        assert!(!self.layers.is_empty(), "a stack needs at least one layer");
        let (x, mut tape) = x.contiguous().split_tape();
        let batch = x.shape().0;
        // acts[i] is layer i's input; the last is the stack's output.
        let mut acts = vec![values_of(&x)];
        let mut prepared = Vec::with_capacity(self.layers.len());
        // The kernels take the parameter values; the layers keep what the
        // backward pass needs (geometry, where the gradients go).
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let wants_dx = i > 0 || input_grad;
            let mut out = Buffer::<f32>::take(batch * layer.out_len());
            let input = &acts[i];
            prepared.push(match layer.pool {
                None => {
                    let kernel = ConvKernel::new(&layer.conv, std::mem::take(&mut layer.weight));
                    kernels::conv_forward(&layer.conv, input, &kernel, &layer.bias, true, &mut out);
                    Prepared::Conv(kernel)
                }
                Some(pool) => {
                    let block = Block::new(
                        layer.conv,
                        pool,
                        std::mem::take(&mut layer.weight),
                        std::mem::take(&mut layer.bias),
                        wants_dx,
                    );
                    let mut argmax = Buffer::<u8>::take(batch * pool.out_len());
                    block.forward(input, &mut out, &mut argmax);
                    Prepared::Pooled(block, argmax)
                }
            });
            acts.push(out);
        }
        let out = cached_tensor(
            x.device(),
            (batch, Const, Const, Const),
            acts.last().expect("one layer"),
        );
        if T::OWNS_TAPE {
            let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
            tape.add_backward_op(move |grads| {
                let d_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
                // The gradient w.r.t. the current layer's output: the
                // stack's, then each layer's input gradient in turn.
                let mut d_inner: Option<Buffer<f32>> = None;
                for (i, (layer, prepared)) in
                    self.layers.into_iter().zip(prepared).enumerate().rev()
                {
                    let (input, d) = (&acts[i], d_inner.as_deref().unwrap_or(&d_out));
                    let mut dx = (i > 0 || input_grad).then(|| zeroed(input.len()));
                    let (dw, db) = match &prepared {
                        Prepared::Conv(kernel) => kernels::conv_backward(
                            &layer.conv,
                            input,
                            batch,
                            kernel,
                            d,
                            Some(&acts[i + 1]),
                            dx.as_deref_mut(),
                        ),
                        Prepared::Pooled(block, argmax) => {
                            block.backward(input, d, argmax, dx.as_deref_mut())
                        }
                    };
                    (layer.add_grads)(grads, &dw, &db)?;
                    d_inner = dx;
                }
                if let Some(dx) = d_inner {
                    add_into(grads.get_or_alloc_mut(&x_ghost)?, &dx);
                }
                **grads.get_or_alloc_mut(&out_ghost)? = d_out;
                Ok(())
            });
        }
        out.put_tape(tape)
    }
}

/// A pooled buffer of `len` zeros, filled by the worker threads (the
/// activations' gradients run to megabytes, and the main thread alone
/// would fill them while the workers wait).
fn zeroed(len: usize) -> Buffer<f32> {
    let mut buf = Buffer::<f32>::take(len);
    buf.par_chunks_mut(1 << 14).for_each(|run| run.fill(0.0));
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_data::random;
    use crate::layers::conv_relu_pool;

    type ConvA = Conv2D<8, 8, 3, 12, 11, 10, 9>;
    type ConvB = Conv2D<8, 16, 3, 10, 9, 8, 7>;
    type Pool = MaxPool2D<2, 8, 7, 4, 3>;

    /// The stack gives the bits of the single-layer ops one after the
    /// other: values, and the gradients of `sum(y * r)` w.r.t. the input
    /// (when asked for) and every kernel and bias.
    #[test]
    fn a_stack_equals_its_layers_one_op_each() {
        let dev = Cpu::default();
        let (mut a, mut b) = (ConvA::zeros(&dev), ConvB::zeros(&dev));
        a.weight.copy_from(&random(9 * 8 * 8, 1));
        a.bias.copy_from(&random(8, 2));
        b.weight.copy_from(&random(9 * 8 * 16, 3));
        b.bias.copy_from(&random(16, 4));
        let batch = 11;
        let x_data = random(batch * 12 * 11 * 8, 5);
        let r = dev.tensor_from_vec(random(batch * 4 * 3 * 16, 6), (batch, Const, Const, Const));
        for input_grad in [true, false] {
            let run = |stacked: bool| {
                let x: Nhwc<12, 11, 8> =
                    dev.tensor_from_vec(x_data.clone(), (batch, Const, Const, Const));
                let traced = x.leaky_trace();
                let y = if stacked {
                    Stack::new()
                        .conv_relu(&a)
                        .conv_relu_pool(&b, &Pool::default())
                        .forward(traced, input_grad)
                } else {
                    conv_relu_pool(
                        &b,
                        &Pool::default(),
                        a.forward_relu(traced, input_grad),
                        true,
                    )
                };
                let values = y.retaped::<NoneTape>().as_vec();
                let grads = (y * r.clone()).sum().backward();
                let mut all = vec![values];
                if input_grad {
                    all.push(grads.get(&x).as_vec());
                }
                for p in [grads.get(&a.weight).as_vec(), grads.get(&a.bias).as_vec()] {
                    all.push(p);
                }
                all.push(grads.get(&b.weight).as_vec());
                all.push(grads.get(&b.bias).as_vec());
                all.iter()
                    .map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            };
            let (stacked, layers) = (run(true), run(false));
            assert!(layers.iter().all(|v| v.iter().any(|b| *b != 0)));
            assert_eq!(stacked, layers, "input_grad {input_grad}");
        }
    }
}
