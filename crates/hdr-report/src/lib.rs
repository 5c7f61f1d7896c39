//! The report stage: charts (PNG and SVG) and a self-contained HTML report of a run.
//!
//! [`run`] reads the evaluation metrics and test predictions, the training
//! history and model card, the data summary and the test split (every one
//! through [`hdr_artifacts`]' readers, [`load_inputs`]), draws the charts
//! ([`draw_charts`], with plotters) and writes under `artifacts/report/`
//! ([`Paths`]): eight charts as `.png` and `.svg`, `report.html` (one page
//! with every chart embedded, no network access) and `summary.md` (the
//! headline numbers for a terminal or a pull request). When the run log
//! `artifacts/runs.jsonl` holds earlier runs, the page compares this run with
//! the previous and the best one ([`compare`]).
//!
//! This crate depends on no other stage: only on the artifact contract.

#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use hdr_artifacts::{
    require_artifact, DataFiles, EvalFiles, MissingArtifact, ReportFiles, TrainFiles,
};
use hdr_common::{ConfigError, OutputSet, Progress, RunOptions};
use serde::{Deserialize, Serialize};

mod charts;
mod compare;
mod html;
mod inputs;
mod text;

pub use charts::Rendered;
pub use compare::{compare, Comparison};
pub use inputs::{Inputs, Mistake};

/// Chart file stem: accuracy and macro scores of the train split.
pub const CHART_SCORES_TRAIN: &str = "scores_train";
/// Chart file stem: accuracy and macro scores of the test split.
pub const CHART_SCORES_TEST: &str = "scores_test";
/// Chart file stem: confusion matrix of the train split.
pub const CHART_CONFUSION_TRAIN: &str = "confusion_train";
/// Chart file stem: confusion matrix of the test split.
pub const CHART_CONFUSION_TEST: &str = "confusion_test";
/// Chart file stem: confusion matrix of the user's own held-out digits
/// (drawn only when the eval stage scored some; not in [`CHARTS`]).
pub const CHART_CONFUSION_USER: &str = "confusion_user_test";
/// Chart file stems of the extra test sets' confusion matrices begin with
/// this and end with the set's name (`confusion_extra_uci-digits`); drawn
/// only for the sets the eval stage scored.
pub const CHART_CONFUSION_EXTRA_PREFIX: &str = "confusion_extra_";

/// The chart file stem of the extra test set `name`'s confusion matrix.
pub fn extra_confusion_chart(name: &str) -> String {
    format!("{CHART_CONFUSION_EXTRA_PREFIX}{name}")
}
/// Chart file stem: loss and accuracy per epoch.
pub const CHART_CURVES: &str = "training_curves";
/// Chart file stem: per-digit F1 of both splits.
pub const CHART_CLASS_F1: &str = "class_f1";
/// Chart file stem: the test split's most confident mistakes.
pub const CHART_MISTAKES: &str = "mistakes_test";
/// Chart file stem: test accuracy across the runs of `runs.jsonl`.
pub const CHART_RUNS: &str = "runs_test_accuracy";
/// Every chart's file stem, in page order; each is written as `.png` and `.svg`.
pub const CHARTS: [&str; 8] = [
    CHART_RUNS,
    CHART_SCORES_TRAIN,
    CHART_SCORES_TEST,
    CHART_CONFUSION_TRAIN,
    CHART_CONFUSION_TEST,
    CHART_CURVES,
    CHART_CLASS_F1,
    CHART_MISTAKES,
];

/// Most mistakes the grid may show (beyond that it stops being readable).
pub const MAX_MISTAKES: usize = 200;

/// The `[report]` section of pipeline.toml (every key has a default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How many of the test split's most confident mistakes to show, 1..=200.
    pub mistakes: usize,
    /// Heading of report.html and summary.md.
    pub title: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mistakes: 32,
            title: "Handwritten digit recognition: run report".to_string(),
        }
    }
}

impl Config {
    /// Checks ranges; errors name the key (`report.mistakes`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_MISTAKES).contains(&self.mistakes) {
            return Err(ConfigError::new(
                "report.mistakes",
                format!(
                    "{} is out of range: show between 1 and {MAX_MISTAKES} mistakes",
                    self.mistakes
                ),
            ));
        }
        if self.title.trim().is_empty() {
            return Err(ConfigError::new("report.title", "must not be empty"));
        }
        Ok(())
    }
}

/// The files the report stage reads and writes.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Input: `artifacts/eval/metrics.json`.
    pub metrics: PathBuf,
    /// Input: `artifacts/eval/predictions_test.csv`.
    pub predictions_test: PathBuf,
    /// Input: `artifacts/train/history.csv`.
    pub history: PathBuf,
    /// Input: `artifacts/train/model.json`.
    pub model_card: PathBuf,
    /// Input: `artifacts/data/summary.json`.
    pub data_summary: PathBuf,
    /// Input: `artifacts/data/test.parquet` (images of the mistakes).
    pub test_split: PathBuf,
    /// Read when present, not a tracked input: `artifacts/runs.jsonl`, the
    /// earlier runs this one is compared with (the runner appends to it after
    /// every run, so tracking it would make the report stale after each).
    pub runs: PathBuf,
    /// Output directory: `artifacts/report/`.
    pub dir: PathBuf,
    /// `artifacts/report/report.html`.
    pub html: PathBuf,
    /// `artifacts/report/summary.md`.
    pub summary_md: PathBuf,
}

impl Paths {
    /// The report stage's files under an artifacts directory.
    pub fn under(artifacts: &Path) -> Self {
        let data = DataFiles::under(artifacts);
        let train = TrainFiles::under(artifacts);
        let eval = EvalFiles::under(artifacts);
        let report = ReportFiles::under(artifacts);
        Self {
            metrics: eval.metrics,
            predictions_test: eval.predictions_test,
            history: train.history,
            model_card: train.card,
            data_summary: data.summary,
            test_split: data.test,
            runs: hdr_artifacts::run_log_path(artifacts),
            html: report.html,
            summary_md: report.summary_md,
            dir: report.dir,
        }
    }

    /// `artifacts/report/{stem}.{extension}`, e.g. `chart("confusion_test", "svg")`.
    pub fn chart(&self, stem: &str, extension: &str) -> PathBuf {
        self.dir.join(format!("{stem}.{extension}"))
    }

    /// Every input with the stage that produces it, in pipeline order.
    pub fn inputs(&self) -> [(&Path, &'static str); 6] {
        [
            (&self.data_summary, DataFiles::STAGE),
            (&self.test_split, DataFiles::STAGE),
            (&self.model_card, TrainFiles::STAGE),
            (&self.history, TrainFiles::STAGE),
            (&self.metrics, EvalFiles::STAGE),
            (&self.predictions_test, EvalFiles::STAGE),
        ]
    }

    /// Every file a run writes: the charts (PNG, SVG), report.html,
    /// summary.md; and [`CHART_CONFUSION_USER`]'s when the user's digits were scored.
    pub fn outputs(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = CHARTS
            .iter()
            .flat_map(|stem| [self.chart(stem, "png"), self.chart(stem, "svg")])
            .collect();
        files.push(self.html.clone());
        files.push(self.summary_md.clone());
        files
    }
}

/// Everything that can go wrong in the report stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An input artifact is missing.
    #[error(transparent)]
    Missing(#[from] MissingArtifact),
    /// An input artifact is malformed or inconsistent with another.
    #[error("{}: {message}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line where there is one.
        message: String,
    },
    /// An input artifact does not follow its schema (the message names the
    /// file and the line, column or key).
    #[error(transparent)]
    Artifact(hdr_artifacts::Error),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A chart could not be drawn.
    #[error("drawing chart {chart}: {message}")]
    Chart {
        /// The chart's file stem.
        chart: String,
        /// What failed.
        message: String,
    },
    /// A stop was requested (Ctrl-C, SIGTERM); nothing was written.
    #[error(transparent)]
    Interrupted(#[from] hdr_common::Interrupted),
}

impl From<hdr_artifacts::Error> for Error {
    /// A missing input stays [`Error::Missing`], naming the stage that makes it.
    fn from(error: hdr_artifacts::Error) -> Self {
        match error {
            hdr_artifacts::Error::Missing(missing) => Error::Missing(missing),
            other => Error::Artifact(other),
        }
    }
}

/// What a report run produced.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// Reads and cross-checks every input of the report.
pub fn load_inputs(config: &Config, paths: &Paths) -> Result<Inputs, Error> {
    for (path, stage) in paths.inputs() {
        require_artifact(path, stage)?;
    }
    let data_summary = hdr_artifacts::read_summary(&paths.data_summary)?;
    let card = hdr_artifacts::read_card(&paths.model_card)?;
    let history = hdr_artifacts::read_history(&paths.history)?;
    let metrics = hdr_artifacts::read_metrics(&paths.metrics)?;
    let (mistakes, total_mistakes) =
        inputs::select_mistakes(&paths.predictions_test, &paths.test_split, config.mistakes)?;
    // The run log only adds a comparison: lines it cannot read are left out.
    let runs = hdr_artifacts::read_runs(&paths.runs)?.runs;
    let test_sha256 = hdr_common::sha256_file(&paths.test_split).map_err(|source| Error::Io {
        path: paths.test_split.clone(),
        source,
    })?;
    Ok(Inputs {
        runs,
        test_sha256,
        metrics,
        history,
        card,
        data_summary,
        mistakes,
        total_mistakes,
    })
}

/// Draws every chart, in page order; a requested stop
/// ([`hdr_common::check_stop`]) is noticed before each chart.
pub fn draw_charts(inputs: &Inputs) -> Result<Vec<charts::Rendered>, Error> {
    let m = &inputs.metrics;
    let comparison = compare(inputs, &inputs.runs);
    let check_stop = || hdr_common::check_stop().map_err(Error::from);
    let mut charts = vec![
        {
            check_stop()?;
            charts::runs(CHART_RUNS, &comparison.accuracy_by_run, comparison.this_x)?
        },
        {
            check_stop()?;
            charts::scores(CHART_SCORES_TRAIN, "train", &m.train, charts::TRAIN_COLOUR)?
        },
        {
            check_stop()?;
            charts::scores(CHART_SCORES_TEST, "test", &m.test, charts::HELD_OUT_COLOUR)?
        },
        {
            check_stop()?;
            charts::confusion(
                CHART_CONFUSION_TRAIN,
                "train split",
                &m.train.confusion_matrix,
            )?
        },
        {
            check_stop()?;
            charts::confusion(CHART_CONFUSION_TEST, "test split", &m.test.confusion_matrix)?
        },
        {
            check_stop()?;
            charts::curves(CHART_CURVES, &inputs.history, inputs.card.best_epoch)?
        },
        {
            check_stop()?;
            charts::class_f1(CHART_CLASS_F1, &m.train, &m.test)?
        },
        {
            check_stop()?;
            charts::mistakes(
                CHART_MISTAKES,
                &inputs.mistakes,
                inputs.total_mistakes,
                m.test.support,
            )?
        },
    ];
    if let Some(user) = &m.user_test {
        check_stop()?;
        charts.push(charts::confusion(
            CHART_CONFUSION_USER,
            "your digits",
            &user.confusion_matrix,
        )?);
    }
    for extra in &m.extra_tests {
        check_stop()?;
        charts.push(charts::confusion(
            &extra_confusion_chart(&extra.name),
            &format!("extra test set {}", extra.name),
            &extra.metrics.confusion_matrix,
        )?);
    }
    Ok(charts)
}

/// Runs the report stage: read the artifacts, draw the charts, write the page and summary.
pub fn run(config: &Config, paths: &Paths, opts: &RunOptions) -> Result<Outputs, Error> {
    config.validate()?;
    let progress = Progress::new(opts.quiet);
    let spinner = progress.spinner("report: drawing charts");
    let drawn = load_inputs(config, paths).and_then(|inputs| Ok((draw_charts(&inputs)?, inputs)));
    spinner.finish_and_clear();
    let (rendered, inputs) = drawn?;
    let page = html::page(&config.title, &inputs, &rendered);
    let summary = html::summary_markdown(&config.title, &inputs);

    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let mut set = OutputSet::new();
    for chart in &rendered {
        let png = paths.chart(&chart.name, "png");
        set.write(&png, &chart.png).map_err(io(&png))?;
        let svg = paths.chart(&chart.name, "svg");
        set.write(&svg, chart.svg.as_bytes()).map_err(io(&svg))?;
    }
    set.write(&paths.html, page.as_bytes())
        .map_err(io(&paths.html))?;
    set.write(&paths.summary_md, summary.as_bytes())
        .map_err(io(&paths.summary_md))?;
    hdr_common::check_stop()?;
    let files = set.commit().map_err(io(&paths.dir))?;
    if inputs.metrics.user_test.is_none() {
        // An earlier run's chart of digits no longer scored would mislead.
        for extension in ["png", "svg"] {
            let stale = paths.chart(CHART_CONFUSION_USER, extension);
            hdr_common::remove_if_present(&stale).map_err(io(&stale))?;
        }
    }
    // Charts of extra test sets no longer scored would mislead too.
    hdr_common::remove_others_with_prefix(&paths.dir, CHART_CONFUSION_EXTRA_PREFIX, &files)
        .map_err(io(&paths.dir))?;
    progress.line(format!(
        "report: wrote {} files to {}",
        files.len(),
        paths.dir.display()
    ));
    Ok(Outputs { files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_round_trips_through_toml_like_json() {
        let config = Config::default();
        config.validate().unwrap();
        let parsed: Config = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, config);
    }

    #[test]
    fn validate_names_the_key() {
        let err = Config {
            mistakes: 0,
            ..Config::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.key, "report.mistakes");
        let err = Config {
            mistakes: MAX_MISTAKES + 1,
            ..Config::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.key, "report.mistakes");
        let err = Config {
            title: "  ".into(),
            ..Config::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.key, "report.title");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_json::from_str::<Config>(r#"{"mistake": 3}"#).unwrap_err();
        assert!(err.to_string().contains("mistake"), "{err}");
    }

    #[test]
    fn outputs_lists_both_formats_of_every_chart() {
        let paths = Paths::under(Path::new("artifacts"));
        let outputs = paths.outputs();
        assert_eq!(outputs.len(), CHARTS.len() * 2 + 2);
        assert!(outputs.contains(&PathBuf::from("artifacts/report/confusion_test.svg")));
        assert!(outputs.contains(&PathBuf::from("artifacts/report/report.html")));
    }
}
