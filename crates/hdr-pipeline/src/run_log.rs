//! The run log as the runner reads and shows it: `runs.jsonl` read with a
//! warning per broken line, what a run's stages did in words, and the runs
//! table shared by `runs` and sweeps.

use std::collections::{BTreeMap, BTreeSet};

use hdr_artifacts::{best_run, RunLog, RunRecord, StageOutcome, TestData};

use crate::output::Output;
use crate::project::Project;
use crate::stage::Stage;
use crate::Error;

/// Reads the run log, warning about each line that cannot be read.
pub fn read_log(project: &Project, output: Output) -> Result<RunLog, Error> {
    let path = hdr_artifacts::run_log_path(&project.artifacts);
    let log = hdr_artifacts::read_runs(&path)?;
    for skipped in &log.skipped {
        output.warn(format!(
            "{} line {}: not a run record, skipped ({})",
            project.display(&path),
            skipped.line,
            skipped.reason
        ));
    }
    Ok(log)
}

/// `restored: train; ran: eval, report`, leaving out stages up to date.
pub fn stage_summary(stages: &BTreeMap<String, StageOutcome>) -> String {
    let mut parts = Vec::new();
    for outcome in [
        StageOutcome::Restored,
        StageOutcome::Ran,
        StageOutcome::Failed,
    ] {
        let names: Vec<&str> = Stage::ALL
            .iter()
            .map(|s| s.name())
            .filter(|name| stages.get(*name) == Some(&outcome))
            .collect();
        if !names.is_empty() {
            parts.push(format!("{}: {}", outcome.label(), names.join(", ")));
        }
    }
    if parts.is_empty() {
        "up to date".to_string()
    } else {
        parts.join("; ")
    }
}

/// `run 7 recorded: test accuracy 98.65% (restored: train; ran: eval, report)`.
pub fn headline(run: &RunRecord) -> String {
    let result = match (&run.metrics, run.is_ok()) {
        (_, false) => "failed".to_string(),
        (Some(m), true) => format!("test accuracy {:.2}%", 100.0 * m.test_accuracy),
        (None, true) => "no metrics".to_string(),
    };
    format!(
        "run {} recorded: {result} ({})",
        run.id,
        stage_summary(&run.stages)
    )
}

/// A config value as a table cell: strings without their quotes.
pub fn cell(value: Option<&serde_json::Value>) -> String {
    match value {
        None => "-".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// The config keys whose values are not the same in every run.
fn varying_keys(runs: &[RunRecord]) -> Vec<String> {
    let params: Vec<BTreeMap<String, serde_json::Value>> =
        runs.iter().map(RunRecord::params).collect();
    let keys: BTreeSet<&String> = params.iter().flat_map(|p| p.keys()).collect();
    keys.into_iter()
        .filter(|key| {
            let first = params.first().and_then(|p| p.get(*key));
            params.iter().any(|p| p.get(*key) != first)
        })
        .cloned()
        .collect()
}

/// The runs as a table: id (the best marked `*`), time, the config keys that
/// differ between them, the headline metrics, training seconds and what the
/// stages did. "Best" compares only the runs scored on the same test data as
/// the latest scored run; the note under the table says so when others were
/// scored on other test data.
pub fn table(runs: &[RunRecord]) -> String {
    if runs.is_empty() {
        return "no runs recorded yet: `cargo xtask pipeline` records one\n".to_string();
    }
    let keys = varying_keys(runs);
    let test_data = TestData::latest(runs);
    let best = test_data
        .and_then(|t| best_run(runs, |r| TestData::of(r) == t))
        .map(|r| r.id);
    let mut header: Vec<String> = vec!["run".into(), "time (UTC)".into(), "status".into()];
    header.extend(keys.iter().cloned());
    header.extend(
        [
            "test acc",
            "macro F1",
            "log loss",
            "train acc",
            "train s",
            "stages",
        ]
        .map(String::from),
    );
    let mut rows = vec![header];
    for run in runs {
        let marker = if Some(run.id) == best { "*" } else { " " };
        let mut row = vec![
            format!("{marker}{}", run.id),
            run.time.replace('T', " ").trim_end_matches('Z').to_string(),
            if run.is_ok() { "ok" } else { "failed" }.to_string(),
        ];
        let params = run.params();
        row.extend(keys.iter().map(|k| cell(params.get(k))));
        match &run.metrics {
            Some(m) if run.is_ok() => row.extend([
                format!("{:.2}%", 100.0 * m.test_accuracy),
                format!("{:.4}", m.test_macro_f1),
                format!("{:.4}", m.test_log_loss),
                format!("{:.2}%", 100.0 * m.train_accuracy),
            ]),
            _ => row.extend(std::iter::repeat_n("-".to_string(), 4)),
        }
        row.push(
            run.train_seconds
                .filter(|_| run.is_ok())
                .map_or("-".to_string(), |s| format!("{s:.1}")),
        );
        row.push(stage_summary(&run.stages));
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (text, w))| {
                if c == columns - 1 {
                    text.clone()
                } else {
                    format!("{text:<w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if let (Some(best), Some(test_data)) = (best, test_data) {
        let scored: Vec<&RunRecord> = runs
            .iter()
            .filter(|r| r.is_ok() && r.metrics.is_some())
            .collect();
        let same = scored
            .iter()
            .filter(|r| TestData::of(r) == test_data)
            .count();
        if same == scored.len() {
            out.push_str(&format!("* best test accuracy: run {best}\n"));
        } else {
            let latest = scored.last().map_or(0, |r| r.id);
            out.push_str(&format!(
                "* best test accuracy: run {best}, of the {same} runs scored on the same test data \
                 as run {latest} (the other {} were scored on other test data, so their accuracies \
                 are not compared)\n",
                scored.len() - same
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdr_artifacts::{HeadlineMetrics, RunStatus};

    fn run(id: u64, dropout: f64, accuracy: Option<f64>) -> RunRecord {
        RunRecord {
            id,
            time: format!("2026-01-02T10:00:0{id}Z"),
            user_samples: None,
            status: if accuracy.is_some() {
                RunStatus::Ok
            } else {
                RunStatus::Failed
            },
            error: None,
            config: serde_json::json!({"train": {"dropout": dropout, "seed": 42},
                                       "report": {"title": "t"}}),
            data_sha256: None,
            test_sha256: Some("t".repeat(64)),
            code: BTreeMap::new(),
            kernels: None,
            metrics: accuracy.map(|a| HeadlineMetrics {
                test_accuracy: a,
                test_macro_f1: a,
                test_log_loss: 0.05,
                train_accuracy: 0.99,
                user_test_accuracy: None,
            }),
            train_seconds: Some(12.0),
            stages: BTreeMap::from([("train".to_string(), StageOutcome::Ran)]),
            fingerprints: BTreeMap::new(),
        }
    }

    #[test]
    fn the_table_shows_varying_keys_and_marks_the_best_run() {
        let text = table(&[
            run(1, 0.3, Some(0.97)),
            run(2, 0.5, Some(0.981)),
            run(3, 0.7, None),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("train.dropout"), "{text}");
        assert!(!lines[0].contains("train.seed"), "{text}");
        assert!(lines[2].starts_with("*2 "), "{text}");
        assert!(lines[2].contains("98.10%"), "{text}");
        assert!(lines[3].contains("failed"), "{text}");
        assert_eq!(lines[4], "* best test accuracy: run 2");
        assert!(table(&[]).contains("no runs"));
    }

    #[test]
    fn the_best_run_is_marked_among_runs_on_the_latest_test_data_only() {
        // Run 2 scored higher, but on another test set (say MNIST's 10,000).
        let mut other = run(2, 0.5, Some(0.995));
        other.test_sha256 = Some("m".repeat(64));
        let text = table(&[run(1, 0.3, Some(0.97)), other, run(3, 0.7, Some(0.975))]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[3].starts_with("*3 "), "{text}");
        assert!(lines[2].starts_with(" 2 "), "{text}");
        assert!(
            lines[4].starts_with(
                "* best test accuracy: run 3, of the 2 runs scored on the same test data as run 3"
            ),
            "{text}"
        );
    }

    #[test]
    fn outcome_summaries_list_what_was_not_up_to_date() {
        let stages = BTreeMap::from([
            ("data".to_string(), StageOutcome::UpToDate),
            ("train".to_string(), StageOutcome::Restored),
            ("eval".to_string(), StageOutcome::Ran),
            ("report".to_string(), StageOutcome::Ran),
        ]);
        assert_eq!(stage_summary(&stages), "restored: train; ran: eval, report");
        assert_eq!(stage_summary(&BTreeMap::new()), "up to date");
    }
}
