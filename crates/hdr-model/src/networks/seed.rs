//! The seed's network: Conv(32) → ReLU → Pool → Conv(64) → ReLU → Pool →
//! Flatten → Dropout → Dense(10), as in the Keras project hdr recreates.
//!
//! Every layer's input and output sizes are part of its type and the forward
//! pass chains them, so the compiler checks the shape arithmetic
//! (28 - 3 + 1 = 26, 26 / 2 = 13, 13 - 3 + 1 = 11, floor(11 / 2) = 5,
//! 5 * 5 * 64 = 1600); `tests/compile_fail/` holds chains that must not compile.
//!
//! ```
//! use hdr_model::{dfdx::prelude::*, dfdx::nn::Module, seed::*, Linear, Nhwc, Features};
//! let dev = Cpu::default();
//! let (conv1, conv2) = (Conv1::zeros(&dev), Conv2::zeros(&dev));
//! let dense: Dense = Linear { weight: dev.zeros(), bias: dev.zeros() };
//! let x: Nhwc<28, 28, 1> = dev.zeros_like(&(3, Const, Const, Const));
//! let a = Pool1::default().forward(conv1.forward(x).relu());
//! let a = Pool2::default().forward(conv2.forward(a).relu());
//! let logits: Features<10> = dense.forward(Flat::default().forward(a));
//! assert_eq!(logits.shape().0, 3);
//! ```

use dfdx::nn::{Module, ModuleVisitor, TensorCollection};
use dfdx::prelude::*;

use super::architecture::Architecture;
use super::network::{initialised, Network};
use crate::layers::{
    conv_relu_pool, maybe_dropout, Conv2D, Dropout, Features, Flatten, Linear, MaxPool2D, Nhwc,
};
use hdr_artifacts::{IMAGE_SIDE, NUM_CLASSES};

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

/// The seed's network, its parameters held in dfdx tensors.
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

    /// A freshly initialised network, reproducible from `seed` (see [`initialised`]).
    pub fn new(seed: u64) -> Self {
        initialised(seed)
    }
}

impl Network for Cnn {
    const ARCHITECTURE: Architecture = Architecture::Seed;
    const PARAMETERS: usize = Cnn::PARAMETERS;

    fn zeros(dev: &Cpu) -> Self {
        Self {
            conv1: Conv1::zeros(dev),
            pool1: MaxPool2D,
            conv2: Conv2::zeros(dev),
            pool2: MaxPool2D,
            flatten: Flatten,
            dense: Linear {
                weight: dev.zeros(),
                bias: dev.zeros(),
            },
        }
    }

    fn forward<T: Tape<f32, Cpu>>(
        &self,
        x: Nhwc<IMAGE_SIDE, IMAGE_SIDE, 1, T>,
        dropout: Option<Dropout>,
        input_grad: bool,
    ) -> Features<NUM_CLASSES, T> {
        let a = conv_relu_pool(&self.conv1, &self.pool1, x, input_grad);
        let a = conv_relu_pool(&self.conv2, &self.pool2, a, true);
        self.dense
            .forward(maybe_dropout(self.flatten.forward(a), dropout))
    }

    fn forward_layers<T: Tape<f32, Cpu>>(
        &self,
        x: Nhwc<IMAGE_SIDE, IMAGE_SIDE, 1, T>,
        dropout: Option<Dropout>,
    ) -> Features<NUM_CLASSES, T> {
        let a = self.pool1.forward(self.conv1.forward(x).relu());
        let a = self.pool2.forward(self.conv2.forward(a).relu());
        self.dense
            .forward(maybe_dropout(self.flatten.forward(a), dropout))
    }

    fn describe() -> Vec<String> {
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

/// Lists the parameterised layers, whose tensors are then named
/// `conv1.weight`, `conv1.bias`, ... (the weights file's names).
impl TensorCollection<f32, Cpu> for Cnn {
    /// Converting to another dtype/device is not supported (the kernels are f32, CPU).
    type To<E2: Dtype, D2: Device<E2>> = ();

    fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(
        visitor: &mut V,
    ) -> Result<Option<()>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("dense", |s| &s.dense, |s| &mut s.dense),
            ),
            |_| (),
        )
    }
}
