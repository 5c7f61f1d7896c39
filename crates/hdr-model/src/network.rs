//! The seed's network, its layer types and its forward passes.
//!
//! Every layer's input and output sizes are part of its type, and the forward
//! pass chains them, so the compiler checks the shape arithmetic
//! (28 - 3 + 1 = 26, 26 / 2 = 13, 13 - 3 + 1 = 11, floor(11 / 2) = 5,
//! 5 * 5 * 64 = 1600). The matching chain compiles:
//!
//! ```
//! use hdr_model::{dfdx::prelude::*, dfdx::nn::Module, network::*};
//! use hdr_model::network::Linear; // dfdx's module (the prelude's `Linear` is its builder)
//! let dev = Cpu::default();
//! let (conv1, conv2) = (Conv1::zeros(&dev), Conv2::zeros(&dev));
//! let dense: Dense = Linear { weight: dev.zeros(), bias: dev.zeros() };
//! let x: Nhwc<28, 28, 1> = dev.zeros_like(&(3, Const, Const, Const));
//! let a = Pool1::default().forward(conv1.forward(x).relu());
//! let a = Pool2::default().forward(conv2.forward(a).relu());
//! let logits: Features<10> = dense.forward(Flat::default().forward(a));
//! assert_eq!(logits.shape().0, 3);
//! ```
//!
//! A second convolution that claims a 12x12 output does not compile:
//! ```compile_fail,E0080
//! use hdr_model::{dfdx::prelude::*, dfdx::nn::Module, network::*, Conv2D};
//! let dev = Cpu::default();
//! let x: Nhwc<13, 13, 32> = dev.zeros_like(&(3, Const, Const, Const));
//! let y = Conv2D::<32, 64, 3, 13, 13, 12, 12>::zeros(&dev).forward(x);
//! ```
//!
//! Nor does a second pooling that claims 6x6 (rounding up instead of flooring):
//! ```compile_fail,E0080
//! use hdr_model::{dfdx::prelude::*, dfdx::nn::Module, network::*, MaxPool2D};
//! let dev = Cpu::default();
//! let x: Nhwc<11, 11, 64> = dev.zeros_like(&(3, Const, Const, Const));
//! let y = MaxPool2D::<2, 11, 11, 6, 6>.forward(x);
//! ```
//!
//! Nor a dense layer expecting 1700 inputs after the 1600-wide flatten:
//! ```compile_fail,E0277
//! use hdr_model::{dfdx::prelude::*, dfdx::nn::Module, network::*};
//! use hdr_model::network::Linear;
//! let dev = Cpu::default();
//! let dense: Linear<1700, 10, f32, Cpu> = Linear { weight: dev.zeros(), bias: dev.zeros() };
//! let x: Nhwc<5, 5, 64> = dev.zeros_like(&(3, Const, Const, Const));
//! let logits = dense.forward(Flat::default().forward(x));
//! ```
//!
//! Nor a second convolution declared for 12x12 inputs fed the 13x13 pooled maps:
//! ```compile_fail,E0308
//! use hdr_model::{dfdx::prelude::*, dfdx::nn::Module, network::*, Conv2D};
//! let dev = Cpu::default();
//! let x: Nhwc<28, 28, 1> = dev.zeros_like(&(3, Const, Const, Const));
//! let a = Pool1::default().forward(Conv1::zeros(&dev).forward(x).relu());
//! let y = Conv2D::<32, 64, 3, 12, 12, 10, 10>::zeros(&dev).forward(a);
//! ```

pub use dfdx::nn::modules::Linear;
use dfdx::nn::{Module, ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::prelude::*;
use rand::distributions::{Distribution, Uniform};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::block::conv_relu_pool;
pub use crate::conv::Conv2D;
pub use crate::pool::MaxPool2D;
pub use crate::shapes::{Features, Flatten, Nhwc};
use crate::{IMAGE_SIDE, NUM_CLASSES};

/// First convolution: 1x28x28 -> 32x26x26.
pub type Conv1 = Conv2D<1, 32, 3, IMAGE_SIDE, IMAGE_SIDE, 26, 26>;
/// First pooling: 26x26 -> 13x13.
pub type Pool1 = MaxPool2D<2, 26, 26, 13, 13>;
/// Second convolution: 32x13x13 -> 64x11x11.
pub type Conv2 = Conv2D<32, 64, 3, 13, 13, 11, 11>;
/// Second pooling: 11x11 -> 5x5 (the last row and column are dropped).
pub type Pool2 = MaxPool2D<2, 11, 11, 5, 5>;
/// Flatten: 5x5x64 -> 1600.
pub type Flat = Flatten<5, 5, 64, FEATURES>;
/// The classifier head: 1600 -> 10 logits (dfdx's `Linear`; weight `[10, 1600]`).
pub type Dense = Linear<FEATURES, NUM_CLASSES, f32, Cpu>;

/// Width of the flattened features the dropout and dense layers see.
pub const FEATURES: usize = 1600;

/// The seed's network: Conv(32) → ReLU → Pool → Conv(64) → ReLU → Pool →
/// Flatten → Dropout → Dense(10), its parameters held in dfdx tensors.
///
/// Activations are NHWC. Parameter tensors (also the safetensors names):
/// `conv1.weight [3,3,1,32]`, `conv1.bias [32]`, `conv2.weight [3,3,32,64]`,
/// `conv2.bias [64]` (kernels HWIO like Keras), `dense.weight [10,1600]`
/// (output, input — like PyTorch; the input index is Keras' flatten order
/// row, column, channel), `dense.bias [10]`.
#[derive(Debug, Clone)]
pub struct Cnn {
    /// 1 -> 32 channels, 28 -> 26.
    pub conv1: Conv1,
    /// 26 -> 13.
    pub pool1: Pool1,
    /// 32 -> 64 channels, 13 -> 11.
    pub conv2: Conv2,
    /// 11 -> 5.
    pub pool2: Pool2,
    /// 5x5x64 -> 1600.
    pub flatten: Flat,
    /// 1600 -> 10.
    pub dense: Dense,
}

impl Cnn {
    /// Number of trainable parameters: 320 + 18,496 + 16,010.
    pub const PARAMETERS: usize =
        Conv1::PARAMETERS + Conv2::PARAMETERS + FEATURES * NUM_CLASSES + NUM_CLASSES;

    /// A freshly initialised network (Keras-like initialisation), reproducible from `seed`.
    ///
    /// Glorot-uniform kernels drawn from ChaCha8 seeded with `seed` (conv1,
    /// then conv2, then dense), zero biases.
    pub fn new(seed: u64) -> Self {
        let dev = Cpu::default();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let conv1 = Conv1::glorot(&dev, &mut rng);
        let conv2 = Conv2::glorot(&dev, &mut rng);
        let limit = (6.0 / (FEATURES + NUM_CLASSES) as f64).sqrt() as f32;
        let dist = Uniform::new_inclusive(-limit, limit);
        let w: Vec<f32> = (0..FEATURES * NUM_CLASSES)
            .map(|_| dist.sample(&mut rng))
            .collect();
        let dense = Linear {
            weight: dev.tensor_from_vec(w, Default::default()),
            bias: dev.zeros(),
        };
        Self::from_layers(conv1, conv2, dense)
    }

    /// Assembles a network from its parameterised layers.
    pub fn from_layers(conv1: Conv1, conv2: Conv2, dense: Dense) -> Self {
        Self {
            conv1,
            pool1: MaxPool2D,
            conv2,
            pool2: MaxPool2D,
            flatten: Flatten,
            dense,
        }
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Cpu {
        self.conv1.weight.device()
    }

    /// Logits through the fused typed layers (conv, ReLU and pool fused per
    /// block, see [`conv_relu_pool`]) on dfdx's tape: the forward pass of
    /// [`crate::Learner::train_step`] (with an owned tape) and of
    /// [`crate::Learner::evaluate`] (without one).
    /// `dropout_mask` (already scaled, e.g. 0 or 1/(1-rate)) multiplies the
    /// flattened features; `input_grad: false` skips the gradient w.r.t. the
    /// images (and lets the first block run its fast backward kernel).
    pub fn forward<T: Tape<f32, Cpu>>(
        &self,
        x: Nhwc<IMAGE_SIDE, IMAGE_SIDE, 1, T>,
        dropout_mask: Option<Features<FEATURES>>,
        input_grad: bool,
    ) -> Features<NUM_CLASSES, T> {
        let a = conv_relu_pool(&self.conv1, &self.pool1, x, input_grad);
        let a = conv_relu_pool(&self.conv2, &self.pool2, a, true);
        self.head(self.flatten.forward(a), dropout_mask)
    }

    /// Logits through the separate typed layers (Conv2D, dfdx ReLU, MaxPool2D);
    /// the reference the fused path is tested against.
    pub fn forward_layers<T: Tape<f32, Cpu>>(
        &self,
        x: Nhwc<IMAGE_SIDE, IMAGE_SIDE, 1, T>,
        dropout_mask: Option<Features<FEATURES>>,
    ) -> Features<NUM_CLASSES, T> {
        let a = self.pool1.forward(self.conv1.forward(x).relu());
        let a = self.pool2.forward(self.conv2.forward(a).relu());
        self.head(self.flatten.forward(a), dropout_mask)
    }

    fn head<T: Tape<f32, Cpu>>(
        &self,
        features: Features<FEATURES, T>,
        dropout_mask: Option<Features<FEATURES>>,
    ) -> Features<NUM_CLASSES, T> {
        let features = match dropout_mask {
            Some(mask) => features * mask,
            None => features,
        };
        self.dense.forward(features)
    }

    /// The architecture lines of the model card, derived from the layer types.
    pub fn architecture() -> Vec<String> {
        vec![
            format!("input: 1x{IMAGE_SIDE}x{IMAGE_SIDE} grey, pixels / 255"),
            Conv1::describe("conv1"),
            "relu1: ReLU -> 32x26x26".to_string(),
            Pool1::describe("pool1", 32),
            Conv2::describe("conv2"),
            "relu2: ReLU -> 64x11x11".to_string(),
            Pool2::describe("pool2", 64),
            Flat::describe("flatten"),
            format!("dropout: Dropout (training only) -> {FEATURES}"),
            format!("dense: Dense {FEATURES}->{NUM_CLASSES} + bias -> {NUM_CLASSES}"),
            format!("softmax: Softmax -> {NUM_CLASSES}"),
        ]
    }
}

/// Lets dfdx walk the parameters (gradient allocation, optimizers, saving),
/// under the same names as the safetensors file.
impl TensorCollection<f32, Cpu> for Cnn {
    /// Converting to another dtype/device is not supported (the kernels are f32, CPU).
    type To<E2: Dtype, D2: Device<E2>> = ();

    fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(
        visitor: &mut V,
    ) -> Result<Option<()>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "conv1.weight",
                    |s| &s.conv1.weight,
                    |s| &mut s.conv1.weight,
                    TensorOptions::reset_to_zeros(),
                ),
                Self::tensor(
                    "conv1.bias",
                    |s| &s.conv1.bias,
                    |s| &mut s.conv1.bias,
                    TensorOptions::reset_to_zeros(),
                ),
                Self::tensor(
                    "conv2.weight",
                    |s| &s.conv2.weight,
                    |s| &mut s.conv2.weight,
                    TensorOptions::reset_to_zeros(),
                ),
                Self::tensor(
                    "conv2.bias",
                    |s| &s.conv2.bias,
                    |s| &mut s.conv2.bias,
                    TensorOptions::reset_to_zeros(),
                ),
                Self::tensor(
                    "dense.weight",
                    |s| &s.dense.weight,
                    |s| &mut s.dense.weight,
                    TensorOptions::reset_to_zeros(),
                ),
                Self::tensor(
                    "dense.bias",
                    |s| &s.dense.bias,
                    |s| &mut s.dense.bias,
                    TensorOptions::reset_to_zeros(),
                ),
            ),
            |_| (),
        )
    }
}
