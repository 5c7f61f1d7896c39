//! Everything that can stop the runner, as one typed error.

use std::path::PathBuf;

use crate::config_error::ConfigError;
use crate::interrupt::{Interruption, SweepStopped};
use crate::stage::Stage;

/// A stage crate's own error, kept whole as the cause of [`Error::StageFailed`].
pub type StageError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can stop the runner. Each variant names the file, key,
/// stage or run it is about, and keeps the error beneath it as `source()`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `pipeline.toml` or a `--set` is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file or folder of the project could not be read, written, created or removed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What the runner was doing: `read`, `write`, `create`, `remove`, `list`, `lock`...
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An output could not be copied into the run cache (a full disk, say).
    #[error("cannot copy {file} into {}", folder.display())]
    CacheCopy {
        /// The output, relative to the project root.
        file: String,
        /// The cache folder it was going to.
        folder: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `pipeline.lock` is not what the runner writes.
    #[error("{} is corrupt; delete it (or run `cargo xtask clean`) to start afresh", path.display())]
    CorruptLock {
        /// The lock file.
        path: PathBuf,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// Another run holds the artifacts and `--no-wait` was given.
    #[error(
        "{folder} is in use by {holder}; run again when it has finished, or leave out --no-wait to wait for it"
    )]
    InUse {
        /// The artifacts folder, as shown.
        folder: String,
        /// Who holds it (process, command, since when).
        holder: String,
    },
    /// A stage's own code failed.
    #[error("stage `{}` failed", stage.name())]
    StageFailed {
        /// The stage.
        stage: Stage,
        /// The stage crate's error.
        #[source]
        source: StageError,
    },
    /// A stage reported an output file that cannot be read back.
    #[error("stage `{}` reported {} but it cannot be read", stage.name(), path.display())]
    OutputUnreadable {
        /// The stage.
        stage: Stage,
        /// The file it reported.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },
    /// A stage's outputs, read back from the run cache, could not be put in place.
    #[error("cannot restore {}'s outputs from the cache", stage.name())]
    Restore {
        /// The stage.
        stage: Stage,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The Ctrl-C and SIGTERM handler could not be installed.
    #[error("cannot install the Ctrl-C handler")]
    SignalHandler(#[source] std::io::Error),
    /// The run log could not be read.
    #[error(transparent)]
    RunLog(#[from] hdr_artifacts::Error),
    /// Ctrl-C or SIGTERM stopped the run.
    #[error(transparent)]
    Interrupted(#[from] Interruption),
    /// Ctrl-C stopped a sweep between two runs.
    #[error(transparent)]
    SweepStopped(#[from] SweepStopped),
    /// A `--sweep` argument is malformed.
    #[error("--sweep {item}: {problem}")]
    BadSweep {
        /// The argument as given.
        item: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A point of a sweep's grid is not a valid configuration.
    #[error("sweep: {point} is not a valid configuration")]
    BadSweepPoint {
        /// The point's overrides, joined by spaces.
        point: String,
        /// What is wrong.
        #[source]
        source: Box<ConfigError>,
    },
    /// Some runs of a sweep failed (each was reported as it ended).
    #[error("{failed} of {total} sweep runs failed")]
    SweepFailed {
        /// Runs that failed.
        failed: usize,
        /// Runs in the grid.
        total: usize,
    },
    /// A run id that the run log does not hold.
    #[error("{}", unknown_run(*id, *recorded))]
    UnknownRun {
        /// The id asked for.
        id: u64,
        /// The first and last ids recorded, if any.
        recorded: Option<(u64, u64)>,
    },
    /// `runs diff` without two runs to compare.
    #[error("runs diff needs two runs; the run log holds {recorded}")]
    TooFewRuns {
        /// Runs recorded.
        recorded: usize,
    },
    /// `runs checkout` of a run that failed.
    #[error("run {id} failed, so it has no outputs to check out")]
    RunFailed {
        /// The run.
        id: u64,
    },
    /// `runs checkout` of a run whose outputs the cache no longer holds, or holds damaged.
    #[error(
        "run {id}'s `{stage}` outputs are no longer in the cache (removed by `cargo xtask gc`, \
         or `clean --all`); rerun its configuration instead (see `cargo xtask runs show {id}`){}",
        damage.as_ref().map_or(String::new(), |d| format!(": {d}"))
    )]
    NotCached {
        /// The run.
        id: u64,
        /// The stage whose outputs are missing.
        stage: String,
        /// What was wrong with the cached copy, when there was one.
        damage: Option<String>,
    },
    /// `clean` on a path that is not a folder.
    #[error("{} is not a directory", path.display())]
    NotAFolder {
        /// The path.
        path: PathBuf,
    },
}

fn unknown_run(id: u64, recorded: Option<(u64, u64)>) -> String {
    match recorded {
        Some((first, last)) => format!(
            "no run {id} in the run log (runs {first}..{last} are recorded; see `cargo xtask runs`)"
        ),
        None => format!("no run {id}: no runs are recorded yet"),
    }
}

impl Error {
    /// An I/O error about `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

/// `error` and its causes on one line, joined by `: ` (as the run log records them).
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut cause = Some(error);
    while let Some(current) = cause {
        parts.push(current.to_string());
        cause = current.source();
    }
    parts.join(": ")
}
