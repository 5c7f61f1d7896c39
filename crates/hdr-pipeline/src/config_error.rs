//! What is wrong with a configuration, naming the file and the key.

use std::path::PathBuf;

/// What is wrong with the configuration: the file (named as given) or a `--set`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {}", file.display())]
    Read {
        /// The config file.
        file: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `--config` names a file that does not exist.
    #[error("config file {} does not exist", file.display())]
    Missing {
        /// The config file.
        file: PathBuf,
    },
    /// The file is not TOML.
    #[error("{}: {source}", file.display())]
    Syntax {
        /// The config file.
        file: PathBuf,
        /// The parser's message, with line and column.
        #[source]
        source: toml::de::Error,
    },
    /// A `--set` is not `section.key=value` or names no section.
    #[error("--set {item}: {problem}")]
    BadOverride {
        /// The argument as given.
        item: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A table that is not a pipeline section.
    #[error("{}: unknown section `[{section}]` (known: {})", file.display(), known.join(", "))]
    UnknownSection {
        /// The config file.
        file: PathBuf,
        /// The table's name.
        section: String,
        /// The sections there are.
        known: &'static [&'static str],
    },
    /// A section name given a value instead of a table.
    #[error("{}: `{section}` must be a section ([{section}])", file.display())]
    NotASection {
        /// The config file.
        file: PathBuf,
        /// The section's name.
        section: String,
    },
    /// A key its section does not have.
    #[error(
        "{}: unknown key `{key}` (known keys in [{}]: {})",
        file.display(),
        section_of(key),
        known.join(", ")
    )]
    UnknownKey {
        /// The config file.
        file: PathBuf,
        /// The key, as `section.key`.
        key: String,
        /// The section's keys.
        known: Vec<String>,
    },
    /// A value of the wrong type, or not one of those allowed.
    #[error(
        "{}: bad value for `{key}` = {value}: {}",
        file.display(),
        expected.map_or(detail.clone(), |e| format!("expected {e} ({detail})"))
    )]
    BadValue {
        /// The config file.
        file: PathBuf,
        /// The key, as `section.key`.
        key: String,
        /// The value given, as TOML.
        value: String,
        /// The type the key takes, when the value has another.
        expected: Option<&'static str>,
        /// What the parser said.
        detail: String,
    },
    /// A value of the right type out of its range (a section's `validate`).
    #[error("{}: {source}", file.display())]
    OutOfRange {
        /// The config file.
        file: PathBuf,
        /// Which key and why.
        #[source]
        source: hdr_common::ConfigError,
    },
    /// A section cannot be shown as TOML.
    #[error("cannot show [{section}]")]
    Show {
        /// The section.
        section: &'static str,
        /// The serialiser's message.
        #[source]
        source: toml::ser::Error,
    },
}

/// `data` of `data.seed`.
fn section_of(key: &str) -> &str {
    key.split_once('.').map_or(key, |(section, _)| section)
}
