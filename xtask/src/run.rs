//! Running stages in order, recording pipeline runs in `runs.jsonl`, and
//! sweeps: one pipeline run per point of a grid of config values.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use hdr_artifacts::{HeadlineMetrics, RunRecord, RunStatus, StageOutcome};

use crate::config::{self, Location};
use crate::interrupt::{self, Interruption};
use crate::lock::LockFile;
use crate::run_log::{self, read_log};
use crate::stage::Stage;
use crate::stages::{Context, Done};
use crate::{runner_lock, StageArgs};

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
pub fn run_stages(ctx: &Context, stages: &[Stage], args: &StageArgs, wait: bool) -> Result<()> {
    let _held = if args.dry_run {
        None
    } else {
        Some(take_runner_lock(ctx, wait, OnCtrlC::StopStage)?)
    };
    run_stages_locked(ctx, stages, args, &mut Outcome::default())
}

/// What Ctrl-C does once the runner holds the lock.
#[derive(Clone, Copy)]
enum OnCtrlC {
    /// Stop the running stage at its next safe point.
    StopStage,
    /// Finish the current run of a sweep, then stop (see [`interrupt::install_sweep_handler`]).
    FinishRun,
}

/// Takes the project's runner lock, then clears temporaries left by a run
/// that was killed outright and installs the Ctrl-C / SIGTERM handler.
fn take_runner_lock(
    ctx: &Context,
    wait: bool,
    on_ctrl_c: OnCtrlC,
) -> Result<runner_lock::RunnerLock> {
    let held = runner_lock::acquire(&ctx.artifacts, wait, ctx.quiet)?;
    // Holding the lock, no other run writes here: temporaries are
    // leftovers of a run that was killed outright.
    hdr_common::remove_stale_temporaries(&ctx.artifacts).with_context(|| {
        format!(
            "cannot remove leftover temporary files under {}",
            ctx.display(&ctx.artifacts)
        )
    })?;
    match on_ctrl_c {
        OnCtrlC::StopStage => interrupt::install_handler(),
        OnCtrlC::FinishRun => interrupt::install_sweep_handler(ctx.quiet),
    }
    .context("cannot install the Ctrl-C handler")?;
    Ok(held)
}

/// [`run_stages`] for a caller that holds the runner lock, filling `outcome` as it goes.
fn run_stages_locked(
    ctx: &Context,
    stages: &[Stage],
    args: &StageArgs,
    outcome: &mut Outcome,
) -> Result<()> {
    let say = |line: String| {
        if !ctx.quiet && !ctx.terse {
            eprintln!("{line}");
        }
    };
    let lock_path = ctx.lock_path();
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
        let reasons = ctx.stale_reasons(stage, &lock, &upstream)?;
        let name = stage.name();
        if reasons.is_empty() && !args.force {
            say(format!("{name:>7}: up to date"));
            if !args.dry_run {
                outcome
                    .stages
                    .insert(name.to_string(), StageOutcome::UpToDate);
                if let Some(fingerprint) = ctx.fingerprint_up_to_date(stage, &lock) {
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
        let use_cache = !args.force && !ctx.resume;
        // Said only once it is known the outputs do not come from the cache.
        let announce = || say(format!("{name:>7}: running ({why})"));
        let result = ctx.run_and_lock(stage, use_cache, &announce);
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
pub fn pipeline(ctx: &mut Context, stages: &[Stage], args: &StageArgs, wait: bool) -> Result<()> {
    if args.dry_run {
        return run_stages(ctx, stages, args, wait);
    }
    let _held = take_runner_lock(ctx, wait, OnCtrlC::StopStage)?;
    let log = read_log(ctx)?;
    ctx.run_id = Some(log.next_id());
    let (record, result) = one_run(ctx, stages, args);
    if let Some(record) = record {
        if !ctx.quiet {
            eprintln!("{}", run_log::headline(&record));
        }
    }
    result
}

/// Runs the stages once and appends the run to the log (when something
/// happened); returns the record and the run's result.
fn one_run(ctx: &Context, stages: &[Stage], args: &StageArgs) -> (Option<RunRecord>, Result<()>) {
    let mut outcome = Outcome::default();
    let result = run_stages_locked(ctx, stages, args, &mut outcome);
    if result.is_ok() && !outcome.changed_anything() {
        return (None, result);
    }
    let record = build_record(ctx, &outcome, result.as_ref().err());
    let path = hdr_artifacts::run_log_path(&ctx.artifacts);
    if let Err(e) = hdr_artifacts::append_run(&path, &record) {
        ctx.warn(format!(
            "could not add the run to {}: {e}",
            ctx.display(&path)
        ));
    }
    (Some(record), result)
}

/// The run log's line for a run that has just ended.
fn build_record(ctx: &Context, outcome: &Outcome, error: Option<&anyhow::Error>) -> RunRecord {
    let files = hdr_artifacts::Artifacts::under(&ctx.artifacts);
    let ok = error.is_none();
    let mut config = serde_json::to_value(&ctx.config).expect("configs serialise to JSON");
    config["data"]["source"] = serde_json::json!(ctx.display(&ctx.config.data.source));
    if let Some(test) = &ctx.config.data.test_source {
        config["data"]["test_source"] = serde_json::json!(ctx.display(test));
    }
    let finished = |stage: Stage| ok || outcome.fingerprints.contains_key(stage.name());
    RunRecord {
        id: ctx.run_id.unwrap_or(0),
        time: runner_lock::rfc3339_now(),
        status: if ok { RunStatus::Ok } else { RunStatus::Failed },
        error: error.map(|e| {
            e.chain()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(": ")
        }),
        config,
        data_sha256: finished(Stage::Data)
            .then(|| hdr_artifacts::read_summary(&files.data.summary).ok())
            .flatten()
            .map(|s| s.source_sha256),
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

/// One `--sweep section.key=v1,v2,...`: the key and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepAxis {
    key: String,
    values: Vec<String>,
}

impl SweepAxis {
    /// Parses `section.key=v1,v2,...`.
    pub fn parse(item: &str) -> Result<Self> {
        let Some((key, values)) = item.split_once('=') else {
            bail!("--sweep {item}: expected section.key=value1,value2,...");
        };
        let key = key.trim().to_string();
        if !key.contains('.') {
            bail!("--sweep {item}: the key must be section.key, e.g. train.dropout");
        }
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            bail!("--sweep {item}: an empty value (values are separated by commas)");
        }
        Ok(Self { key, values })
    }
}

/// Every point of the grid, as `section.key=value` overrides, the first
/// axis varying slowest.
pub fn grid(axes: &[SweepAxis]) -> Vec<Vec<String>> {
    let mut points: Vec<Vec<String>> = vec![Vec::new()];
    for axis in axes {
        points = points
            .into_iter()
            .flat_map(|point| {
                axis.values.iter().map(move |value| {
                    let mut next = point.clone();
                    next.push(format!("{}={value}", axis.key));
                    next
                })
            })
            .collect();
    }
    points
}

/// `cargo xtask pipeline --sweep …`: checks every point's config first, then
/// runs them one after another, recording each; a failed run does not stop
/// the sweep. Ends with the table of the sweep's runs.
pub fn sweep(
    base: &Context,
    location: &Location,
    overrides: &[String],
    axes: &[SweepAxis],
    stages: &[Stage],
    args: &StageArgs,
    wait: bool,
) -> Result<()> {
    let points = grid(axes);
    let mut configs = Vec::with_capacity(points.len());
    for point in &points {
        let all: Vec<String> = overrides.iter().chain(point).cloned().collect();
        let loaded = config::load(location, &all)
            .with_context(|| format!("sweep: {} is not a valid configuration", point.join(" ")))?;
        configs.push(loaded.config);
    }
    let say = |line: String| {
        if !base.quiet {
            eprintln!("{line}");
        }
    };
    if args.dry_run {
        say(format!("sweep: would make {} runs:", points.len()));
        for point in &points {
            say(format!("  {}", point.join(" ")));
        }
        return Ok(());
    }
    let _held = take_runner_lock(base, wait, OnCtrlC::FinishRun)?;
    say(format!("sweep: {} runs", points.len()));
    let mut ids = Vec::new();
    let mut failed = 0;
    let mut finished_early = None;
    for (i, (point, config)) in points.iter().zip(configs).enumerate() {
        if interrupt::finish_requested() {
            finished_early = Some(i);
            break;
        }
        let log = read_log(base)?;
        let ctx = Context {
            config,
            terse: true,
            run_id: Some(log.next_id()),
            ..base.clone()
        };
        let started = Instant::now();
        let (record, result) = one_run(&ctx, stages, args);
        // A second Ctrl-C stopped this run: it is recorded as failed, and
        // the runner reports the interruption.
        if hdr_common::stop_requested() {
            return result.and(Err(Interruption::Before { next: stages[0] }.into()));
        }
        let seconds = started.elapsed().as_secs_f64();
        let shown = point.join(" ");
        let line = match (&record, &result) {
            (Some(r), Ok(())) => format!(
                "{}  {shown}  {} in {seconds:.1} s ({})",
                run_label(r.id, i, points.len()),
                r.metrics.map_or("no metrics".to_string(), |m| format!(
                    "test accuracy {:.2}%",
                    100.0 * m.test_accuracy
                )),
                run_log::stage_summary(&r.stages)
            ),
            (None, Ok(())) => format!(
                "{}  {shown}  up to date",
                run_label(ctx.run_id.unwrap_or(0), i, points.len())
            ),
            (_, Err(e)) => {
                failed += 1;
                format!(
                    "{}  {shown}  FAILED in {seconds:.1} s: {e:#}",
                    run_label(ctx.run_id.unwrap_or(0), i, points.len())
                )
            }
        };
        if let Some(r) = record {
            ids.push(r.id);
        }
        say(line);
    }
    if !base.quiet {
        let log = read_log(base)?;
        let swept: Vec<RunRecord> = log
            .runs
            .into_iter()
            .filter(|r| ids.contains(&r.id))
            .collect();
        println!();
        print!("{}", run_log::table(&swept));
    }
    if let Some(done) = finished_early {
        return Err(interrupt::SweepStopped {
            done,
            total: points.len(),
        }
        .into());
    }
    if failed > 0 {
        bail!("{failed} of {} sweep runs failed", points.len());
    }
    Ok(())
}

fn run_label(id: u64, i: usize, total: usize) -> String {
    format!("run {id} [{}/{total}]", i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_the_cartesian_product_in_order() {
        let axes = [
            SweepAxis::parse("train.dropout=0.3,0.5").unwrap(),
            SweepAxis::parse("train.learning_rate=0.002, 0.004").unwrap(),
        ];
        assert_eq!(
            grid(&axes),
            [
                ["train.dropout=0.3", "train.learning_rate=0.002"],
                ["train.dropout=0.3", "train.learning_rate=0.004"],
                ["train.dropout=0.5", "train.learning_rate=0.002"],
                ["train.dropout=0.5", "train.learning_rate=0.004"],
            ]
        );
        assert_eq!(grid(&[]), [Vec::<String>::new()]);
        for bad in ["train.dropout", "dropout=0.3", "train.dropout=0.3,,0.5"] {
            assert!(SweepAxis::parse(bad).is_err(), "{bad}");
        }
    }
}
