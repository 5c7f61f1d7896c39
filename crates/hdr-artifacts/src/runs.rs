//! `artifacts/runs.jsonl`: one JSON line per pipeline run, oldest first, so
//! runs can be listed, compared and checked out again.
//!
//! The file is plain and append-only: a run adds one line at its end. A line
//! that does not parse (cut short, edited by hand) is skipped and reported
//! with its line number; the other runs are still read.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Metrics};

/// File name of the run log in the artifacts directory.
pub const RUN_LOG_FILE: &str = "runs.jsonl";

/// `artifacts/runs.jsonl` under an artifacts directory.
pub fn run_log_path(artifacts: &Path) -> PathBuf {
    artifacts.join(RUN_LOG_FILE)
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every stage succeeded.
    Ok,
    /// A stage failed; the record says which and why.
    Failed,
}

/// What a stage did in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageOutcome {
    /// It ran.
    Ran,
    /// Its outputs were restored from the run cache.
    Restored,
    /// It was already up to date.
    UpToDate,
    /// It failed.
    Failed,
}

impl StageOutcome {
    /// As shown in tables: `ran`, `restored`, `up to date`, `failed`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ran => "ran",
            Self::Restored => "restored",
            Self::UpToDate => "up to date",
            Self::Failed => "failed",
        }
    }
}

/// The headline scores of a run, from `eval/metrics.json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeadlineMetrics {
    /// Accuracy on the test split.
    pub test_accuracy: f64,
    /// Macro-averaged F1 on the test split.
    pub test_macro_f1: f64,
    /// Log loss on the test split.
    pub test_log_loss: f64,
    /// Accuracy on the train split.
    pub train_accuracy: f64,
    /// Accuracy on the user's own held-out digits, when there were some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_test_accuracy: Option<f64>,
}

impl HeadlineMetrics {
    /// The headline scores of `metrics`.
    pub fn of(metrics: &Metrics) -> Self {
        Self {
            test_accuracy: metrics.test.accuracy,
            test_macro_f1: metrics.test.macro_avg.f1,
            test_log_loss: metrics.test.log_loss,
            train_accuracy: metrics.train.accuracy,
            user_test_accuracy: metrics.user_test.as_ref().map(|m| m.accuracy),
        }
    }

    /// Each score with its name, in the order tables show them.
    pub fn named(&self) -> [(&'static str, f64); 4] {
        [
            ("test_accuracy", self.test_accuracy),
            ("test_macro_f1", self.test_macro_f1),
            ("test_log_loss", self.test_log_loss),
            ("train_accuracy", self.train_accuracy),
        ]
    }
}

/// One line of `runs.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// 1 for the first run, then one more than the last line's.
    pub id: u64,
    /// When the run ended, RFC 3339 in UTC (`2026-01-02T10:00:00Z`).
    pub time: String,
    /// How it ended.
    pub status: RunStatus,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The effective configuration: `{section: {key: value}}`, every key of every section.
    pub config: serde_json::Value,
    /// sha256 of the data source, as `data/summary.json` records it.
    pub data_sha256: Option<String>,
    /// How many of the user's own digits (`data.user_samples`) the data
    /// stage read, when the file existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_samples: Option<usize>,
    /// sha256 of the test split the run was scored on (`data/test.parquet`):
    /// runs are compared on accuracy only when it is the same. None for a
    /// run that was not scored, or recorded before hdr kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_sha256: Option<String>,
    /// Each stage's code version (the hash the lock file records).
    pub code: BTreeMap<String, String>,
    /// The kernel path that trained the model (`avx512`, `avx2` or `portable`), from `model.json`.
    pub kernels: Option<String>,
    /// The headline scores, when the eval stage's metrics exist.
    pub metrics: Option<HeadlineMetrics>,
    /// Seconds the training took (the sum of `history.csv`'s epochs).
    pub train_seconds: Option<f64>,
    /// What each stage did.
    pub stages: BTreeMap<String, StageOutcome>,
    /// Each finished stage's fingerprint: its key in the run cache.
    pub fingerprints: BTreeMap<String, String>,
}

impl RunRecord {
    /// Every config value as `section.key` → value.
    pub fn params(&self) -> BTreeMap<String, serde_json::Value> {
        let mut out = BTreeMap::new();
        if let Some(sections) = self.config.as_object() {
            for (section, keys) in sections {
                match keys.as_object() {
                    Some(keys) => {
                        for (key, value) in keys {
                            out.insert(format!("{section}.{key}"), value.clone());
                        }
                    }
                    None => {
                        out.insert(section.clone(), keys.clone());
                    }
                }
            }
        }
        out
    }

    /// Whether the run succeeded.
    pub fn is_ok(&self) -> bool {
        self.status == RunStatus::Ok
    }
}

/// A config key whose value differs between two runs (None: the run lacks the key).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamChange {
    /// `section.key`.
    pub key: String,
    /// Its value in the first run.
    pub before: Option<serde_json::Value>,
    /// Its value in the second run.
    pub after: Option<serde_json::Value>,
}

/// The config keys whose values differ from `before` to `after`, sorted by key.
pub fn changed_params(before: &RunRecord, after: &RunRecord) -> Vec<ParamChange> {
    let (a, b) = (before.params(), after.params());
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|key| a.get(*key) != b.get(*key))
        .map(|key| ParamChange {
            key: key.clone(),
            before: a.get(key).cloned(),
            after: b.get(key).cloned(),
        })
        .collect()
}

/// Which runs [`best_run`] compares: those scored on the same test data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestData<'a>(pub Option<&'a str>);

impl<'a> TestData<'a> {
    /// The test data `run` was scored on.
    pub fn of(run: &'a RunRecord) -> Self {
        Self(run.test_sha256.as_deref())
    }

    /// The test data of the latest successful scored run: what a table of
    /// runs compares on. None when no run was scored.
    pub fn latest(runs: &'a [RunRecord]) -> Option<Self> {
        runs.iter()
            .rev()
            .find(|r| r.is_ok() && r.metrics.is_some())
            .map(Self::of)
    }
}

/// The successful run with the highest test accuracy (the earliest on a
/// tie) among those `same_test_data` accepts: accuracies on different test
/// sets are not comparable, so every caller says which runs share its test
/// data (usually `|r| TestData::of(r) == test_data`).
pub fn best_run<'a>(
    runs: impl IntoIterator<Item = &'a RunRecord>,
    same_test_data: impl Fn(&RunRecord) -> bool,
) -> Option<&'a RunRecord> {
    runs.into_iter()
        .filter(|r| r.is_ok() && same_test_data(r))
        .filter_map(|r| r.metrics.map(|m| (r, m.test_accuracy)))
        .fold(
            None,
            |best: Option<(&RunRecord, f64)>, (r, acc)| match best {
                Some((_, b)) if b >= acc => best,
                _ => Some((r, acc)),
            },
        )
        .map(|(r, _)| r)
}

/// A line of the run log that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: usize,
    /// Why it was skipped.
    pub reason: String,
}

/// The run log as read: the runs that parsed, and the lines that did not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunLog {
    /// The runs, in file order.
    pub runs: Vec<RunRecord>,
    /// Lines skipped, in file order.
    pub skipped: Vec<SkippedLine>,
}

impl RunLog {
    /// The run with id `id`.
    pub fn get(&self, id: u64) -> Option<&RunRecord> {
        self.runs.iter().find(|r| r.id == id)
    }

    /// The id the next run gets: one more than the highest so far.
    pub fn next_id(&self) -> u64 {
        self.runs.iter().map(|r| r.id).max().unwrap_or(0) + 1
    }
}

/// Reads the run log; a missing file is an empty log. Blank lines are
/// ignored; a line that is not a run record is skipped and listed in
/// [`RunLog::skipped`].
pub fn read_runs(path: &Path) -> Result<RunLog, Error> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RunLog::default()),
        Err(e) => return Err(Error::io(path, e)),
    };
    Ok(parse_runs(&text))
}

fn parse_runs(text: &str) -> RunLog {
    let mut log = RunLog::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RunRecord>(line) {
            Ok(run) => log.runs.push(run),
            Err(e) => log.skipped.push(SkippedLine {
                line: i + 1,
                reason: e.to_string(),
            }),
        }
    }
    log
}

/// Appends `run` as one line, creating the file if needed. A last line cut
/// short (no newline at its end) is left as it is, and the record starts on
/// a line of its own.
pub fn append_run(path: &Path, run: &RunRecord) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(run).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let len = file.seek(SeekFrom::End(0))?;
    if len > 0 {
        file.seek(SeekFrom::Start(len - 1))?;
        let mut last = [0u8; 1];
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.insert(0, b'\n');
        }
    }
    // One write of the whole line: a reader sees the line or nothing of it.
    file.write_all(&line)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64, dropout: f64, accuracy: Option<f64>) -> RunRecord {
        RunRecord {
            id,
            time: "2026-01-02T10:00:00Z".into(),
            status: if accuracy.is_some() {
                RunStatus::Ok
            } else {
                RunStatus::Failed
            },
            error: accuracy
                .is_none()
                .then(|| "stage `train` failed".to_string()),
            config: serde_json::json!({"train": {"dropout": dropout, "seed": 42}, "data": {"seed": 42}}),
            data_sha256: Some("a".repeat(64)),
            user_samples: None,
            test_sha256: Some("t".repeat(64)),
            code: BTreeMap::from([("train".to_string(), "c".repeat(64))]),
            kernels: Some("portable".into()),
            metrics: accuracy.map(|a| HeadlineMetrics {
                test_accuracy: a,
                test_macro_f1: a - 0.01,
                test_log_loss: 0.1,
                train_accuracy: 0.99,
                user_test_accuracy: None,
            }),
            train_seconds: Some(3.5),
            stages: BTreeMap::from([("train".to_string(), StageOutcome::Ran)]),
            fingerprints: BTreeMap::from([("train".to_string(), "f".repeat(64))]),
        }
    }

    #[test]
    fn appended_runs_read_back_and_a_broken_line_is_skipped_by_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = run_log_path(dir.path());
        assert_eq!(read_runs(&path).unwrap(), RunLog::default());
        assert_eq!(read_runs(&path).unwrap().next_id(), 1);
        append_run(&path, &record(1, 0.3, Some(0.97))).unwrap();
        // A hand edit, then a line cut short with no newline.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"id\": 2, \"oops\"\n{\"id\": 3, \"time\"");
        std::fs::write(&path, text).unwrap();
        append_run(&path, &record(4, 0.5, None)).unwrap();
        let log = read_runs(&path).unwrap();
        assert_eq!(
            log.runs,
            vec![record(1, 0.3, Some(0.97)), record(4, 0.5, None)]
        );
        let lines: Vec<usize> = log.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 3]);
        assert_eq!(log.next_id(), 5);
        assert_eq!(log.get(4).unwrap().status, RunStatus::Failed);
        assert!(log.get(2).is_none());
    }

    #[test]
    fn params_flatten_and_changes_name_each_key() {
        let a = record(1, 0.3, Some(0.97));
        let b = record(2, 0.5, Some(0.98));
        assert_eq!(a.params()["train.dropout"], serde_json::json!(0.3));
        assert_eq!(a.params().len(), 3);
        assert_eq!(
            changed_params(&a, &b),
            vec![ParamChange {
                key: "train.dropout".into(),
                before: Some(serde_json::json!(0.3)),
                after: Some(serde_json::json!(0.5)),
            }]
        );
        assert!(changed_params(&a, &a).is_empty());
    }

    #[test]
    fn the_best_run_is_the_most_accurate_successful_one() {
        let runs = vec![
            record(1, 0.3, Some(0.97)),
            record(2, 0.4, Some(0.985)),
            record(3, 0.5, None),
            record(4, 0.6, Some(0.985)),
        ];
        let same = TestData::latest(&runs).unwrap();
        assert_eq!(same, TestData(Some(&"t".repeat(64))));
        let on_same = |r: &RunRecord| TestData::of(r) == same;
        assert_eq!(best_run(&runs, on_same).unwrap().id, 2);
        assert!(best_run(&runs[2..3], on_same).is_none());
        assert_eq!(TestData::latest(&runs[2..3]), None);
    }

    #[test]
    fn the_best_run_is_chosen_among_runs_on_the_same_test_data() {
        let mut mnist = record(5, 0.5, Some(0.99));
        mnist.test_sha256 = Some("m".repeat(64));
        let runs = vec![
            record(1, 0.3, Some(0.97)),
            record(2, 0.4, Some(0.985)),
            mnist.clone(),
        ];
        let latest = TestData::latest(&runs).unwrap();
        assert_eq!(latest, TestData::of(&mnist));
        assert_eq!(
            best_run(&runs, |r| TestData::of(r) == latest).unwrap().id,
            5
        );
        let sample = TestData::of(&runs[0]);
        let on_sample = |r: &RunRecord| TestData::of(r) == sample;
        assert_eq!(
            best_run(&runs, on_sample).unwrap().id,
            2,
            "not the MNIST run"
        );
        // A record from before the hash was kept reads back as unknown test data.
        let mut old = serde_json::to_value(record(6, 0.5, Some(0.999))).unwrap();
        old.as_object_mut().unwrap().remove("test_sha256");
        let old: RunRecord = serde_json::from_value(old).unwrap();
        assert_eq!(old.test_sha256, None);
        assert_eq!(best_run([&old], on_sample), None);
    }
}
