//! Kaggle's Digit Recognizer `test.csv` in, a submission file out.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hdr_artifacts::IMAGE_PIXELS;
use hdr_data::LabelColumn;
use hdr_recognize::Recognizer;

use crate::PredictError;

/// First line of a Kaggle Digit Recognizer submission.
pub const SUBMISSION_HEADER: &str = "ImageId,Label";

/// What [`predict_csv`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOutcome {
    /// Images predicted (rows of the CSV).
    pub rows: usize,
    /// Share of predictions equal to the label, when the CSV has a `label` column.
    pub accuracy: Option<f64>,
    /// Wall time after the model was loaded: reading the CSV, predicting, writing.
    pub seconds: f64,
    /// Of which the classifier itself took.
    pub inference_seconds: f64,
    /// The submission file written.
    pub output: PathBuf,
}

/// The submission's bytes: `ImageId,Label`, then one `id,digit` line per
/// image, ids from 1, LF line endings.
fn submission(digits: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{SUBMISSION_HEADER}")?;
    for (index, digit) in digits.iter().enumerate() {
        writeln!(out, "{},{digit}", index + 1)?;
    }
    Ok(())
}

/// Predicts every row of a Kaggle-style CSV (784 pixel columns, with or
/// without a `label` column) and writes a Kaggle submission to `out`
/// atomically; with labels, the outcome carries the accuracy.
pub fn predict_csv(
    recognizer: &Recognizer,
    csv: &Path,
    out: &Path,
) -> Result<CsvOutcome, PredictError> {
    let start = Instant::now();
    let images = hdr_data::load_csv(csv, LabelColumn::Optional).map_err(PredictError::Csv)?;
    let rows = images.pixels.len() / IMAGE_PIXELS;
    if rows == 0 {
        return Err(PredictError::EmptyCsv {
            path: csv.to_path_buf(),
        });
    }

    let inference_start = Instant::now();
    let rows_of_pixels: Vec<&[u8]> = images.pixels.chunks_exact(IMAGE_PIXELS).collect();
    let digits: Vec<u8> = recognizer
        .recognize_batch(&rows_of_pixels)?
        .iter()
        .map(|p| p.digit)
        .collect();
    let inference_seconds = inference_start.elapsed().as_secs_f64();

    let accuracy = images.labels.as_ref().map(|labels| {
        let correct = labels
            .iter()
            .zip(&digits)
            .filter(|(label, digit)| label == digit)
            .count();
        correct as f64 / rows as f64
    });

    let write_error = |source| PredictError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut set = hdr_common::OutputSet::new();
    set.write_with(out, |w| submission(&digits, w))
        .map_err(write_error)?;
    set.commit().map_err(write_error)?;

    Ok(CsvOutcome {
        rows,
        accuracy,
        seconds: start.elapsed().as_secs_f64(),
        inference_seconds,
        output: out.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submission_bytes() {
        let mut bytes = Vec::new();
        submission(&[7, 0, 3], &mut bytes).unwrap();
        assert_eq!(bytes, b"ImageId,Label\n1,7\n2,0\n3,3\n");
    }
}
