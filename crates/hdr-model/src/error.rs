//! What can go wrong loading or saving a model.

/// Everything that can go wrong loading or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A weights or checkpoint file that does not match what is asked of it
    /// (missing, extra or mis-shaped tensor, another architecture, truncated file).
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What does not match.
        message: String,
    },
}
