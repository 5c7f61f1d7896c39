//! Everything that can go wrong in the data stage.

use std::path::Path;

/// Everything that can go wrong in the data stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration value.
    #[error(transparent)]
    Config(#[from] hdr_common::ConfigError),
    /// A split artifact could not be read back.
    #[error(transparent)]
    Artifact(#[from] hdr_artifacts::Error),
    /// Anything else, with a message naming the file and position.
    #[error("{0}")]
    Other(String),
    /// A stop was requested (Ctrl-C, SIGTERM); nothing was written.
    #[error(transparent)]
    Interrupted(#[from] hdr_common::Interrupted),
}

/// Shorthand for [`Error::Other`].
pub(crate) fn fail(message: impl Into<String>) -> Error {
    Error::Other(message.into())
}

/// An I/O error that names the file.
pub(crate) fn io_fail(path: &Path, error: std::io::Error) -> Error {
    fail(format!("{}: {error}", path.display()))
}
