//! The evaluation stage: scores the trained model on both splits with
//! accuracy, precision, recall, F1, log loss and confusion matrices.
//!
//! The metrics follow scikit-learn's definitions (`zero_division=0`, labels
//! 0..=9) and are checked against it in `tests/reference.rs`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use hdr_common::{require_artifact, OutputSet, Progress, RunOptions};
use hdr_data::Dataset;
use hdr_model::{Classifier, Prediction};
use serde::{Deserialize, Serialize};

mod metrics;
mod report;

pub use metrics::{
    classification_metrics, confusion_matrix, log_loss, split_metrics, ClassificationMetrics,
    ConfusionMatrix, LOG_LOSS_EPS,
};
pub use report::classification_report;

/// Number of digit classes.
pub const NUM_CLASSES: usize = hdr_model::NUM_CLASSES;
/// Header of `confusion_*.csv`: the true class, then one count column per predicted class.
pub const CONFUSION_HEADER: &str =
    "true_label,pred_0,pred_1,pred_2,pred_3,pred_4,pred_5,pred_6,pred_7,pred_8,pred_9";
/// Header of `predictions_test.csv`.
pub const PREDICTIONS_HEADER: &str =
    "index,label,predicted,confidence,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9";

/// Precision, recall and F1 averaged over classes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Averages {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1 score.
    pub f1: f64,
}

/// One class's row of the classification report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The digit.
    pub class: u8,
    /// Precision (0 when the class is never predicted).
    pub precision: f64,
    /// Recall (0 when the class is never present).
    pub recall: f64,
    /// F1 score.
    pub f1: f64,
    /// Number of true instances.
    pub support: u64,
}

/// All metrics of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    /// Share of correct predictions.
    pub accuracy: f64,
    /// Mean cross-entropy of the true class's probability.
    pub log_loss: f64,
    /// Unweighted mean over classes.
    #[serde(rename = "macro")]
    pub macro_avg: Averages,
    /// Mean over classes weighted by support.
    pub weighted: Averages,
    /// One row per class 0..=9.
    pub per_class: Vec<ClassMetrics>,
    /// 10x10 counts, rows = true class, columns = predicted class.
    pub confusion_matrix: Vec<Vec<u64>>,
    /// Number of images scored.
    pub support: u64,
    /// Inference throughput on this split.
    pub images_per_s: f64,
}

/// `metrics.json`: `{"train": ..., "test": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Metrics on the train split.
    pub train: SplitMetrics,
    /// Metrics on the test split.
    pub test: SplitMetrics,
}

/// Reads `metrics.json` as written by this stage, checking its shape.
pub fn read_metrics(path: &Path) -> Result<Metrics, Error> {
    require_artifact(path, "eval")?;
    let bytes =
        std::fs::read(path).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    let metrics: Metrics = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    for (name, split) in [("train", &metrics.train), ("test", &metrics.test)] {
        check_shape(split)
            .map_err(|problem| Error::Other(format!("{}: {name}: {problem}", path.display())))?;
    }
    Ok(metrics)
}

/// Why a split's metrics do not have ten classes and a 10x10 matrix, if so.
fn check_shape(split: &SplitMetrics) -> Result<(), String> {
    let classes_in_order = split
        .per_class
        .iter()
        .enumerate()
        .all(|(i, row)| usize::from(row.class) == i);
    if split.per_class.len() != NUM_CLASSES || !classes_in_order {
        return Err(format!(
            "per_class must list classes 0 to {} in order",
            NUM_CLASSES - 1
        ));
    }
    if split.confusion_matrix.len() != NUM_CLASSES
        || split
            .confusion_matrix
            .iter()
            .any(|r| r.len() != NUM_CLASSES)
    {
        return Err(format!(
            "confusion_matrix must be {NUM_CLASSES} rows of {NUM_CLASSES} counts"
        ));
    }
    Ok(())
}

/// The `[eval]` section of pipeline.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Images per inference batch (memory use grows with it).
    pub batch_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { batch_size: 1000 }
    }
}

impl Config {
    /// Checks ranges; errors name the key (`eval.batch_size`).
    pub fn validate(&self) -> Result<(), hdr_common::ConfigError> {
        if self.batch_size == 0 {
            return Err(hdr_common::ConfigError::new(
                "eval.batch_size",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// What an evaluation run produced.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The files written.
    pub files: Vec<PathBuf>,
    /// The metrics written to `metrics.json`.
    pub metrics: Metrics,
}

/// Runs the evaluation stage: scores `paths.weights` on both splits and
/// writes metrics, confusion matrices, test predictions and the text report,
/// all or nothing.
pub fn run(config: &Config, paths: &Paths, opts: &RunOptions) -> Result<Outputs, Error> {
    config.validate()?;
    require_artifact(&paths.train_split, "data")?;
    require_artifact(&paths.test_split, "data")?;
    require_artifact(&paths.weights, "train")?;
    let classifier = Classifier::load(&paths.weights)
        .map_err(|e| Error::Other(format!("loading the model: {e}")))?;
    let progress = Progress::new(opts.quiet);

    let train = score_split(
        "train",
        &paths.train_split,
        &classifier,
        config.batch_size,
        &progress,
    )?;
    let test = score_split(
        "test",
        &paths.test_split,
        &classifier,
        config.batch_size,
        &progress,
    )?;
    let metrics = Metrics {
        train: train.metrics,
        test: test.metrics,
    };
    if let Some(field) = first_non_finite(&metrics) {
        return Err(Error::Other(format!(
            "{field} is not a finite number; nothing written"
        )));
    }

    let io_error = |path: &Path| {
        let path = path.display().to_string();
        move |e: io::Error| Error::Other(format!("{path}: {e}"))
    };
    let mut set = OutputSet::new();
    let mut json = serde_json::to_vec_pretty(&metrics).map_err(|e| Error::Other(e.to_string()))?;
    json.push(b'\n');
    set.write(&paths.metrics, &json)
        .map_err(io_error(&paths.metrics))?;
    set.write_with(&paths.confusion_train, |w| {
        write_confusion_csv(w, &metrics.train.confusion_matrix)
    })
    .map_err(io_error(&paths.confusion_train))?;
    set.write_with(&paths.confusion_test, |w| {
        write_confusion_csv(w, &metrics.test.confusion_matrix)
    })
    .map_err(io_error(&paths.confusion_test))?;
    set.write_with(&paths.predictions_test, |w| {
        write_predictions_csv(w, &test.labels, &test.predictions)
    })
    .map_err(io_error(&paths.predictions_test))?;
    set.write(&paths.report_txt, report_text(&metrics).as_bytes())
        .map_err(io_error(&paths.report_txt))?;
    let files = set
        .commit()
        .map_err(|e| Error::Other(format!("{}: {e}", paths.metrics.display())))?;
    Ok(Outputs { files, metrics })
}

/// One split's labels, the model's answers and their metrics.
struct ScoredSplit {
    labels: Vec<u8>,
    predictions: Vec<Prediction>,
    metrics: SplitMetrics,
}

/// Reads a split, predicts it in batches (timing only the predictions) and scores it.
fn score_split(
    name: &str,
    path: &Path,
    classifier: &Classifier,
    batch_size: usize,
    progress: &Progress,
) -> Result<ScoredSplit, Error> {
    let data = hdr_data::read_split(path).map_err(|e| match e {
        hdr_data::Error::Missing(missing) => Error::Missing(missing),
        other => Error::Other(other.to_string()),
    })?;
    check_split(&data, path)?;

    let bar = progress.bar(data.len() as u64, name);
    let mut predictions = Vec::with_capacity(data.len());
    let started = Instant::now();
    for chunk in data
        .pixels
        .chunks(batch_size.saturating_mul(hdr_data::IMAGE_PIXELS))
    {
        let batch = classifier.predict(chunk);
        let expected = chunk.len() / hdr_data::IMAGE_PIXELS;
        if batch.len() != expected {
            return Err(Error::Other(format!(
                "the model returned {} predictions for {expected} images",
                batch.len()
            )));
        }
        predictions.extend_from_slice(&batch);
        bar.inc(expected as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    for (index, p) in predictions.iter().enumerate() {
        if usize::from(p.digit) >= NUM_CLASSES || p.probabilities.iter().any(|v| !v.is_finite()) {
            return Err(Error::Other(format!(
                "{}: the model's output for row {index} (0-based) is not a valid probability vector \
                 (non-finite or out-of-range values); the weights are likely diverged or corrupt",
                path.display()
            )));
        }
    }
    let mut metrics = split_metrics(&data.labels, &predictions);
    metrics.images_per_s = if seconds > 0.0 {
        data.len() as f64 / seconds
    } else {
        0.0
    };
    progress.line(format!(
        "eval {name}: accuracy {:.4}, log loss {:.4}, macro F1 {:.4} on {} images ({:.0} images/s)",
        metrics.accuracy,
        metrics.log_loss,
        metrics.macro_avg.f1,
        data.len(),
        metrics.images_per_s
    ));
    Ok(ScoredSplit {
        labels: data.labels,
        predictions,
        metrics,
    })
}

/// Rejects a split that cannot be scored, naming the file.
fn check_split(data: &Dataset, path: &Path) -> Result<(), Error> {
    if data.is_empty() {
        return Err(Error::Other(format!(
            "{}: the split has no images; rerun `cargo xtask data` with more data",
            path.display()
        )));
    }
    if data.pixels.len() != data.len() * hdr_data::IMAGE_PIXELS {
        return Err(Error::Other(format!(
            "{}: {} pixels for {} images (expected {} per image)",
            path.display(),
            data.pixels.len(),
            data.len(),
            hdr_data::IMAGE_PIXELS
        )));
    }
    if let Some((row, label)) = data
        .labels
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= NUM_CLASSES)
    {
        return Err(Error::Other(format!(
            "{}: row {row} (0-based) has label {label}, expected 0 to {}",
            path.display(),
            NUM_CLASSES - 1
        )));
    }
    Ok(())
}

/// The name of the first metric that is NaN or infinite, if any: such a value
/// would become `null` in JSON.
fn first_non_finite(metrics: &Metrics) -> Option<String> {
    for (name, split) in [("train", &metrics.train), ("test", &metrics.test)] {
        let mut values = vec![
            ("accuracy".to_string(), split.accuracy),
            ("log_loss".to_string(), split.log_loss),
            ("images_per_s".to_string(), split.images_per_s),
        ];
        for (label, avg) in [("macro", &split.macro_avg), ("weighted", &split.weighted)] {
            values.push((format!("{label}.precision"), avg.precision));
            values.push((format!("{label}.recall"), avg.recall));
            values.push((format!("{label}.f1"), avg.f1));
        }
        for row in &split.per_class {
            values.push((format!("per_class[{}].precision", row.class), row.precision));
            values.push((format!("per_class[{}].recall", row.class), row.recall));
            values.push((format!("per_class[{}].f1", row.class), row.f1));
        }
        if let Some((field, _)) = values.into_iter().find(|(_, v)| !v.is_finite()) {
            return Some(format!("{name}.{field}"));
        }
    }
    None
}

/// `confusion_*.csv`: a header, then one row per true class with its counts per predicted class.
fn write_confusion_csv(out: &mut impl Write, confusion: &[Vec<u64>]) -> io::Result<()> {
    writeln!(out, "{CONFUSION_HEADER}")?;
    for (class, row) in confusion.iter().enumerate() {
        write!(out, "{class}")?;
        for count in row {
            write!(out, ",{count}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `predictions_test.csv`: one row per test image, in test.parquet's order.
fn write_predictions_csv(
    out: &mut impl Write,
    labels: &[u8],
    predictions: &[Prediction],
) -> io::Result<()> {
    writeln!(out, "{PREDICTIONS_HEADER}")?;
    for (index, (label, p)) in labels.iter().zip(predictions).enumerate() {
        write!(
            out,
            "{index},{label},{},{}",
            p.digit,
            format_probability(p.confidence())
        )?;
        for &value in &p.probabilities {
            write!(out, ",{}", format_probability(value))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The shortest text that reads back as exactly `value`; tiny values in
/// exponent form (`3.1e-9`) rather than dozens of zeros.
pub fn format_probability(value: f32) -> String {
    if value == 0.0 || value.abs() >= 1e-4 {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

/// `classification_report.txt`: both splits' reports, each under a title.
fn report_text(metrics: &Metrics) -> String {
    let mut text = String::new();
    for (name, split) in [("train", &metrics.train), ("test", &metrics.test)] {
        if !text.is_empty() {
            text.push('\n');
        }
        let title = format!(
            "Classification report: {name} split ({} images)",
            split.support
        );
        text.push_str(&format!("{title}\n{}\n\n", "=".repeat(title.len())));
        text.push_str(&classification_report(split));
        text.push_str(&format!("\nlog loss: {:.4}\n", split.log_loss));
    }
    text
}

/// Everything that can go wrong in evaluation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration value.
    #[error(transparent)]
    Config(#[from] hdr_common::ConfigError),
    /// An input artifact is missing.
    #[error(transparent)]
    Missing(#[from] hdr_common::MissingArtifact),
    /// Anything else, with a message naming the file.
    #[error("{0}")]
    Other(String),
}

/// The evaluation stage's inputs and outputs.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Input: `artifacts/data/train.parquet`.
    pub train_split: PathBuf,
    /// Input: `artifacts/data/test.parquet`.
    pub test_split: PathBuf,
    /// Input: `artifacts/train/model.safetensors`.
    pub weights: PathBuf,
    /// `artifacts/eval/metrics.json`.
    pub metrics: PathBuf,
    /// `artifacts/eval/confusion_train.csv`.
    pub confusion_train: PathBuf,
    /// `artifacts/eval/confusion_test.csv`.
    pub confusion_test: PathBuf,
    /// `artifacts/eval/predictions_test.csv` (`index,label,predicted,confidence,p0..p9`;
    /// `index` is the 0-based row of test.parquet).
    pub predictions_test: PathBuf,
    /// `artifacts/eval/classification_report.txt`.
    pub report_txt: PathBuf,
}

impl Paths {
    /// The evaluation stage's files under an artifacts directory.
    pub fn under(artifacts: &Path) -> Self {
        let dir = artifacts.join("eval");
        Self {
            train_split: artifacts.join("data").join("train.parquet"),
            test_split: artifacts.join("data").join("test.parquet"),
            weights: artifacts.join("train").join("model.safetensors"),
            metrics: dir.join("metrics.json"),
            confusion_train: dir.join("confusion_train.csv"),
            confusion_test: dir.join("confusion_test.csv"),
            predictions_test: dir.join("predictions_test.csv"),
            report_txt: dir.join("classification_report.txt"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(digit: u8, confidence: f32) -> Prediction {
        let mut probabilities = [(1.0 - confidence) / 9.0; NUM_CLASSES];
        probabilities[usize::from(digit)] = confidence;
        Prediction {
            digit,
            probabilities,
        }
    }

    fn sample_metrics() -> Metrics {
        let labels = [0u8, 1, 2, 3, 3, 9];
        let predictions: Vec<Prediction> = [0u8, 1, 2, 3, 5, 9]
            .iter()
            .map(|&d| one_hot(d, 0.8))
            .collect();
        let mut train = split_metrics(&labels, &predictions);
        train.images_per_s = 1234.5;
        let test = split_metrics(&labels[..4], &predictions[..4]);
        Metrics { train, test }
    }

    #[test]
    fn config_defaults_and_validation_name_the_key() {
        let config: Config = toml::from_str("").unwrap();
        assert_eq!(config, Config { batch_size: 1000 });
        assert!(config.validate().is_ok());
        let error = Config { batch_size: 0 }.validate().unwrap_err();
        assert_eq!(error.key, "eval.batch_size");
        let unknown = toml::from_str::<Config>("batch = 3")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("batch"), "{unknown}");
    }

    #[test]
    fn run_rejects_a_bad_config_before_touching_files() {
        let dir = tempfile::tempdir().unwrap();
        let error = run(
            &Config { batch_size: 0 },
            &Paths::under(dir.path()),
            &RunOptions { quiet: true },
        )
        .unwrap_err();
        assert!(
            matches!(error, Error::Config(ref e) if e.key == "eval.batch_size"),
            "{error}"
        );
    }

    #[test]
    fn metrics_json_round_trips_through_read_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.json");
        let metrics = sample_metrics();
        std::fs::write(&path, serde_json::to_vec_pretty(&metrics).unwrap()).unwrap();
        let read = read_metrics(&path).unwrap();
        // Up to serde_json's default float parsing, which may be one ulp off.
        assert!((read.train.weighted.f1 - metrics.train.weighted.f1).abs() < 1e-15);
        assert_eq!(read.test.confusion_matrix, metrics.test.confusion_matrix);
        assert_eq!(read.train.per_class.len(), 10);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(json["train"]["macro"]["f1"].is_f64());
        assert_eq!(json["test"]["per_class"][3]["class"], 3);
        assert_eq!(json["train"]["confusion_matrix"][3][5], 1);
    }

    #[test]
    fn read_metrics_errors_name_the_file_and_the_stage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.json");
        let missing = read_metrics(&path).unwrap_err();
        assert!(
            matches!(missing, Error::Missing(ref m) if m.stage == "eval"),
            "{missing}"
        );

        std::fs::write(&path, b"{\"train\": 3}").unwrap();
        let message = read_metrics(&path).unwrap_err().to_string();
        assert!(
            message.contains("metrics.json") && message.contains("line 1"),
            "{message}"
        );

        let mut metrics = sample_metrics();
        metrics.test.confusion_matrix.pop();
        std::fs::write(&path, serde_json::to_vec(&metrics).unwrap()).unwrap();
        let message = read_metrics(&path).unwrap_err().to_string();
        assert!(
            message.contains("metrics.json: test: confusion_matrix"),
            "{message}"
        );
    }

    #[test]
    fn non_finite_metrics_are_found_by_name() {
        let mut metrics = sample_metrics();
        assert_eq!(first_non_finite(&metrics), None);
        metrics.test.per_class[4].recall = f64::NAN;
        assert_eq!(
            first_non_finite(&metrics).as_deref(),
            Some("test.per_class[4].recall")
        );
    }

    #[test]
    fn confusion_csv_has_a_header_and_ten_rows() {
        let metrics = sample_metrics();
        let mut bytes = Vec::new();
        write_confusion_csv(&mut bytes, &metrics.train.confusion_matrix).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 11);
        assert_eq!(lines[0], CONFUSION_HEADER);
        assert_eq!(lines[4], "3,0,0,0,1,0,1,0,0,0,0");
    }

    #[test]
    fn predictions_csv_rows_read_back_exactly() {
        let mut p = one_hot(7, 0.99999994);
        p.probabilities[2] = 3.1e-9;
        p.probabilities[4] = 0.0;
        let mut bytes = Vec::new();
        write_predictions_csv(&mut bytes, &[5], &[p]).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(PREDICTIONS_HEADER));
        let fields: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(&fields[..4], &["0", "5", "7", "0.99999994"]);
        assert_eq!(fields[6], "3.1e-9");
        assert_eq!(fields[8], "0");
        let read: Vec<f32> = fields[3..].iter().map(|f| f.parse().unwrap()).collect();
        assert_eq!(read[0], p.confidence());
        assert_eq!(&read[1..], &p.probabilities);
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn report_text_titles_both_splits() {
        let metrics = sample_metrics();
        let text = report_text(&metrics);
        let train_at = text
            .find("Classification report: train split (6 images)")
            .unwrap();
        let test_at = text
            .find("Classification report: test split (4 images)")
            .unwrap();
        assert!(train_at < test_at);
        assert!(text.contains(&classification_report(&metrics.train)));
        assert!(text.contains(&classification_report(&metrics.test)));
    }
}
