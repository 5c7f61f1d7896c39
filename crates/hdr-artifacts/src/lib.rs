//! The artifact contract of the hdr pipeline.
//!
//! The stages (data → train → eval → report) never call each other: each
//! writes plain files under `artifacts/`, and the next reads them. This crate
//! is the one place that says where those files are and what is in them, so
//! that no stage re-derives another's layout or schema:
//!
//! - **paths**: [`DataFiles`], [`TrainFiles`], [`EvalFiles`], [`ReportFiles`]
//!   (each `::under(artifacts_dir)`), all four in [`Artifacts`];
//! - **schemas, readers and writers** of the files one stage reads from
//!   another: `summary.json` ([`DataSummary`]), `model.json` ([`ModelCard`]),
//!   `history.csv` ([`EpochRecord`]), `metrics.json` ([`Metrics`]),
//!   `confusion_*.csv` and `predictions_test.csv`; the run log `runs.jsonl`
//!   ([`RunRecord`], shared by the runner and the report); and, with the
//!   `parquet` feature, the split files `train.parquet` / `test.parquet` ([`Dataset`]);
//! - **constants** every stage agrees on: [`IMAGE_SIDE`], [`IMAGE_PIXELS`],
//!   [`NUM_CLASSES`], and the network's input scaling [`pixel_to_unit`].
//!
//! Readers check what they read and name the file (and line, column or key)
//! when something is off; a missing input says which `cargo xtask` stage
//! makes it ([`MissingArtifact`]). Writers write to any `io::Write`, so a
//! stage can put them behind its own all-or-nothing commit.
//!
//! Without the `parquet` feature this crate depends on serde, serde_json,
//! csv and thiserror only.

#![deny(missing_docs)]

mod card;
mod dataset;
mod error;
mod history;
mod metrics;
mod paths;
mod predictions;
mod runs;
#[cfg(feature = "parquet")]
mod split_file;
mod summary;
mod user_samples;

pub use card::{read_card, write_card, ModelCard};
pub use dataset::Dataset;
pub use error::{require_artifact, Error, MissingArtifact};
pub use history::{read_history, write_history, EpochRecord, HISTORY_HEADER};
pub use metrics::{
    read_metrics, write_confusion_csv, write_metrics, Averages, ClassMetrics, Metrics,
    NamedMetrics, SplitMetrics, CONFUSION_HEADER,
};
pub use paths::{
    Artifacts, DataFiles, EvalFiles, ReportFiles, TrainFiles, CACHE_DIR, CARD_FILE,
    EXTRA_TEST_PREFIX, WEIGHTS_FILE,
};
pub use predictions::{
    format_probability, read_predictions, write_predictions, PredictedImage, PredictionRow,
    PREDICTIONS_HEADER,
};
pub use runs::{
    append_run, best_run, changed_params, read_runs, run_log_path, HeadlineMetrics, ParamChange,
    RunLog, RunRecord, RunStatus, SkippedLine, StageOutcome, TestData, RUN_LOG_FILE,
};
#[cfg(feature = "parquet")]
pub use split_file::{encode_split, read_split, row_major_pixels, split_frame, SPLIT_COLUMNS};
pub use summary::{
    read_summary, write_summary, DataSummary, ExtraTestSummary, SplitSummary, TestSource,
    UserSamplesSummary,
};
pub use user_samples::{
    user_sample_labels, user_sample_line, user_samples_header, UserSamplesDamage,
};

/// Side of a square digit image, in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels per image (row-major, 784 bytes per image everywhere in hdr).
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of digit classes (labels `0..=9`).
pub const NUM_CLASSES: usize = 10;

/// A grey level 0..=255 as the network's input, 0.0..=1.0 (as the seed's
/// Keras model: `pixels / 255`).
#[inline]
pub fn pixel_to_unit(pixel: u8) -> f32 {
    f32::from(pixel) / 255.0
}

/// Scales `pixels` into `out` with [`pixel_to_unit`], element by element.
///
/// # Panics
/// If the slices differ in length.
#[inline]
pub fn pixels_to_unit(pixels: &[u8], out: &mut [f32]) {
    assert_eq!(pixels.len(), out.len(), "one output per pixel");
    for (unit, &pixel) in out.iter_mut().zip(pixels) {
        *unit = pixel_to_unit(pixel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_scaling_maps_the_byte_range_onto_zero_to_one() {
        assert_eq!(pixel_to_unit(0), 0.0);
        assert_eq!(pixel_to_unit(255), 1.0);
        // Exactly the division the seed's Keras model does, in f32.
        for p in 0..=255u8 {
            assert_eq!(pixel_to_unit(p), p as f32 / 255.0);
        }
        let mut out = [9.0f32; 3];
        pixels_to_unit(&[0, 51, 255], &mut out);
        assert_eq!(out, [0.0, 0.2, 1.0]);
    }

    #[test]
    fn image_constants_agree() {
        assert_eq!(IMAGE_PIXELS, 784);
        assert_eq!(NUM_CLASSES, 10);
    }
}
