//! Walks a network's parameters in the order its `TensorCollection` lists
//! them, under their safetensors names: the one list that initialisation,
//! weights files, the optimizer and checkpoints all use.

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
    ViewTensorRef,
};
use dfdx::prelude::*;
use rand::distributions::{Distribution, Uniform};
use rand::Rng;

/// One parameter tensor's name (e.g. `conv1.weight`), shape and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The name in weights files.
    pub name: String,
    /// Its dimensions.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

/// Calls `f(name, tensor)` for every parameter of `net`, in order.
pub(crate) fn for_each_ref<N: TensorCollection<f32, Cpu>>(
    net: &N,
    mut f: impl FnMut(&str, ParamRef<'_>),
) {
    struct Walk<F>(F);
    impl<F: FnMut(&str, ParamRef<'_>)> TensorVisitor<f32, Cpu> for Walk<F> {
        type Viewer = (ViewTensorRef, ViewTensorName);
        type Err = std::convert::Infallible;
        type E2 = f32;
        type D2 = Cpu;
        fn visit<S: Shape>(
            &mut self,
            _: TensorOptions<S, f32, Cpu>,
            (t, name): (&Tensor<S, f32, Cpu>, String),
        ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
            (self.0)(&name, ParamRef(t));
            Ok(None)
        }
    }
    let _ = N::iter_tensors(&mut RecursiveWalker {
        m: (net, String::new()),
        f: &mut Walk(&mut f),
    });
}

/// Calls `f(name, tensor)` for every parameter of `net`, in order, mutably;
/// stops at the first error.
pub(crate) fn for_each_mut<N: TensorCollection<f32, Cpu>, E>(
    net: &mut N,
    mut f: impl FnMut(&str, ParamMut<'_>) -> Result<(), E>,
) -> Result<(), E> {
    struct Walk<F>(F);
    impl<E, F: FnMut(&str, ParamMut<'_>) -> Result<(), E>> TensorVisitor<f32, Cpu> for Walk<F> {
        type Viewer = (ViewTensorMut, ViewTensorName);
        type Err = E;
        type E2 = f32;
        type D2 = Cpu;
        fn visit<S: Shape>(
            &mut self,
            _: TensorOptions<S, f32, Cpu>,
            (t, name): (&mut Tensor<S, f32, Cpu>, String),
        ) -> Result<Option<Tensor<S, f32, Cpu>>, E> {
            (self.0)(&name, ParamMut(t))?;
            Ok(None)
        }
    }
    N::iter_tensors(&mut RecursiveWalker {
        m: (net, String::new()),
        f: &mut Walk(&mut f),
    })
    .map(|_| ())
}

/// A parameter tensor, its shape erased.
pub(crate) struct ParamRef<'a>(&'a dyn ErasedTensor);
/// A mutable parameter tensor, its shape erased.
pub(crate) struct ParamMut<'a>(&'a mut dyn ErasedTensor);

/// What the walkers need of a tensor whatever its shape.
pub(crate) trait ErasedTensor {
    /// Dimensions.
    fn dims(&self) -> Vec<usize>;
    /// Values, row-major.
    fn values(&self) -> Vec<f32>;
    /// Overwrites the values (the length is the caller's to check).
    fn set_values(&mut self, values: &[f32]);
    /// Runs dfdx's Adam update on this tensor with its moments and gradient,
    /// each looked up (or allocated as zeros) in the given gradient sets.
    fn adam_update(
        &mut self,
        cfg: &dfdx::optim::AdamConfig,
        step: i32,
        moments: [&mut Gradients<f32, Cpu>; 2],
        grads: &mut Gradients<f32, Cpu>,
    );
    /// This tensor's entry in `grads` (allocated as zeros if missing).
    fn entry<'g>(&self, grads: &'g mut Gradients<f32, Cpu>) -> &'g mut Vec<f32>;
}

impl<S: Shape> ErasedTensor for Tensor<S, f32, Cpu> {
    fn dims(&self) -> Vec<usize> {
        self.shape().concrete().into_iter().collect()
    }
    fn values(&self) -> Vec<f32> {
        self.as_vec()
    }
    fn set_values(&mut self, values: &[f32]) {
        self.copy_from(values);
    }
    fn adam_update(
        &mut self,
        cfg: &dfdx::optim::AdamConfig,
        step: i32,
        [m, v]: [&mut Gradients<f32, Cpu>; 2],
        grads: &mut Gradients<f32, Cpu>,
    ) {
        let g = grads.get_or_alloc_mut(self).expect("cpu allocation");
        let m = m.get_or_alloc_mut(self).expect("cpu allocation");
        let v = v.get_or_alloc_mut(self).expect("cpu allocation");
        cfg.try_update(step, self, m, v, g)
            .expect("cpu adam kernel");
    }
    fn entry<'g>(&self, grads: &'g mut Gradients<f32, Cpu>) -> &'g mut Vec<f32> {
        grads.get_or_alloc_mut(self).expect("cpu allocation")
    }
}

impl ParamRef<'_> {
    /// Dimensions.
    pub(crate) fn dims(&self) -> Vec<usize> {
        self.0.dims()
    }
    /// Values, row-major.
    pub(crate) fn values(&self) -> Vec<f32> {
        self.0.values()
    }
    /// This tensor's entry in `grads` (zeros if it had none).
    pub(crate) fn entry<'g>(&self, grads: &'g mut Gradients<f32, Cpu>) -> &'g mut Vec<f32> {
        self.0.entry(grads)
    }
}

impl ParamMut<'_> {
    /// Dimensions.
    pub(crate) fn dims(&self) -> Vec<usize> {
        self.0.dims()
    }
    /// Overwrites the values (lengths already checked).
    pub(crate) fn set_values(&mut self, values: &[f32]) {
        self.0.set_values(values)
    }
    /// dfdx's Adam update of this tensor.
    pub(crate) fn adam_update(
        &mut self,
        cfg: &dfdx::optim::AdamConfig,
        step: i32,
        moments: [&mut Gradients<f32, Cpu>; 2],
        grads: &mut Gradients<f32, Cpu>,
    ) {
        self.0.adam_update(cfg, step, moments, grads)
    }
}

/// Every parameter's name, shape and values, in order.
pub fn params<N: TensorCollection<f32, Cpu>>(net: &N) -> Vec<Param> {
    let mut out = Vec::new();
    for_each_ref(net, |name, t| {
        out.push(Param {
            name: name.to_string(),
            shape: t.dims(),
            values: t.values(),
        })
    });
    out
}

/// Keras' default initialisation, drawn in parameter order from `rng`:
/// Glorot-uniform kernels (limit `sqrt(6 / (fan_in + fan_out))`), zero biases.
/// A rank-4 kernel is HWIO (`fan_in = K*K*IN`, `fan_out = K*K*OUT`), a rank-2
/// one `[out, in]`.
pub(crate) fn glorot_init<N: TensorCollection<f32, Cpu>>(net: &mut N, rng: &mut impl Rng) {
    let result: Result<(), std::convert::Infallible> = for_each_mut(net, |_, mut t| {
        let dims = t.dims();
        let (fan_in, fan_out) = match dims[..] {
            [kh, kw, i, o] => (kh * kw * i, kh * kw * o),
            [o, i] => (i, o),
            _ => return Ok(()), // biases stay zero
        };
        let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
        let dist = Uniform::new_inclusive(-limit, limit);
        let values: Vec<f32> = (0..dims.iter().product::<usize>())
            .map(|_| dist.sample(rng))
            .collect();
        t.set_values(&values);
        Ok(())
    });
    let Ok(()) = result;
}
