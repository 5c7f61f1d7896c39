//! Small real datasets for the integration tests: the first rows of the
//! embedded MNIST sample, and a data-stage split of them on disk.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use hdr_artifacts::{Dataset, IMAGE_PIXELS};

/// The embedded sample CSV.
pub fn sample_csv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-sample.csv.gz")
}

/// The first `rows` data lines of the sample CSV, header included.
pub fn sample_lines(rows: usize) -> Vec<String> {
    let file =
        std::fs::File::open(sample_csv()).expect("data/mnist-sample.csv.gz is in the repository");
    BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .take(rows + 1)
        .map(|l| l.unwrap())
        .collect()
}

/// The first `rows` images of the sample.
pub fn sample(rows: usize) -> Dataset {
    let mut data = Dataset::default();
    for line in sample_lines(rows).iter().skip(1) {
        let mut cells = line.split(',').map(|c| c.parse::<u8>().unwrap());
        data.labels.push(cells.next().unwrap());
        data.pixels.extend(cells);
    }
    assert_eq!(data.pixels.len(), data.labels.len() * IMAGE_PIXELS);
    data
}

/// Writes a CSV of the first `rows` sample images into `dir` and runs the data
/// stage on it, producing `dir/artifacts/data/train.parquet`. Returns the artifacts dir.
pub fn data_stage(dir: &Path, rows: usize) -> PathBuf {
    let csv = dir.join("digits.csv");
    let mut file = std::fs::File::create(&csv).unwrap();
    for line in sample_lines(rows) {
        writeln!(file, "{line}").unwrap();
    }
    drop(file);
    let artifacts = dir.join("artifacts");
    let config = hdr_data::Config {
        source: csv,
        ..hdr_data::Config::default()
    };
    hdr_data::run(
        &config,
        &hdr_data::Paths::under(&artifacts),
        &hdr_common::RunOptions { quiet: true },
    )
    .expect("data stage");
    artifacts
}

/// A fast config for tests: few epochs, small batches, every feature on.
pub fn small_config(epochs: usize) -> hdr_train::Config {
    hdr_train::Config {
        epochs,
        batch_size: 32,
        validation_fraction: 0.2,
        patience: 0,
        ..hdr_train::Config::default()
    }
}

/// Every history number except the wall-clock ones (`seconds`, `samples_per_s`),
/// which differ from run to run while everything else must not.
pub fn history_without_timing(
    history: &[hdr_train::EpochRecord],
) -> Vec<(usize, f64, f64, f64, f64, f64)> {
    history
        .iter()
        .map(|r| {
            (
                r.epoch,
                r.train_loss,
                r.train_accuracy,
                r.val_loss,
                r.val_accuracy,
                r.learning_rate,
            )
        })
        .collect()
}
