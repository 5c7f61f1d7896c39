//! What can go wrong reading the workspace.

use std::path::PathBuf;

/// What can go wrong reading the workspace.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest is missing or is not TOML.
    #[error("cannot read {}", path.display())]
    Manifest {
        /// The `Cargo.toml`.
        path: PathBuf,
    },
    /// A crate named as a stage or a dependency is not a workspace member.
    #[error("`{name}` is not a member of the workspace")]
    NotAMember {
        /// Its package name.
        name: String,
    },
    /// A source file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
