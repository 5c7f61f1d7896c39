//! Batched inference on raw 8-bit images.

use crate::direct::{self, Weights};
use crate::network::Cnn;
use crate::{ModelError, Prediction, IMAGE_PIXELS, NUM_CLASSES};
use std::path::Path;

/// Images per forward pass: bounds memory, large enough to keep both cores busy.
const BATCH: usize = 1024;

/// Inference on batches of raw 28x28 u8 images (pixels / 255 inside), on all cores.
#[derive(Debug, Clone)]
pub struct Classifier {
    cnn: Cnn,
    /// The parameters as plain vectors, for the tape-free forward pass.
    weights: Weights,
}

impl Classifier {
    /// Wraps a network for inference.
    pub fn new(cnn: Cnn) -> Self {
        Self {
            weights: Weights::of(&cnn),
            cnn,
        }
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
        self.predict_with(images.len() / IMAGE_PIXELS, |i, dst| {
            let src = &images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS];
            for (d, &p) in dst.iter_mut().zip(src) {
                *d = p as f32 / 255.0;
            }
        })
    }

    /// Like [`Classifier::predict`] for images already scaled to [0, 1] (B*784 floats).
    pub fn predict_scaled(&self, images: &[f32]) -> Vec<Prediction> {
        assert!(
            images.len().is_multiple_of(IMAGE_PIXELS),
            "predict_scaled: not a whole number of images"
        );
        self.predict_with(images.len() / IMAGE_PIXELS, |i, dst| {
            dst.copy_from_slice(&images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS])
        })
    }

    /// Predictions for `n` images, `fill(i, dst)` writing image `i`'s scaled
    /// pixels; in slices of [`BATCH`] images to bound memory.
    fn predict_with(&self, n: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<Prediction> {
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(BATCH) {
            let len = BATCH.min(n - start);
            let logits = direct::logits(&self.weights, len, |i, dst| fill(start + i, dst));
            out.extend(logits.chunks_exact(NUM_CLASSES).map(prediction_from_logits));
        }
        out
    }
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
