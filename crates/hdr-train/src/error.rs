//! Everything that can go wrong in training.

/// Everything that can go wrong in training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration value.
    #[error(transparent)]
    Config(#[from] hdr_common::ConfigError),
    /// The train split is missing.
    #[error(transparent)]
    Missing(#[from] hdr_artifacts::MissingArtifact),
    /// Anything else, with a message naming the file.
    #[error("{0}")]
    Other(String),
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
