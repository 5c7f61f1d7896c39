//! Everything that can go wrong in evaluation.

/// Everything that can go wrong in evaluation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration value.
    #[error(transparent)]
    Config(#[from] hdr_common::ConfigError),
    /// An input artifact is missing.
    #[error(transparent)]
    Missing(#[from] hdr_artifacts::MissingArtifact),
    /// Anything else, with a message naming the file.
    #[error("{0}")]
    Other(String),
    /// A stop was requested (Ctrl-C, SIGTERM); nothing was written.
    #[error(transparent)]
    Interrupted(#[from] hdr_common::Interrupted),
}

impl From<hdr_artifacts::Error> for Error {
    /// A missing input stays [`Error::Missing`]; anything else becomes its message.
    fn from(error: hdr_artifacts::Error) -> Self {
        match error {
            hdr_artifacts::Error::Missing(missing) => Error::Missing(missing),
            other => Error::Other(other.to_string()),
        }
    }
}
