//! Sweeps: one pipeline run per point of a grid of config values, each
//! recorded, then the table of them.

use std::time::Instant;

use hdr_artifacts::RunRecord;

use crate::config::{self, Location};
use crate::error::one_line;
use crate::interrupt::{self, CtrlC, Interruption};
use crate::output::Output;
use crate::project::Project;
use crate::run_log::{self, read_log};
use crate::runner::{one_run, take_runner_lock, Options, StageOptions};
use crate::stage::Stage;
use crate::stage_run::StageRunner;
use crate::Error;

type Result<T, E = Error> = std::result::Result<T, E>;

/// One `--sweep section.key=v1,v2,...`: the key and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepAxis {
    key: String,
    values: Vec<String>,
}

impl SweepAxis {
    /// Parses `section.key=v1,v2,...`.
    pub fn parse(item: &str) -> Result<Self> {
        let bad = |problem| Error::BadSweep {
            item: item.to_string(),
            problem,
        };
        let Some((key, values)) = item.split_once('=') else {
            return Err(bad("expected section.key=value1,value2,..."));
        };
        let key = key.trim().to_string();
        if !key.contains('.') {
            return Err(bad("the key must be section.key, e.g. train.dropout"));
        }
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(bad("an empty value (values are separated by commas)"));
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
    base: &Project,
    location: &Location,
    overrides: &[String],
    axes: &[SweepAxis],
    stages: &[Stage],
    args: StageOptions,
    options: Options,
) -> Result<()> {
    let points = grid(axes);
    let mut configs = Vec::with_capacity(points.len());
    for point in &points {
        let all: Vec<String> = overrides.iter().chain(point).cloned().collect();
        let loaded = config::load(location, &all).map_err(|source| Error::BadSweepPoint {
            point: point.join(" "),
            source: Box::new(source),
        })?;
        configs.push(loaded.config);
    }
    let output = Output::quiet_if(options.quiet);
    let say = |line: String| output.note(line);
    if args.dry_run {
        say(format!("sweep: would make {} runs:", points.len()));
        for point in &points {
            say(format!("  {}", point.join(" ")));
        }
        return Ok(());
    }
    let _held = take_runner_lock(base, options, CtrlC::FinishRun)?;
    say(format!("sweep: {} runs", points.len()));
    let mut ids = Vec::new();
    let mut failed = 0;
    let mut finished_early = None;
    for (i, (point, config)) in points.iter().zip(configs).enumerate() {
        if interrupt::finish_requested() {
            finished_early = Some(i);
            break;
        }
        let log = read_log(base, output)?;
        let project = Project {
            config,
            ..base.clone()
        };
        let runner = StageRunner {
            project: &project,
            output: Output {
                terse: true,
                ..output
            },
            resume: args.resume,
            run_id: Some(log.next_id()),
        };
        let started = Instant::now();
        let (record, result) = one_run(&runner, stages, args);
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
                run_label(runner.run_id.unwrap_or(0), i, points.len())
            ),
            (_, Err(e)) => {
                failed += 1;
                format!(
                    "{}  {shown}  FAILED in {seconds:.1} s: {}",
                    run_label(runner.run_id.unwrap_or(0), i, points.len()),
                    one_line(e)
                )
            }
        };
        if let Some(r) = record {
            ids.push(r.id);
        }
        say(line);
    }
    if !options.quiet {
        let log = read_log(base, output)?;
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
        return Err(Error::SweepFailed {
            failed,
            total: points.len(),
        });
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
            let err = SweepAxis::parse(bad).unwrap_err();
            assert!(
                matches!(&err, Error::BadSweep { item, .. } if item == bad),
                "{err:?}"
            );
        }
    }
}
