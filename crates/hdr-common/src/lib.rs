//! Small pieces every hdr stage shares: atomic artifact writes, hashing,
//! progress bars and the options common to every stage run.

pub mod atomic;
pub mod hash;
pub mod progress;

pub use atomic::{write_json_atomic, OutputSet};
pub use hash::{sha256_bytes, sha256_file};
pub use progress::Progress;

/// Options every stage's `run` takes, set by the runner's command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Silence progress bars and per-epoch lines; errors still go to stderr.
    pub quiet: bool,
}

/// A configuration value that is out of range or inconsistent; names the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid value for `{key}`: {message}")]
pub struct ConfigError {
    /// The dotted key, e.g. `data.test_fraction`.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl ConfigError {
    /// An error for `key` with an explanation.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// An input artifact a stage needs is missing; says which stage makes it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("missing input {}: run `cargo xtask {stage}` first", path.display())]
pub struct MissingArtifact {
    /// The file that is not there.
    pub path: std::path::PathBuf,
    /// The stage that produces it (`data`, `train`, `eval`).
    pub stage: &'static str,
}

/// Returns `Err(MissingArtifact)` unless `path` exists.
pub fn require_artifact(
    path: &std::path::Path,
    stage: &'static str,
) -> Result<(), MissingArtifact> {
    if path.exists() {
        Ok(())
    } else {
        Err(MissingArtifact {
            path: path.to_path_buf(),
            stage,
        })
    }
}
