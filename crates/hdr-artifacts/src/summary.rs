//! `data/summary.json`: what the data stage read and wrote.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{pretty_json, read_artifact};
use crate::{DataFiles, Error, NUM_CLASSES};

/// The content of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSummary {
    /// The source file, as configured (`data.source`).
    pub source: String,
    /// SHA-256 of the source file's bytes, lowercase hex.
    pub source_sha256: String,
    /// Rows in the source.
    pub source_rows: usize,
    /// The separate test file (`data.test_source`), when one was given: then
    /// the whole source is the train split and `test_fraction` was not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_source: Option<TestSource>,
    /// `data.test_fraction` used for the split.
    pub test_fraction: f64,
    /// `data.seed` used for the split.
    pub seed: u64,
    /// The training split.
    pub train: SplitSummary,
    /// The test split.
    pub test: SplitSummary,
    /// The user's own digits (`data.user_samples`), when the file exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_samples: Option<UserSamplesSummary>,
    /// The extra test sets (`data.extra_test_sources`), in the order configured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_tests: Vec<ExtraTestSummary>,
    /// Wall-clock seconds the stage took.
    pub seconds: f64,
}

/// The fixed test set the test split was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSource {
    /// The file, as configured (`data.test_source`).
    pub path: String,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
}

/// The user's own digits and how they were split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSamplesSummary {
    /// The file, as configured (`data.user_samples`).
    pub path: String,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
    /// The digits that train (`user_train.parquet`).
    pub train: SplitSummary,
    /// The digits held out to score on (`user_test.parquet`).
    pub test: SplitSummary,
}

/// One extra test set: labelled digits from elsewhere (other writers, other
/// scans), scored by the eval stage beside the test split, never trained on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraTestSummary {
    /// Its name in file names, `metrics.json` and the report.
    pub name: String,
    /// The file or folder, as configured.
    pub path: String,
    /// SHA-256 of its bytes (of its listing, for a folder), lowercase hex.
    pub sha256: String,
    /// Its images (`extra_test_<name>.parquet`).
    pub test: SplitSummary,
}

/// Size and class balance of one split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSummary {
    /// Number of images.
    pub rows: usize,
    /// Images per class 0..=9.
    pub class_counts: [usize; NUM_CLASSES],
}

impl SplitSummary {
    /// Counts of the rows `rows` of `labels` (labels 0..=9).
    pub fn of(labels: &[u8], rows: &[u32]) -> Self {
        let mut class_counts = [0; NUM_CLASSES];
        for &row in rows {
            class_counts[usize::from(labels[row as usize])] += 1;
        }
        Self {
            rows: rows.len(),
            class_counts,
        }
    }
}

/// Writes `summary` as `summary.json` (pretty JSON, trailing newline).
pub fn write_summary(mut out: impl Write, summary: &DataSummary) -> std::io::Result<()> {
    out.write_all(&pretty_json(summary)?)
}

/// Reads `summary.json`; errors name the file, line and column and say how to rebuild it.
pub fn read_summary(path: &Path) -> Result<DataSummary, Error> {
    let bytes = read_artifact(path, DataFiles::STAGE)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::invalid(
            path,
            format!(
                "not a valid data summary (line {}, column {}: {e}); \
                 run `cargo xtask data` to rebuild it",
                e.line(),
                e.column()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_classes_of_the_chosen_rows() {
        let labels = [0u8, 1, 1, 9, 9, 9];
        let s = SplitSummary::of(&labels, &[1, 3, 4]);
        assert_eq!(s.rows, 3);
        assert_eq!(s.class_counts, [0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
    }

    #[test]
    fn round_trips_and_bad_summaries_name_file_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        let err = read_summary(&path).unwrap_err();
        assert!(
            matches!(err, Error::Missing(ref m) if m.stage == "data"),
            "{err}"
        );
        assert!(err.to_string().contains("cargo xtask data"));

        let summary = DataSummary {
            source: "data/x.csv".into(),
            source_sha256: "ab".repeat(32),
            source_rows: 6,
            test_source: Some(TestSource {
                path: "data/t.csv".into(),
                sha256: "cd".repeat(32),
            }),
            test_fraction: 0.5,
            seed: 7,
            train: SplitSummary::of(&[0, 1, 1], &[0, 1]),
            test: SplitSummary::of(&[0, 1, 1], &[2]),
            user_samples: Some(UserSamplesSummary {
                path: "data/my-digits.csv".into(),
                sha256: "ef".repeat(32),
                train: SplitSummary::of(&[4, 4], &[0]),
                test: SplitSummary::of(&[4, 4], &[1]),
            }),
            extra_tests: vec![ExtraTestSummary {
                name: "uci".into(),
                path: "data/uci-digits".into(),
                sha256: "01".repeat(32),
                test: SplitSummary::of(&[9, 3], &[0, 1]),
            }],
            seconds: 0.25,
        };
        let mut bytes = Vec::new();
        write_summary(&mut bytes, &summary).unwrap();
        assert!(bytes.ends_with(b"}\n"));
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_summary(&path).unwrap(), summary);

        std::fs::write(&path, "{\"source\": 3}").unwrap();
        let err = read_summary(&path).unwrap_err().to_string();
        assert!(
            err.contains("summary.json")
                && err.contains("line 1")
                && err.contains("cargo xtask data"),
            "{err}"
        );
    }
}
