//! The model card of `GET /api/model`: what the served weights are, what
//! they were trained on, how well they did, and when they were made —
//! read through hdr-artifacts from the files the pipeline wrote.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hdr_artifacts::{read_card, read_metrics, read_summary, ModelCard};
use serde::Serialize;

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

/// The data the pipeline split, from `summary.json`.
#[derive(Debug, Serialize)]
struct DataFacts {
    source: String,
    source_sha256: String,
    train_rows: usize,
    test_rows: usize,
}

/// The card as served: `model.json`'s members (when there is one) and the
/// facts around them.
#[derive(Debug, Serialize)]
struct Card {
    weights: String,
    #[serde(flatten)]
    model: Option<ModelCard>,
    data: Option<DataFacts>,
    test_accuracy: Option<f64>,
    /// Accuracy on the user's own held-out digits, when the eval stage scored some.
    user_test_accuracy: Option<f64>,
    trained_at: Option<String>,
    /// Filled in per request: the report may come and go.
    report: Option<String>,
    notes: Vec<String>,
}

/// Reads an artifact if it exists; one that exists but is broken is an error
/// naming it.
fn optional<T>(
    path: Option<&Path>,
    read: impl FnOnce(&Path) -> Result<T, hdr_artifacts::Error>,
) -> Result<Option<T>, ServeError> {
    let Some(path) = path else { return Ok(None) };
    match read(path) {
        Ok(value) => Ok(Some(value)),
        Err(hdr_artifacts::Error::Missing(_)) => Ok(None),
        Err(e) => Err(ServeError::Card(e)),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// A path as the card shows it: relative to the directory the server runs
/// in (the project's root under `cargo xtask serve`) when inside it, else
/// the file name alone, so that no absolute path of this machine is shown.
fn public_path(path: &Path) -> String {
    let relative = if path.is_absolute() {
        std::env::current_dir()
            .ok()
            .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
    } else {
        Some(path.to_path_buf())
    };
    match relative {
        Some(relative) if !relative.as_os_str().is_empty() => relative.display().to_string(),
        _ => path
            .file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned()),
    }
}

/// Builds the card once, at start-up, for the weights at `weights`.
pub(crate) fn build(
    weights: &Path,
    sources: &CardSources,
) -> Result<serde_json::Value, ServeError> {
    let model = optional(sources.model_card.as_deref(), read_card)?;
    let summary = optional(sources.data_summary.as_deref(), read_summary)?;
    let trained = modified(weights);

    let mut notes: Vec<String> = Vec::new();
    if model.is_none() {
        notes.push(
            "no model.json beside the weights: architecture and training facts unknown".into(),
        );
    }
    let metrics = match sources.metrics.as_deref() {
        Some(path) => match (modified(path), trained) {
            (Some(scored), Some(trained)) if scored >= trained => {
                optional(Some(path), read_metrics)?
            }
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
    let test_accuracy = metrics.as_ref().map(|m| m.test.accuracy);
    let user_test_accuracy = metrics
        .as_ref()
        .and_then(|m| m.user_test.as_ref().map(|u| u.accuracy));
    if test_accuracy.is_none() && notes.is_empty() {
        notes.push(
            "no test accuracy: the served weights have not been scored by `cargo xtask eval`"
                .into(),
        );
    }
    let card = Card {
        weights: public_path(weights),
        model,
        data: summary.map(|s| DataFacts {
            source: public_path(Path::new(&s.source)),
            source_sha256: s.source_sha256,
            train_rows: s.train.rows,
            test_rows: s.test.rows,
        }),
        test_accuracy,
        user_test_accuracy,
        trained_at: trained.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
        report: None,
        notes,
    };
    Ok(serde_json::to_value(card).expect("plain structs serialise"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdr_artifacts::{write_card, write_metrics, write_summary, DataSummary, SplitSummary};

    fn write(path: &Path, bytes: &[u8]) {
        std::fs::write(path, bytes).unwrap();
    }

    fn model_card() -> ModelCard {
        ModelCard {
            architecture_name: "seed".into(),
            architecture: vec!["conv1: Conv2D 1->32 3x3 valid -> 32x26x26".into()],
            parameters: 34_826,
            kernels: "portable".into(),
            train_config: serde_json::json!({"epochs": 3}),
            data_sha256: "ab".repeat(32),
            epochs_trained: 3,
            best_epoch: 2,
            best_val_accuracy: 0.97,
            user_samples: 0,
        }
    }

    fn metrics(test_accuracy: f64) -> hdr_artifacts::Metrics {
        let averages = hdr_artifacts::Averages {
            precision: 0.9,
            recall: 0.9,
            f1: 0.9,
        };
        let split = |accuracy| hdr_artifacts::SplitMetrics {
            accuracy,
            log_loss: 0.1,
            macro_avg: averages,
            weighted: averages,
            per_class: (0..10)
                .map(|class| hdr_artifacts::ClassMetrics {
                    class,
                    precision: 0.9,
                    recall: 0.9,
                    f1: 0.9,
                    support: 0,
                })
                .collect(),
            confusion_matrix: vec![vec![0; 10]; 10],
            support: 0,
            images_per_s: 1.0,
        };
        hdr_artifacts::Metrics {
            train: split(0.99),
            test: split(test_accuracy),
            user_test: None,
            extra_tests: Vec::new(),
        }
    }

    #[test]
    fn paths_are_shown_relative_or_by_name_only() {
        assert_eq!(public_path(Path::new("data/x.csv")), "data/x.csv");
        let outside = Path::new("/nowhere-near/the/project/model.safetensors");
        assert_eq!(public_path(outside), "model.safetensors");
        let inside = std::env::current_dir()
            .unwrap()
            .join("artifacts/m.safetensors");
        assert_eq!(public_path(&inside), "artifacts/m.safetensors");
    }

    #[test]
    fn card_gathers_the_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("model.safetensors");
        write(&weights, b"weights");
        let card = dir.path().join("model.json");
        let mut bytes = Vec::new();
        write_card(&mut bytes, &model_card()).unwrap();
        write(&card, &bytes);
        let metrics_file = dir.path().join("metrics.json");
        let mut bytes = Vec::new();
        write_metrics(&mut bytes, &metrics(0.988)).unwrap();
        write(&metrics_file, &bytes);
        let summary = dir.path().join("summary.json");
        let mut bytes = Vec::new();
        write_summary(
            &mut bytes,
            &DataSummary {
                source: "data/x.csv".into(),
                source_sha256: "cd".repeat(32),
                source_rows: 3,
                test_fraction: 0.3,
                seed: 1,
                train: SplitSummary::of(&[0, 1, 1], &[0, 1]),
                test: SplitSummary::of(&[0, 1, 1], &[2]),
                test_source: None,
                user_samples: None,
                extra_tests: Vec::new(),
                seconds: 0.1,
            },
        )
        .unwrap();
        write(&summary, &bytes);
        let sources = CardSources {
            model_card: Some(card),
            metrics: Some(metrics_file),
            data_summary: Some(summary),
        };
        let value = build(&weights, &sources).unwrap();
        assert_eq!(value["architecture_name"], "seed");
        assert_eq!(value["parameters"], 34826);
        assert_eq!(value["kernels"], "portable");
        assert_eq!(
            value["architecture"][0],
            "conv1: Conv2D 1->32 3x3 valid -> 32x26x26"
        );
        assert_eq!(value["test_accuracy"], 0.988);
        assert_eq!(value["data"]["train_rows"], 2);
        assert_eq!(value["data"]["source"], "data/x.csv");
        assert!(value["trained_at"].as_str().unwrap().ends_with('Z'));
        assert!(value["report"].is_null());
        assert_eq!(value["notes"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn missing_sources_leave_gaps_with_notes() {
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("model.safetensors");
        write(&weights, b"weights");
        let sources = CardSources {
            model_card: Some(dir.path().join("model.json")),
            metrics: Some(dir.path().join("metrics.json")),
            data_summary: None,
        };
        let value = build(&weights, &sources).unwrap();
        assert!(value["parameters"].is_null());
        assert!(value["test_accuracy"].is_null());
        assert!(value["data"].is_null());
        let notes = value["notes"].as_array().unwrap();
        assert!(notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("model.json")));
    }

    #[test]
    fn metrics_older_than_the_weights_are_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let metrics_file = dir.path().join("metrics.json");
        let mut bytes = Vec::new();
        write_metrics(&mut bytes, &metrics(0.5)).unwrap();
        write(&metrics_file, &bytes);
        let old = SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&metrics_file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let weights = dir.path().join("model.safetensors");
        write(&weights, b"weights");
        let sources = CardSources {
            metrics: Some(metrics_file),
            ..CardSources::default()
        };
        let value = build(&weights, &sources).unwrap();
        assert!(value["test_accuracy"].is_null());
        let notes = value["notes"].as_array().unwrap();
        assert!(notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("cargo xtask eval")));
    }

    #[test]
    fn a_broken_card_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("model.safetensors");
        write(&weights, b"weights");
        let card = dir.path().join("model.json");
        write(&card, b"{not json");
        let sources = CardSources {
            model_card: Some(card),
            ..CardSources::default()
        };
        let err = build(&weights, &sources).unwrap_err().to_string();
        assert!(err.contains("model.json"), "{err}");
    }
}
