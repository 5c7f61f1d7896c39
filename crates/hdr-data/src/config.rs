//! The `[data]` section of pipeline.toml.

use std::path::PathBuf;

use hdr_common::ConfigError;
use serde::{Deserialize, Serialize};

/// The `[data]` section of pipeline.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The source CSV (optionally .gz), relative to the project root; an MNIST
    /// IDX images file (`*-images-idx3-ubyte[.gz]`) with its labels file beside it also works.
    pub source: PathBuf,
    /// Optional: a separate labelled file (CSV or IDX, as `source`) used as
    /// the test split, e.g. MNIST's official test set; the whole `source` is
    /// then the train split and `test_fraction` is ignored. Unset by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_source: Option<PathBuf>,
    /// The user's own digits, as the drawing page saves them (a Kaggle-style
    /// CSV, relative to the project root). A missing file means none; an
    /// empty path turns them off. Split like `source` (a label with too few
    /// rows all trains), they train beside it and are scored on their own.
    pub user_samples: PathBuf,
    /// Share of each class that goes to the test split, in (0, 1).
    pub test_fraction: f64,
    /// Seed of the stratified split.
    pub seed: u64,
}

/// Where the drawing page saves the user's digits unless told otherwise.
pub const DEFAULT_USER_SAMPLES: &str = "data/my-digits.csv";

impl Default for Config {
    fn default() -> Self {
        Self {
            source: PathBuf::from("data/mnist-sample.csv.gz"),
            test_source: None,
            user_samples: PathBuf::from(DEFAULT_USER_SAMPLES),
            test_fraction: 0.2,
            seed: 42,
        }
    }
}

impl Config {
    /// The user-samples file, when one is configured and exists.
    pub fn user_samples_file(&self) -> Option<&std::path::Path> {
        let path = self.user_samples.as_path();
        (!path.as_os_str().is_empty() && path.exists()).then_some(path)
    }

    /// Checks ranges; errors name the key (`data.test_fraction`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.source.as_os_str().is_empty() {
            return Err(ConfigError::new(
                "data.source",
                "must name a Kaggle-style CSV file (.csv or .csv.gz)",
            ));
        }
        if self
            .test_source
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(ConfigError::new(
                "data.test_source",
                "must name a labelled CSV or IDX file (or be left out)",
            ));
        }
        let f = self.test_fraction;
        if !(f.is_finite() && f > 0.0 && f < 1.0) {
            return Err(ConfigError::new(
                "data.test_fraction",
                format!("must be strictly between 0 and 1 (e.g. 0.2), got {f}"),
            ));
        }
        Ok(())
    }
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
}
