//! What can stop the server from starting or running.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong starting, running or stopping the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The weights could not be loaded (a missing file says to run `cargo xtask train`).
    #[error(transparent)]
    Model(hdr_predict::PredictError),
    /// A model card source (model.json, metrics.json, summary.json) exists but is not valid JSON.
    #[error("{}: not valid JSON: {source}", path.display())]
    Card {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// A model card source exists but cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    CardUnreadable {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The scratch folder for uploads could not be created.
    #[error("cannot create a scratch folder for uploads: {0}")]
    Scratch(std::io::Error),
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
