//! Batched inference on raw 8-bit images.

use dfdx::prelude::*;

use crate::network::Cnn;
use crate::{ModelError, Prediction, IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
use std::path::Path;

/// Images per forward pass: bounds memory, large enough to keep both cores busy.
const BATCH: usize = 1024;

/// Inference on batches of raw 28x28 u8 images (pixels / 255 inside), on all cores.
#[derive(Debug, Clone)]
pub struct Classifier {
    cnn: Cnn,
}

impl Classifier {
    /// Wraps a network for inference.
    pub fn new(cnn: Cnn) -> Self {
        Self { cnn }
    }

    /// Loads `model.safetensors` (the path to the file itself).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Ok(Self::new(Cnn::load(path)?))
    }

    /// The wrapped network.
    pub fn cnn(&self) -> &Cnn {
        &self.cnn
    }

    /// Predicts every image in `images` (784 bytes each, row-major, 0 = background).
    ///
    /// # Panics
    /// If `images.len()` is not a multiple of 784.
    pub fn predict(&self, images: &[u8]) -> Vec<Prediction> {
        assert!(
            images.len().is_multiple_of(IMAGE_PIXELS),
            "predict: {} bytes is not a whole number of {IMAGE_PIXELS}-pixel images",
            images.len()
        );
        let mut out = Vec::with_capacity(images.len() / IMAGE_PIXELS);
        for batch in images.chunks(BATCH * IMAGE_PIXELS) {
            let pixels: Vec<f32> = batch.iter().map(|&p| p as f32 / 255.0).collect();
            out.extend(
                logits_of(&self.cnn, pixels)
                    .chunks_exact(NUM_CLASSES)
                    .map(prediction_from_logits),
            );
        }
        out
    }

    /// Like [`Classifier::predict`] for images already scaled to [0, 1] (B*784 floats).
    pub fn predict_scaled(&self, images: &[f32]) -> Vec<Prediction> {
        assert!(
            images.len().is_multiple_of(IMAGE_PIXELS),
            "predict_scaled: not a whole number of images"
        );
        images
            .chunks(BATCH * IMAGE_PIXELS)
            .flat_map(|batch| {
                logits_of(&self.cnn, batch.to_vec())
                    .chunks_exact(NUM_CLASSES)
                    .map(prediction_from_logits)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// Logits `[B, 10]` of `pixels` (B*784 floats in [0, 1]), no dropout, no tape.
pub(crate) fn logits_of(cnn: &Cnn, pixels: Vec<f32>) -> Vec<f32> {
    let b = pixels.len() / IMAGE_PIXELS;
    let x = cnn.device().tensor_from_vec(
        pixels,
        (b, Const::<IMAGE_SIDE>, Const::<IMAGE_SIDE>, Const::<1>),
    );
    cnn.forward(x, None, false).as_vec()
}

/// Index of the largest value; the first one on ties.
pub(crate) fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Softmax probabilities (computed in f64) and argmax of one image's logits.
pub(crate) fn prediction_from_logits(logits: &[f32]) -> Prediction {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let exps: Vec<f64> = logits.iter().map(|&v| (v as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    let mut probabilities = [0.0f32; NUM_CLASSES];
    for (p, e) in probabilities.iter_mut().zip(&exps) {
        *p = (e / sum) as f32;
    }
    Prediction {
        digit: argmax(logits) as u8,
        probabilities,
    }
}
