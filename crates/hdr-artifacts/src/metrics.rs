//! `eval/metrics.json` and `eval/confusion_*.csv`: the scores of both splits.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{pretty_json, read_artifact};
use crate::{Error, EvalFiles, NUM_CLASSES};

/// Header of `confusion_*.csv`: the true class, then one count column per predicted class.
pub const CONFUSION_HEADER: &str =
    "true_label,pred_0,pred_1,pred_2,pred_3,pred_4,pred_5,pred_6,pred_7,pred_8,pred_9";

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

/// `metrics.json`: `{"train": ..., "test": ..., "user_test": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Metrics on the train split.
    pub train: SplitMetrics,
    /// Metrics on the test split.
    pub test: SplitMetrics,
    /// Metrics on the user's own held-out digits (`data/user_test.parquet`),
    /// when there are some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_test: Option<SplitMetrics>,
    /// Metrics on each extra test set (`data.extra_test_sources`), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_tests: Vec<NamedMetrics>,
}

/// One extra test set's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedMetrics {
    /// The set's name (`extra_test_<name>.parquet`).
    pub name: String,
    /// Its metrics.
    pub metrics: SplitMetrics,
}

/// Writes `metrics` as `metrics.json` (pretty JSON, trailing newline).
pub fn write_metrics(mut out: impl Write, metrics: &Metrics) -> std::io::Result<()> {
    out.write_all(&pretty_json(metrics)?)
}

/// Reads `metrics.json`, checking that each split has ten classes in order, a
/// 10x10 confusion matrix counting `support` images, and scores in range.
pub fn read_metrics(path: &Path) -> Result<Metrics, Error> {
    let bytes = read_artifact(path, EvalFiles::STAGE)?;
    let metrics: Metrics =
        serde_json::from_slice(&bytes).map_err(|e| Error::invalid(path, e.to_string()))?;
    let named = [
        ("train".to_string(), &metrics.train),
        ("test".to_string(), &metrics.test),
    ];
    let user = metrics
        .user_test
        .iter()
        .map(|m| ("user_test".to_string(), m));
    let extra = metrics
        .extra_tests
        .iter()
        .map(|e| (format!("extra_tests.{}", e.name), &e.metrics));
    for (name, split) in named.into_iter().chain(user).chain(extra) {
        check_split(split).map_err(|problem| Error::invalid(path, format!("{name}.{problem}")))?;
    }
    Ok(metrics)
}

/// Why a split's metrics break the schema, if they do (the message starts with the field).
fn check_split(m: &SplitMetrics) -> Result<(), String> {
    if m.per_class.len() != NUM_CLASSES {
        return Err(format!(
            "per_class has {} rows, expected {NUM_CLASSES}",
            m.per_class.len()
        ));
    }
    let in_unit_range = |name: String, v: f64| {
        if (0.0..=1.0).contains(&v) {
            Ok(())
        } else {
            Err(format!("{name} is {v}, expected a value in [0, 1]"))
        }
    };
    for (i, row) in m.per_class.iter().enumerate() {
        if usize::from(row.class) != i {
            return Err(format!(
                "per_class[{i}].class is {}, expected {i}",
                row.class
            ));
        }
        in_unit_range(format!("per_class[{i}].precision"), row.precision)?;
        in_unit_range(format!("per_class[{i}].recall"), row.recall)?;
        in_unit_range(format!("per_class[{i}].f1"), row.f1)?;
    }
    in_unit_range("accuracy".into(), m.accuracy)?;
    for (name, averages) in [("macro", &m.macro_avg), ("weighted", &m.weighted)] {
        in_unit_range(format!("{name}.precision"), averages.precision)?;
        in_unit_range(format!("{name}.recall"), averages.recall)?;
        in_unit_range(format!("{name}.f1"), averages.f1)?;
    }
    for (name, v) in [("log_loss", m.log_loss), ("images_per_s", m.images_per_s)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(format!("{name} is {v}, expected a finite value >= 0"));
        }
    }
    if m.confusion_matrix.len() != NUM_CLASSES {
        return Err(format!(
            "confusion_matrix has {} rows, expected {NUM_CLASSES}",
            m.confusion_matrix.len()
        ));
    }
    for (i, row) in m.confusion_matrix.iter().enumerate() {
        if row.len() != NUM_CLASSES {
            return Err(format!(
                "confusion_matrix[{i}] has {} columns, expected {NUM_CLASSES}",
                row.len()
            ));
        }
    }
    let total: u64 = m.confusion_matrix.iter().flatten().sum();
    if total != m.support {
        return Err(format!(
            "confusion_matrix counts {total} images but support is {}",
            m.support
        ));
    }
    Ok(())
}

/// Writes `confusion_*.csv`: [`CONFUSION_HEADER`], then one row per true
/// class with its counts per predicted class.
pub fn write_confusion_csv(mut out: impl Write, confusion: &[Vec<u64>]) -> std::io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores of six images, one of them (a 3 taken for a 5) wrong.
    fn split() -> SplitMetrics {
        let mut confusion = vec![vec![0u64; NUM_CLASSES]; NUM_CLASSES];
        for (truth, guess) in [(0, 0), (1, 1), (2, 2), (3, 3), (3, 5), (9, 9)] {
            confusion[truth][guess] += 1;
        }
        let per_class = (0..NUM_CLASSES as u8)
            .map(|class| ClassMetrics {
                class,
                precision: 0.5,
                recall: 0.5,
                f1: 0.5,
                support: 1,
            })
            .collect();
        let averages = Averages {
            precision: 0.6,
            recall: 0.6,
            f1: 0.6,
        };
        SplitMetrics {
            accuracy: 5.0 / 6.0,
            log_loss: 0.3,
            macro_avg: averages,
            weighted: averages,
            per_class,
            confusion_matrix: confusion,
            support: 6,
            images_per_s: 1234.5,
        }
    }

    fn metrics() -> Metrics {
        Metrics {
            train: split(),
            test: split(),
            user_test: None,
            extra_tests: Vec::new(),
        }
    }

    fn message_for(metrics: &Metrics) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.json");
        std::fs::write(&path, serde_json::to_vec(metrics).unwrap()).unwrap();
        read_metrics(&path).unwrap_err().to_string()
    }

    #[test]
    fn round_trips_with_the_documented_field_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.json");
        let mut bytes = Vec::new();
        write_metrics(&mut bytes, &metrics()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let read = read_metrics(&path).unwrap();
        // Up to serde_json's default float parsing, which may be one ulp off.
        assert!((read.train.accuracy - 5.0 / 6.0).abs() < 1e-15);
        assert_eq!(read.test.confusion_matrix, split().confusion_matrix);
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(json["train"]["macro"]["f1"].is_f64());
        assert_eq!(json["test"]["per_class"][3]["class"], 3);
        assert_eq!(json["train"]["confusion_matrix"][3][5], 1);
        assert_eq!(json["test"]["support"], 6);
    }

    #[test]
    fn errors_name_the_file_the_split_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.json");
        let missing = read_metrics(&path).unwrap_err();
        assert!(
            matches!(missing, Error::Missing(ref m) if m.stage == "eval"),
            "{missing}"
        );
        std::fs::write(&path, b"{\n\"train\": 3}").unwrap();
        let message = read_metrics(&path).unwrap_err().to_string();
        assert!(
            message.contains("metrics.json: ") && message.contains("line 2"),
            "{message}"
        );

        let mut m = metrics();
        m.test.confusion_matrix.pop();
        let message = message_for(&m);
        assert!(
            message.contains("metrics.json: test.confusion_matrix has 9 rows"),
            "{message}"
        );
        let mut m = metrics();
        m.train.confusion_matrix[2].push(0);
        assert!(message_for(&m).contains("train.confusion_matrix[2] has 11 columns"));
        let mut m = metrics();
        m.train.support = 7;
        assert!(message_for(&m).contains("counts 6 images but support is 7"));
        let mut m = metrics();
        m.test.per_class.swap(1, 2);
        assert!(message_for(&m).contains("test.per_class[1].class is 2, expected 1"));
        let mut m = metrics();
        m.test.per_class.pop();
        assert!(message_for(&m).contains("test.per_class has 9 rows, expected 10"));
        let mut m = metrics();
        let mut uci = split();
        uci.per_class.pop();
        m.extra_tests.push(NamedMetrics {
            name: "uci".into(),
            metrics: uci,
        });
        assert!(message_for(&m).contains("extra_tests.uci.per_class has 9 rows, expected 10"));
        let mut m = metrics();
        m.test.per_class[4].recall = 1.5;
        assert!(message_for(&m).contains("test.per_class[4].recall is 1.5"));
        let mut m = metrics();
        m.train.weighted.f1 = -0.1;
        assert!(message_for(&m).contains("train.weighted.f1 is -0.1"));
        let mut m = metrics();
        m.train.log_loss = -1.0;
        assert!(message_for(&m).contains("train.log_loss is -1"));
    }

    #[test]
    fn confusion_csv_has_a_header_and_ten_rows() {
        let mut bytes = Vec::new();
        write_confusion_csv(&mut bytes, &split().confusion_matrix).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 11);
        assert_eq!(lines[0], CONFUSION_HEADER);
        assert_eq!(lines[4], "3,0,0,0,1,0,1,0,0,0,0");
    }
}
