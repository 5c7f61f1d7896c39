//! The data stage: loads Kaggle-style digit CSVs (and MNIST IDX files) with
//! polars, validates them and writes a stratified train/test split.
//!
//! The stage reads `config.source`, checks every cell, splits each class by
//! `test_fraction` with a seeded shuffle and writes `artifacts/data/`
//! `train.parquet`, `test.parquet` and `summary.json` all at once through
//! [`hdr_common::OutputSet`]. Later stages read the splits back with
//! [`read_split`].

mod csv_load;
mod idx;
mod parquet_io;
mod source;
mod split;
mod summary;

use std::path::{Path, PathBuf};
use std::time::Instant;

use hdr_common::{OutputSet, Progress, RunOptions};
use serde::{Deserialize, Serialize};

pub use csv_load::load_csv;
pub use idx::{read_idx, write_kaggle_csv};
pub use parquet_io::read_split;
pub use split::{stratified_split, Split};
pub use summary::{read_summary, SplitSummary, Summary};

/// Side of a square digit image, in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels per image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of digit classes.
pub const NUM_CLASSES: usize = 10;

/// Labelled digit images held in memory: `pixels` is row-major, 784 bytes per image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// One label 0..=9 per image.
    pub labels: Vec<u8>,
    /// `labels.len() * 784` grey levels, image after image, row by row.
    pub pixels: Vec<u8>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// The 784 pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]
    }
    /// How many images each class 0..=9 has.
    pub fn class_counts(&self) -> [usize; NUM_CLASSES] {
        class_counts(&self.labels)
    }
}

/// Images from a source whose label column may be absent (Kaggle's test.csv).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Images {
    /// Labels, when the source has a `label` column.
    pub labels: Option<Vec<u8>>,
    /// 784 grey levels per image.
    pub pixels: Vec<u8>,
}

impl Images {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / IMAGE_PIXELS
    }
    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }
}

/// Whether a source must have a `label` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelColumn {
    /// A missing `label` column is an error.
    Required,
    /// A missing `label` column is fine (unlabelled images).
    Optional,
}

/// The `[data]` section of pipeline.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The source CSV (optionally .gz), relative to the project root; an MNIST
    /// IDX images file (`*-images-idx3-ubyte[.gz]`) with its labels file beside it also works.
    pub source: PathBuf,
    /// Share of each class that goes to the test split, in (0, 1).
    pub test_fraction: f64,
    /// Seed of the stratified split.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            source: PathBuf::from("data/mnist-sample.csv.gz"),
            test_fraction: 0.2,
            seed: 42,
        }
    }
}

/// The files the data stage writes.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `artifacts/data/train.parquet`.
    pub train: PathBuf,
    /// `artifacts/data/test.parquet`.
    pub test: PathBuf,
    /// `artifacts/data/summary.json`.
    pub summary: PathBuf,
}

impl Paths {
    /// The data stage's files under an artifacts directory.
    pub fn under(artifacts: &Path) -> Self {
        let dir = artifacts.join("data");
        Self {
            train: dir.join("train.parquet"),
            test: dir.join("test.parquet"),
            summary: dir.join("summary.json"),
        }
    }
}

/// Everything that can go wrong in the data stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration value.
    #[error(transparent)]
    Config(#[from] hdr_common::ConfigError),
    /// A split artifact that another stage needs is missing.
    #[error(transparent)]
    Missing(#[from] hdr_common::MissingArtifact),
    /// Anything else, with a message naming the file and position.
    #[error("{0}")]
    Other(String),
}

/// Shorthand for [`Error::Other`].
pub(crate) fn fail(message: impl Into<String>) -> Error {
    Error::Other(message.into())
}

/// What a data-stage run produced.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The files written.
    pub files: Vec<PathBuf>,
    /// What summary.json says.
    pub summary: Summary,
}

impl Config {
    /// Checks ranges; errors name the key (`data.test_fraction`).
    pub fn validate(&self) -> Result<(), hdr_common::ConfigError> {
        if self.source.as_os_str().is_empty() {
            return Err(hdr_common::ConfigError::new(
                "data.source",
                "must name a Kaggle-style CSV file (.csv or .csv.gz)",
            ));
        }
        let f = self.test_fraction;
        if !(f.is_finite() && f > 0.0 && f < 1.0) {
            return Err(hdr_common::ConfigError::new(
                "data.test_fraction",
                format!("must be strictly between 0 and 1 (e.g. 0.2), got {f}"),
            ));
        }
        Ok(())
    }
}

/// Runs the data stage: load `config.source`, validate, split, write `paths`.
///
/// Nothing under `paths` changes unless every file was written.
pub fn run(config: &Config, paths: &Paths, opts: &RunOptions) -> Result<Outputs, Error> {
    let started = Instant::now();
    config.validate()?;
    let progress = Progress::new(opts.quiet);
    let spinner = progress.spinner(&format!("data: loading {}", config.source.display()));

    let loaded = source::load_labelled_frame(&config.source)?;
    let source_name = config.source.display().to_string();

    spinner.set_message(format!("data: splitting {} rows", loaded.labels.len()));
    let split = stratified_split(&loaded.labels, config.test_fraction, config.seed);
    for (name, rows) in [("train", &split.train), ("test", &split.test)] {
        if rows.is_empty() {
            return Err(fail(format!(
                "{source_name}: the {name} split would be empty: {} rows with data.test_fraction = {} \
                 leave no rows for it; use more data or change data.test_fraction",
                loaded.labels.len(),
                config.test_fraction
            )));
        }
    }

    spinner.set_message("data: writing parquet".to_string());
    let mut outputs = OutputSet::new();
    // Encode both splits at once: the parquet writer is only partly parallel.
    let (train_bytes, test_bytes) = std::thread::scope(|scope| {
        let train =
            scope.spawn(|| parquet_io::encode_split(&paths.train, &loaded.frame, &split.train));
        let test = parquet_io::encode_split(&paths.test, &loaded.frame, &split.test);
        (train.join(), test)
    });
    let train_bytes = train_bytes.map_err(|_| fail("the parquet encoding thread panicked"))??;
    outputs
        .write(&paths.train, &train_bytes)
        .map_err(|e| io_fail(&paths.train, e))?;
    outputs
        .write(&paths.test, &test_bytes?)
        .map_err(|e| io_fail(&paths.test, e))?;
    drop(loaded.frame);

    let summary = Summary {
        source: source_name,
        source_sha256: loaded.sha256,
        source_rows: loaded.labels.len(),
        test_fraction: config.test_fraction,
        seed: config.seed,
        train: SplitSummary::of(&loaded.labels, &split.train),
        test: SplitSummary::of(&loaded.labels, &split.test),
        seconds: started.elapsed().as_secs_f64(),
    };
    let mut json =
        serde_json::to_vec_pretty(&summary).map_err(|e| fail(format!("summary.json: {e}")))?;
    json.push(b'\n');
    outputs
        .write(&paths.summary, &json)
        .map_err(|e| io_fail(&paths.summary, e))?;
    let files = outputs.commit().map_err(|e| {
        fail(format!(
            "could not move the data artifacts into {}: {e}",
            dir_of(&paths.summary)
        ))
    })?;
    spinner.finish_and_clear();
    progress.line(format!(
        "data: {} rows from {} -> train {} / test {} in {:.2}s",
        summary.source_rows, summary.source, summary.train.rows, summary.test.rows, summary.seconds
    ));
    Ok(Outputs { files, summary })
}

/// Counts the labels of each class.
pub(crate) fn class_counts(labels: &[u8]) -> [usize; NUM_CLASSES] {
    let mut counts = [0usize; NUM_CLASSES];
    for &label in labels {
        counts[usize::from(label)] += 1;
    }
    counts
}

/// An I/O error that names the file.
pub(crate) fn io_fail(path: &Path, error: std::io::Error) -> Error {
    fail(format!("{}: {error}", path.display()))
}

fn dir_of(path: &Path) -> String {
    path.parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| ".".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_fraction_must_lie_strictly_between_zero_and_one() {
        for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            let config = Config {
                test_fraction: bad,
                ..Config::default()
            };
            let err = config.validate().unwrap_err();
            assert_eq!(err.key, "data.test_fraction", "{bad}");
        }
        Config::default().validate().unwrap();
    }

    #[test]
    fn empty_source_names_the_key() {
        let config = Config {
            source: PathBuf::new(),
            ..Config::default()
        };
        assert_eq!(config.validate().unwrap_err().key, "data.source");
    }

    #[test]
    fn paths_live_under_artifacts_data() {
        let paths = Paths::under(Path::new("artifacts"));
        assert_eq!(paths.train, Path::new("artifacts/data/train.parquet"));
        assert_eq!(paths.test, Path::new("artifacts/data/test.parquet"));
        assert_eq!(paths.summary, Path::new("artifacts/data/summary.json"));
    }
}
