//! `artifacts/pipeline.lock`: what each stage last ran with, DVC-style.
//!
//! After a stage succeeds the runner records its code version, its config
//! section, the hashes of the files it read and of the files it wrote. A stage
//! is up to date when all of those still match.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The whole lock file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockFile {
    /// One entry per stage that has run successfully.
    pub stages: BTreeMap<String, StageLock>,
}

/// What one stage last ran with and produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageLock {
    /// sha256 of the stage's crates' sources.
    pub code: String,
    /// The stage's effective config section.
    pub params: serde_json::Value,
    /// Input files (relative to the project root) and their sha256.
    pub deps: BTreeMap<String, String>,
    /// Output files (relative to the project root) and their sha256.
    pub outs: BTreeMap<String, String>,
    /// The kernel path the stage computed on (`avx512`, `avx2`, `portable`),
    /// for the stages that run the network (train, eval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernels: Option<String>,
}

impl LockFile {
    /// Reads the lock file, or an empty one when there is none.
    pub fn read(path: &Path) -> Result<Self, Error> {
        if !path.exists() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
        serde_json::from_str(&text).map_err(|source| Error::CorruptLock {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the lock file atomically.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        hdr_common::write_json_atomic(path, self).map_err(Error::io("write", path))
    }
}
