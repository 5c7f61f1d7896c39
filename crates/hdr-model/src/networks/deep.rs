//! A deeper network: two pairs of 3x3 convolutions, each pair followed by
//! max pooling, then a hidden dense layer. The classic step up from the seed
//! model on MNIST.
//!
//! Conv(32) → ReLU → Conv(32) → ReLU → Pool → Conv(64) → ReLU → Conv(64) →
//! ReLU → Pool → Flatten (4x4x64 = 1024) → Dense(128) → ReLU → Dropout → Dense(10).
//!
//! Shapes: 28 → 26 → 24 → 12 → 10 → 8 → 4, all checked at compile time.

use dfdx::nn::{Module, ModuleVisitor, TensorCollection};
use dfdx::prelude::*;

use super::architecture::Architecture;
use super::network::{initialised, Network};
use crate::layers::{
    maybe_dropout, Conv2D, Dropout, Features, Flatten, Linear, MaxPool2D, Nhwc, Stack,
};
use hdr_artifacts::{IMAGE_SIDE, NUM_CLASSES};

/// 1x28x28 -> 32x26x26.
pub type Conv1 = Conv2D<1, 32, 3, IMAGE_SIDE, IMAGE_SIDE, 26, 26>;
/// 32x26x26 -> 32x24x24.
pub type Conv2 = Conv2D<32, 32, 3, 26, 26, 24, 24>;
/// 24x24 -> 12x12.
pub type Pool1 = MaxPool2D<2, 24, 24, 12, 12>;
/// 32x12x12 -> 64x10x10.
pub type Conv3 = Conv2D<32, 64, 3, 12, 12, 10, 10>;
/// 64x10x10 -> 64x8x8.
pub type Conv4 = Conv2D<64, 64, 3, 10, 10, 8, 8>;
/// 8x8 -> 4x4.
pub type Pool2 = MaxPool2D<2, 8, 8, 4, 4>;
/// 4x4x64 -> 1024.
pub type Flat = Flatten<4, 4, 64, FEATURES>;
/// 1024 -> 128.
pub type Hidden = Linear<FEATURES, HIDDEN, f32, Cpu>;
/// 128 -> 10 logits.
pub type Output = Linear<HIDDEN, NUM_CLASSES, f32, Cpu>;

/// Width of the flattened conv features.
pub const FEATURES: usize = 1024;
/// Width of the hidden dense layer (where dropout applies).
pub const HIDDEN: usize = 128;

/// The deep network's layers. Parameter tensors: `conv1`..`conv4`
/// `.weight` (HWIO) and `.bias`, `hidden.weight [128,1024]`, `hidden.bias`,
/// `output.weight [10,128]`, `output.bias`.
#[derive(Debug, Clone)]
pub struct Deep {
    /// 1 -> 32 channels, 28 -> 26.
    pub conv1: Conv1,
    /// 32 -> 32 channels, 26 -> 24.
    pub conv2: Conv2,
    /// 24 -> 12.
    pub pool1: Pool1,
    /// 32 -> 64 channels, 12 -> 10.
    pub conv3: Conv3,
    /// 64 -> 64 channels, 10 -> 8.
    pub conv4: Conv4,
    /// 8 -> 4.
    pub pool2: Pool2,
    /// 4x4x64 -> 1024.
    pub flatten: Flat,
    /// 1024 -> 128.
    pub hidden: Hidden,
    /// 128 -> 10.
    pub output: Output,
}

impl Deep {
    /// Number of trainable parameters.
    pub const PARAMETERS: usize = Conv1::PARAMETERS
        + Conv2::PARAMETERS
        + Conv3::PARAMETERS
        + Conv4::PARAMETERS
        + FEATURES * HIDDEN
        + HIDDEN
        + HIDDEN * NUM_CLASSES
        + NUM_CLASSES;

    /// A freshly initialised network, reproducible from `seed` (see [`initialised`]).
    pub fn new(seed: u64) -> Self {
        initialised(seed)
    }
}

impl Network for Deep {
    const ARCHITECTURE: Architecture = Architecture::Deep;
    const PARAMETERS: usize = Deep::PARAMETERS;

    fn zeros(dev: &Cpu) -> Self {
        Self {
            conv1: Conv1::zeros(dev),
            conv2: Conv2::zeros(dev),
            pool1: MaxPool2D,
            conv3: Conv3::zeros(dev),
            conv4: Conv4::zeros(dev),
            pool2: MaxPool2D,
            flatten: Flatten,
            hidden: Linear {
                weight: dev.zeros(),
                bias: dev.zeros(),
            },
            output: Linear {
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
        // The four convolutions as one op: their activations never become
        // dfdx tensors (see `Stack`).
        let a = Stack::new()
            .conv_relu(&self.conv1)
            .conv_relu_pool(&self.conv2, &self.pool1)
            .conv_relu(&self.conv3)
            .conv_relu_pool(&self.conv4, &self.pool2)
            .forward(x, input_grad);
        let h = self.hidden.forward(self.flatten.forward(a)).relu();
        self.output.forward(maybe_dropout(h, dropout))
    }

    fn forward_layers<T: Tape<f32, Cpu>>(
        &self,
        x: Nhwc<IMAGE_SIDE, IMAGE_SIDE, 1, T>,
        dropout: Option<Dropout>,
    ) -> Features<NUM_CLASSES, T> {
        let a = self.conv1.forward(x).relu();
        let a = self.pool1.forward(self.conv2.forward(a).relu());
        let a = self.conv3.forward(a).relu();
        let a = self.pool2.forward(self.conv4.forward(a).relu());
        let h = self.hidden.forward(self.flatten.forward(a)).relu();
        self.output.forward(maybe_dropout(h, dropout))
    }

    fn describe() -> Vec<String> {
        vec![
            format!("input: 1x{IMAGE_SIDE}x{IMAGE_SIDE} grey, pixels / 255"),
            Conv1::describe("conv1"),
            "relu1: ReLU -> 32x26x26".to_string(),
            Conv2::describe("conv2"),
            "relu2: ReLU -> 32x24x24".to_string(),
            Pool1::describe("pool1", 32),
            Conv3::describe("conv3"),
            "relu3: ReLU -> 64x10x10".to_string(),
            Conv4::describe("conv4"),
            "relu4: ReLU -> 64x8x8".to_string(),
            Pool2::describe("pool2", 64),
            Flat::describe("flatten"),
            format!("hidden: Dense {FEATURES}->{HIDDEN} + bias -> {HIDDEN}"),
            format!("relu5: ReLU -> {HIDDEN}"),
            format!("dropout: Dropout (training only) -> {HIDDEN}"),
            format!("output: Dense {HIDDEN}->{NUM_CLASSES} + bias -> {NUM_CLASSES}"),
            format!("softmax: Softmax -> {NUM_CLASSES}"),
        ]
    }
}

/// Lists the parameterised layers (tensors `conv1.weight`, ..., `output.bias`).
impl TensorCollection<f32, Cpu> for Deep {
    /// Converting to another dtype/device is not supported (the kernels are f32, CPU).
    type To<E2: Dtype, D2: Device<E2>> = ();

    fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(
        visitor: &mut V,
    ) -> Result<Option<()>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("conv3", |s| &s.conv3, |s| &mut s.conv3),
                Self::module("conv4", |s| &s.conv4, |s| &mut s.conv4),
                Self::module("hidden", |s| &s.hidden, |s| &mut s.hidden),
                Self::module("output", |s| &s.output, |s| &mut s.output),
            ),
            |_| (),
        )
    }
}
