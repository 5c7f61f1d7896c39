//! The model card of `GET /api/model`: what the served weights are, what
//! they were trained on, how well they did, and when they were made.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::ServeError;

/// Where the model card's facts come from; each may be absent (a model
/// trained elsewhere, an eval that has not run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardSources {
    /// `model.json` written beside the weights by the train stage.
    pub model_card: Option<PathBuf>,
    /// `artifacts/eval/metrics.json`, for the test accuracy; only taken when
    /// it is newer than the weights (otherwise it scored other weights).
    pub metrics: Option<PathBuf>,
    /// `artifacts/data/summary.json`, for the data's source and split sizes.
    pub data_summary: Option<PathBuf>,
}

/// Reads a JSON file if it exists; a file that exists but does not parse is an error.
fn read_json(path: Option<&Path>) -> Result<Option<Value>, ServeError> {
    let Some(path) = path else { return Ok(None) };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ServeError::CardUnreadable {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| ServeError::Card {
            path: path.to_path_buf(),
            source,
        })
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Builds the card once, at start-up, for the weights at `weights`; the
/// `report` link is filled in per request, as the report may come and go.
pub(crate) fn build(weights: &Path, sources: &CardSources) -> Result<Value, ServeError> {
    let model = read_json(sources.model_card.as_deref())?;
    let summary = read_json(sources.data_summary.as_deref())?;
    let trained = modified(weights);

    let mut notes: Vec<String> = Vec::new();
    if model.is_none() {
        notes.push("no model.json beside the weights: architecture and training facts unknown".into());
    }
    let fresh_metrics = match sources.metrics.as_deref() {
        Some(path) => match (modified(path), trained) {
            (Some(scored), Some(trained)) if scored >= trained => read_json(Some(path))?,
            (Some(_), _) => {
                notes.push(
                    "metrics.json is older than the weights: run `cargo xtask eval` for the test accuracy"
                        .into(),
                );
                None
            }
            (None, _) => None,
        },
        None => None,
    };
    let test_accuracy = fresh_metrics
        .as_ref()
        .and_then(|m| m.pointer("/test/accuracy"))
        .and_then(Value::as_f64);
    if test_accuracy.is_none() && notes.is_empty() {
        notes.push("no test accuracy: the served weights have not been scored by `cargo xtask eval`".into());
    }

    let field = |key: &str| model.as_ref().and_then(|m| m.get(key)).cloned();
    let data = summary.as_ref().map(|s| {
        json!({
            "source": s.get("source"),
            "source_sha256": s.get("source_sha256"),
            "train_rows": s.pointer("/train/rows"),
            "test_rows": s.pointer("/test/rows"),
        })
    });
    Ok(json!({
        "weights": weights.display().to_string(),
        "architecture": field("architecture"),
        "parameters": field("parameters"),
        "train_config": field("train_config"),
        "train_data_sha256": field("data_sha256"),
        "epochs_trained": field("epochs_trained"),
        "best_epoch": field("best_epoch"),
        "best_val_accuracy": field("best_val_accuracy"),
        "data": data,
        "test_accuracy": test_accuracy,
        "trained_at": trained.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
        "report": null,
        "notes": notes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn card_gathers_the_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("model.safetensors");
        write(&weights, "weights");
        let card = dir.path().join("model.json");
        write(
            &card,
            r#"{"architecture":["conv1: Conv2D"],"parameters":34826,"data_sha256":"ab","epochs_trained":3,"best_epoch":2,"best_val_accuracy":0.97,"train_config":{"epochs":3}}"#,
        );
        let metrics = dir.path().join("metrics.json");
        write(&metrics, r#"{"train":{"accuracy":0.99},"test":{"accuracy":0.988}}"#);
        let summary = dir.path().join("summary.json");
        write(
            &summary,
            r#"{"source":"data/x.csv","source_sha256":"cd","train":{"rows":8000},"test":{"rows":2000}}"#,
        );
        let sources = CardSources {
            model_card: Some(card),
            metrics: Some(metrics),
            data_summary: Some(summary),
        };
        let value = build(&weights, &sources).unwrap();
        assert_eq!(value["parameters"], 34826);
        assert_eq!(value["architecture"][0], "conv1: Conv2D");
        assert_eq!(value["test_accuracy"], 0.988);
        assert_eq!(value["data"]["train_rows"], 8000);
        assert_eq!(value["data"]["source"], "data/x.csv");
        assert!(value["trained_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(value["notes"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn missing_sources_leave_gaps_with_notes() {
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("model.safetensors");
        write(&weights, "weights");
        let sources = CardSources {
            model_card: Some(dir.path().join("model.json")),
            metrics: Some(dir.path().join("metrics.json")),
            data_summary: None,
        };
        let value = build(&weights, &sources).unwrap();
        assert!(value["parameters"].is_null());
        assert!(value["test_accuracy"].is_null());
        assert!(value["report"].is_null());
        let notes = value["notes"].as_array().unwrap();
        assert!(notes.iter().any(|n| n.as_str().unwrap().contains("model.json")));
    }

    #[test]
    fn metrics_older_than_the_weights_are_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = dir.path().join("metrics.json");
        write(&metrics, r#"{"test":{"accuracy":0.5}}"#);
        let old = SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&metrics)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let weights = dir.path().join("model.safetensors");
        write(&weights, "weights");
        let sources = CardSources {
            metrics: Some(metrics),
            ..CardSources::default()
        };
        let value = build(&weights, &sources).unwrap();
        assert!(value["test_accuracy"].is_null());
        let notes = value["notes"].as_array().unwrap();
        assert!(notes.iter().any(|n| n.as_str().unwrap().contains("cargo xtask eval")));
    }

    #[test]
    fn a_broken_card_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("model.safetensors");
        write(&weights, "weights");
        let card = dir.path().join("model.json");
        write(&card, "{not json");
        let sources = CardSources {
            model_card: Some(card),
            ..CardSources::default()
        };
        let err = build(&weights, &sources).unwrap_err().to_string();
        assert!(err.contains("model.json"), "{err}");
    }
}
