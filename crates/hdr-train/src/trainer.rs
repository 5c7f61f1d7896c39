//! The training loop shared by [`crate::fit`] and [`crate::run`].

use std::time::Instant;

use hdr_artifacts::Dataset;
use hdr_common::Progress;
use hdr_model::{
    initialised, AnyNetwork, Architecture, Cnn, Deep, Learner, ModelError, Network, StepOutput,
    TensorFile, IMAGE_PIXELS,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::augment::{augment_batch, Augmentation};
use crate::holdout::{stratified, Holdout};
use crate::seeds::{derive_seed, Stream};
use crate::{Config, EpochRecord, Error, Fitted};

/// Images per forward pass when measuring validation loss and accuracy.
const EVAL_BATCH: usize = 500;

/// A mean loss per image above this many nats counts as divergence even when
/// finite: it means the true class gets probability below e^-1000 on average,
/// which only happens when the weights have blown up.
const DIVERGED_LOSS: f64 = 1_000.0;

/// A learner of any architecture: the loop calls the same steps on either.
// One learner exists per run and its variants hold tensor handles (the
// weights live on the heap): boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum AnyLearner {
    /// Training the seed network.
    Seed(Learner<Cnn>),
    /// Training the deep network.
    Deep(Learner<Deep>),
}

/// Runs `$body` with `$l` bound to the learner inside `$any`, whatever its network.
macro_rules! with_learner {
    ($any:expr, $l:ident => $body:expr) => {
        match $any {
            AnyLearner::Seed($l) => $body,
            AnyLearner::Deep($l) => $body,
        }
    };
}

impl AnyLearner {
    /// A learner of a freshly initialised `architecture` network.
    pub fn new(architecture: Architecture, seed: u64, learning_rate: f32, dropout: f32) -> Self {
        fn fresh<N: Network>(seed: u64, learning_rate: f32, dropout: f32) -> Learner<N> {
            Learner::new(initialised(seed), learning_rate, dropout)
        }
        match architecture {
            Architecture::Seed => Self::Seed(fresh(seed, learning_rate, dropout)),
            Architecture::Deep => Self::Deep(fresh(seed, learning_rate, dropout)),
        }
    }

    /// The network being trained, copied.
    pub fn network(&self) -> AnyNetwork {
        with_learner!(self, l => l.network().clone().into())
    }

    /// See [`Learner::set_learning_rate`].
    pub fn set_learning_rate(&mut self, learning_rate: f32) {
        with_learner!(self, l => l.set_learning_rate(learning_rate))
    }

    /// See [`Learner::train_step`].
    pub fn train_step(&mut self, images: &[f32], labels: &[u8], dropout_seed: u64) -> StepOutput {
        with_learner!(self, l => l.train_step(images, labels, dropout_seed))
    }

    /// See [`Learner::evaluate`].
    pub fn evaluate(&self, images: &[f32], labels: &[u8]) -> StepOutput {
        with_learner!(self, l => l.evaluate(images, labels))
    }

    /// See [`Learner::write_state`].
    pub fn write_state(&self, file: &mut TensorFile) {
        with_learner!(self, l => l.write_state(file))
    }

    /// A learner of `architecture` restored by [`Learner::read_state`].
    pub fn read_state(
        architecture: Architecture,
        file: &mut TensorFile,
        learning_rate: f32,
        dropout: f32,
    ) -> Result<Self, ModelError> {
        Ok(match architecture {
            Architecture::Seed => Self::Seed(Learner::read_state(file, learning_rate, dropout)?),
            Architecture::Deep => Self::Deep(Learner::read_state(file, learning_rate, dropout)?),
        })
    }
}

/// Everything the loop carries from epoch to epoch.
pub struct State {
    /// Network and optimiser after the last completed epoch.
    pub learner: AnyLearner,
    /// The best weights so far (`None` before the first epoch).
    pub best: Option<AnyNetwork>,
    /// 1-based epoch of `best` (0 before the first epoch).
    pub best_epoch: usize,
    /// Validation accuracy of `best`.
    pub best_val_accuracy: f64,
    /// Validation loss of `best`, breaking ties in accuracy.
    pub best_val_loss: f64,
    /// One record per completed epoch.
    pub history: Vec<EpochRecord>,
}

impl State {
    /// A fresh `architecture` network, initialised from the config's seed.
    pub fn fresh(config: &Config, architecture: Architecture) -> Self {
        Self {
            learner: AnyLearner::new(
                architecture,
                config.seed,
                config.learning_rate as f32,
                config.dropout as f32,
            ),
            best: None,
            best_epoch: 0,
            best_val_accuracy: f64::NEG_INFINITY,
            best_val_loss: f64::INFINITY,
            history: Vec::new(),
        }
    }

    /// Epochs completed.
    pub fn epochs_done(&self) -> usize {
        self.history.len()
    }

    /// Whether early stopping (or the epoch budget) ends training now.
    pub fn finished(&self, config: &Config) -> bool {
        finished(config, self.epochs_done(), self.best_epoch)
    }
}

/// Whether training ends after `epochs_done` epochs when the best was `best_epoch`:
/// the epoch budget is spent, or `patience` epochs passed without improvement.
pub fn finished(config: &Config, epochs_done: usize, best_epoch: usize) -> bool {
    let stale = epochs_done - best_epoch;
    epochs_done >= config.epochs || (config.patience > 0 && stale >= config.patience)
}

/// What to do after an epoch's checkpoint hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterEpoch {
    /// Go on training.
    Continue,
    /// Stop here (a simulated or requested interruption).
    Interrupt,
}

/// The learning rate of 0-based `epoch`.
pub fn learning_rate(config: &Config, epoch: usize) -> f64 {
    match config.lr_schedule {
        crate::LrSchedule::Constant => config.learning_rate,
        crate::LrSchedule::Cosine => {
            let progress = epoch as f64 / config.epochs as f64;
            config.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }
}

/// The images at `rows` of `data` as the network's input (784 floats each,
/// scaled with [`hdr_artifacts::pixels_to_unit`]), written into `out`.
fn scale_rows(data: &Dataset, rows: &[usize], out: &mut [f32]) {
    for (slot, &row) in out.chunks_exact_mut(IMAGE_PIXELS).zip(rows) {
        hdr_artifacts::pixels_to_unit(data.image(row), slot);
    }
}

/// Holds out validation images, returning the split or an error about size.
pub fn hold_out(config: &Config, data: &Dataset) -> Result<Holdout, Error> {
    if data.pixels.len() != data.labels.len() * IMAGE_PIXELS {
        return Err(Error::PixelCount {
            labels: data.labels.len(),
            pixels: data.pixels.len(),
        });
    }
    stratified(&data.labels, config.validation_fraction, config.seed).ok_or(Error::TooFewImages {
        images: data.len(),
        fraction: config.validation_fraction,
    })
}

/// Trains from `state` until the epoch budget, early stopping, or `after_epoch`
/// asks for an interruption (then returns `Error::Interrupted`). A stop
/// requested through [`hdr_common::stop_requested`] ends it before the next
/// batch with `Error::Interrupted` too, dropping the unfinished epoch.
///
/// `user` holds the user's own digits: none of them is held out for
/// validation (which stays the source's), and each trains
/// `config.user_sample_weight` times per epoch.
pub fn train(
    config: &Config,
    data: &Dataset,
    user: &Dataset,
    progress: Progress,
    mut state: State,
    after_epoch: &mut dyn FnMut(&State) -> Result<AfterEpoch, Error>,
) -> Result<Fitted, Error> {
    config.validate()?;
    let mut split = hold_out(config, data)?;
    if user.pixels.len() != user.labels.len() * IMAGE_PIXELS {
        return Err(Error::PixelCount {
            labels: user.labels.len(),
            pixels: user.pixels.len(),
        });
    }
    with_user_rows(
        &mut split.train,
        data.len(),
        user.len(),
        config.user_sample_weight,
    );
    let image = |row: usize| match row.checked_sub(data.len()) {
        Some(i) => user.image(i),
        None => data.image(row),
    };
    let label = |row: usize| match row.checked_sub(data.len()) {
        Some(i) => user.labels[i],
        None => data.labels[row],
    };
    // Pixels stay as the dataset's bytes; each batch is scaled (and
    // augmented) into `batch_images` when it is used.
    let train_labels: Vec<u8> = split.train.iter().map(|&i| label(i)).collect();
    let val_labels: Vec<u8> = split.validation.iter().map(|&i| data.labels[i]).collect();
    let n = train_labels.len();
    let mut batch_images = vec![0.0f32; config.batch_size.min(n) * IMAGE_PIXELS];
    let mut batch_labels = Vec::with_capacity(config.batch_size);
    let mut batch_pixels: Vec<(usize, &[u8])> = Vec::with_capacity(config.batch_size);
    let augmentation = Augmentation::of(config);

    while !state.finished(config) {
        let epoch = state.epochs_done(); // 0-based index of the epoch about to run
        let started = Instant::now();
        let lr = learning_rate(config, epoch);
        state.learner.set_learning_rate(lr as f32);

        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            config.seed,
            Stream::Shuffle,
            epoch as u64,
            0,
        )));

        let bar = progress.bar(n as u64, &format!("epoch {}/{}", epoch + 1, config.epochs));
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for (batch, chunk) in order.chunks(config.batch_size).enumerate() {
            if hdr_common::stop_requested() {
                // The epoch in progress is dropped; the last finished one is
                // what the checkpoint holds.
                bar.finish_and_clear();
                return Err(Error::Interrupted {
                    epochs_done: state.epochs_done(),
                });
            }
            batch_labels.clear();
            batch_pixels.clear();
            for &i in chunk {
                batch_pixels.push((i, image(split.train[i])));
                batch_labels.push(train_labels[i]);
            }
            let images = &mut batch_images[..chunk.len() * IMAGE_PIXELS];
            if config.augment {
                augment_batch(&augmentation, &batch_pixels, images, config.seed, epoch);
            } else {
                for (slot, (_, pixels)) in images.chunks_exact_mut(IMAGE_PIXELS).zip(&batch_pixels)
                {
                    hdr_artifacts::pixels_to_unit(pixels, slot);
                }
            }
            let dropout_seed =
                derive_seed(config.seed, Stream::Dropout, epoch as u64, batch as u64);
            let step = state
                .learner
                .train_step(images, &batch_labels, dropout_seed);
            let mean = step.loss_sum / chunk.len() as f64;
            if !mean.is_finite() || mean > DIVERGED_LOSS {
                bar.finish_and_clear();
                return Err(Error::Diverged {
                    epoch: epoch + 1,
                    batch: batch + 1,
                    loss: mean,
                    learning_rate: lr,
                });
            }
            loss_sum += step.loss_sum;
            correct += step.correct;
            seen += chunk.len();
            bar.inc(chunk.len() as u64);
            bar.set_message(format!(
                "loss {:.4} acc {:.1}%",
                loss_sum / seen as f64,
                100.0 * correct as f64 / seen as f64
            ));
        }
        let train_seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();

        let (val_loss, val_accuracy) =
            evaluate(&state.learner, data, &split.validation, &val_labels);
        if !val_loss.is_finite() {
            return Err(Error::Diverged {
                epoch: epoch + 1,
                batch: 0,
                loss: val_loss,
                learning_rate: lr,
            });
        }
        let seconds = started.elapsed().as_secs_f64();
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / n as f64,
            train_accuracy: correct as f64 / n as f64,
            val_loss,
            val_accuracy,
            learning_rate: lr,
            seconds: round_to(seconds, 1e3),
            samples_per_s: round_to(n as f64 / train_seconds.max(1e-9), 10.0),
        };
        let improved = val_accuracy > state.best_val_accuracy
            || (val_accuracy == state.best_val_accuracy && val_loss < state.best_val_loss);
        if improved {
            state.best = Some(state.learner.network());
            state.best_epoch = epoch + 1;
            state.best_val_accuracy = val_accuracy;
            state.best_val_loss = val_loss;
        }
        progress.line(summary_line(&record, config.epochs, improved));
        state.history.push(record);
        if after_epoch(&state)? == AfterEpoch::Interrupt && !state.finished(config) {
            return Err(Error::Interrupted {
                epochs_done: state.epochs_done(),
            });
        }
    }
    if state.history.len() < config.epochs {
        progress.line(format!(
            "early stop: no better validation accuracy for {} epochs; keeping epoch {} ({:.2}%)",
            config.patience,
            state.best_epoch,
            100.0 * state.best_val_accuracy
        ));
    }
    let network = state.best.unwrap_or_else(|| state.learner.network());
    Ok(Fitted {
        network,
        history: state.history,
        best_epoch: state.best_epoch,
        best_val_accuracy: state.best_val_accuracy,
    })
}

/// Adds the user's rows to the rows an epoch trains on, `weight` times
/// each: rows past the source's `source_len` are the user's, `source_len + i`
/// for user image `i`.
fn with_user_rows(rows: &mut Vec<usize>, source_len: usize, user_len: usize, weight: usize) {
    for _ in 0..weight {
        rows.extend(source_len..source_len + user_len);
    }
}

/// Mean loss and accuracy of the learner's network on the images at `rows`
/// of `data` (whose labels are `labels`), dropout off, scaled a batch at a time.
fn evaluate(learner: &AnyLearner, data: &Dataset, rows: &[usize], labels: &[u8]) -> (f64, f64) {
    let (mut loss_sum, mut correct) = (0.0, 0);
    let mut images = vec![0.0f32; EVAL_BATCH.min(rows.len()) * IMAGE_PIXELS];
    for (chunk_rows, chunk_labels) in rows.chunks(EVAL_BATCH).zip(labels.chunks(EVAL_BATCH)) {
        let chunk_images = &mut images[..chunk_rows.len() * IMAGE_PIXELS];
        scale_rows(data, chunk_rows, chunk_images);
        let out = learner.evaluate(chunk_images, chunk_labels);
        loss_sum += out.loss_sum;
        correct += out.correct;
    }
    (
        loss_sum / labels.len() as f64,
        correct as f64 / labels.len() as f64,
    )
}

fn round_to(value: f64, scale: f64) -> f64 {
    (value * scale).round() / scale
}

/// `epoch 3/20  loss 0.0712 acc 97.8%  val_loss 0.0456 val_acc 98.6%  lr 0.00100  2.1s  11,950 samples/s`.
fn summary_line(r: &EpochRecord, epochs: usize, best: bool) -> String {
    format!(
        "epoch {}/{}  loss {:.4} acc {:.1}%  val_loss {:.4} val_acc {:.2}%  lr {:.5}  {:.1}s  {} samples/s{}",
        r.epoch,
        epochs,
        r.train_loss,
        100.0 * r.train_accuracy,
        r.val_loss,
        100.0 * r.val_accuracy,
        r.learning_rate,
        r.seconds,
        hdr_common::thousands(r.samples_per_s.round() as u64),
        if best { "  *best" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LrSchedule;

    #[test]
    fn a_split_that_cannot_be_held_out_from_is_refused() {
        let torn = Dataset {
            labels: vec![1, 2],
            pixels: vec![0; IMAGE_PIXELS + 1],
        };
        let err = hold_out(&Config::default(), &torn).err().unwrap();
        assert!(
            matches!(err, Error::PixelCount { labels: 2, pixels } if pixels == IMAGE_PIXELS + 1),
            "{err}"
        );
        let one = Dataset {
            labels: vec![7],
            pixels: vec![0; IMAGE_PIXELS],
        };
        let err = hold_out(&Config::default(), &one).err().unwrap();
        assert!(
            matches!(err, Error::TooFewImages { images: 1, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("`train.validation_fraction`"),
            "{err}"
        );
    }

    #[test]
    fn stops_at_the_budget_or_after_patience_epochs_without_improvement() {
        let config = Config {
            epochs: 10,
            patience: 3,
            ..Config::default()
        };
        assert!(!finished(&config, 0, 0));
        assert!(!finished(&config, 4, 2));
        assert!(
            finished(&config, 5, 2),
            "epochs 3, 4 and 5 did not improve on 2"
        );
        assert!(!finished(&config, 9, 9));
        assert!(finished(&config, 10, 10));
        let never = Config {
            patience: 0,
            ..config
        };
        assert!(!finished(&never, 9, 1));
        assert!(finished(&never, 10, 1));
    }

    #[test]
    fn cosine_schedule_starts_at_the_peak_and_decays_towards_zero() {
        let config = Config {
            epochs: 10,
            learning_rate: 0.002,
            lr_schedule: LrSchedule::Cosine,
            ..Config::default()
        };
        assert_eq!(learning_rate(&config, 0), 0.002);
        assert!((learning_rate(&config, 5) - 0.001).abs() < 1e-12);
        let rates: Vec<f64> = (0..10).map(|e| learning_rate(&config, e)).collect();
        assert!(rates.windows(2).all(|w| w[1] < w[0]), "{rates:?}");
        assert!(rates[9] > 0.0 && rates[9] < 0.0001);
        let constant = Config {
            lr_schedule: LrSchedule::Constant,
            ..config
        };
        assert!((0..10).all(|e| learning_rate(&constant, e) == 0.002));
    }

    #[test]
    fn the_users_rows_train_weight_times_after_the_source_rows() {
        let mut rows = vec![0, 2, 3];
        with_user_rows(&mut rows, 5, 2, 3);
        assert_eq!(rows, [0, 2, 3, 5, 6, 5, 6, 5, 6]);
        let mut rows = vec![1];
        with_user_rows(&mut rows, 5, 0, 20);
        assert_eq!(rows, [1], "no user rows, nothing added");
    }

    #[test]
    fn summary_line_has_every_number() {
        let r = EpochRecord {
            epoch: 3,
            train_loss: 0.07123,
            train_accuracy: 0.978,
            val_loss: 0.0456,
            val_accuracy: 0.986,
            learning_rate: 0.001,
            seconds: 2.1,
            samples_per_s: 11_950.4,
        };
        assert_eq!(
            summary_line(&r, 20, false),
            "epoch 3/20  loss 0.0712 acc 97.8%  val_loss 0.0456 val_acc 98.60%  lr 0.00100  2.1s  11,950 samples/s"
        );
    }
}
