//! This run beside the previous run and the best one, from the run log
//! (`runs.jsonl`, read with [`hdr_artifacts::read_runs`]).
//!
//! The report runs before the runner records the run, so "this run" is
//! described by the artifacts themselves: the metrics, the model card's
//! `[train]` config and architecture, the data summary's split settings. When
//! the log already holds a run with the same metrics and settings (a report
//! drawn again, or restored), that record is this run.
//!
//! Accuracies are compared only between runs scored on the same test data
//! (the test split's sha256): "best" and the runs chart leave the others
//! out, and a previous run scored on other test data says so.

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
    /// The test data this run was scored on.
    pub test: TestSet,
    /// The latest successful run before this one.
    pub previous: Option<RunRecord>,
    /// The most accurate successful run other than this one, scored on the
    /// same test data, when it beats this run.
    pub best: Option<RunRecord>,
    /// (run id, test accuracy) of every successful run scored on the same
    /// test data, this one included, in id order.
    pub accuracy_by_run: Vec<(u64, f64)>,
    /// Successful runs left out of `best` and the chart: scored on other test data.
    pub other_test_data: usize,
    /// The x position of this run in `accuracy_by_run`.
    pub this_x: u64,
}

/// The test data a run was scored on: the test split's hash, and the
/// `data.test_source` file it came from, if any (else a split of the source).
#[derive(Debug, Clone, PartialEq)]
pub struct TestSet {
    /// sha256 of `test.parquet`.
    pub sha256: String,
    /// The file name of `data.test_source`, when one was set.
    pub source: Option<String>,
}

impl TestSet {
    fn of(inputs: &Inputs) -> Self {
        Self {
            sha256: inputs.test_sha256.clone(),
            source: inputs
                .data_summary
                .test_source
                .as_ref()
                .map(|t| file_name(&t.path)),
        }
    }

    /// Whether `run` was scored on this test data; a record from before hdr
    /// kept the hash is taken at its word on `data.test_source`.
    pub(crate) fn matches(&self, run: &RunRecord) -> bool {
        match &run.test_sha256 {
            Some(theirs) => *theirs == self.sha256,
            None => recorded_test_source(run) == self.source,
        }
    }
}

/// The last component of a path as written (`data/t.csv` → `t.csv`).
fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map_or(path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// The `data.test_source` file name a run records, if it set one.
fn recorded_test_source(run: &RunRecord) -> Option<String> {
    run.params()
        .get("data.test_source")
        .and_then(Value::as_str)
        .map(file_name)
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
    let test = TestSet::of(inputs);
    let ok: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| r.is_ok() && r.metrics.is_some())
        .collect();
    let recorded = ok
        .iter()
        .rev()
        .find(|r| r.metrics == Some(this) && same_settings(r, &params) && test.matches(r))
        .map(|r| r.id);
    let earlier: Vec<RunRecord> = ok
        .iter()
        .filter(|r| recorded.is_none_or(|id| r.id < id))
        .map(|r| (*r).clone())
        .collect();
    // Only runs scored on this test data are compared; the others are counted.
    let comparable: Vec<&RunRecord> = ok.iter().copied().filter(|r| test.matches(r)).collect();
    let others = comparable
        .iter()
        .copied()
        .filter(|r| Some(r.id) != recorded);
    let best = best_run(others, |r| test.matches(r))
        .filter(|b| {
            b.metrics
                .is_some_and(|m| m.test_accuracy > this.test_accuracy)
        })
        .cloned();
    let next_id = runs.iter().map(|r| r.id).max().unwrap_or(0) + 1;
    let this_x = recorded.unwrap_or(next_id);
    let mut accuracy_by_run: Vec<(u64, f64)> = comparable
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
        other_test_data: ok.len() - comparable.len(),
        accuracy_by_run,
        this_x,
        test,
    }
}

fn shown(value: Option<&Value>) -> String {
    match value {
        None => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// `train.dropout 0.3 → 0.5; …` from `run` to this run: the keys this run's
/// artifacts record (a key the older run lacks is new, not changed), then
/// the test data when it is not the same.
pub(crate) fn changes_from(
    run: &RunRecord,
    params: &BTreeMap<String, Value>,
    test: &TestSet,
) -> String {
    let theirs = run.params();
    let mut changes: Vec<String> = params
        .iter()
        .filter(|(key, value)| theirs.get(*key).is_some_and(|v| v != *value))
        .map(|(key, value)| format!("{key} {} → {}", shown(theirs.get(key)), shown(Some(value))))
        .collect();
    if !test.matches(run) {
        let their_source = recorded_test_source(run);
        if their_source != test.source {
            let name = |s: Option<String>| s.unwrap_or_else(|| "- (a split of data.source)".into());
            changes.push(format!(
                "data.test_source {} → {}",
                name(their_source),
                name(test.source.clone())
            ));
        } else {
            let short = |h: &str| h.chars().take(12).collect::<String>();
            changes.push(format!(
                "test data sha256 {}… → {}…",
                run.test_sha256.as_deref().map_or("-".into(), short),
                short(&test.sha256)
            ));
        }
    }
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
            user_samples: None,
            test_sha256: Some("t".repeat(64)),
            code: BTreeMap::new(),
            kernels: None,
            metrics: Some(HeadlineMetrics {
                test_accuracy: accuracy,
                test_macro_f1: accuracy,
                test_log_loss: 0.1,
                train_accuracy: 0.99,
                user_test_accuracy: None,
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
        let test = sample_test();
        assert_eq!(
            changes_from(&run(1, 0.3, 0.9), &params, &test),
            "train.dropout 0.3 → 0.5"
        );
        assert_eq!(
            changes_from(&run(2, 0.5, 0.9), &params, &test),
            "the same settings"
        );
        assert!(same_settings(&run(2, 0.5, 0.9), &params));
        assert!(!same_settings(&run(1, 0.3, 0.9), &params));
    }

    fn sample_test() -> TestSet {
        TestSet {
            sha256: "t".repeat(64),
            source: None,
        }
    }

    #[test]
    fn a_run_on_another_test_set_is_a_change_and_never_the_best() {
        let params = BTreeMap::from([("train.dropout".to_string(), Value::from(0.5))]);
        // The previous run scored on MNIST's test set (data.test_source set).
        let mut mnist = run(1, 0.5, 0.99);
        mnist.test_sha256 = Some("m".repeat(64));
        mnist.config["data"]["test_source"] = Value::from("data/mnist-test.csv.gz");
        let test = sample_test();
        assert_eq!(
            changes_from(&mnist, &params, &test),
            "data.test_source mnist-test.csv.gz → - (a split of data.source)"
        );
        // The other way round: this run on MNIST, the previous on the sample split.
        let on_mnist = TestSet {
            sha256: "m".repeat(64),
            source: Some("mnist-test.csv.gz".into()),
        };
        assert_eq!(
            changes_from(&run(2, 0.5, 0.9), &params, &on_mnist),
            "data.test_source - (a split of data.source) → mnist-test.csv.gz"
        );
        // Same settings, another split (another source file, say).
        let mut other_split = run(3, 0.5, 0.9);
        other_split.test_sha256 = Some("s".repeat(64));
        assert_eq!(
            changes_from(&other_split, &params, &test),
            "test data sha256 ssssssssssss… → tttttttttttt…"
        );
        // A record from before the hash was kept is taken at its word.
        let mut old = run(4, 0.5, 0.9);
        old.test_sha256 = None;
        assert!(test.matches(&old));
        assert!(!on_mnist.matches(&old));
    }
}
