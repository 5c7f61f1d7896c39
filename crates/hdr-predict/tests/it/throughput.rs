//! Measures `predict_csv` on a Kaggle-sized test.csv (10,000 rows). Ignored by
//! default: timings belong in release builds, not in the test suite.
//!
//! `cargo test -p hdr-predict --release --test it -- throughput --ignored --nocapture`

use std::fmt::Write as _;

use hdr_model::{Classifier, Cnn};
use hdr_predict::{predict_csv, Recognizer};

#[test]
#[ignore = "timing: run in release with --ignored --nocapture"]
fn kaggle_sized_csv_throughput() {
    let sample = hdr_testkit::load_sample(0..10_000);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("test.csv");
    let mut text = (0..hdr_testkit::IMAGE_PIXELS)
        .map(|i| format!("pixel{i}"))
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    for i in 0..sample.len() {
        let cells: Vec<String> = sample.image(i).iter().map(u8::to_string).collect();
        writeln!(text, "{}", cells.join(",")).unwrap();
    }
    std::fs::write(&csv, text).unwrap();

    // Speed does not depend on the weights' values.
    let recognizer = Recognizer::from_classifier(Classifier::new(Cnn::new(7)));
    let out = dir.path().join("submission.csv");
    for run in 1..=3 {
        let outcome = predict_csv(&recognizer, &csv, &out).unwrap();
        eprintln!(
            "run {run}: {} rows in {:.3} s ({:.3} s inference, {:.0} rows/s overall)",
            outcome.rows,
            outcome.seconds,
            outcome.inference_seconds,
            outcome.rows as f64 / outcome.seconds
        );
    }
}
