//! [`run`]: the stage on disk, from splits and weights to the scored files.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hdr_artifacts::{
    read_split, require_artifact, write_confusion_csv, write_metrics, write_predictions, DataFiles,
    Dataset, EvalFiles, Metrics, NamedMetrics, PredictedImage, SplitMetrics, TrainFiles,
    IMAGE_PIXELS, NUM_CLASSES,
};
use hdr_common::{OutputSet, Progress, RunOptions};
use hdr_model::{Classifier, Prediction};

use crate::{classification_report, split_metrics, Config, Error};

/// The evaluation stage's inputs and outputs.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Input: `artifacts/data/train.parquet`.
    pub train_split: PathBuf,
    /// Input: `artifacts/data/test.parquet`.
    pub test_split: PathBuf,
    /// Input: `artifacts/data/user_test.parquet`, the user's held-out digits
    /// (scored when there are some).
    pub user_test_split: PathBuf,
    /// Input: `artifacts/train/model.safetensors`.
    pub weights: PathBuf,
    /// Where the extra test sets are (`artifacts/data/extra_test_<name>.parquet`),
    /// each scored on its own.
    pub data: DataFiles,
    /// `artifacts/eval/metrics.json`.
    pub metrics: PathBuf,
    /// `artifacts/eval/confusion_train.csv`.
    pub confusion_train: PathBuf,
    /// `artifacts/eval/confusion_test.csv`.
    pub confusion_test: PathBuf,
    /// `artifacts/eval/confusion_user_test.csv` (when the user's digits were scored).
    pub confusion_user_test: PathBuf,
    /// `artifacts/eval/predictions_test.csv` (`index,label,predicted,confidence,p0..p9`;
    /// `index` is the 0-based row of test.parquet).
    pub predictions_test: PathBuf,
    /// `artifacts/eval/classification_report.txt`.
    pub report_txt: PathBuf,
}

impl Paths {
    /// The evaluation stage's files under an artifacts directory.
    pub fn under(artifacts: &Path) -> Self {
        let data = DataFiles::under(artifacts);
        let eval = EvalFiles::under(artifacts);
        Self {
            train_split: data.train.clone(),
            test_split: data.test.clone(),
            user_test_split: data.user_test.clone(),
            weights: TrainFiles::under(artifacts).weights,
            data,
            metrics: eval.metrics,
            confusion_train: eval.confusion_train,
            confusion_test: eval.confusion_test,
            confusion_user_test: eval.confusion_user_test,
            predictions_test: eval.predictions_test,
            report_txt: eval.report_txt,
        }
    }

    /// Every input with the stage that produces it, in pipeline order: the
    /// splits, the extra test sets the data stage wrote, the weights.
    pub fn inputs(&self) -> Vec<(PathBuf, &'static str)> {
        let mut inputs = vec![
            (self.train_split.clone(), DataFiles::STAGE),
            (self.test_split.clone(), DataFiles::STAGE),
            (self.user_test_split.clone(), DataFiles::STAGE),
        ];
        // A data folder that cannot be listed has no extra sets to declare;
        // reading the splits beside them reports the problem.
        let extra = self.data.extra_tests().unwrap_or_default();
        inputs.extend(extra.into_iter().map(|(_, path)| (path, DataFiles::STAGE)));
        inputs.push((self.weights.clone(), TrainFiles::STAGE));
        inputs
    }
}

/// What an evaluation run produced.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The files written.
    pub files: Vec<PathBuf>,
    /// The metrics written to `metrics.json`.
    pub metrics: Metrics,
}

/// Runs the evaluation stage: scores `paths.weights` on both splits and
/// writes metrics, confusion matrices, test predictions and the text report,
/// all or nothing. A requested stop ([`hdr_common::check_stop`]) is noticed
/// between batches and before the files are moved into place, and returns
/// [`Error::Interrupted`] with nothing written.
pub fn run(config: &Config, paths: &Paths, opts: &RunOptions) -> Result<Outputs, Error> {
    config.validate()?;
    for (path, stage) in paths.inputs() {
        // Splits from before the user's digits existed have no user split.
        if path != paths.user_test_split {
            require_artifact(&path, stage)?;
        }
    }
    let classifier = Classifier::load(&paths.weights).map_err(|source| Error::Model { source })?;
    let progress = Progress::new(opts.quiet);

    let score = |name: &str, path: &Path, data: Dataset| {
        score_split(name, path, data, &classifier, config.batch_size, &progress)
    };
    let train = score("train", &paths.train_split, read_split(&paths.train_split)?)?;
    let test = score("test", &paths.test_split, read_split(&paths.test_split)?)?;
    let user = if paths.user_test_split.exists() {
        read_split(&paths.user_test_split)?
    } else {
        Dataset::default()
    };
    let user_test = if user.is_empty() {
        None
    } else {
        Some(score("your digits", &paths.user_test_split, user)?)
    };
    let listed = paths
        .data
        .extra_tests()
        .map_err(|source| Error::ListExtraTests {
            path: paths.data.dir.clone(),
            source,
        })?;
    let mut extra_tests = Vec::new();
    for (name, path) in listed {
        let scored = score(&name, &path, read_split(&path)?)?;
        extra_tests.push(NamedMetrics {
            name,
            metrics: scored.metrics,
        });
    }
    let metrics = Metrics {
        train: train.metrics,
        test: test.metrics,
        user_test: user_test.map(|scored| scored.metrics),
        extra_tests,
    };
    if let Some(field) = first_non_finite(&metrics) {
        return Err(Error::NotFinite { metric: field });
    }

    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| Error::Write { path, source }
    };
    let predicted = test
        .labels
        .iter()
        .zip(&test.predictions)
        .map(|(&label, p)| PredictedImage {
            label,
            predicted: p.digit,
            probabilities: p.probabilities,
        });
    let mut set = OutputSet::new();
    set.write_with(&paths.metrics, |w| write_metrics(w, &metrics))
        .map_err(io_error(&paths.metrics))?;
    set.write_with(&paths.confusion_train, |w| {
        write_confusion_csv(w, &metrics.train.confusion_matrix)
    })
    .map_err(io_error(&paths.confusion_train))?;
    set.write_with(&paths.confusion_test, |w| {
        write_confusion_csv(w, &metrics.test.confusion_matrix)
    })
    .map_err(io_error(&paths.confusion_test))?;
    if let Some(user) = &metrics.user_test {
        set.write_with(&paths.confusion_user_test, |w| {
            write_confusion_csv(w, &user.confusion_matrix)
        })
        .map_err(io_error(&paths.confusion_user_test))?;
    }
    set.write_with(&paths.predictions_test, |w| write_predictions(w, predicted))
        .map_err(io_error(&paths.predictions_test))?;
    set.write(&paths.report_txt, report_text(&metrics).as_bytes())
        .map_err(io_error(&paths.report_txt))?;
    hdr_common::check_stop()?;
    let files = set.commit().map_err(io_error(&paths.metrics))?;
    if metrics.user_test.is_none() {
        // An earlier run's matrix of digits no longer scored would mislead.
        hdr_common::remove_if_present(&paths.confusion_user_test)
            .map_err(io_error(&paths.confusion_user_test))?;
    }
    Ok(Outputs { files, metrics })
}

/// One split's labels, the model's answers and their metrics.
struct ScoredSplit {
    labels: Vec<u8>,
    predictions: Vec<Prediction>,
    metrics: SplitMetrics,
}

/// Predicts a split (read from `path`) in batches, timing only the
/// predictions, and scores it.
fn score_split(
    name: &str,
    path: &Path,
    data: Dataset,
    classifier: &Classifier,
    batch_size: usize,
    progress: &Progress,
) -> Result<ScoredSplit, Error> {
    check_split(&data, path)?;

    let bar = progress.bar(data.len() as u64, name);
    let mut predictions = Vec::with_capacity(data.len());
    let started = Instant::now();
    for chunk in data.pixels.chunks(batch_size.saturating_mul(IMAGE_PIXELS)) {
        if let Err(stop) = hdr_common::check_stop() {
            bar.finish_and_clear();
            return Err(stop.into());
        }
        let batch = classifier.predict(chunk);
        let expected = chunk.len() / IMAGE_PIXELS;
        if batch.len() != expected {
            return Err(Error::PredictionCount {
                returned: batch.len(),
                expected,
            });
        }
        predictions.extend_from_slice(&batch);
        bar.inc(expected as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    for (index, p) in predictions.iter().enumerate() {
        if usize::from(p.digit) >= NUM_CLASSES || p.probabilities.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidOutput {
                path: path.to_path_buf(),
                row: index,
            });
        }
    }
    let mut metrics = split_metrics(&data.labels, &predictions);
    metrics.images_per_s = if seconds > 0.0 {
        data.len() as f64 / seconds
    } else {
        0.0
    };
    progress.line(format!(
        "eval {name}: accuracy {:.4}, log loss {:.4}, macro F1 {:.4} on {} images ({:.0} images/s)",
        metrics.accuracy,
        metrics.log_loss,
        metrics.macro_avg.f1,
        data.len(),
        metrics.images_per_s
    ));
    Ok(ScoredSplit {
        labels: data.labels,
        predictions,
        metrics,
    })
}

/// Rejects a split that cannot be scored, naming the file.
fn check_split(data: &Dataset, path: &Path) -> Result<(), Error> {
    if data.is_empty() {
        return Err(Error::EmptySplit {
            path: path.to_path_buf(),
        });
    }
    if data.pixels.len() != data.len() * IMAGE_PIXELS {
        return Err(Error::PixelCount {
            path: path.to_path_buf(),
            pixels: data.pixels.len(),
            images: data.len(),
        });
    }
    if let Some((row, label)) = data
        .labels
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= NUM_CLASSES)
    {
        return Err(Error::Label {
            path: path.to_path_buf(),
            row,
            label: *label,
        });
    }
    Ok(())
}

/// The name of the first metric that is NaN or infinite, if any: such a value
/// would become `null` in JSON.
fn first_non_finite(metrics: &Metrics) -> Option<String> {
    for (name, split) in scored_splits(metrics) {
        let mut values = vec![
            ("accuracy".to_string(), split.accuracy),
            ("log_loss".to_string(), split.log_loss),
            ("images_per_s".to_string(), split.images_per_s),
        ];
        for (label, avg) in [("macro", &split.macro_avg), ("weighted", &split.weighted)] {
            values.push((format!("{label}.precision"), avg.precision));
            values.push((format!("{label}.recall"), avg.recall));
            values.push((format!("{label}.f1"), avg.f1));
        }
        for row in &split.per_class {
            values.push((format!("per_class[{}].precision", row.class), row.precision));
            values.push((format!("per_class[{}].recall", row.class), row.recall));
            values.push((format!("per_class[{}].f1", row.class), row.f1));
        }
        if let Some((field, _)) = values.into_iter().find(|(_, v)| !v.is_finite()) {
            return Some(format!("{name}.{field}"));
        }
    }
    None
}

/// Each scored split with its name in `metrics.json`.
fn scored_splits(metrics: &Metrics) -> Vec<(String, &SplitMetrics)> {
    let mut splits = vec![
        ("train".to_string(), &metrics.train),
        ("test".to_string(), &metrics.test),
    ];
    splits.extend(
        metrics
            .user_test
            .as_ref()
            .map(|m| ("user_test".to_string(), m)),
    );
    splits.extend(
        metrics
            .extra_tests
            .iter()
            .map(|e| (format!("extra_tests.{}", e.name), &e.metrics)),
    );
    splits
}

/// `classification_report.txt`: each split's report under a title.
fn report_text(metrics: &Metrics) -> String {
    let mut text = String::new();
    for (name, split) in scored_splits(metrics) {
        if !text.is_empty() {
            text.push('\n');
        }
        let title = format!(
            "Classification report: {name} split ({} images)",
            split.support
        );
        text.push_str(&format!("{title}\n{}\n\n", "=".repeat(title.len())));
        text.push_str(&classification_report(split));
        text.push_str(&format!("\nlog loss: {:.4}\n", split.log_loss));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(digit: u8, confidence: f32) -> Prediction {
        let mut probabilities = [(1.0 - confidence) / 9.0; NUM_CLASSES];
        probabilities[usize::from(digit)] = confidence;
        Prediction {
            digit,
            probabilities,
        }
    }

    fn sample_metrics() -> Metrics {
        let labels = [0u8, 1, 2, 3, 3, 9];
        let predictions: Vec<Prediction> = [0u8, 1, 2, 3, 5, 9]
            .iter()
            .map(|&d| one_hot(d, 0.8))
            .collect();
        let mut train = split_metrics(&labels, &predictions);
        train.images_per_s = 1234.5;
        let test = split_metrics(&labels[..4], &predictions[..4]);
        Metrics {
            train,
            test,
            user_test: None,
            extra_tests: Vec::new(),
        }
    }

    #[test]
    fn run_rejects_a_bad_config_before_touching_files() {
        let dir = tempfile::tempdir().unwrap();
        let error = run(
            &Config { batch_size: 0 },
            &Paths::under(dir.path()),
            &RunOptions { quiet: true },
        )
        .unwrap_err();
        assert!(
            matches!(error, Error::Config(ref e) if e.key == "eval.batch_size"),
            "{error}"
        );
    }

    #[test]
    fn paths_read_the_splits_and_weights_of_earlier_stages() {
        let a = Path::new("artifacts");
        let paths = Paths::under(a);
        assert_eq!(paths.train_split, DataFiles::under(a).train);
        assert_eq!(paths.test_split, DataFiles::under(a).test);
        assert_eq!(paths.weights, TrainFiles::under(a).weights);
        assert_eq!(paths.metrics, EvalFiles::under(a).metrics);
        let stages: Vec<&str> = paths.inputs().iter().map(|(_, s)| *s).collect();
        assert_eq!(stages, ["data", "data", "data", "train"]);
    }

    #[test]
    fn splits_that_cannot_be_scored_are_refused_naming_the_file() {
        let path = Path::new("artifacts/data/test.parquet");
        let empty = Dataset {
            labels: Vec::new(),
            pixels: Vec::new(),
        };
        let err = check_split(&empty, path).unwrap_err();
        assert!(
            matches!(&err, Error::EmptySplit { path: p } if p == path),
            "{err}"
        );
        let short = Dataset {
            labels: vec![1, 2],
            pixels: vec![0; IMAGE_PIXELS],
        };
        let err = check_split(&short, path).unwrap_err();
        assert!(
            matches!(&err, Error::PixelCount { pixels, images: 2, .. } if *pixels == IMAGE_PIXELS),
            "{err}"
        );
        let bad_label = Dataset {
            labels: vec![3, 12],
            pixels: vec![0; 2 * IMAGE_PIXELS],
        };
        let err = check_split(&bad_label, path).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Label {
                    row: 1,
                    label: 12,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "artifacts/data/test.parquet: row 1 (0-based) has label 12, expected 0 to 9"
        );
    }

    #[test]
    fn non_finite_metrics_are_found_by_name() {
        let mut metrics = sample_metrics();
        assert_eq!(first_non_finite(&metrics), None);
        metrics.test.per_class[4].recall = f64::NAN;
        assert_eq!(
            first_non_finite(&metrics).as_deref(),
            Some("test.per_class[4].recall")
        );
    }

    #[test]
    fn report_text_titles_both_splits() {
        let metrics = sample_metrics();
        let text = report_text(&metrics);
        let train_at = text
            .find("Classification report: train split (6 images)")
            .unwrap();
        let test_at = text
            .find("Classification report: test split (4 images)")
            .unwrap();
        assert!(train_at < test_at);
        assert!(text.contains(&classification_report(&metrics.train)));
        assert!(text.contains(&classification_report(&metrics.test)));
    }
}
