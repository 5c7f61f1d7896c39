//! One training step on dfdx's tape, evaluation, and the learner's state
//! for checkpoints.

use std::path::Path;

use dfdx::nn::ZeroGrads;
use dfdx::prelude::*;

use super::adam::AdamState;
use crate::error::ModelError;
use crate::io::TensorFile;
use crate::kernels::{argmax, log_sum_exp, Buffer};
use crate::layers::{cached_tensor, Dropout, Features, Nhwc};
use crate::networks::{Cnn, Network};
use hdr_artifacts::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};

/// Sum of the batch's losses and number of correct predictions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepOutput {
    /// Sum over the batch of the cross-entropy loss (divide by the batch size for the mean).
    pub loss_sum: f64,
    /// How many argmax predictions equal the label.
    pub correct: usize,
}

/// Training state: the network, Adam and the gradient buffers.
///
/// A step runs on dfdx's tape: the images enter as a traced tensor, the
/// network's typed layers record their backward ops, dfdx's
/// `cross_entropy_with_logits_loss` and `backward()` fill the parameter
/// gradients, and Adam updates the parameters from them.
pub struct Learner<N: Network = Cnn> {
    network: N,
    adam: AdamState,
    dropout: f32,
    /// Parameter gradients, reused between steps (dfdx frees the others after backward).
    grads: Option<Gradients<f32, Cpu>>,
    /// The device the step's activations live on, with dfdx's allocation
    /// cache on, so every tensor a step creates reuses a dropped one's buffer.
    activations: Cpu,
}

impl<N: Network> Learner<N> {
    /// A learner for `network` with Adam at `learning_rate` and dropout rate `dropout` in [0, 1).
    ///
    /// # Panics
    /// If `dropout` is outside [0, 1) (configs validate it first).
    pub fn new(network: N, learning_rate: f32, dropout: f32) -> Self {
        assert!(
            (0.0..1.0).contains(&dropout),
            "dropout rate {dropout} is not in [0, 1)"
        );
        // A device of its own, so that other users of the network's device
        // (a clone of `network()`) are not affected by its cache.
        let activations = Cpu::default();
        activations.enable_cache();
        Self {
            activations,
            network,
            adam: AdamState::new(learning_rate),
            dropout,
            grads: None,
        }
    }

    /// Changes Adam's learning rate (for a schedule).
    pub fn set_learning_rate(&mut self, learning_rate: f32) {
        self.adam.cfg.lr = learning_rate as f64;
    }

    /// Adam steps taken so far (restored from checkpoints).
    pub fn steps(&self) -> u64 {
        self.adam.step as u64
    }

    /// The network being trained.
    pub fn network(&self) -> &N {
        &self.network
    }

    /// One Adam step on a batch: `images` is B*784 floats in [0, 1], `labels` B digits;
    /// the dropout mask is drawn from `dropout_seed`. Deterministic for the same inputs.
    ///
    /// The loss is the mean softmax cross-entropy over the batch (like Keras);
    /// the returned [`StepOutput`] holds its sum and the number of correct
    /// argmax predictions, both measured before the update and with dropout on.
    /// A NaN or infinite loss shows up in `loss_sum` unchanged.
    ///
    /// # Panics
    /// If `labels` is empty, a label is not below 10, or `images.len() != 784 * labels.len()`.
    pub fn train_step(&mut self, images: &[f32], labels: &[u8], dropout_seed: u64) -> StepOutput {
        self.step(images, labels, dropout_seed, true)
    }

    /// [`Learner::train_step`] through the fused layers (`fused`) or the
    /// separate reference layers on the generic kernels.
    fn step(
        &mut self,
        images: &[f32],
        labels: &[u8],
        dropout_seed: u64,
        fused: bool,
    ) -> StepOutput {
        let n = check_batch(images, labels);
        let dev = self.activations.clone();
        let mut grads = self
            .grads
            .take()
            .unwrap_or_else(|| self.network.alloc_grads());
        self.network.zero_grads(&mut grads);
        let x: Nhwc<IMAGE_SIDE, IMAGE_SIDE, 1> =
            cached_tensor(&dev, (n, Const, Const, Const), images);
        let dropout = (self.dropout > 0.0).then_some(Dropout {
            rate: self.dropout,
            seed: dropout_seed,
        });
        // The images are data: no gradient w.r.t. them.
        let logits = if fused {
            self.network.forward(x.traced(grads), dropout, false)
        } else {
            self.network.forward_layers(x.traced(grads), dropout)
        };
        let output = score(&logits.retaped::<NoneTape>().as_vec(), labels);
        let loss = cross_entropy_with_logits_loss(logits, one_hot(&dev, labels));
        let mut grads = loss.backward();
        self.adam.update(&mut self.network, &mut grads);
        self.grads = Some(grads);
        output
    }

    /// Loss and correct count on a batch, dropout off, no update: the same
    /// forward pass as [`Learner::train_step`] without a tape, so on a batch
    /// without dropout the two report the same numbers.
    ///
    /// # Panics
    /// As [`Learner::train_step`].
    pub fn evaluate(&self, images: &[f32], labels: &[u8]) -> StepOutput {
        let n = check_batch(images, labels);
        let x: Nhwc<IMAGE_SIDE, IMAGE_SIDE, 1> =
            cached_tensor(&self.activations, (n, Const, Const, Const), images);
        let logits = self.network.forward(x, None, false);
        score(&logits.as_vec(), labels)
    }

    /// Writes the network's weights, Adam's moments (`adam.m.<name>`,
    /// `adam.v.<name>`) and step count, and the architecture into `file`.
    pub fn write_state(&self, file: &mut TensorFile) {
        file.push_weights(&self.network, "");
        self.adam.write(&self.network, file);
        file.set_metadata("architecture", N::ARCHITECTURE.name());
    }

    /// A learner restored from what [`Learner::write_state`] wrote, taking
    /// those tensors out of `file`.
    pub fn read_state(
        file: &mut TensorFile,
        learning_rate: f32,
        dropout: f32,
    ) -> Result<Self, ModelError> {
        let arch = file.require_metadata("architecture")?;
        if arch != N::ARCHITECTURE.name() {
            return Err(file.error(format!(
                "holds the state of the `{arch}` network, not of the `{}` network asked for",
                N::ARCHITECTURE
            )));
        }
        let network = file.take_weights::<N>("")?;
        let mut learner = Self::new(network, learning_rate, dropout);
        learner.adam.read(&learner.network, file)?;
        Ok(learner)
    }

    /// The learner's state alone as safetensors bytes (see [`Learner::write_state`]).
    pub fn checkpoint_bytes(&self) -> Vec<u8> {
        let mut file = TensorFile::new();
        self.write_state(&mut file);
        file.to_bytes()
    }

    /// Restores a learner from [`Learner::checkpoint_bytes`]; `origin` names the file in errors.
    pub fn from_checkpoint(
        bytes: &[u8],
        origin: &Path,
        learning_rate: f32,
        dropout: f32,
    ) -> Result<Self, ModelError> {
        let mut file = TensorFile::from_bytes(bytes, origin)?;
        let learner = Self::read_state(&mut file, learning_rate, dropout)?;
        file.finish()?;
        Ok(learner)
    }
}

fn check_batch(images: &[f32], labels: &[u8]) -> usize {
    assert!(!labels.is_empty(), "a batch needs at least one image");
    assert_eq!(
        images.len(),
        labels.len() * IMAGE_PIXELS,
        "images must hold 784 floats per label"
    );
    assert!(
        labels.iter().all(|&l| (l as usize) < NUM_CLASSES),
        "labels must be digits 0-9"
    );
    labels.len()
}

/// One-hot targets `[batch, 10]` of `labels`.
fn one_hot(dev: &Cpu, labels: &[u8]) -> Features<NUM_CLASSES> {
    let mut t = Buffer::zeros(labels.len() * NUM_CLASSES);
    for (row, &l) in t.chunks_exact_mut(NUM_CLASSES).zip(labels.iter()) {
        row[l as usize] = 1.0;
    }
    cached_tensor(dev, (labels.len(), Const), &t)
}

/// Summed cross-entropy (log-sum-exp in f64) and correct count from logits.
fn score(logits: &[f32], labels: &[u8]) -> StepOutput {
    let mut out = StepOutput::default();
    for (row, &label) in logits.chunks_exact(NUM_CLASSES).zip(labels) {
        out.loss_sum += log_sum_exp(row) - row[label as usize] as f64;
        out.correct += usize::from(argmax(row) == label as usize);
    }
    out
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::networks::{params, Deep};

    fn batch(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..10)).collect();
        let images = (0..n * IMAGE_PIXELS)
            .map(|_| rng.gen_range(0.0..1.0))
            .collect();
        (images, labels)
    }

    /// Steps through the fused layers (tuned kernels where the geometry has
    /// them) and through the separate layers on the generic kernels agree
    /// to rounding, over several Adam steps.
    fn fused_and_reference_steps_agree<N: Network>(net: N, n: usize) {
        let mut fused = Learner::new(net.clone(), 1e-3, 0.5);
        let mut reference = Learner::new(net, 1e-3, 0.5);
        for s in 0..3 {
            let (x, y) = batch(n, 40 + s);
            let a = fused.step(&x, &y, 7 + s, true);
            let b = reference.step(&x, &y, 7 + s, false);
            assert!(
                (a.loss_sum - b.loss_sum).abs() <= 1e-5 * b.loss_sum.abs(),
                "step {s}: {a:?} vs {b:?}"
            );
            assert_eq!(a.correct, b.correct, "step {s}");
        }
        for (a, b) in params(fused.network())
            .iter()
            .zip(&params(reference.network()))
        {
            let diff: f64 = a
                .values
                .iter()
                .zip(&b.values)
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .sum();
            let norm: f64 = b.values.iter().map(|y| (*y as f64).powi(2)).sum();
            // Adam's first steps move each weight by about ±lr whatever the
            // gradient's size, so one near-zero gradient rounding to the other
            // sign would show as ~1e-3: the bound sits between that and rounding.
            assert!(
                diff.sqrt() <= 1e-4 * norm.sqrt().max(1e-3),
                "{}: |a - b| = {} vs |b| = {}",
                a.name,
                diff.sqrt(),
                norm.sqrt()
            );
        }
    }

    #[test]
    fn seed_steps_match_the_reference_layers() {
        fused_and_reference_steps_agree(Cnn::new(5), 21);
    }

    #[test]
    fn seed_steps_match_the_reference_layers_on_every_kernel_path() {
        for path in crate::KernelPath::available() {
            crate::kernels::on_path(path, || fused_and_reference_steps_agree(Cnn::new(5), 21));
        }
    }

    #[test]
    fn deep_steps_match_the_reference_layers() {
        fused_and_reference_steps_agree(Deep::new(6), 11);
    }
}
