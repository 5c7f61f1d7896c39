//! Small pieces every hdr stage shares: all-or-nothing writes of a stage's
//! files ([`OutputSet`]), SHA-256 hashing, progress bars that honour
//! `--quiet`, stopping at a safe point on Ctrl-C ([`check_stop`]), the
//! options every stage run takes, the configuration error that names its
//! key, how hdr shows an error ([`error_lines`]), a path ([`shown`]) and
//! a count ([`thousands`]), and the stratified split by class
//! ([`stratified_split_with`]) behind both the data stage's test split and
//! the train stage's validation hold-out.
//!
//! What the stages' files are called and hold is not here but in
//! `hdr-artifacts`, the artifact contract.

#![deny(missing_docs)]

mod atomic;
mod display;
mod hash;
mod interrupt;
mod progress;
mod split;

pub use atomic::{
    remove_if_present, remove_others_with_prefix, remove_stale_temporaries, write_json_atomic,
    OutputSet,
};
pub use display::{error_lines, exit_status, shown, thousands};
pub use hash::{copy_hashing, sha256_bytes, sha256_file, sha256_input};
pub use interrupt::{check_stop, request_stop, stop_flag, stop_requested, Interrupted};
pub use progress::Progress;
pub use split::{stratified_split_with, Split};

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
