//! Everything that can go wrong in evaluation, each naming what and where.

use std::path::PathBuf;

/// Everything that can go wrong in evaluation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration value.
    #[error(transparent)]
    Config(#[from] hdr_common::ConfigError),
    /// An input artifact is missing.
    #[error(transparent)]
    Missing(#[from] hdr_artifacts::MissingArtifact),
    /// An input artifact (a split file) could not be read.
    #[error(transparent)]
    Artifact(hdr_artifacts::Error),
    /// The weights could not be loaded.
    #[error("loading the model: {source}")]
    Model {
        /// Why.
        #[source]
        source: hdr_model::ModelError,
    },
    /// A split with no images.
    #[error("{}: the split has no images; rerun `cargo xtask data` with more data", path.display())]
    EmptySplit {
        /// The split file.
        path: PathBuf,
    },
    /// A split whose pixel count is not 784 per image.
    #[error("{}: {pixels} pixels for {images} images (expected {} per image)", path.display(), hdr_artifacts::IMAGE_PIXELS)]
    PixelCount {
        /// The split file.
        path: PathBuf,
        /// Pixels in it.
        pixels: usize,
        /// Images in it.
        images: usize,
    },
    /// A label outside 0..=9.
    #[error("{}: row {row} (0-based) has label {label}, expected 0 to {}", path.display(), hdr_artifacts::NUM_CLASSES - 1)]
    Label {
        /// The split file.
        path: PathBuf,
        /// 0-based row.
        row: usize,
        /// The label found.
        label: u8,
    },
    /// The model answered a batch with the wrong number of predictions.
    #[error("the model returned {returned} predictions for {expected} images")]
    PredictionCount {
        /// Predictions returned.
        returned: usize,
        /// Images in the batch.
        expected: usize,
    },
    /// The model's output for a row is not a probability vector.
    #[error(
        "{}: the model's output for row {row} (0-based) is not a valid probability vector \
         (non-finite or out-of-range values); the weights are likely diverged or corrupt",
        path.display()
    )]
    InvalidOutput {
        /// The split file.
        path: PathBuf,
        /// 0-based row.
        row: usize,
    },
    /// A metric came out NaN or infinite (it would be `null` in JSON).
    #[error("{metric} is not a finite number; nothing written")]
    NotFinite {
        /// The metric, e.g. `test.log_loss`.
        metric: String,
    },
    /// The data stage's folder could not be listed for extra test sets.
    #[error("cannot list the extra test sets in {}: {source}", path.display())]
    ListExtraTests {
        /// `artifacts/data/`.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An output file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A stop was requested (Ctrl-C, SIGTERM); nothing was written.
    #[error(transparent)]
    Interrupted(#[from] hdr_common::Interrupted),
}

impl From<hdr_artifacts::Error> for Error {
    /// A missing input stays [`Error::Missing`]; anything else is [`Error::Artifact`].
    fn from(error: hdr_artifacts::Error) -> Self {
        match error {
            hdr_artifacts::Error::Missing(missing) => Error::Missing(missing),
            other => Error::Artifact(other),
        }
    }
}
