//! The report's inputs, read with the artifact contract's readers (which
//! check what the charts rely on), and the mistakes the report shows.

use std::path::Path;

use hdr_artifacts::{read_predictions, read_split, DataSummary, EpochRecord, Metrics, ModelCard};

use crate::Error;

/// Everything the report shows, read and checked.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// `metrics.json`.
    pub metrics: Metrics,
    /// `history.csv`, one record per epoch.
    pub history: Vec<EpochRecord>,
    /// `model.json`.
    pub card: ModelCard,
    /// `summary.json`.
    pub data_summary: DataSummary,
    /// The test split's most confident mistakes, most confident first.
    pub mistakes: Vec<Mistake>,
    /// How many test images were misclassified in all.
    pub total_mistakes: usize,
    /// The runs recorded in `runs.jsonl` (none when it does not exist).
    pub runs: Vec<hdr_artifacts::RunRecord>,
    /// sha256 of the test split (`test.parquet`): runs are compared on
    /// accuracy only when they were scored on the same test data.
    pub test_sha256: String,
}

/// One misclassified test image.
#[derive(Debug, Clone, PartialEq)]
pub struct Mistake {
    /// 0-based row of test.parquet.
    pub index: usize,
    /// The true digit.
    pub label: u8,
    /// The predicted digit.
    pub predicted: u8,
    /// The probability of the predicted digit.
    pub confidence: f64,
    /// The probability given to the true digit, when predictions carry `p0..p9`.
    pub p_true: Option<f64>,
    /// The 784 grey levels of the image.
    pub pixels: Vec<u8>,
}

fn input_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Picks the `limit` most confident mistakes (ties: lower row first) and loads their images,
/// checking every prediction's row and label against test.parquet so stale artifacts are caught.
pub fn select_mistakes(
    predictions_path: &Path,
    test_split_path: &Path,
    limit: usize,
) -> Result<(Vec<Mistake>, usize), Error> {
    let rows = read_predictions(predictions_path)?;
    let split = read_split(test_split_path)?;
    let labels = &split.labels;
    for r in &rows {
        let stale = |what: String| {
            input_error(
                predictions_path,
                format!(
                    "line {}: {what} (stale predictions: re-run `cargo xtask eval`)",
                    r.line
                ),
            )
        };
        match labels.get(r.index) {
            None => {
                return Err(stale(format!(
                    "index {} but {} has {} rows",
                    r.index,
                    test_split_path.display(),
                    labels.len()
                )))
            }
            Some(&truth) if truth != r.label => {
                return Err(stale(format!(
                    "label {} but row {} of {} has label {truth}",
                    r.label,
                    r.index,
                    test_split_path.display()
                )))
            }
            Some(_) => {}
        }
    }
    let mut wrong: Vec<_> = rows.iter().filter(|r| r.label != r.predicted).collect();
    let total = wrong.len();
    wrong.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.index.cmp(&b.index))
    });
    wrong.truncate(limit);
    let wanted: Vec<usize> = wrong.iter().map(|r| r.index).collect();
    let images: Vec<Vec<u8>> = wanted
        .iter()
        .map(|&row| split.image(row).to_vec())
        .collect();
    let mistakes = wrong
        .into_iter()
        .zip(images)
        .map(|(r, pixels)| Mistake {
            index: r.index,
            label: r.label,
            predicted: r.predicted,
            confidence: r.confidence,
            p_true: r.p_true,
            pixels,
        })
        .collect();
    Ok((mistakes, total))
}
