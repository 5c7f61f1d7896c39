//! `train/model.json`: what the weights file holds and how it was made.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{pretty_json, read_artifact};
use crate::{Error, TrainFiles};

/// The content of `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// The network's name, as `[model] architecture` selects it (e.g. `seed`).
    pub architecture_name: String,
    /// One line per layer with its output shape, e.g. `conv1: Conv2D 1->32 3x3 valid -> 32x26x26`.
    pub architecture: Vec<String>,
    /// Trainable parameters.
    pub parameters: usize,
    /// Which kernel path trained it (`avx512`, `avx2` or `portable`): the same
    /// seed, config and data give the same weights on `avx512` and `avx2`, and
    /// on `portable` the same as other `portable` runs.
    pub kernels: String,
    /// The `[train]` config it was trained with.
    pub train_config: serde_json::Value,
    /// sha256 of the train split it was trained on.
    pub data_sha256: String,
    /// Epochs run.
    pub epochs_trained: usize,
    /// The epoch whose weights were kept (1-based).
    pub best_epoch: usize,
    /// Validation accuracy of the kept weights.
    pub best_val_accuracy: f64,
    /// How many of the user's own digits (`data.user_samples`) it trained on.
    #[serde(default)]
    pub user_samples: usize,
}

/// Writes `card` as `model.json` (pretty JSON, trailing newline).
pub fn write_card(mut out: impl Write, card: &ModelCard) -> std::io::Result<()> {
    out.write_all(&pretty_json(card)?)
}

/// Reads `model.json`; errors name the file, line and column.
pub fn read_card(path: &Path) -> Result<ModelCard, Error> {
    let bytes = read_artifact(path, TrainFiles::STAGE)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::invalid(
            path,
            format!("line {}, column {}: {e}", e.line(), e.column()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_the_line_of_a_mistake() {
        let card = ModelCard {
            architecture_name: "seed".into(),
            architecture: vec!["input: 1x28x28".into(), "dense: -> 10".into()],
            parameters: 34_826,
            kernels: "portable".into(),
            train_config: serde_json::json!({"epochs": 3}),
            data_sha256: "0".repeat(64),
            epochs_trained: 3,
            best_epoch: 2,
            best_val_accuracy: 0.975,
            user_samples: 0,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        assert!(matches!(read_card(&path), Err(Error::Missing(ref m)) if m.stage == "train"));
        let mut bytes = Vec::new();
        write_card(&mut bytes, &card).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_card(&path).unwrap(), card);
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["architecture_name"], "seed");
        assert_eq!(json["kernels"], "portable");

        std::fs::write(&path, "{\n  \"parameters\": \"many\"\n}").unwrap();
        let message = read_card(&path).unwrap_err().to_string();
        assert!(message.contains("model.json: line 2"), "{message}");
    }
}
