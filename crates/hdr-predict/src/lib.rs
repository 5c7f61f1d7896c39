//! Recognises digits in people's own images and in Kaggle test CSVs with a trained model.
//!
//! Images (PNG, JPEG or BMP, any size, dark ink on light paper or light on
//! dark) go through [`preprocess`], which makes them look like MNIST digits,
//! and then through the classifier; Kaggle's `test.csv` goes straight to the
//! classifier and comes back as a submission file.

mod csv_file;
mod decode;
mod format;
mod images;
pub mod preprocess;

use std::path::{Path, PathBuf};

use hdr_common::MissingArtifact;
use hdr_model::{Classifier, ModelError};

pub use csv_file::{predict_csv, CsvOutcome, SUBMISSION_HEADER};
pub use decode::{load_image, MAX_DECODED_BYTES, MAX_IMAGE_SIDE};
pub use format::{format_json, format_text};
pub use images::{predict_files, prepare_file, FileOutcome, ImagePrediction};
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
    /// A file that cannot be read (missing, no permission).
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A directory given where an image file was expected.
    #[error("{}: is a directory, not an image file", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
    },
    /// A file larger than [`MAX_DECODED_BYTES`].
    #[error("{}: the file is {} MB, over the limit of {} MB for an image", path.display(), megabytes(*bytes), megabytes(MAX_DECODED_BYTES))]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        bytes: u64,
    },
    /// An image whose header declares more than [`MAX_IMAGE_SIDE`] pixels on
    /// a side or more than [`MAX_DECODED_BYTES`] decoded; refused before decoding.
    #[error(
        "{}: the image declares {width} x {height} pixels ({} MB decoded), over the limit of {MAX_IMAGE_SIDE} pixels a side and {} MB; scale it down first",
        path.display(),
        megabytes(*decoded_bytes),
        megabytes(MAX_DECODED_BYTES)
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The width its header declares.
        width: u32,
        /// The height its header declares.
        height: u32,
        /// What it would take decoded, in bytes.
        decoded_bytes: u64,
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
    /// A PNG, JPEG or BMP file whose contents are damaged or truncated.
    #[error("{}: cannot decode the image: {detail}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's complaint.
        detail: String,
    },
    /// An image in which no digit stands out from the background, or one too
    /// small to hold a digit.
    #[error("{}: {source}", path.display())]
    Preprocess {
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

/// Bytes as whole megabytes (10^6), rounded up so a limit is never shown as exceeded by 0 MB.
fn megabytes(bytes: u64) -> u64 {
    bytes.div_ceil(1_000_000)
}

/// Loads `model.safetensors`; a missing file says to run `cargo xtask train`.
pub fn load_model(path: &Path) -> Result<Classifier, PredictError> {
    hdr_common::require_artifact(path, "train")?;
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
