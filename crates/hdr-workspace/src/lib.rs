//! hdr's Cargo workspace as data: where its root is, its member crates, and
//! each stage's *code version* (a hash of the code a stage's outputs depend
//! on), which the runner records to tell when a stage's code changed.
//!
//! Small on purpose: hdr-pipeline's `build.rs` uses it as a build-dependency,
//! so it must not pull in the stages' heavy dependencies.

#![deny(missing_docs)]

mod code_version;
mod error;
mod workspace;

pub use code_version::{CodeVersion, Workspace, NOT_CODE, STAGE_CRATES};
pub use error::Error;
pub use workspace::{find_root, read_manifest, MANIFEST};
