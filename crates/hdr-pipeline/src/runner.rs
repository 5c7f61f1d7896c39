//! Running stages in order under the runner lock, and recording each
//! pipeline run in `runs.jsonl`.

use std::collections::BTreeMap;
use std::time::Instant;

use hdr_artifacts::{HeadlineMetrics, RunRecord, RunStatus, StageOutcome};

use crate::error::one_line;
use crate::interrupt::{CtrlC, Interruption};
use crate::output::Output;
use crate::pipeline_lock::LockFile;
use crate::project::Project;
use crate::run_log::{self, read_log};
use crate::runner_lock;
use crate::stage::Stage;
use crate::stage_run::{Done, StageRunner};
use crate::Error;

type Result<T, E = Error> = std::result::Result<T, E>;

/// How a command runs, whatever it runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Print nothing but errors.
    pub quiet: bool,
    /// When another run holds the artifacts, wait for it (else fail at once).
    pub wait: bool,
    /// Called once the runner lock is held, before the first stage: a
    /// command-line program installs its Ctrl-C and SIGTERM handlers here
    /// (they raise hdr-common's stop flag, or for [`CtrlC::FinishRun`]
    /// [`crate::finish_run_flag`]; `quiet` as above). None leaves signals
    /// alone: a program that handles them itself raises the flags when it
    /// wants the run to stop.
    pub on_locked: Option<fn(CtrlC, bool) -> std::io::Result<()>>,
}

/// What the stage commands and `pipeline` were asked to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageOptions {
    /// Run even when up to date.
    pub force: bool,
    /// Print what would run and why, and run nothing.
    pub dry_run: bool,
    /// Continue training from its last epoch checkpoint (implies running it).
    pub resume: bool,
}

/// What the stages of one run did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Each stage reached, with what it did.
    pub stages: BTreeMap<String, StageOutcome>,
    /// Each finished stage's fingerprint (its key in the run cache).
    pub fingerprints: BTreeMap<String, String>,
}

impl Outcome {
    /// Whether any stage ran, was restored or failed (a run worth recording).
    fn changed_anything(&self) -> bool {
        self.stages.values().any(|s| *s != StageOutcome::UpToDate)
    }
}

/// Runs `stages` in order, each only when stale (or forced), holding the
/// project's runner lock unless it only says what would run.
pub fn run_stages(
    project: &Project,
    stages: &[Stage],
    args: StageOptions,
    options: Options,
) -> Result<()> {
    let _held = if args.dry_run {
        None
    } else {
        Some(take_runner_lock(project, options, CtrlC::StopStage)?)
    };
    let runner = StageRunner {
        project,
        output: Output::quiet_if(options.quiet),
        resume: args.resume,
        run_id: None,
    };
    run_stages_locked(&runner, stages, args, &mut Outcome::default())
}

/// Takes the project's runner lock, then clears temporaries left by a run
/// that was killed outright and installs the Ctrl-C / SIGTERM handler.
pub(crate) fn take_runner_lock(
    project: &Project,
    options: Options,
    on_ctrl_c: CtrlC,
) -> Result<runner_lock::RunnerLock> {
    let held = runner_lock::acquire(&project.artifacts, options.wait, options.quiet)?;
    // Holding the lock, no other run writes here: temporaries are
    // leftovers of a run that was killed outright.
    hdr_common::remove_stale_temporaries(&project.artifacts).map_err(Error::io(
        "remove leftover temporary files under",
        project.display(&project.artifacts),
    ))?;
    if let Some(on_locked) = options.on_locked {
        on_locked(on_ctrl_c, options.quiet).map_err(Error::SignalHandler)?;
    }
    Ok(held)
}

/// [`run_stages`] for a caller that holds the runner lock, filling `outcome` as it goes.
fn run_stages_locked(
    runner: &StageRunner,
    stages: &[Stage],
    args: StageOptions,
    outcome: &mut Outcome,
) -> Result<()> {
    let say = |line: String| runner.output.stage_line(line);
    let project = runner.project;
    let lock_path = project.lock_path();
    let mut will_run: Vec<Stage> = Vec::new();
    for &stage in stages {
        if hdr_common::stop_requested() {
            return Err(Interruption::Before { next: stage }.into());
        }
        let lock = LockFile::read(&lock_path)?;
        let upstream: Vec<Stage> = if args.dry_run {
            will_run.clone()
        } else {
            Vec::new()
        };
        let reasons = project.stale_reasons(stage, &lock, &upstream)?;
        let name = stage.name();
        if reasons.is_empty() && !args.force {
            say(format!("{name:>7}: up to date"));
            if !args.dry_run {
                outcome
                    .stages
                    .insert(name.to_string(), StageOutcome::UpToDate);
                if let Some(fingerprint) = runner.fingerprint_up_to_date(stage, &lock) {
                    outcome.fingerprints.insert(name.to_string(), fingerprint);
                }
            }
            continue;
        }
        let why = if reasons.is_empty() {
            "forced".to_string()
        } else {
            reasons.join("; ")
        };
        if args.dry_run {
            say(format!("{name:>7}: would run ({why})"));
            will_run.push(stage);
            continue;
        }
        let started = Instant::now();
        // Forcing or resuming means computing: the cache would bring back the old outputs.
        let use_cache = !args.force && !runner.resume;
        // Said only once it is known the outputs do not come from the cache.
        let announce = || say(format!("{name:>7}: running ({why})"));
        let result = runner.run_and_lock(stage, use_cache, &announce);
        let (done, fingerprint) = match result {
            Ok(done) => done,
            Err(e) => {
                outcome
                    .stages
                    .insert(name.to_string(), StageOutcome::Failed);
                return Err(e);
            }
        };
        outcome.fingerprints.insert(name.to_string(), fingerprint);
        match done {
            Done::Ran => {
                outcome.stages.insert(name.to_string(), StageOutcome::Ran);
                say(format!(
                    "{name:>7}: done in {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
            }
            Done::Restored(run) => {
                outcome
                    .stages
                    .insert(name.to_string(), StageOutcome::Restored);
                let from = run.map_or(String::new(), |id| format!(" (run {id})"));
                say(format!(
                    "{name:>7}: restored from cache{from} in {:.2} s ({why})",
                    started.elapsed().as_secs_f64()
                ));
            }
        }
    }
    Ok(())
}

/// `cargo xtask pipeline` without a sweep: runs the stages, and records the
/// run in `runs.jsonl` when a stage ran, was restored or failed.
pub fn pipeline(
    project: &Project,
    stages: &[Stage],
    args: StageOptions,
    options: Options,
) -> Result<()> {
    if args.dry_run {
        return run_stages(project, stages, args, options);
    }
    let _held = take_runner_lock(project, options, CtrlC::StopStage)?;
    let output = Output::quiet_if(options.quiet);
    let log = read_log(project, output)?;
    let runner = StageRunner {
        project,
        output,
        resume: args.resume,
        run_id: Some(log.next_id()),
    };
    let (record, result) = one_run(&runner, stages, args);
    if let Some(record) = record {
        output.note(run_log::headline(&record));
    }
    result
}

/// Runs the stages once and appends the run to the log (when something
/// happened); returns the record and the run's result.
pub(crate) fn one_run(
    runner: &StageRunner,
    stages: &[Stage],
    args: StageOptions,
) -> (Option<RunRecord>, Result<()>) {
    let mut outcome = Outcome::default();
    let result = run_stages_locked(runner, stages, args, &mut outcome);
    if result.is_ok() && !outcome.changed_anything() {
        return (None, result);
    }
    let record = build_record(runner, &outcome, result.as_ref().err());
    let project = runner.project;
    let path = hdr_artifacts::run_log_path(&project.artifacts);
    if let Err(e) = hdr_artifacts::append_run(&path, &record) {
        runner.output.warn(format!(
            "could not add the run to {}: {e}",
            project.display(&path)
        ));
    }
    (Some(record), result)
}

/// The run log's line for a run that has just ended.
fn build_record(runner: &StageRunner, outcome: &Outcome, error: Option<&Error>) -> RunRecord {
    let project = runner.project;
    let files = hdr_artifacts::Artifacts::under(&project.artifacts);
    let ok = error.is_none();
    let mut config = serde_json::to_value(&project.config).expect("configs serialise to JSON");
    config["data"] =
        serde_json::to_value(project.config.data.map_paths(|p| project.display(p).into()))
            .expect("configs serialise to JSON");
    let finished = |stage: Stage| ok || outcome.fingerprints.contains_key(stage.name());
    let summary = finished(Stage::Data)
        .then(|| hdr_artifacts::read_summary(&files.data.summary).ok())
        .flatten();
    RunRecord {
        id: runner.run_id.unwrap_or(0),
        time: runner_lock::rfc3339_now(),
        status: if ok { RunStatus::Ok } else { RunStatus::Failed },
        error: error.map(|e| one_line(e)),
        config,
        user_samples: summary.as_ref().and_then(|s| {
            s.user_samples
                .as_ref()
                .map(|user| user.train.rows + user.test.rows)
        }),
        data_sha256: summary.map(|s| s.source_sha256),
        test_sha256: finished(Stage::Eval)
            .then(|| hdr_common::sha256_file(&files.data.test).ok())
            .flatten(),
        code: Stage::ALL
            .iter()
            .map(|s| (s.name().to_string(), s.code_hash().to_string()))
            .collect(),
        kernels: finished(Stage::Train)
            .then(|| hdr_artifacts::read_card(&files.train.card).ok())
            .flatten()
            .map(|c| c.kernels),
        metrics: finished(Stage::Eval)
            .then(|| hdr_artifacts::read_metrics(&files.eval.metrics).ok())
            .flatten()
            .map(|m| HeadlineMetrics::of(&m)),
        train_seconds: finished(Stage::Train)
            .then(|| hdr_artifacts::read_history(&files.train.history).ok())
            .flatten()
            .map(|h| h.iter().map(|e| e.seconds).sum()),
        stages: outcome.stages.clone(),
        fingerprints: outcome.fingerprints.clone(),
    }
}
