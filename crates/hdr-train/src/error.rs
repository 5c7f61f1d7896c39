//! Everything that can go wrong in training, each naming what and where.

use std::path::PathBuf;

/// Everything that can go wrong in training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration value.
    #[error(transparent)]
    Config(#[from] hdr_common::ConfigError),
    /// The train split is missing.
    #[error(transparent)]
    Missing(#[from] hdr_artifacts::MissingArtifact),
    /// The train split could not be read.
    #[error("cannot read the train split {}: {source}; run `cargo xtask data` to recreate it", path.display())]
    ReadSplit {
        /// The split file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The train split's pixels do not make whole images.
    #[error(
        "the dataset has {labels} labels but {pixels} pixels (expected {} per image)",
        hdr_artifacts::IMAGE_PIXELS
    )]
    PixelCount {
        /// Labels in the split.
        labels: usize,
        /// Pixels in the split.
        pixels: usize,
    },
    /// Too few images to hold some out for validation.
    #[error(
        "{images} images are too few to hold out `train.validation_fraction` = {fraction} for \
         validation and still train on the rest"
    )]
    TooFewImages {
        /// Images in the split.
        images: usize,
        /// `train.validation_fraction`.
        fraction: f64,
    },
    /// A weights or checkpoint file that does not match what is asked of it.
    #[error(transparent)]
    Model(#[from] hdr_model::ModelError),
    /// `--resume` without a checkpoint.
    #[error("{}: no checkpoint to resume from; run without `--resume` to train afresh", path.display())]
    NoCheckpoint {
        /// Where the checkpoint would be.
        path: PathBuf,
    },
    /// A file that is not a training checkpoint.
    #[error("{}: not an hdr-train checkpoint (metadata `{key}` is not `{expected}`)", path.display())]
    NotCheckpoint {
        /// The file.
        path: PathBuf,
        /// The metadata key that says what a file is.
        key: &'static str,
        /// Its value in a checkpoint.
        expected: &'static str,
    },
    /// A checkpoint of another config or train split.
    #[error(
        "{}: the checkpoint was made with a different `[model]` or `[train]` config or train \
         split; run without `--resume` to train afresh",
        path.display()
    )]
    CheckpointMismatch {
        /// The checkpoint.
        path: PathBuf,
    },
    /// The checkpoint could not be written.
    #[error("{}: cannot write the checkpoint: {source}", path.display())]
    WriteCheckpoint {
        /// The checkpoint.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The train config could not be recorded in `model.json`.
    #[error("train config: {source}")]
    RecordConfig {
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The loss became NaN, infinite or absurdly large; no model was written.
    #[error(
        "training diverged in epoch {epoch}{}: the mean loss is {loss:.3e}. The learning rate is probably \
         too high: `train.learning_rate` = {learning_rate} (Adam's usual value is 0.001). No model was written.",
        if *batch == 0 { " (validation)".to_string() } else { format!(", batch {batch}") }
    )]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based batch within the epoch (0: during validation).
        batch: usize,
        /// The offending mean loss.
        loss: f64,
        /// The learning rate of that epoch.
        learning_rate: f64,
    },
    /// Training was stopped (a requested stop, or [`crate::run_interruptible`]'s
    /// callback); the checkpoint holds the `epochs_done` finished epochs, and no
    /// model was written.
    #[error("{}", if *epochs_done == 0 {
        "training interrupted before its first epoch finished; no model was written".to_string()
    } else {
        format!("training interrupted after epoch {epochs_done}; no model was written, and the \
                 checkpoint of that epoch is saved: continue with `--resume`")
    })]
    Interrupted {
        /// Epochs completed and saved in the checkpoint.
        epochs_done: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverged_error_names_the_learning_rate_key() {
        let e = Error::Diverged {
            epoch: 1,
            batch: 3,
            loss: f64::NAN,
            learning_rate: 1e6,
        };
        let message = e.to_string();
        assert!(
            message.contains("`train.learning_rate` = 1000000"),
            "{message}"
        );
        assert!(message.contains("epoch 1, batch 3"), "{message}");
        let huge = Error::Diverged {
            epoch: 2,
            batch: 0,
            loss: 6.0729e22,
            learning_rate: 0.5,
        }
        .to_string();
        assert!(
            huge.contains("epoch 2 (validation): the mean loss is 6.073e22"),
            "{huge}"
        );
    }
}
