//! Recognises digits in people's own images and in Kaggle test CSVs with a trained model.
//!
//! Images go through [`hdr_recognize`] (bounded decoding, MNIST-style
//! preprocessing, the classifier), one line of output per file; Kaggle's
//! `test.csv` goes straight to the classifier and comes back as a
//! submission file.

#![deny(missing_docs)]

mod csv_file;
mod format;
mod images;

use std::path::{Path, PathBuf};

use hdr_artifacts::MissingArtifact;

pub use csv_file::{predict_csv, CsvOutcome, SUBMISSION_HEADER};
pub use format::{format_json, format_text};
pub use hdr_recognize::{Recognition, RecognizeError, Recognizer};
pub use images::{predict_files, FileOutcome};

/// Everything that can go wrong recognising digits; per-image errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// The model file does not exist (says to run `cargo xtask train`).
    #[error(transparent)]
    MissingModel(#[from] MissingArtifact),
    /// The model could not be loaded, or an image could not be recognised.
    #[error(transparent)]
    Recognize(#[from] RecognizeError),
    /// The preprocessed 28x28 image could not be written.
    #[error("{}: cannot save the preprocessed image to {}: {source}", path.display(), target.display())]
    SavePreprocessed {
        /// The input image.
        path: PathBuf,
        /// The PNG that was to be written.
        target: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The CSV could not be loaded (the message names file, line and column).
    #[error(transparent)]
    Csv(hdr_data::Error),
    /// A CSV with a header but no image rows.
    #[error("{}: no image rows", path.display())]
    EmptyCsv {
        /// The CSV.
        path: PathBuf,
    },
    /// The submission file could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Loads `model.safetensors`; a missing file says to run `cargo xtask train`.
pub fn load_model(path: &Path) -> Result<Recognizer, PredictError> {
    hdr_artifacts::require_artifact(path, hdr_artifacts::TrainFiles::STAGE)?;
    Ok(Recognizer::load(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_model_says_to_train() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let message = load_model(&path).unwrap_err().to_string();
        assert!(message.contains("cargo xtask train"), "{message}");
        assert!(message.contains("model.safetensors"), "{message}");
    }
}
