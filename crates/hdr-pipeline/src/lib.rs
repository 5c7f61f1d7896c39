//! The hdr pipeline runner as a library: the configuration with where each
//! value comes from, the stages run in order when stale (DVC-style
//! `pipeline.lock`), the run cache, the run log and sweeps, and the runner
//! lock that keeps two runs off one `artifacts/` folder.
//!
//! `cargo xtask` is a thin command line over it; a program can drive the
//! same pipeline:
//!
//! ```no_run
//! use hdr_pipeline::{Location, Options, Project, Stage, StageOptions};
//!
//! let cwd = std::env::current_dir()?;
//! let loaded = hdr_pipeline::load(&Location::resolve(None, &cwd), &["train.epochs=1".into()])?;
//! let project = Project::of(&loaded);
//! let options = Options { quiet: true, wait: true, on_locked: None };
//! hdr_pipeline::pipeline(&project, &Stage::ALL, StageOptions::default(), options)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The modules stand in layers, each using only those before it (the tidy
//! test checks that no two import each other):
//! - `stage`, `output`, `interrupt`, `config_error`, `config`: names, printing, how a run
//!   stops, `pipeline.toml`;
//! - `error`: the one [`Error`];
//! - `pipeline_lock` (what each stage last ran with), `runner_lock` (one run
//!   at a time per `artifacts/`), `run_cache`, `project`, `staleness`;
//! - `stage_run`: one stage, from the cache or by running it, then recorded;
//! - `run_log`, `runner`, `sweep`: runs of stages, recorded in `runs.jsonl`;
//! - `runs`, `status`, `clean`: the commands that read and tidy what runs left.

#![deny(missing_docs)]

mod clean;
mod config;
mod config_error;
mod error;
mod interrupt;
mod output;
mod pipeline_lock;
mod project;
mod run_cache;
mod run_log;
mod runner;
mod runner_lock;
pub mod runs;
mod stage;
mod stage_run;
mod staleness;
#[cfg(test)]
mod stated_defaults;
mod status;
mod sweep;

pub use clean::clean;
pub use config::{load, KeyValue, Loaded, Location, Origin, PipelineConfig, FILE_NAME, SECTIONS};
pub use config_error::ConfigError;
pub use error::{one_line, Error, StageError};
pub use interrupt::{
    finish_requested, finish_run_flag, shell_line, CtrlC, Interruption, SweepStopped, EXIT_STATUS,
};
pub use output::Output;
pub use pipeline_lock::{LockFile, StageLock};
pub use project::Project;
pub use runner::{pipeline, run_stages, Options, StageOptions};
pub use stage::Stage;
pub use status::status;
pub use sweep::{grid, sweep, SweepAxis};
