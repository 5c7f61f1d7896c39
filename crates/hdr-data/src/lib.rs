//! The data stage: loads Kaggle-style digit CSVs (and MNIST IDX files) with
//! polars, validates every cell and writes a stratified train/test split.
//!
//! [`run`] reads `config.source`, splits each class by `test_fraction` with a
//! seeded shuffle ([`stratified_split`]) and writes the data stage's files
//! ([`Paths`]: `train.parquet`, `test.parquet`, `summary.json` under
//! `artifacts/data/`) all at once. What those files hold, and how later
//! stages read them, is the artifact contract of [`hdr_artifacts`].
//!
//! Also here: [`load_csv`] for unlabelled CSVs (Kaggle's `test.csv`), and
//! [`read_idx`] / [`write_kaggle_csv`] for MNIST-format IDX files.

#![deny(missing_docs)]

mod config;
mod csv_load;
mod error;
mod idx;
mod image_folder;
mod read;
mod source;
mod split;
mod stage;

pub use config::{extra_test_name, Config, DEFAULT_USER_SAMPLES};
pub use csv_load::{load_csv, Images, LabelColumn};
pub use error::{CellError, CellKind, Error, IdxFile};
pub use idx::{read_idx, write_kaggle_csv};
pub use split::stratified_split;
pub use stage::{run, Outputs, Paths};

/// The split files' content and reader, as the artifact contract defines
/// them (re-exported for callers that read what this stage wrote).
pub use hdr_artifacts::{read_split, Dataset, IMAGE_PIXELS};
