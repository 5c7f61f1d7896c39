//! Ctrl-C and SIGTERM while stages run, as the runner sees them: the stage
//! stops at its next safe point, its temporary files are removed, the
//! previous artifacts and `pipeline.lock` stay as they were, the runner lock
//! is released, and the command exits with status 130 (what a shell reports
//! for SIGINT). The handlers that raise the flags belong to the program
//! (`cargo xtask` installs them through [`crate::Options`]); this library
//! only polls hdr-common's stop flag and [`finish_run_flag`].
//!
//! A sweep is gentler with Ctrl-C: the first one lets the current run finish
//! and stops the sweep before the next; a second stops the current run as
//! above; a third exits at once.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::stage::Stage;

/// The exit status of an interrupted run: 128 + SIGINT, as shells report it.
pub const EXIT_STATUS: u8 = 130;

/// Raised by the first Ctrl-C of a sweep: finish the current run, start no other.
static FINISH_RUN: AtomicBool = AtomicBool::new(false);

/// The flag a sweep polls between runs; a signal handler raises it to
/// finish the current run and start no other.
pub fn finish_run_flag() -> &'static AtomicBool {
    &FINISH_RUN
}

/// Whether a sweep was asked to stop once its current run is done.
pub fn finish_requested() -> bool {
    FINISH_RUN.load(Ordering::SeqCst)
}

/// What Ctrl-C should do once a command holds the runner lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtrlC {
    /// Stop the running stage at its next safe point.
    StopStage,
    /// Finish the current run of a sweep, then stop.
    FinishRun,
}

/// Where a run stopped after a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruption {
    /// `stage` stopped before it wrote anything; for `train`, with the epochs
    /// its checkpoint holds.
    During {
        /// The stage that stopped.
        stage: Stage,
        /// Finished epochs saved in the checkpoint (train only).
        epochs_done: Option<usize>,
    },
    /// The stages before `next` finished (and are recorded); `next` did not start.
    Before {
        /// The first stage not run.
        next: Stage,
    },
}

impl fmt::Display for Interruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interruption::During { stage, .. } => write!(f, "stage `{}` interrupted", stage.name()),
            Interruption::Before { next } => {
                write!(f, "interrupted before stage `{}`", next.name())
            }
        }
    }
}

impl std::error::Error for Interruption {}

/// Ctrl-C stopped a sweep between two runs, as asked: `done` of `total`
/// runs were made and recorded, the others never started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepStopped {
    /// Runs made (finished or failed) before the sweep stopped.
    pub done: usize,
    /// Runs in the sweep's grid.
    pub total: usize,
}

impl fmt::Display for SweepStopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sweep: stopped by Ctrl-C after {} of {} runs (recorded: `cargo xtask runs`); the other {} did not start",
            self.done,
            self.total,
            self.total - self.done
        )
    }
}

impl std::error::Error for SweepStopped {}

impl Interruption {
    /// What the user reads: what stopped, what was kept, and for a training
    /// with a finished epoch the command that continues it (`resume`), then
    /// `pipeline` when the run was a pipeline.
    pub fn explain(&self, resume: &str, pipeline: Option<&str>) -> Vec<String> {
        let kept = "nothing was written: the previous artifacts and pipeline.lock are as they were";
        let then = pipeline.map_or(String::new(), |p| format!(" && {p}"));
        match *self {
            Interruption::During {
                stage: Stage::Train,
                epochs_done: Some(done),
            } if done > 0 => vec![
                format!("  train: interrupted after epoch {done}; {kept}"),
                format!(
                    "         the checkpoint of epoch {done} is saved; continue with: {resume}{then}"
                ),
            ],
            Interruption::During { stage, .. } => {
                let when = if stage == Stage::Train {
                    " before its first epoch finished"
                } else {
                    ""
                };
                vec![format!("{:>7}: interrupted{when}; {kept}", stage.name())]
            }
            Interruption::Before { next } => vec![format!(
                "{:>7}: interrupted before it started; the stages before it finished and are recorded{}",
                next.name(),
                pipeline.map_or(String::new(), |p| format!("; continue with: {p}"))
            )],
        }
    }
}

/// A command line as a POSIX shell reads it back: words with characters
/// the shell treats specially are single-quoted.
pub fn shell_line<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|word| {
            let word = word.as_ref();
            let plain = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                word.to_string()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_the_shell_would_split_or_expand_are_quoted() {
        assert_eq!(
            shell_line(&["cargo", "xtask", "--set", "train.epochs=5", "train"]),
            "cargo xtask --set train.epochs=5 train"
        );
        assert_eq!(
            shell_line(&[
                "--set",
                "report.title=\"My run\"",
                "--config",
                "it's.toml",
                ""
            ]),
            r#"--set 'report.title="My run"' --config 'it'\''s.toml' ''"#
        );
    }

    #[test]
    fn an_interrupted_training_says_how_to_continue() {
        let stopped = Interruption::During {
            stage: Stage::Train,
            epochs_done: Some(3),
        };
        let lines = stopped.explain("cargo xtask train --resume", Some("cargo xtask pipeline"));
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("interrupted after epoch 3"), "{lines:?}");
        assert!(
            lines[1].ends_with("continue with: cargo xtask train --resume && cargo xtask pipeline"),
            "{lines:?}"
        );
        let early = Interruption::During {
            stage: Stage::Train,
            epochs_done: Some(0),
        };
        let lines = early.explain("cargo xtask train --resume", None);
        assert_eq!(lines.len(), 1);
        assert!(
            !lines[0].contains("--resume"),
            "nothing to resume: {lines:?}"
        );
        let data = Interruption::During {
            stage: Stage::Data,
            epochs_done: None,
        };
        assert!(data.explain("", None)[0].starts_with("   data: interrupted; nothing was written"));
    }
}
