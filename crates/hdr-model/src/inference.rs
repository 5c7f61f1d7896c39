//! Batched inference on raw 8-bit images.

use std::path::Path;

use dfdx::prelude::*;
use rayon::prelude::*;

use crate::error::ModelError;
use crate::kernels::{argmax, softmax_into, SeedWeights, CHUNK};
use crate::layers::Nhwc;
use crate::networks::{params, with_network, AnyNetwork, Architecture, Network};
use hdr_artifacts::{IMAGE_PIXELS, NUM_CLASSES};

/// Images per pass of the seed network's fused kernels: bounds memory, large
/// enough to keep both cores busy.
const BATCH: usize = 1024;

/// Images per forward pass through a network's layers (the deep network):
/// each layer's whole output is a tensor (86 KB per image after the deep
/// network's first convolution), so smaller passes keep them in reused
/// buffers and in cache instead of faulting in fresh pages; still 16 chunks
/// for the cores to share.
const LAYER_BATCH: usize = 128;

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

    /// Softmax probabilities (computed in f64) and argmax of one image's logits.
    fn from_logits(logits: &[f32]) -> Self {
        let mut probabilities = [0.0f32; NUM_CLASSES];
        softmax_into(logits, &mut probabilities);
        Prediction {
            digit: argmax(logits) as u8,
            probabilities,
        }
    }
}

/// Inference on batches of raw 28x28 u8 images (pixels / 255 inside), on all
/// cores, for a network of any architecture.
#[derive(Debug, Clone)]
pub struct Classifier {
    network: AnyNetwork,
    /// The seed network's fused inference kernels (conv1, conv2 and dense
    /// per chunk of images); other networks run their layers without a tape.
    seed_kernels: Option<SeedWeights>,
}

impl Classifier {
    /// Images the seed network runs through its kernels together, on one
    /// thread: with the seed network, [`predict`](Self::predict) runs a
    /// batch of at most this many on the calling thread, a larger one in
    /// chunks of it over all cores (other networks always use the pool).
    pub const CHUNK: usize = CHUNK;

    /// Wraps a network for inference.
    pub fn new(network: impl Into<AnyNetwork>) -> Self {
        let network = network.into();
        let seed_kernels = match &network {
            AnyNetwork::Seed(cnn) => {
                let tensors = params(cnn).into_iter().map(|p| p.values);
                let tensors: [Vec<f32>; 6] = tensors
                    .collect::<Vec<_>>()
                    .try_into()
                    .expect("the seed network has six parameter tensors");
                Some(SeedWeights::new(tensors))
            }
            AnyNetwork::Deep(_) => None,
        };
        Self {
            network,
            seed_kernels,
        }
    }

    /// Loads a weights file (the path to the file itself) of any architecture.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Ok(Self::new(AnyNetwork::load(path)?))
    }

    /// The wrapped network.
    pub fn network(&self) -> &AnyNetwork {
        &self.network
    }

    /// The wrapped network's architecture.
    pub fn architecture(&self) -> Architecture {
        self.network.architecture()
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
            hdr_artifacts::pixels_to_unit(&images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS], dst);
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
    /// pixels; in slices of [`BATCH`] (or [`LAYER_BATCH`]) images to bound memory.
    fn predict_with(&self, n: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<Prediction> {
        let mut out = Vec::with_capacity(n);
        let batch = match self.seed_kernels {
            Some(_) => BATCH,
            None => LAYER_BATCH,
        };
        for start in (0..n).step_by(batch) {
            let len = batch.min(n - start);
            let fill = |i: usize, dst: &mut [f32]| fill(start + i, dst);
            let logits = match &self.seed_kernels {
                Some(kernels) => kernels.logits(len, fill),
                None => with_network!(&self.network, net => layer_logits(net, len, fill)),
            };
            out.extend(
                logits
                    .chunks_exact(NUM_CLASSES)
                    .map(Prediction::from_logits),
            );
        }
        out
    }
}

/// Logits of `n` images through the network's layers, without a tape.
fn layer_logits<N: Network>(
    net: &N,
    n: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut pixels = vec![0.0; n * IMAGE_PIXELS];
    pixels
        .par_chunks_mut(IMAGE_PIXELS)
        .enumerate()
        .for_each(|(i, dst)| fill(i, dst));
    let x: Nhwc<28, 28, 1> = Cpu::default().tensor_from_vec(pixels, (n, Const, Const, Const));
    net.forward(x, None, false).as_vec()
}
