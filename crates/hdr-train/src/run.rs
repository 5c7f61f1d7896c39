//! The stage on disk: [`run`] reads the train split, trains with per-epoch
//! checkpoints, and writes the weights, the model card and the history.

use std::path::{Path, PathBuf};

use hdr_artifacts::{read_split, write_card, write_history, DataFiles, ModelCard, TrainFiles};
use hdr_common::{OutputSet, Progress, RunOptions};
use hdr_model::{Cnn, Learner};

use crate::checkpoint::Checkpoint;
use crate::trainer::{self, AfterEpoch, State};
use crate::{Config, Error};

/// The network's name recorded in model.json. This crate trains the seed
/// network only; once hdr-model builds several, the name comes from there.
const ARCHITECTURE_NAME: &str = "seed";

/// Which kernel path trains on this CPU, as model.json records it: `avx512`
/// when the CPU has what hdr-model's AVX-512 kernels need, else `portable`.
///
/// This mirrors hdr-model's own run-time check; once hdr-model exposes which
/// path it picked, that answer replaces this one.
pub fn kernel_path() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("fma")
    {
        return "avx512";
    }
    "portable"
}

/// The files the training stage reads and writes.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Input: `artifacts/data/train.parquet`.
    pub train_split: PathBuf,
    /// `artifacts/train/model.safetensors`.
    pub weights: PathBuf,
    /// `artifacts/train/model.json`.
    pub card: PathBuf,
    /// `artifacts/train/history.csv`.
    pub history: PathBuf,
    /// `artifacts/train/checkpoint.bin` (for `--resume`; not a tracked output).
    pub checkpoint: PathBuf,
}

impl Paths {
    /// The training stage's files under an artifacts directory.
    pub fn under(artifacts: &Path) -> Self {
        let train = TrainFiles::under(artifacts);
        Self {
            train_split: DataFiles::under(artifacts).train,
            weights: train.weights,
            card: train.card,
            history: train.history,
            checkpoint: train.checkpoint,
        }
    }

    /// Every input with the stage that produces it.
    pub fn inputs(&self) -> [(&Path, &'static str); 1] {
        [(&self.train_split, DataFiles::STAGE)]
    }
}

/// Options of one training run.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainOptions {
    /// Progress output.
    pub run: RunOptions,
    /// Continue from the checkpoint instead of starting afresh.
    pub resume: bool,
}

/// What a training run produced.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// Runs the training stage: read the train split, fit, write weights, card and history.
///
/// After every epoch the state is saved atomically to `paths.checkpoint`, so
/// an interrupted run (Ctrl-C, kill) loses at most one epoch and leaves the
/// previous model untouched; `opts.resume` continues from it. The checkpoint
/// is kept after a successful run: resuming from a finished checkpoint
/// rewrites the same artifacts without retraining (e.g. after they were
/// deleted, or if the final write failed).
pub fn run(config: &Config, paths: &Paths, opts: &TrainOptions) -> Result<Outputs, Error> {
    run_interruptible(config, paths, opts, &mut |_| false)
}

/// Like [`run`], but calls `interrupt(epochs_done)` after each epoch's checkpoint
/// is saved; when it returns true, training stops with [`Error::Interrupted`]
/// and no artifacts are written (a Ctrl-C handler can set a flag it reads).
pub fn run_interruptible(
    config: &Config,
    paths: &Paths,
    opts: &TrainOptions,
    interrupt: &mut dyn FnMut(usize) -> bool,
) -> Result<Outputs, Error> {
    config.validate()?;
    hdr_artifacts::require_artifact(&paths.train_split, DataFiles::STAGE)?;
    let progress = Progress::new(opts.run.quiet);
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::Other(format!(
            "cannot read the train split {}: {e}; run `cargo xtask data` to recreate it",
            paths.train_split.display()
        ))
    };
    let data = read_split(&paths.train_split).map_err(|e| unreadable(&e))?;
    let data_sha256 = hdr_common::sha256_file(&paths.train_split).map_err(|e| unreadable(&e))?;
    let fingerprint = fingerprint(config, &data_sha256);

    let state = if opts.resume {
        let state = load_checkpoint(config, &paths.checkpoint, &fingerprint)?;
        progress.line(format!(
            "resuming from {} after epoch {}/{}",
            paths.checkpoint.display(),
            state.epochs_done(),
            config.epochs
        ));
        state
    } else {
        State::fresh(config)
    };

    let fitted = trainer::train(config, &data, progress, state, &mut |state| {
        save_checkpoint(&paths.checkpoint, &fingerprint, state)?;
        Ok(if interrupt(state.epochs_done()) {
            AfterEpoch::Interrupt
        } else {
            AfterEpoch::Continue
        })
    })?;

    let card = ModelCard {
        architecture_name: ARCHITECTURE_NAME.to_string(),
        architecture: Cnn::architecture(),
        parameters: Cnn::PARAMETERS,
        kernels: kernel_path().to_string(),
        train_config: serde_json::to_value(config)
            .map_err(|e| Error::Other(format!("train config: {e}")))?,
        data_sha256,
        epochs_trained: fitted.history.len(),
        best_epoch: fitted.best_epoch,
        best_val_accuracy: fitted.best_val_accuracy,
    };

    let write_error =
        |path: &Path, e: std::io::Error| Error::Other(format!("{}: {e}", path.display()));
    let mut outputs = OutputSet::new();
    outputs
        .write(&paths.weights, &fitted.cnn.to_safetensors())
        .map_err(|e| write_error(&paths.weights, e))?;
    outputs
        .write_with(&paths.card, |w| write_card(w, &card))
        .map_err(|e| write_error(&paths.card, e))?;
    outputs
        .write_with(&paths.history, |w| write_history(w, &fitted.history))
        .map_err(|e| write_error(&paths.history, e))?;
    let files = outputs
        .commit()
        .map_err(|e| write_error(&paths.weights, e))?;
    progress.line(format!(
        "kept epoch {} (val_acc {:.2}%); wrote {}",
        fitted.best_epoch,
        100.0 * fitted.best_val_accuracy,
        paths.weights.display()
    ));
    Ok(Outputs { files })
}

/// SHA-256 over everything that shapes the training trajectory: the whole
/// `[train]` config and the train split's hash.
fn fingerprint(config: &Config, data_sha256: &str) -> [u8; 32] {
    let config_json = serde_json::to_string(config).expect("the config serialises");
    let text = format!("hdr-train checkpoint\nconfig {config_json}\ndata {data_sha256}\n");
    let hex = hdr_common::sha256_bytes(text.as_bytes());
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("sha256 hex");
    }
    out
}

fn save_checkpoint(path: &Path, fingerprint: &[u8; 32], state: &State) -> Result<(), Error> {
    let checkpoint = Checkpoint {
        fingerprint: *fingerprint,
        epochs_done: state.epochs_done(),
        best_epoch: state.best_epoch,
        best_val_accuracy: state.best_val_accuracy,
        best_val_loss: state.best_val_loss,
        history: state.history.clone(),
        learner: state.learner.checkpoint_bytes(),
        best_weights: state
            .best
            .as_ref()
            .map(Cnn::to_safetensors)
            .unwrap_or_default(),
    };
    let mut set = OutputSet::new();
    set.write(path, &checkpoint.to_bytes())
        .and_then(|()| set.commit().map(|_| ()))
        .map_err(|e| {
            Error::Other(format!(
                "{}: cannot write the checkpoint: {e}",
                path.display()
            ))
        })
}

fn load_checkpoint(config: &Config, path: &Path, fingerprint: &[u8; 32]) -> Result<State, Error> {
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Other(format!(
                "{}: no checkpoint to resume from; run without `--resume` to train afresh",
                path.display()
            ))
        } else {
            Error::Other(format!("{}: {e}", path.display()))
        }
    })?;
    let checkpoint = Checkpoint::from_bytes(&bytes, path).map_err(Error::Other)?;
    if &checkpoint.fingerprint != fingerprint {
        return Err(Error::Other(format!(
            "{}: the checkpoint was made with a different `[train]` config or train split; \
             run without `--resume` to train afresh",
            path.display()
        )));
    }
    let learner = Learner::from_checkpoint(
        &checkpoint.learner,
        path,
        config.learning_rate as f32,
        config.dropout as f32,
    )
    .map_err(|e| Error::Other(e.to_string()))?;
    let best = if checkpoint.epochs_done == 0 {
        None
    } else {
        Some(
            Cnn::from_safetensors(&checkpoint.best_weights, path)
                .map_err(|e| Error::Other(e.to_string()))?,
        )
    };
    Ok(State {
        learner,
        best,
        best_epoch: checkpoint.best_epoch,
        best_val_accuracy: checkpoint.best_val_accuracy,
        best_val_loss: checkpoint.best_val_loss,
        history: checkpoint.history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_changes_with_config_and_data() {
        let base = fingerprint(&Config::default(), "abc");
        assert_eq!(base, fingerprint(&Config::default(), "abc"));
        assert_ne!(base, fingerprint(&Config::default(), "abd"));
        assert_ne!(
            base,
            fingerprint(
                &Config {
                    epochs: 31,
                    ..Config::default()
                },
                "abc"
            )
        );
        assert_ne!(
            base,
            fingerprint(
                &Config {
                    seed: 1,
                    ..Config::default()
                },
                "abc"
            )
        );
    }

    #[test]
    fn paths_take_the_train_split_from_the_data_stage() {
        let paths = Paths::under(Path::new("a"));
        assert_eq!(paths.train_split, DataFiles::under(Path::new("a")).train);
        assert_eq!(paths.weights, TrainFiles::under(Path::new("a")).weights);
        assert_eq!(paths.inputs(), [(paths.train_split.as_path(), "data")]);
    }

    #[test]
    fn the_kernel_path_is_one_of_the_two_model_json_names() {
        assert!(["avx512", "portable"].contains(&kernel_path()));
    }
}
