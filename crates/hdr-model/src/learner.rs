//! Training: forward with dropout, softmax cross-entropy, backward, Adam.

use std::path::Path;

use dfdx::optim::AdamConfig;
use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use rayon::prelude::*;

use crate::buffers::{cached_tensor, Buffer};
use crate::direct::{self, Dropout, Weights};
use crate::inference::argmax;
use crate::io::{read_tensors, write_tensors, TENSORS};
use crate::network::{Cnn, Features, Nhwc, FEATURES};
use crate::{ModelError, StepOutput, IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};

/// Adam with Keras' defaults (betas 0.9/0.999, epsilon 1e-7), using dfdx's
/// Adam update kernel ([`AdamConfig::try_update`]) but keeping the moments
/// here, where checkpoints can read and restore them (dfdx's `Adam` keeps
/// them private).
struct AdamState {
    cfg: AdamConfig,
    step: i32,
    moment1: Gradients<f32, Cpu>,
    moment2: Gradients<f32, Cpu>,
}

impl AdamState {
    fn new(learning_rate: f32) -> Self {
        let cfg = AdamConfig {
            lr: learning_rate as f64,
            betas: [0.9, 0.999],
            eps: 1e-7,
            weight_decay: None,
        };
        Self {
            cfg,
            step: 0,
            moment1: Gradients::leaky(),
            moment2: Gradients::leaky(),
        }
    }

    fn update_one<S: Shape>(
        &mut self,
        p: &mut Tensor<S, f32, Cpu>,
        grads: &mut Gradients<f32, Cpu>,
    ) {
        let g = grads.get_or_alloc_mut(p).expect("cpu allocation");
        let m = self.moment1.get_or_alloc_mut(p).expect("cpu allocation");
        let v = self.moment2.get_or_alloc_mut(p).expect("cpu allocation");
        self.cfg
            .try_update(self.step, p, m, v, g)
            .expect("cpu adam kernel");
    }

    fn update(&mut self, cnn: &mut Cnn, grads: &mut Gradients<f32, Cpu>) {
        self.step = self.step.checked_add(1).expect("fewer than 2^31 steps");
        self.update_one(&mut cnn.conv1.weight, grads);
        self.update_one(&mut cnn.conv1.bias, grads);
        self.update_one(&mut cnn.conv2.weight, grads);
        self.update_one(&mut cnn.conv2.bias, grads);
        self.update_one(&mut cnn.dense.weight, grads);
        self.update_one(&mut cnn.dense.bias, grads);
    }

    /// First and second moments in [`TENSORS`] order (zeros before the first step).
    fn moments(&mut self, cnn: &Cnn) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        let mut m = Vec::new();
        let mut v = Vec::new();
        macro_rules! take {
            ($t:expr) => {
                m.push(
                    self.moment1
                        .get_or_alloc_mut(&$t)
                        .expect("cpu allocation")
                        .to_vec(),
                );
                v.push(
                    self.moment2
                        .get_or_alloc_mut(&$t)
                        .expect("cpu allocation")
                        .to_vec(),
                );
            };
        }
        take!(cnn.conv1.weight);
        take!(cnn.conv1.bias);
        take!(cnn.conv2.weight);
        take!(cnn.conv2.bias);
        take!(cnn.dense.weight);
        take!(cnn.dense.bias);
        (m, v)
    }

    fn set_moments(&mut self, cnn: &Cnn, m: &[Vec<f32>], v: &[Vec<f32>]) {
        let mut i = 0;
        macro_rules! put {
            ($t:expr) => {
                self.moment1
                    .get_or_alloc_mut(&$t)
                    .expect("cpu allocation")
                    .copy_from_slice(&m[i]);
                self.moment2
                    .get_or_alloc_mut(&$t)
                    .expect("cpu allocation")
                    .copy_from_slice(&v[i]);
                i += 1;
            };
        }
        put!(cnn.conv1.weight);
        put!(cnn.conv1.bias);
        put!(cnn.conv2.weight);
        put!(cnn.conv2.bias);
        put!(cnn.dense.weight);
        put!(cnn.dense.bias);
        debug_assert_eq!(i, TENSORS.len());
    }
}

/// Training state: the network, dfdx's Adam and the gradient buffers.
///
/// A step runs on dfdx's tape: the images enter as a traced tensor, the
/// typed conv blocks ([`crate::conv_relu_pool`]) and flatten, the dropout
/// mask multiply, dfdx's `Linear` and `cross_entropy_with_logits_loss` record
/// their backward ops, `backward()` fills the parameter gradients, and Adam
/// updates the parameters from them.
pub struct Learner {
    cnn: Cnn,
    adam: AdamState,
    dropout: f32,
    /// Parameter gradients, reused between steps (dfdx frees the others after backward).
    grads: Option<Gradients<f32, Cpu>>,
    /// The device the step's activations live on, with dfdx's allocation
    /// cache on (every tensor a step creates comes from it: see `buffers`).
    activations: Cpu,
    /// Per-chunk gradient buffers of [`Learner::train_step_untaped`], reused between steps.
    workspace: direct::Workspace,
}

impl Learner {
    /// A learner for `cnn` with Adam at `learning_rate` and dropout rate `dropout` in [0, 1).
    ///
    /// # Panics
    /// If `dropout` is outside [0, 1) (configs validate it first).
    pub fn new(cnn: Cnn, learning_rate: f32, dropout: f32) -> Self {
        assert!(
            (0.0..1.0).contains(&dropout),
            "dropout rate {dropout} is not in [0, 1)"
        );
        // Buffers of dropped tensors (activations, their gradients) are reused
        // by the next step instead of being returned to and faulted back in
        // from the OS. A device of its own, so that other users of the
        // network's device (a clone of `cnn()`) are not affected.
        let activations = Cpu::default();
        activations.enable_cache();
        Self {
            activations,
            cnn,
            adam: AdamState::new(learning_rate),
            dropout,
            grads: None,
            workspace: direct::Workspace::default(),
        }
    }

    /// Changes Adam's learning rate (for a schedule).
    pub fn set_learning_rate(&mut self, learning_rate: f32) {
        self.adam.cfg.lr = learning_rate as f64;
    }

    /// Adam steps taken so far (restored by [`Learner::from_checkpoint`]).
    pub fn steps(&self) -> u64 {
        self.adam.step as u64
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
        let n = check_batch(images, labels);
        let dev = self.activations.clone();
        let mut grads = self.grads.take().unwrap_or_else(|| self.cnn.alloc_grads());
        self.cnn.zero_grads(&mut grads);
        // Every tensor comes from the device's cache (see `buffers`).
        let x: Nhwc<IMAGE_SIDE, IMAGE_SIDE, 1> =
            cached_tensor(&dev, (n, Const, Const, Const), images);
        let mask = (self.dropout > 0.0).then(|| {
            let mut values = Buffer::take(n * FEATURES);
            dropout_fill_parallel(self.dropout, dropout_seed, &mut values);
            cached_tensor(&dev, (n, Const), &values)
        });
        // The images are data: no gradient w.r.t. them.
        let logits = self.cnn.forward(x.traced(grads), mask, false);
        let output = score(&logits.retaped::<NoneTape>().as_vec(), labels);
        let loss = cross_entropy_with_logits_loss(logits, one_hot(&dev, labels));
        let mut grads = loss.backward();
        self.adam.update(&mut self.cnn, &mut grads);
        self.grads = Some(grads);
        output
    }

    /// [`Learner::train_step`] on the tape-free path: the same step (same
    /// dropout mask, loss and Adam update) computed by hand-written forward and
    /// backward kernels without dfdx's tape. Results agree with `train_step`
    /// to rounding (different summation orders); kept as the cross-check of
    /// the tape path and as the benchmark baseline for it.
    ///
    /// # Panics
    /// As [`Learner::train_step`].
    pub fn train_step_untaped(
        &mut self,
        images: &[f32],
        labels: &[u8],
        dropout_seed: u64,
    ) -> StepOutput {
        check_batch(images, labels);
        let dropout = (self.dropout > 0.0).then_some(Dropout {
            rate: self.dropout,
            seed: dropout_seed,
        });
        let weights = Weights::of(&self.cnn);
        let (logits, gradients) =
            direct::train_batch(&weights, images, labels, dropout, &mut self.workspace);
        let output = score(&logits, labels);
        let mut grads = self.grads.take().unwrap_or_else(|| self.cnn.alloc_grads());
        set_gradients(&self.cnn, &mut grads, &gradients.tensors);
        self.adam.update(&mut self.cnn, &mut grads);
        self.grads = Some(grads);
        output
    }

    /// Loss and correct count on a batch, dropout off, no update: the same
    /// forward pass as [`Learner::train_step`] (typed layers, dfdx's `Linear`)
    /// without a tape, so on a batch without dropout the two report the same numbers.
    ///
    /// # Panics
    /// As [`Learner::train_step`].
    pub fn evaluate(&self, images: &[f32], labels: &[u8]) -> StepOutput {
        let n = check_batch(images, labels);
        let x: Nhwc<IMAGE_SIDE, IMAGE_SIDE, 1> =
            cached_tensor(&self.activations, (n, Const, Const, Const), images);
        let logits = self.cnn.forward(x, None, false);
        score(&logits.as_vec(), labels)
    }

    /// The network being trained.
    pub fn cnn(&self) -> &Cnn {
        &self.cnn
    }

    /// Serialises network and optimizer state for `--resume`: a safetensors
    /// file with the six weight tensors, Adam's first and second moments
    /// (`adam.m.<name>`, `adam.v.<name>`) and the step count in the metadata.
    pub fn checkpoint_bytes(&self) -> Vec<u8> {
        // Reading moments allocates missing (zero) entries, hence the clone.
        let (m, v) = AdamState {
            cfg: self.adam.cfg,
            step: self.adam.step,
            moment1: self.adam.moment1.clone(),
            moment2: self.adam.moment2.clone(),
        }
        .moments(&self.cnn);
        let weights = self.cnn.param_values();
        let mut named: Vec<(String, &[usize], &[f32])> = Vec::new();
        for (i, (name, shape)) in TENSORS.iter().enumerate() {
            named.push((name.to_string(), shape, &weights[i]));
            named.push((format!("adam.m.{name}"), shape, &m[i]));
            named.push((format!("adam.v.{name}"), shape, &v[i]));
        }
        write_tensors(&named, ("adam_step", &self.adam.step.to_string()))
    }

    /// Restores a learner from [`Learner::checkpoint_bytes`]; `origin` names the file in errors.
    pub fn from_checkpoint(
        bytes: &[u8],
        origin: &Path,
        learning_rate: f32,
        dropout: f32,
    ) -> Result<Self, ModelError> {
        let format = |message: String| ModelError::Format {
            path: origin.display().to_string(),
            message,
        };
        let mut expected = Vec::new();
        for prefix in ["", "adam.m.", "adam.v."] {
            expected.extend(
                TENSORS
                    .iter()
                    .map(|(n, s)| (format!("{prefix}{n}"), s.to_vec())),
            );
        }
        let (values, metadata) = read_tensors(bytes, origin, &expected)?;
        let step: i32 = metadata
            .get("adam_step")
            .ok_or_else(|| format("metadata has no `adam_step` (not a checkpoint?)".into()))?
            .parse()
            .map_err(|e| format(format!("metadata `adam_step` is not a step count: {e}")))?;
        if step < 0 {
            return Err(format(format!("metadata `adam_step` is negative ({step})")));
        }
        let n = TENSORS.len();
        let mut cnn = Cnn::new(0);
        cnn.set_param_values(&values[..n]);
        let mut learner = Self::new(cnn, learning_rate, dropout);
        learner.adam.step = step;
        learner
            .adam
            .set_moments(&learner.cnn, &values[n..2 * n], &values[2 * n..]);
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

/// Inverted dropout: each feature is kept with probability `1 - rate` and then
/// scaled by `1 / (1 - rate)`; the mask depends only on `seed`, `batch` and `rate`.
pub fn dropout_mask(dev: &Cpu, batch: usize, rate: f32, seed: u64) -> Features<FEATURES> {
    dev.tensor_from_vec(dropout_values(batch, rate, seed), (batch, Const))
}

/// The values of [`dropout_mask`], `[batch, 1600]` row-major; drawn in
/// parallel slices, each seeking to its place in the one random stream, so
/// the values do not depend on the slicing or the thread count.
fn dropout_values(batch: usize, rate: f32, seed: u64) -> Vec<f32> {
    let mut mask = vec![0.0; batch * FEATURES];
    dropout_fill_parallel(rate, seed, &mut mask);
    mask
}

/// Fills `mask` (a whole `[batch, 1600]` mask) like [`dropout_fill`] from
/// feature 0, in parallel slices.
fn dropout_fill_parallel(rate: f32, seed: u64, mask: &mut [f32]) {
    const SLICE: usize = 16 * 1024;
    mask.par_chunks_mut(SLICE)
        .enumerate()
        .for_each(|(i, m)| dropout_fill(rate, seed, i * SLICE, m));
}

/// One-hot targets `[batch, 10]` of `labels`.
fn one_hot(dev: &Cpu, labels: &[u8]) -> Features<NUM_CLASSES> {
    let mut t = Buffer::take(labels.len() * NUM_CLASSES);
    t.fill(0.0);
    for (row, &l) in t.chunks_exact_mut(NUM_CLASSES).zip(labels.iter()) {
        row[l as usize] = 1.0;
    }
    cached_tensor(dev, (labels.len(), Const), &t)
}

/// Writes the dropout mask's values for features `first..first + out.len()`
/// (counted over the whole `[batch, 1600]` mask) into `out`.
///
/// Feature `i` keeps what the `i`-th `rng.gen::<f32>()` of the seeded
/// ChaCha8 stream decides (rand 0.8's `Standard` f32: the top 24 bits of a
/// `u32` times 2^-24); the `u32`s are filled in bulk from word `first` on,
/// so chunks of a batch can draw their slices independently.
pub(crate) fn dropout_fill(rate: f32, seed: u64, first: usize, out: &mut [f32]) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_word_pos(first as u128);
    let scale = 1.0 / (1.0 - rate);
    let mut bits = [0u32; 256];
    for block in out.chunks_mut(bits.len()) {
        let bits = &mut bits[..block.len()];
        rng.fill(bits);
        for (m, &b) in block.iter_mut().zip(bits.iter()) {
            let uniform = (b >> 8) as f32 * (1.0 / (1u32 << 24) as f32);
            *m = if uniform < rate { 0.0 } else { scale };
        }
    }
}

/// Overwrites the gradient buffers of `cnn`'s parameters with `values`
/// ([`TENSORS`] order), for Adam to read.
fn set_gradients(cnn: &Cnn, grads: &mut Gradients<f32, Cpu>, values: &[Vec<f32>; 6]) {
    fn put<S: Shape>(
        grads: &mut Gradients<f32, Cpu>,
        tensor: &Tensor<S, f32, Cpu>,
        values: &[f32],
    ) {
        let g = grads.get_or_alloc_mut(tensor).expect("cpu allocation");
        g.copy_from_slice(values);
    }
    put(grads, &cnn.conv1.weight, &values[0]);
    put(grads, &cnn.conv1.bias, &values[1]);
    put(grads, &cnn.conv2.weight, &values[2]);
    put(grads, &cnn.conv2.bias, &values[3]);
    put(grads, &cnn.dense.weight, &values[4]);
    put(grads, &cnn.dense.bias, &values[5]);
}

/// Summed cross-entropy (log-sum-exp in f64) and correct count from logits.
pub(crate) fn score(logits: &[f32], labels: &[u8]) -> StepOutput {
    let mut out = StepOutput::default();
    for (row, &label) in logits.chunks_exact(NUM_CLASSES).zip(labels) {
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let lse = max
            + row
                .iter()
                .map(|&v| (v as f64 - max).exp())
                .sum::<f64>()
                .ln();
        let loss = lse - row[label as usize] as f64;
        // f64::max ignores NaN: make a NaN logit poison the loss explicitly.
        out.loss_sum += if row.iter().any(|v| v.is_nan()) {
            f64::NAN
        } else {
            loss
        };
        out.correct += usize::from(argmax(row) == label as usize);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_dropout_values_equal_one_draw_per_feature() {
        for (batch, rate, seed) in [(1, 0.5, 3), (3, 0.25, 99), (2, 0.9, 0)] {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let scale = 1.0 / (1.0 - rate);
            let want: Vec<f32> = (0..batch * FEATURES)
                .map(|_| if rng.gen::<f32>() < rate { 0.0 } else { scale })
                .collect();
            assert_eq!(dropout_values(batch, rate, seed), want);
            // Any slice drawn on its own equals the same slice of the whole mask.
            for (first, len) in [(0, 7), (5, 300), (FEATURES + 3, 1000)] {
                if first + len <= want.len() {
                    let mut part = vec![0.0; len];
                    dropout_fill(rate, seed, first, &mut part);
                    assert_eq!(part, want[first..first + len]);
                }
            }
        }
    }
}
