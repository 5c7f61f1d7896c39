//! What can stop the server from starting or running.

use std::net::SocketAddr;

use hdr_artifacts::MissingArtifact;
use hdr_recognize::RecognizeError;

/// Everything that can go wrong starting, running or stopping the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The weights file does not exist (says to run `cargo xtask train`).
    #[error(transparent)]
    MissingModel(#[from] MissingArtifact),
    /// The weights could not be loaded.
    #[error(transparent)]
    Model(#[from] RecognizeError),
    /// A model card source (model.json, metrics.json, summary.json) exists
    /// but cannot be read or breaks its schema (the message names the file).
    #[error("model card: {0}")]
    Card(hdr_artifacts::Error),
    /// The address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The async runtime or the signal handlers could not be set up.
    #[error("cannot start the server's runtime: {0}")]
    Runtime(std::io::Error),
    /// Serving stopped with an I/O error.
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
    /// The server's thread ended by panicking.
    #[error("the server's thread panicked")]
    Panicked,
}
