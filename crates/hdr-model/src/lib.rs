//! The seed's CNN on dfdx, with hand-written Conv2D and MaxPool2D layers whose
//! shapes are checked at compile time.
//!
//! - [`network`]: the layer types ([`Conv2D`], [`MaxPool2D`], [`Flatten`], dfdx's
//!   `Linear`) and [`Cnn`], whose forward pass chains them so the compiler checks
//!   every size (see the `compile_fail` examples there);
//! - [`Learner`]: training steps on dfdx's tape — the images enter as a traced
//!   tensor, the typed conv blocks ([`conv_relu_pool`]: Conv2D → ReLU →
//!   MaxPool2D as one op with its own backward) and [`Flatten`], a dropout
//!   mask multiply, dfdx's `Linear` and `cross_entropy_with_logits_loss`, then
//!   `backward()` and Adam (dfdx's update kernel) on the resulting gradients;
//! - [`Classifier`]: batched inference on raw bytes;
//! - weights as safetensors with self-describing names ([`io::TENSORS`]).
//!
//! Activations are NHWC. The seed network's two blocks run kernels written
//! for them (conv1 as direct loops fused with ReLU and pooling; conv2 as
//! Winograd F(2x2, 3x3) fused with bias, ReLU and pooling; a sparse conv2
//! backward over the surviving argmax positions), hand-vectorised with
//! AVX-512 when the CPU has it and portable loops otherwise. Inference
//! ([`Classifier`]) runs the same kernels without a tape, and so does
//! [`Learner::train_step_untaped`], the cross-check and benchmark baseline of
//! the tape path. Work is split over the batch in fixed-size chunks and
//! per-chunk sums are added in chunk order, so results are bit-identical
//! whatever the number of threads.

use serde::{Deserialize, Serialize};

mod block;
mod buffers;
mod conv;
mod direct;
mod inference;
pub mod io;
mod kernels;
mod learner;
pub mod network;
mod pool;
mod shapes;

pub use block::conv_relu_pool;
pub use conv::Conv2D;
pub use dfdx;
pub use inference::Classifier;
pub use learner::{dropout_mask, Learner};
pub use network::Cnn;
pub use pool::MaxPool2D;
pub use shapes::{Features, Flatten, Nhwc};

/// Side of a square input image, in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels per input image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of output classes.
pub const NUM_CLASSES: usize = 10;
/// File name of the weights inside `artifacts/train/`.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of the model card inside `artifacts/train/`.
pub const CARD_FILE: &str = "model.json";

/// Everything that can go wrong loading or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A weights file that does not match the architecture (missing, extra or
    /// mis-shaped tensor, truncated file).
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What does not match.
        message: String,
    },
}

/// One image's answer: the digit and the probability of every class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// The most probable digit.
    pub digit: u8,
    /// Softmax probabilities, summing to 1.
    pub probabilities: [f32; NUM_CLASSES],
}

impl Prediction {
    /// The probability of the predicted digit.
    pub fn confidence(&self) -> f32 {
        self.probabilities[self.digit as usize]
    }
}

/// `model.json`: what the weights file holds and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// One line per layer with its output shape, e.g. `conv1: Conv2D 1->32 3x3 valid -> 32x26x26`.
    pub architecture: Vec<String>,
    /// Trainable parameters.
    pub parameters: usize,
    /// The `[train]` config it was trained with.
    pub train_config: serde_json::Value,
    /// sha256 of the train split it was trained on.
    pub data_sha256: String,
    /// Epochs run.
    pub epochs_trained: usize,
    /// The epoch whose weights were kept (1-based).
    pub best_epoch: usize,
    /// Validation accuracy of the kept weights.
    pub best_val_accuracy: f64,
}

impl ModelCard {
    /// The architecture lines of this crate's network.
    pub fn architecture() -> Vec<String> {
        Cnn::architecture()
    }
}

/// Sum of the batch's losses and number of correct predictions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepOutput {
    /// Sum over the batch of the cross-entropy loss (divide by the batch size for the mean).
    pub loss_sum: f64,
    /// How many argmax predictions equal the label.
    pub correct: usize,
}
