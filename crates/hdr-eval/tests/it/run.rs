//! The evaluation stage end to end: tiny splits written by hdr-data, a
//! randomly initialised model from hdr-model, then every output checked
//! against a recomputation.

use std::path::{Path, PathBuf};

use hdr_artifacts::{read_metrics, read_split, CONFUSION_HEADER, IMAGE_PIXELS, PREDICTIONS_HEADER};
use hdr_common::RunOptions;
use hdr_eval::{classification_report, run, split_metrics, Config, Error, Paths};
use hdr_model::{Classifier, Cnn, Prediction};

const QUIET: RunOptions = RunOptions { quiet: true };
const IMAGES_PER_CLASS: usize = 12;
/// Deliberately not a divisor of the split sizes, so the last batch is short.
const BATCH_SIZE: usize = 7;

/// A Kaggle-style CSV of `IMAGES_PER_CLASS` noisy images per digit: a
/// class-dependent bar plus pseudo-random speckle (a fixed LCG, no rand).
fn write_digits_csv(path: &Path) {
    let mut state: u64 = 0x5eed;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let mut text = String::from("label");
    for i in 0..IMAGE_PIXELS {
        text.push_str(&format!(",pixel{i}"));
    }
    text.push('\n');
    for n in 0..IMAGES_PER_CLASS * 10 {
        let label = n % 10;
        text.push_str(&label.to_string());
        for i in 0..IMAGE_PIXELS {
            let (row, col) = (i / 28, i % 28);
            let bar = row >= 2 + 2 * label && row < 5 + 2 * label && (4..24).contains(&col);
            let value = if bar {
                200 + next() % 56
            } else if next() % 7 == 0 {
                next() % 256
            } else {
                0
            };
            text.push_str(&format!(",{value}"));
        }
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// Splits under `dir/artifacts/data` and a random-init model under `dir/artifacts/train`.
fn prepare(dir: &Path) -> Paths {
    prepare_with_extra(dir, Vec::new())
}

/// The same, with extra test sets read by the data stage.
fn prepare_with_extra(dir: &Path, extra_test_sources: Vec<PathBuf>) -> Paths {
    let csv = dir.join("digits.csv");
    write_digits_csv(&csv);
    let artifacts = dir.join("artifacts");
    let data = hdr_data::Config {
        source: csv,
        test_source: None,
        user_samples: std::path::PathBuf::new(),
        extra_test_sources,
        test_fraction: 0.25,
        seed: 5,
    };
    hdr_data::run(&data, &hdr_data::Paths::under(&artifacts), &QUIET).expect("data stage runs");
    let paths = Paths::under(&artifacts);
    std::fs::create_dir_all(paths.weights.parent().unwrap()).unwrap();
    std::fs::write(&paths.weights, Cnn::new(3).to_safetensors()).unwrap();
    paths
}

fn predict_in_batches(classifier: &Classifier, pixels: &[u8]) -> Vec<Prediction> {
    pixels
        .chunks(BATCH_SIZE * IMAGE_PIXELS)
        .flat_map(|chunk| classifier.predict(chunk))
        .collect()
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// Every number of a split, in a fixed order.
fn numbers(split: &hdr_artifacts::SplitMetrics) -> Vec<f64> {
    let mut values = vec![
        split.accuracy,
        split.log_loss,
        split.images_per_s,
        split.support as f64,
    ];
    for avg in [split.macro_avg, split.weighted] {
        values.extend([avg.precision, avg.recall, avg.f1]);
    }
    for row in &split.per_class {
        values.extend([
            f64::from(row.class),
            row.precision,
            row.recall,
            row.f1,
            row.support as f64,
        ]);
    }
    values.extend(split.confusion_matrix.iter().flatten().map(|&c| c as f64));
    values
}

/// Equal up to JSON's decimal round trip (serde_json's default parser may be
/// one ulp off, so exact equality would be testing serde_json).
fn assert_same_metrics(read: &hdr_artifacts::Metrics, written: &hdr_artifacts::Metrics) {
    for (a, b) in [(&read.train, &written.train), (&read.test, &written.test)] {
        let (a, b) = (numbers(a), numbers(b));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= 1e-12 * y.abs(),
                "{x} read back, {y} written"
            );
        }
    }
}

#[test]
fn run_writes_every_artifact_and_they_agree_with_a_recomputation() {
    let dir = tempfile::tempdir().unwrap();
    let paths = prepare(dir.path());
    let outputs = run(
        &Config {
            batch_size: BATCH_SIZE,
        },
        &paths,
        &QUIET,
    )
    .expect("eval runs");

    let expected_files: Vec<PathBuf> = vec![
        paths.metrics.clone(),
        paths.confusion_train.clone(),
        paths.confusion_test.clone(),
        paths.predictions_test.clone(),
        paths.report_txt.clone(),
    ];
    assert_eq!(outputs.files, expected_files);
    for file in &expected_files {
        assert!(file.is_file(), "{} written", file.display());
    }

    // metrics.json parses, has no null/NaN, and equals what run returned.
    let json = std::fs::read_to_string(&paths.metrics).unwrap();
    assert!(!json.contains("null") && !json.contains("NaN"), "{json}");
    let metrics = outputs.metrics.clone();
    assert_same_metrics(&read_metrics(&paths.metrics).unwrap(), &metrics);

    let train = read_split(&paths.train_split).unwrap();
    let test = read_split(&paths.test_split).unwrap();
    assert_eq!(metrics.train.support, train.len() as u64);
    assert_eq!(metrics.test.support, test.len() as u64);
    assert_eq!(train.len() + test.len(), IMAGES_PER_CLASS * 10);
    assert!(metrics.train.images_per_s > 0.0 && metrics.test.images_per_s > 0.0);

    // Train metrics: the same predictions, made the same way, give the same numbers.
    let classifier = Classifier::load(&paths.weights).unwrap();
    let mut recomputed = split_metrics(
        &train.labels,
        &predict_in_batches(&classifier, &train.pixels),
    );
    recomputed.images_per_s = metrics.train.images_per_s;
    assert_eq!(recomputed, metrics.train);

    // predictions_test.csv: header, one row per test.parquet row, in order.
    let (header, rows) = read_csv(&paths.predictions_test);
    assert_eq!(header.join(","), PREDICTIONS_HEADER);
    assert_eq!(rows.len(), test.len());
    let independent = classifier.predict(&test.pixels);
    let mut from_csv = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 14);
        assert_eq!(row[0], i.to_string(), "index is the 0-based row");
        assert_eq!(row[1], test.labels[i].to_string(), "label of row {i}");
        let digit: u8 = row[2].parse().unwrap();
        let confidence: f32 = row[3].parse().unwrap();
        let mut probabilities = [0f32; 10];
        for (slot, field) in probabilities.iter_mut().zip(&row[4..]) {
            *slot = field.parse().unwrap();
        }
        let prediction = Prediction {
            digit,
            probabilities,
        };
        assert_eq!(
            confidence,
            prediction.confidence(),
            "row {i}: confidence is p[predicted]"
        );
        let top = probabilities.iter().copied().fold(f32::MIN, f32::max);
        assert_eq!(
            probabilities[usize::from(digit)],
            top,
            "row {i}: predicted is the argmax"
        );
        let sum: f32 = probabilities.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-4,
            "row {i}: probabilities sum to {sum}"
        );
        // A separate, unbatched pass agrees up to float rounding.
        for (a, b) in probabilities.iter().zip(&independent[i].probabilities) {
            assert!((a - b).abs() < 1e-5, "row {i}: {a} vs unbatched {b}");
        }
        from_csv.push(prediction);
    }
    let mut recomputed = split_metrics(&test.labels, &from_csv);
    recomputed.images_per_s = metrics.test.images_per_s;
    assert_eq!(
        recomputed, metrics.test,
        "test metrics follow from predictions_test.csv"
    );

    // Confusion CSVs hold the matrices of metrics.json.
    for (path, split) in [
        (&paths.confusion_train, &metrics.train),
        (&paths.confusion_test, &metrics.test),
    ] {
        let (header, rows) = read_csv(path);
        assert_eq!(header.join(","), CONFUSION_HEADER);
        assert_eq!(rows.len(), 10);
        for (class, row) in rows.iter().enumerate() {
            assert_eq!(row[0], class.to_string());
            let counts: Vec<u64> = row[1..].iter().map(|c| c.parse().unwrap()).collect();
            assert_eq!(
                counts,
                split.confusion_matrix[class],
                "{} row {class}",
                path.display()
            );
        }
    }

    // The text report holds both splits' tables under titles.
    let report = std::fs::read_to_string(&paths.report_txt).unwrap();
    let train_title = report.find("train split").expect("train title");
    let test_title = report.find("test split").expect("test title");
    assert!(train_title < test_title);
    assert!(report.contains(&classification_report(&metrics.train)));
    assert!(report.contains(&classification_report(&metrics.test)));

    // Same model, same data, same config: the same files, byte for byte
    // (all but metrics.json, whose images/s is a measurement).
    let before: Vec<Vec<u8>> = expected_files[1..]
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    let again = run(
        &Config {
            batch_size: BATCH_SIZE,
        },
        &paths,
        &QUIET,
    )
    .unwrap();
    let after: Vec<Vec<u8>> = expected_files[1..]
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert!(
        before[..3] == after[..3],
        "confusion matrices and predictions are reproducible"
    );
    let mut rerun = again.metrics;
    rerun.train.images_per_s = metrics.train.images_per_s;
    rerun.test.images_per_s = metrics.test.images_per_s;
    assert_eq!(rerun, metrics);
}

#[test]
fn missing_inputs_name_the_file_and_the_stage_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(&dir.path().join("artifacts"));
    let error = run(&Config::default(), &paths, &QUIET).unwrap_err();
    match &error {
        Error::Missing(missing) => {
            assert_eq!(missing.path, paths.train_split);
            assert_eq!(missing.stage, "data");
        }
        other => panic!("expected a missing-artifact error, got {other}"),
    }
    assert!(
        error.to_string().contains("train.parquet")
            && error.to_string().contains("cargo xtask data")
    );

    for split in [&paths.train_split, &paths.test_split] {
        std::fs::create_dir_all(split.parent().unwrap()).unwrap();
        std::fs::write(split, b"placeholder").unwrap();
    }
    let error = run(&Config::default(), &paths, &QUIET).unwrap_err();
    assert!(
        matches!(&error, Error::Missing(m) if m.path == paths.weights && m.stage == "train"),
        "{error}"
    );
    assert!(
        error.to_string().contains("model.safetensors")
            && error.to_string().contains("cargo xtask train")
    );
    assert!(!paths.metrics.parent().unwrap().exists(), "nothing written");
}

#[test]
fn a_corrupt_model_fails_without_touching_previous_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let paths = prepare(dir.path());
    std::fs::create_dir_all(paths.metrics.parent().unwrap()).unwrap();
    std::fs::write(&paths.metrics, b"previous run").unwrap();
    std::fs::write(&paths.weights, b"not a safetensors file").unwrap();

    let error = run(&Config::default(), &paths, &QUIET).unwrap_err();
    assert!(matches!(&error, Error::Model { .. }), "{error}");
    assert!(error.to_string().contains("model.safetensors"), "{error}");
    assert_eq!(std::fs::read(&paths.metrics).unwrap(), b"previous run");
    let entries = std::fs::read_dir(paths.metrics.parent().unwrap())
        .unwrap()
        .count();
    assert_eq!(entries, 1, "no other file appeared in artifacts/eval");
}

#[test]
fn extra_test_sets_are_scored_each_on_its_own_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let others = dir.path().join("others.csv");
    write_digits_csv(&others);
    let paths = prepare_with_extra(dir.path(), vec![others]);
    let config = Config {
        batch_size: BATCH_SIZE,
    };
    let metrics = run(&config, &paths, &QUIET).expect("eval runs").metrics;
    assert_eq!(metrics.extra_tests.len(), 1);
    let scored = &metrics.extra_tests[0];
    assert_eq!(scored.name, "others");
    let every = read_split(&paths.data.extra_test("others")).unwrap();
    assert_eq!(scored.metrics.support, every.len() as u64);
    assert_eq!(
        every.len(),
        10 * IMAGES_PER_CLASS,
        "every row, none trained on"
    );
    let classifier = Classifier::load(&paths.weights).unwrap();
    let predictions = predict_in_batches(&classifier, &every.pixels);
    let expected = split_metrics(&every.labels, &predictions);
    assert_eq!(scored.metrics.confusion_matrix, expected.confusion_matrix);
    assert_eq!(scored.metrics.accuracy, expected.accuracy);
    assert_same_metrics(&read_metrics(&paths.metrics).unwrap(), &metrics);
    let report = std::fs::read_to_string(&paths.report_txt).unwrap();
    assert!(report.contains("Classification report: extra_tests.others split (120 images)"));
    assert!(paths
        .inputs()
        .iter()
        .any(|(path, _)| *path == paths.data.extra_test("others")));
}
