//! This run beside the previous run and the best one, from the run log
//! (`runs.jsonl`, read with [`hdr_artifacts::read_runs`]).
//!
//! The report runs before the runner records the run, so "this run" is
//! described by the artifacts themselves: the metrics, the model card's
//! `[train]` config and architecture, the data summary's split settings. When
//! the log already holds a run with the same metrics and settings (a report
//! drawn again, or restored), that record is this run.

use std::collections::BTreeMap;

use hdr_artifacts::{best_run, HeadlineMetrics, RunRecord};
use serde_json::Value;

use crate::Inputs;

/// What the comparison section and the runs chart show.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// This run's id in the log, when it is already recorded.
    pub this_id: Option<u64>,
    /// This run's headline scores.
    pub this: HeadlineMetrics,
    /// The settings the artifacts record, as `section.key`.
    pub params: BTreeMap<String, Value>,
    /// The latest successful run before this one.
    pub previous: Option<RunRecord>,
    /// The most accurate successful run other than this one, when it beats this run.
    pub best: Option<RunRecord>,
    /// (run id, test accuracy) of every successful run, this one included, in id order.
    pub accuracy_by_run: Vec<(u64, f64)>,
    /// The x position of this run in `accuracy_by_run`.
    pub this_x: u64,
}

/// This run's settings as the artifacts record them.
fn params_of(inputs: &Inputs) -> BTreeMap<String, Value> {
    let mut params = BTreeMap::new();
    if let Some(train) = inputs.card.train_config.as_object() {
        for (key, value) in train {
            params.insert(format!("train.{key}"), value.clone());
        }
    }
    params.insert(
        "model.architecture".into(),
        Value::from(inputs.card.architecture_name.clone()),
    );
    let summary = &inputs.data_summary;
    params.insert("data.seed".into(), Value::from(summary.seed));
    params.insert(
        "data.test_fraction".into(),
        Value::from(summary.test_fraction),
    );
    params
}

/// Whether `run` agrees with `params` on every key both have.
fn same_settings(run: &RunRecord, params: &BTreeMap<String, Value>) -> bool {
    let theirs = run.params();
    params
        .iter()
        .all(|(key, value)| theirs.get(key).is_none_or(|v| v == value))
}

/// Compares the run the artifacts hold with the runs of the log.
pub fn compare(inputs: &Inputs, runs: &[RunRecord]) -> Comparison {
    let this = HeadlineMetrics::of(&inputs.metrics);
    let params = params_of(inputs);
    let ok: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| r.is_ok() && r.metrics.is_some())
        .collect();
    let recorded = ok
        .iter()
        .rev()
        .find(|r| r.metrics == Some(this) && same_settings(r, &params))
        .map(|r| r.id);
    let earlier: Vec<RunRecord> = ok
        .iter()
        .filter(|r| recorded.is_none_or(|id| r.id < id))
        .map(|r| (*r).clone())
        .collect();
    let others: Vec<RunRecord> = ok
        .iter()
        .filter(|r| Some(r.id) != recorded)
        .map(|r| (*r).clone())
        .collect();
    let best = best_run(&others)
        .filter(|b| {
            b.metrics
                .is_some_and(|m| m.test_accuracy > this.test_accuracy)
        })
        .cloned();
    let next_id = runs.iter().map(|r| r.id).max().unwrap_or(0) + 1;
    let this_x = recorded.unwrap_or(next_id);
    let mut accuracy_by_run: Vec<(u64, f64)> = ok
        .iter()
        .filter_map(|r| r.metrics.map(|m| (r.id, m.test_accuracy)))
        .collect();
    if recorded.is_none() {
        accuracy_by_run.push((this_x, this.test_accuracy));
    }
    Comparison {
        this_id: recorded,
        this,
        params,
        previous: earlier.last().cloned(),
        best,
        accuracy_by_run,
        this_x,
    }
}

fn shown(value: Option<&Value>) -> String {
    match value {
        None => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// `train.dropout 0.3 → 0.5; …` from `run` to this run, on the keys this run records.
pub(crate) fn changes_from(run: &RunRecord, params: &BTreeMap<String, Value>) -> String {
    let theirs = run.params();
    let changes: Vec<String> = params
        .iter()
        .filter(|(key, value)| theirs.get(*key).is_some_and(|v| v != *value))
        .map(|(key, value)| format!("{key} {} → {}", shown(theirs.get(key)), shown(Some(value))))
        .collect();
    if changes.is_empty() {
        "the same settings".into()
    } else {
        changes.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdr_artifacts::{RunStatus, StageOutcome};

    fn run(id: u64, dropout: f64, accuracy: f64) -> RunRecord {
        RunRecord {
            id,
            time: "2026-01-02T10:00:00Z".into(),
            status: RunStatus::Ok,
            error: None,
            config: serde_json::json!({"train": {"dropout": dropout}, "data": {"seed": 42}}),
            data_sha256: None,
            code: BTreeMap::new(),
            kernels: None,
            metrics: Some(HeadlineMetrics {
                test_accuracy: accuracy,
                test_macro_f1: accuracy,
                test_log_loss: 0.1,
                train_accuracy: 0.99,
            }),
            train_seconds: None,
            stages: BTreeMap::from([("train".to_string(), StageOutcome::Ran)]),
            fingerprints: BTreeMap::new(),
        }
    }

    #[test]
    fn settings_changes_name_each_key_the_run_records() {
        let params = BTreeMap::from([
            ("train.dropout".to_string(), Value::from(0.5)),
            ("data.seed".to_string(), Value::from(42)),
            ("train.new_key".to_string(), Value::from(1)),
        ]);
        assert_eq!(
            changes_from(&run(1, 0.3, 0.9), &params),
            "train.dropout 0.3 → 0.5"
        );
        assert_eq!(
            changes_from(&run(2, 0.5, 0.9), &params),
            "the same settings"
        );
        assert!(same_settings(&run(2, 0.5, 0.9), &params));
        assert!(!same_settings(&run(1, 0.3, 0.9), &params));
    }
}
