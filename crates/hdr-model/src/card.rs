//! `model.json`: what a weights file holds and how it was made.

use serde::{Deserialize, Serialize};

use crate::networks::Architecture;

/// `model.json`: what the weights file holds and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Which network (`[model] architecture`).
    #[serde(default)]
    pub network: Architecture,
    /// One line per layer with its output shape, e.g. `conv1: Conv2D 1->32 3x3 valid -> 32x26x26`.
    pub architecture: Vec<String>,
    /// Trainable parameters.
    pub parameters: usize,
    /// The kernel build that trained the weights (`avx512` or `portable`, see
    /// [`crate::kernel_path`]); empty in cards written before it was recorded.
    #[serde(default)]
    pub kernels: String,
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
