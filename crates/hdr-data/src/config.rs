//! The `[data]` section of pipeline.toml.

use std::path::{Path, PathBuf};

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
    /// Labelled sets scored beside the test split and never trained on:
    /// Kaggle-style CSVs, MNIST IDX images files, or folders of images
    /// labelled by subfolder (`DIR/7/*.png`) or name (`DIR/*_7.png`).
    /// Each is named after its file or folder (`uci-digits`, `mnist-test`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_test_sources: Vec<PathBuf>,
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
            extra_test_sources: Vec::new(),
            test_fraction: 0.2,
            seed: 42,
        }
    }
}

impl Config {
    /// The user-samples file, when one is configured and exists.
    pub fn user_samples_file(&self) -> Option<&Path> {
        let path = self.user_samples.as_path();
        (!path.as_os_str().is_empty() && path.exists()).then_some(path)
    }

    /// The same configuration with every path key (`source`, `test_source`,
    /// a non-empty `user_samples`, `extra_test_sources`) passed through
    /// `f`: resolving them against a project root, or showing them relative
    /// to it.
    pub fn map_paths(&self, f: impl Fn(&Path) -> PathBuf) -> Self {
        let user_samples = if self.user_samples.as_os_str().is_empty() {
            PathBuf::new() // an empty path turns them off, so it stays empty
        } else {
            f(&self.user_samples)
        };
        Self {
            source: f(&self.source),
            test_source: self.test_source.as_deref().map(&f),
            user_samples,
            extra_test_sources: self.extra_test_sources.iter().map(|p| f(p)).collect(),
            ..self.clone()
        }
    }

    /// Each extra test source with its name, in the order configured.
    pub fn extra_tests(&self) -> Vec<(String, &Path)> {
        self.extra_test_sources
            .iter()
            .map(|path| (extra_test_name(path), path.as_path()))
            .collect()
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
        let mut names: Vec<(String, &Path)> = Vec::new();
        for (name, path) in self.extra_tests() {
            if path.as_os_str().is_empty() {
                return Err(ConfigError::new(
                    "data.extra_test_sources",
                    "each entry must name a labelled CSV or IDX file, or a folder of labelled images",
                ));
            }
            if let Some((_, first)) = names.iter().find(|(seen, _)| *seen == name) {
                return Err(ConfigError::new(
                    "data.extra_test_sources",
                    format!(
                        "{} and {} would both be named \"{name}\"; rename one of them",
                        first.display(),
                        path.display()
                    ),
                ));
            }
            names.push((name, path));
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

/// The name an extra test source goes by in file names, `metrics.json` and
/// the report: its file or folder name without `.gz`, `.csv` or the IDX
/// suffix, any character other than letters, digits, `-` and `.` made `-`.
pub fn extra_test_name(path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let name = name.strip_suffix(".csv").unwrap_or(name);
    let name = name.strip_suffix("-images-idx3-ubyte").unwrap_or(name);
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "extra".to_string()
    } else {
        name
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
    fn extra_test_sources_are_named_after_their_files_and_must_differ() {
        let name = |p: &str| extra_test_name(Path::new(p));
        assert_eq!(name("data/uci-digits/"), "uci-digits");
        assert_eq!(name("data/mnist-test.csv.gz"), "mnist-test");
        assert_eq!(name("idx/t10k-images-idx3-ubyte.gz"), "t10k");
        assert_eq!(name("my scans (2)"), "my-scans--2-");
        let config = Config {
            extra_test_sources: vec!["a/uci.csv".into(), "b/uci".into()],
            ..Config::default()
        };
        let err = config.validate().unwrap_err();
        assert_eq!(err.key, "data.extra_test_sources");
        assert!(err.to_string().contains("a/uci.csv and b/uci"), "{err}");
        let config = Config {
            extra_test_sources: vec![PathBuf::new()],
            ..Config::default()
        };
        assert_eq!(
            config.validate().unwrap_err().key,
            "data.extra_test_sources"
        );
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
