//! Recognises digits in people's own images and in Kaggle test CSVs with a trained model.
//!
//! Images (PNG, JPEG or BMP, any size, dark ink on light paper or light on
//! dark) go through [`preprocess`], which makes them look like MNIST digits,
//! and then through the classifier; Kaggle's `test.csv` goes straight to the
//! classifier and comes back as a submission file.

mod csv_file;
mod format;
mod images;
pub mod preprocess;

use std::path::{Path, PathBuf};

use hdr_artifacts::MissingArtifact;
use hdr_model::{Classifier, ModelError};

pub use csv_file::{predict_csv, CsvOutcome, SUBMISSION_HEADER};
pub use format::{format_json, format_text};
pub use images::{load_image, predict_files, prepare_file, FileOutcome, ImagePrediction};
pub use preprocess::{preprocess, PreprocessError};

/// Everything that can go wrong recognising digits; per-image errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// The model file does not exist (says to run `cargo xtask train`).
    #[error(transparent)]
    MissingModel(#[from] MissingArtifact),
    /// The model file exists but cannot be read as this network's weights.
    #[error("cannot load the model: {0}")]
    Model(#[from] ModelError),
    /// A file that cannot be read (missing, a directory, no permission).
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file of zero bytes.
    #[error("{}: empty file", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// A file that is not a PNG, JPEG or BMP image.
    #[error("{}: not an image: {detail}", path.display())]
    NotAnImage {
        /// The file.
        path: PathBuf,
        /// What it looks like instead.
        detail: String,
    },
    /// A PNG, JPEG or BMP file whose contents are damaged or too large.
    #[error("{}: cannot decode the image: {detail}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's complaint.
        detail: String,
    },
    /// An image in which no digit stands out from the background.
    #[error("{}: {source}", path.display())]
    NoInk {
        /// The file.
        path: PathBuf,
        /// Why preprocessing gave up.
        source: PreprocessError,
    },
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
pub fn load_model(path: &Path) -> Result<Classifier, PredictError> {
    hdr_artifacts::require_artifact(path, hdr_artifacts::TrainFiles::STAGE)?;
    Ok(Classifier::load(path)?)
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
