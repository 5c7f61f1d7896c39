//! `artifacts/data/summary.json`: what the data stage read and wrote.

use std::path::Path;

use hdr_common::MissingArtifact;
use serde::{Deserialize, Serialize};

use crate::{fail, Error, NUM_CLASSES};

/// The content of summary.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// The source file, as configured (`data.source`).
    pub source: String,
    /// SHA-256 of the source file's bytes, lowercase hex.
    pub source_sha256: String,
    /// Rows in the source.
    pub source_rows: usize,
    /// `data.test_fraction` used for the split.
    pub test_fraction: f64,
    /// `data.seed` used for the split.
    pub seed: u64,
    /// The training split.
    pub train: SplitSummary,
    /// The test split.
    pub test: SplitSummary,
    /// Wall-clock seconds the stage took.
    pub seconds: f64,
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
    /// Counts of the rows `rows` of `labels`.
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

/// Reads `artifacts/data/summary.json`.
pub fn read_summary(path: &Path) -> Result<Summary, Error> {
    if !path.exists() {
        return Err(MissingArtifact {
            path: path.to_path_buf(),
            stage: "data",
        }
        .into());
    }
    let bytes = std::fs::read(path).map_err(|e| {
        fail(format!(
            "{}: {e}; run `cargo xtask data` to rebuild it",
            path.display()
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        fail(format!(
            "{}: not a valid data summary (line {}, column {}: {e}); run `cargo xtask data` to rebuild it",
            path.display(),
            e.line(),
            e.column()
        ))
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
    fn bad_summary_names_file_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        assert!(read_summary(&path)
            .unwrap_err()
            .to_string()
            .contains("cargo xtask data"));
        std::fs::write(&path, "{\"source\": 3}").unwrap();
        let err = read_summary(&path).unwrap_err().to_string();
        assert!(
            err.contains("summary.json") && err.contains("line 1"),
            "{err}"
        );
    }
}
