//! What every network offers the learner, inference and weights files.

use dfdx::nn::TensorCollection;
use dfdx::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::architecture::Architecture;
use super::params::glorot_init;
use crate::layers::{Dropout, Features, Nhwc};
use hdr_artifacts::{IMAGE_SIDE, NUM_CLASSES};

/// A network of typed layers: its parameters (walked through its
/// `TensorCollection`, under their weights-file names), its forward pass on
/// dfdx's tape, and a description for the model card.
pub trait Network:
    TensorCollection<f32, Cpu> + Clone + std::fmt::Debug + Send + Sync + 'static
{
    /// Which network this is (recorded in weights files and checkpoints).
    const ARCHITECTURE: Architecture;
    /// Number of trainable parameters.
    const PARAMETERS: usize;

    /// A network with every parameter zero, on `dev`.
    fn zeros(dev: &Cpu) -> Self;

    /// Logits of a batch of images in [0, 1], through the fused layers.
    /// `dropout` (training) masks the features before the last dense layer;
    /// `input_grad: false` skips the gradient w.r.t. the images, which are data.
    fn forward<T: Tape<f32, Cpu>>(
        &self,
        x: Nhwc<IMAGE_SIDE, IMAGE_SIDE, 1, T>,
        dropout: Option<Dropout>,
        input_grad: bool,
    ) -> Features<NUM_CLASSES, T>;

    /// Logits through the separate typed layers (Conv2D, dfdx's ReLU,
    /// MaxPool2D, all on the generic kernels): the reference the fused path
    /// is tested against.
    fn forward_layers<T: Tape<f32, Cpu>>(
        &self,
        x: Nhwc<IMAGE_SIDE, IMAGE_SIDE, 1, T>,
        dropout: Option<Dropout>,
    ) -> Features<NUM_CLASSES, T>;

    /// One line per layer with its output shape, for the model card.
    fn describe() -> Vec<String>;
}

/// A freshly initialised network (Keras-like initialisation), reproducible
/// from `seed`: Glorot-uniform kernels drawn from ChaCha8 seeded with `seed`
/// in parameter order, zero biases.
pub fn initialised<N: Network>(seed: u64) -> N {
    let mut net = N::zeros(&Cpu::default());
    glorot_init(&mut net, &mut ChaCha8Rng::seed_from_u64(seed));
    net
}
