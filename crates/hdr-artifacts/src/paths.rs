//! Where each stage's files live under the artifacts directory.
//!
//! Every file name of the pipeline is written here once; stages build their
//! paths with these types and never join names themselves.

use std::path::{Path, PathBuf};

/// File name of the trained weights inside the train stage's directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of the model card inside the train stage's directory.
pub const CARD_FILE: &str = "model.json";

/// The run cache's folder in the artifacts directory: stage outputs stored by
/// content hash, so a configuration seen before is restored, not recomputed.
pub const CACHE_DIR: &str = ".cache";

/// How the data stage's extra test sets begin their file names:
/// `artifacts/data/extra_test_<name>.parquet`.
pub const EXTRA_TEST_PREFIX: &str = "extra_test_";

/// What the data stage writes: `artifacts/data/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFiles {
    /// `artifacts/data/`.
    pub dir: PathBuf,
    /// `train.parquet`: the train split (`label`, `pixel0..pixel783`, all UInt8).
    pub train: PathBuf,
    /// `test.parquet`: the test split, same columns.
    pub test: PathBuf,
    /// `user_train.parquet`: the user's own digits (`data.user_samples`)
    /// that train, same columns; empty when there are none.
    pub user_train: PathBuf,
    /// `user_test.parquet`: the user's own digits held out to score on.
    pub user_test: PathBuf,
    /// `summary.json`: source, its hash, rows and class counts per split.
    pub summary: PathBuf,
}

impl DataFiles {
    /// The stage that writes these files, as `cargo xtask` names it.
    pub const STAGE: &'static str = "data";

    /// The data stage's files under an artifacts directory.
    pub fn under(artifacts: &Path) -> Self {
        let dir = artifacts.join("data");
        Self {
            train: dir.join("train.parquet"),
            test: dir.join("test.parquet"),
            user_train: dir.join("user_train.parquet"),
            user_test: dir.join("user_test.parquet"),
            summary: dir.join("summary.json"),
            dir,
        }
    }

    /// `extra_test_<name>.parquet`: the extra test set `name`
    /// (`data.extra_test_sources`), same columns as the splits.
    pub fn extra_test(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{EXTRA_TEST_PREFIX}{name}.parquet"))
    }

    /// The extra test sets the data stage wrote, as `(name, file)` sorted by
    /// name; none when the folder does not exist yet.
    pub fn extra_tests(&self) -> std::io::Result<Vec<(String, PathBuf)>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            entries => entries?,
        };
        let mut sets = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let set = name.as_deref().and_then(|n| {
                n.strip_prefix(EXTRA_TEST_PREFIX)?
                    .strip_suffix(".parquet")
                    .map(str::to_string)
            });
            if let Some(set) = set.filter(|_| path.is_file()) {
                sets.push((set, path));
            }
        }
        sets.sort();
        Ok(sets)
    }
}

/// What the train stage writes: `artifacts/train/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainFiles {
    /// `artifacts/train/`.
    pub dir: PathBuf,
    /// `model.safetensors`: the kept weights.
    pub weights: PathBuf,
    /// `model.json`: the [`crate::ModelCard`].
    pub card: PathBuf,
    /// `history.csv`: one [`crate::EpochRecord`] per epoch.
    pub history: PathBuf,
    /// `checkpoint.safetensors`: the last epoch's full state, for `--resume` (not a tracked output).
    pub checkpoint: PathBuf,
}

impl TrainFiles {
    /// The stage that writes these files, as `cargo xtask` names it.
    pub const STAGE: &'static str = "train";

    /// The train stage's files under an artifacts directory.
    pub fn under(artifacts: &Path) -> Self {
        let dir = artifacts.join("train");
        Self {
            weights: dir.join(WEIGHTS_FILE),
            card: dir.join(CARD_FILE),
            history: dir.join("history.csv"),
            checkpoint: dir.join("checkpoint.safetensors"),
            dir,
        }
    }
}

/// What the eval stage writes: `artifacts/eval/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalFiles {
    /// `artifacts/eval/`.
    pub dir: PathBuf,
    /// `metrics.json`: the [`crate::Metrics`] of both splits.
    pub metrics: PathBuf,
    /// `confusion_train.csv`.
    pub confusion_train: PathBuf,
    /// `confusion_test.csv`.
    pub confusion_test: PathBuf,
    /// `confusion_user_test.csv`: on the user's held-out digits, written
    /// only when there are some.
    pub confusion_user_test: PathBuf,
    /// `predictions_test.csv` (`index,label,predicted,confidence,p0..p9`;
    /// `index` is the 0-based row of test.parquet).
    pub predictions_test: PathBuf,
    /// `classification_report.txt`.
    pub report_txt: PathBuf,
}

impl EvalFiles {
    /// The stage that writes these files, as `cargo xtask` names it.
    pub const STAGE: &'static str = "eval";

    /// The eval stage's files under an artifacts directory.
    pub fn under(artifacts: &Path) -> Self {
        let dir = artifacts.join("eval");
        Self {
            metrics: dir.join("metrics.json"),
            confusion_train: dir.join("confusion_train.csv"),
            confusion_test: dir.join("confusion_test.csv"),
            confusion_user_test: dir.join("confusion_user_test.csv"),
            predictions_test: dir.join("predictions_test.csv"),
            report_txt: dir.join("classification_report.txt"),
            dir,
        }
    }
}

/// What the report stage writes: `artifacts/report/` (and its charts, named by the report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `artifacts/report/`.
    pub dir: PathBuf,
    /// `report.html`: the self-contained page.
    pub html: PathBuf,
    /// `summary.md`: the headline numbers.
    pub summary_md: PathBuf,
}

impl ReportFiles {
    /// The stage that writes these files, as `cargo xtask` names it.
    pub const STAGE: &'static str = "report";

    /// The report stage's files under an artifacts directory.
    pub fn under(artifacts: &Path) -> Self {
        let dir = artifacts.join("report");
        Self {
            html: dir.join("report.html"),
            summary_md: dir.join("summary.md"),
            dir,
        }
    }
}

/// Every stage's files under one artifacts directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifacts {
    /// What the data stage writes.
    pub data: DataFiles,
    /// What the train stage writes.
    pub train: TrainFiles,
    /// What the eval stage writes.
    pub eval: EvalFiles,
    /// What the report stage writes.
    pub report: ReportFiles,
}

impl Artifacts {
    /// Every stage's files under `artifacts`.
    pub fn under(artifacts: &Path) -> Self {
        Self {
            data: DataFiles::under(artifacts),
            train: TrainFiles::under(artifacts),
            eval: EvalFiles::under(artifacts),
            report: ReportFiles::under(artifacts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_test_sets_are_listed_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let files = DataFiles::under(dir.path());
        assert!(files.extra_tests().unwrap().is_empty(), "no folder yet");
        std::fs::create_dir_all(&files.dir).unwrap();
        for name in [
            "extra_test_b.parquet",
            "extra_test_a.parquet",
            "train.parquet",
            "extra_test_c.json",
        ] {
            std::fs::write(files.dir.join(name), b"x").unwrap();
        }
        let names: Vec<String> = files
            .extra_tests()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn every_file_lives_under_its_stage_directory() {
        let a = Artifacts::under(Path::new("artifacts"));
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(a.data.train, p("artifacts/data/train.parquet"));
        assert_eq!(a.data.test, p("artifacts/data/test.parquet"));
        assert_eq!(a.data.summary, p("artifacts/data/summary.json"));
        assert_eq!(a.data.user_train, p("artifacts/data/user_train.parquet"));
        assert_eq!(a.data.user_test, p("artifacts/data/user_test.parquet"));
        assert_eq!(
            a.eval.confusion_user_test,
            p("artifacts/eval/confusion_user_test.csv")
        );
        assert_eq!(
            a.data.extra_test("uci"),
            p("artifacts/data/extra_test_uci.parquet")
        );
        assert_eq!(a.train.weights, p("artifacts/train/model.safetensors"));
        assert_eq!(a.train.card, p("artifacts/train/model.json"));
        assert_eq!(a.train.history, p("artifacts/train/history.csv"));
        assert_eq!(
            a.train.checkpoint,
            p("artifacts/train/checkpoint.safetensors")
        );
        assert_eq!(a.eval.metrics, p("artifacts/eval/metrics.json"));
        assert_eq!(
            a.eval.confusion_train,
            p("artifacts/eval/confusion_train.csv")
        );
        assert_eq!(
            a.eval.confusion_test,
            p("artifacts/eval/confusion_test.csv")
        );
        assert_eq!(
            a.eval.predictions_test,
            p("artifacts/eval/predictions_test.csv")
        );
        assert_eq!(
            a.eval.report_txt,
            p("artifacts/eval/classification_report.txt")
        );
        assert_eq!(a.report.html, p("artifacts/report/report.html"));
        assert_eq!(a.report.summary_md, p("artifacts/report/summary.md"));
        for (dir, stage) in [
            (&a.data.dir, DataFiles::STAGE),
            (&a.train.dir, TrainFiles::STAGE),
            (&a.eval.dir, EvalFiles::STAGE),
            (&a.report.dir, ReportFiles::STAGE),
        ] {
            assert_eq!(dir, &Path::new("artifacts").join(stage));
        }
    }
}
