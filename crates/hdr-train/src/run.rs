//! The stage on disk: [`run`] reads the train split, trains with per-epoch
//! checkpoints, and writes the weights, the model card and the history.

use std::path::{Path, PathBuf};

use hdr_artifacts::{read_split, write_card, write_history, DataFiles, ModelCard, TrainFiles};
use hdr_common::{OutputSet, Progress, RunOptions};
use hdr_model::ModelConfig;

use crate::checkpoint;
use crate::trainer::{self, AfterEpoch, State};
use crate::{Config, Error};

/// The files the training stage reads and writes.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Input: `artifacts/data/train.parquet`.
    pub train_split: PathBuf,
    /// Input: `artifacts/data/user_train.parquet`, the user's own digits.
    pub user_split: PathBuf,
    /// `artifacts/train/model.safetensors`.
    pub weights: PathBuf,
    /// `artifacts/train/model.json`.
    pub card: PathBuf,
    /// `artifacts/train/history.csv`.
    pub history: PathBuf,
    /// `artifacts/train/checkpoint.safetensors` (for `--resume`; not a tracked output).
    pub checkpoint: PathBuf,
}

impl Paths {
    /// The training stage's files under an artifacts directory.
    pub fn under(artifacts: &Path) -> Self {
        let train = TrainFiles::under(artifacts);
        let data = DataFiles::under(artifacts);
        Self {
            train_split: data.train,
            user_split: data.user_train,
            weights: train.weights,
            card: train.card,
            history: train.history,
            checkpoint: train.checkpoint,
        }
    }

    /// Every input with the stage that produces it.
    pub fn inputs(&self) -> [(&Path, &'static str); 2] {
        [
            (&self.train_split, DataFiles::STAGE),
            (&self.user_split, DataFiles::STAGE),
        ]
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
/// an interrupted run loses at most the epoch in progress and leaves the
/// previous model untouched; `opts.resume` continues from it. A stop
/// requested through [`hdr_common::stop_requested`] (the runner's Ctrl-C and
/// SIGTERM handler) is noticed between batches and before the final write,
/// and returns [`Error::Interrupted`] with the epochs the checkpoint holds. The
/// checkpoint is kept after a successful run: resuming from a finished
/// checkpoint rewrites the same artifacts without retraining (e.g. after they
/// were deleted, or if the final write failed).
pub fn run(
    config: &Config,
    model: &ModelConfig,
    paths: &Paths,
    opts: &TrainOptions,
) -> Result<Outputs, Error> {
    run_interruptible(config, model, paths, opts, &mut |_| {
        hdr_common::stop_requested()
    })
}

/// Like [`run`], but calls `interrupt(epochs_done)` after each epoch's checkpoint
/// is saved; when it returns true, training stops with [`Error::Interrupted`]
/// and no artifacts are written (a Ctrl-C handler can set a flag it reads).
pub fn run_interruptible(
    config: &Config,
    model: &ModelConfig,
    paths: &Paths,
    opts: &TrainOptions,
    interrupt: &mut dyn FnMut(usize) -> bool,
) -> Result<Outputs, Error> {
    config.validate()?;
    hdr_artifacts::require_artifact(&paths.train_split, DataFiles::STAGE)?;
    let progress = Progress::new(opts.run.quiet);
    let (data, data_sha256) = read_split_hashed(&paths.train_split)?;
    // Artifacts from before the user's digits existed have no such file.
    let (user, user_sha256) = if paths.user_split.exists() {
        read_split_hashed(&paths.user_split)?
    } else {
        (hdr_artifacts::Dataset::default(), String::new())
    };
    let fingerprint = fingerprint(config, model, &format!("{data_sha256} {user_sha256}"));
    let stopped = |epochs_done| Error::Interrupted { epochs_done };

    let state = if opts.resume {
        let state = checkpoint::load(config, &paths.checkpoint, &fingerprint)?;
        progress.line(format!(
            "resuming from {} after epoch {}/{}",
            paths.checkpoint.display(),
            state.epochs_done(),
            config.epochs
        ));
        state
    } else {
        State::fresh(config, model.architecture)
    };
    if hdr_common::stop_requested() {
        return Err(stopped(state.epochs_done()));
    }

    if !user.is_empty() {
        progress.line(format!(
            "training on {} of your own digits too, each {} times an epoch",
            user.len(),
            config.user_sample_weight
        ));
    }
    let fitted = trainer::train(config, &data, &user, progress, state, &mut |state| {
        checkpoint::save(&paths.checkpoint, &fingerprint, state)?;
        Ok(if interrupt(state.epochs_done()) {
            AfterEpoch::Interrupt
        } else {
            AfterEpoch::Continue
        })
    })?;

    let card = ModelCard {
        architecture_name: model.architecture.name().to_string(),
        architecture: model.architecture.describe(),
        parameters: model.architecture.parameters(),
        kernels: hdr_model::kernel_path().to_string(),
        train_config: serde_json::to_value(config)
            .map_err(|source| Error::RecordConfig { source })?,
        data_sha256,
        epochs_trained: fitted.history.len(),
        best_epoch: fitted.best_epoch,
        best_val_accuracy: fitted.best_val_accuracy,
        user_samples: user.len(),
    };

    let write_error = |path: &Path, source: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut outputs = OutputSet::new();
    outputs
        .write(&paths.weights, &fitted.network.to_safetensors())
        .map_err(|e| write_error(&paths.weights, e))?;
    outputs
        .write_with(&paths.card, |w| write_card(w, &card))
        .map_err(|e| write_error(&paths.card, e))?;
    outputs
        .write_with(&paths.history, |w| write_history(w, &fitted.history))
        .map_err(|e| write_error(&paths.history, e))?;
    if hdr_common::stop_requested() {
        return Err(stopped(fitted.history.len()));
    }
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

/// A split file's images and the sha256 of its bytes.
fn read_split_hashed(path: &Path) -> Result<(hdr_artifacts::Dataset, String), Error> {
    let unreadable = |source: Box<dyn std::error::Error + Send + Sync>| Error::ReadSplit {
        path: path.to_path_buf(),
        source,
    };
    let data = read_split(path).map_err(|e| unreadable(e.into()))?;
    let sha256 = hdr_common::sha256_file(path).map_err(|e| unreadable(e.into()))?;
    Ok((data, sha256))
}

/// SHA-256 over everything that shapes the training trajectory: the
/// `[model]` and `[train]` configs and the train split's hash.
fn fingerprint(config: &Config, model: &ModelConfig, data_sha256: &str) -> [u8; 32] {
    let config_json = serde_json::to_string(config).expect("the config serialises");
    let model_json = serde_json::to_string(model).expect("the config serialises");
    let text = format!(
        "hdr-train checkpoint\nmodel {model_json}\nconfig {config_json}\ndata {data_sha256}\n"
    );
    let hex = hdr_common::sha256_bytes(text.as_bytes());
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("sha256 hex");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_changes_with_config_and_data() {
        let seed = ModelConfig::default();
        let base = fingerprint(&Config::default(), &seed, "abc");
        assert_eq!(base, fingerprint(&Config::default(), &seed, "abc"));
        assert_ne!(base, fingerprint(&Config::default(), &seed, "abd"));
        let deep = ModelConfig {
            architecture: hdr_model::Architecture::Deep,
        };
        assert_ne!(base, fingerprint(&Config::default(), &deep, "abc"));
        assert_ne!(
            base,
            fingerprint(
                &Config {
                    epochs: 31,
                    ..Config::default()
                },
                &seed,
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
                &seed,
                "abc"
            )
        );
    }

    #[test]
    fn paths_take_the_train_split_from_the_data_stage() {
        let paths = Paths::under(Path::new("a"));
        assert_eq!(paths.train_split, DataFiles::under(Path::new("a")).train);
        assert_eq!(paths.weights, TrainFiles::under(Path::new("a")).weights);
        assert_eq!(
            paths.user_split,
            DataFiles::under(Path::new("a")).user_train
        );
        assert_eq!(
            paths.inputs(),
            [
                (paths.train_split.as_path(), "data"),
                (paths.user_split.as_path(), "data")
            ]
        );
    }
}
