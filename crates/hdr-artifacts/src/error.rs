//! What goes wrong reading an artifact: it is missing, unreadable or malformed.

use std::path::{Path, PathBuf};

/// An input artifact a stage needs is missing; says which stage makes it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("missing input {}: run `cargo xtask {stage}` first", path.display())]
pub struct MissingArtifact {
    /// The file that is not there.
    pub path: PathBuf,
    /// The stage that produces it (`data`, `train`, `eval`).
    pub stage: &'static str,
}

/// Returns `Err(MissingArtifact)` unless `path` exists.
pub fn require_artifact(path: &Path, stage: &'static str) -> Result<(), MissingArtifact> {
    if path.exists() {
        Ok(())
    } else {
        Err(MissingArtifact {
            path: path.to_path_buf(),
            stage,
        })
    }
}

/// Why an artifact could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not there (says which stage makes it).
    #[error(transparent)]
    Missing(#[from] MissingArtifact),
    /// The file exists but could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file does not follow its schema.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line, column or key where there is one.
        message: String,
    },
}

impl Error {
    /// An [`Error::Invalid`] for `path`.
    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Reads a whole artifact written by `stage`: missing → [`MissingArtifact`].
pub(crate) fn read_artifact(path: &Path, stage: &'static str) -> Result<Vec<u8>, Error> {
    require_artifact(path, stage)?;
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// `value` as pretty JSON with a trailing newline, as every JSON artifact is written.
pub(crate) fn pretty_json<T: serde::Serialize>(value: &T) -> std::io::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_artifacts_name_the_file_and_the_stage_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        let err = require_artifact(&path, "train").unwrap_err();
        assert_eq!(err.stage, "train");
        let message = err.to_string();
        assert!(
            message.contains("model.json") && message.contains("run `cargo xtask train` first"),
            "{message}"
        );
        std::fs::write(&path, "{}").unwrap();
        require_artifact(&path, "train").unwrap();
    }
}
