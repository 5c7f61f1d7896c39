//! Measures what a training config reaches on the embedded MNIST sample.
//!
//! Splits data/mnist-sample.csv.gz 80/20 (stratified, seeded, like the data
//! stage), trains on the 80% with [`hdr_train::fit`] (which holds out its own
//! validation share), and prints train and test accuracy and the time taken.
//!
//! ```text
//! cargo run --release -p hdr-train --example tune -- [--epochs N] [--batch N] [--lr X]
//!     [--dropout X] [--patience N] [--seed N] [--schedule cosine|constant] [--no-augment]
//!     [--architecture seed|deep] [--csv PATH] [--split-seed N] [--verbose]
//! ```

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Instant;

use hdr_artifacts::{Dataset, IMAGE_PIXELS};
use hdr_model::{Architecture, Classifier, ModelConfig};
use hdr_train::{Config, LrSchedule};

fn main() {
    let mut config = Config::default();
    let mut model = ModelConfig::default();
    let mut csv = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/mnist-sample.csv.gz"
    ));
    let mut split_seed = 42u64;
    let mut quiet = true;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--epochs" => config.epochs = value().parse().expect("--epochs"),
            "--batch" => config.batch_size = value().parse().expect("--batch"),
            "--lr" => config.learning_rate = value().parse().expect("--lr"),
            "--dropout" => config.dropout = value().parse().expect("--dropout"),
            "--patience" => config.patience = value().parse().expect("--patience"),
            "--seed" => config.seed = value().parse().expect("--seed"),
            "--schedule" => {
                config.lr_schedule = match value().as_str() {
                    "cosine" => LrSchedule::Cosine,
                    "constant" => LrSchedule::Constant,
                    other => panic!("unknown schedule {other}"),
                }
            }
            "--no-augment" => config.augment = false,
            "--architecture" => {
                model.architecture = Architecture::from_name(&value()).expect("seed or deep")
            }
            "--csv" => csv = PathBuf::from(value()),
            "--split-seed" => split_seed = value().parse().expect("--split-seed"),
            "--verbose" => quiet = false,
            other => panic!("unknown flag {other}"),
        }
    }

    let started = Instant::now();
    let all = load(&csv);
    let (train, test) = split(&all, 0.2, split_seed);
    let load_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let fitted = hdr_train::fit(&config, &model, &train, &hdr_common::RunOptions { quiet })
        .expect("training failed");
    let fit_seconds = started.elapsed().as_secs_f64();

    let classifier = Classifier::new(fitted.network);
    let accuracy = |data: &Dataset| {
        let predictions = classifier.predict(&data.pixels);
        let correct = predictions
            .iter()
            .zip(&data.labels)
            .filter(|(p, &l)| p.digit == l)
            .count();
        correct as f64 / data.len() as f64
    };
    let last = fitted.history.last().expect("at least one epoch");
    println!(
        "{{\"config\": {}, \"train_rows\": {}, \"test_rows\": {}, \"epochs_run\": {}, \"best_epoch\": {}, \
         \"best_val_accuracy\": {:.4}, \"train_accuracy\": {:.4}, \"test_accuracy\": {:.4}, \
         \"last_train_loss\": {:.4}, \"fit_s\": {:.2}, \"load_s\": {:.2}, \"samples_per_s\": {:.0}}}",
        serde_json::to_string(&config).unwrap(),
        train.len(),
        test.len(),
        fitted.history.len(),
        fitted.best_epoch,
        fitted.best_val_accuracy,
        accuracy(&train),
        accuracy(&test),
        last.train_loss,
        fit_seconds,
        load_seconds,
        fitted.history.iter().map(|r| r.samples_per_s).sum::<f64>() / fitted.history.len() as f64,
    );
}

/// Reads a Kaggle-style labelled CSV (optionally gzipped).
fn load(path: &PathBuf) -> Dataset {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut data = Dataset::default();
    for (i, line) in reader.lines().enumerate().skip(1) {
        let line = line.expect("readable line");
        let mut cells = line.split(',').map(|c| {
            c.trim()
                .parse::<u8>()
                .unwrap_or_else(|e| panic!("line {}: {e}", i + 1))
        });
        data.labels.push(cells.next().expect("label"));
        let before = data.pixels.len();
        data.pixels.extend(cells);
        assert_eq!(
            data.pixels.len() - before,
            IMAGE_PIXELS,
            "line {}: pixel count",
            i + 1
        );
    }
    data
}

/// The data stage's stratified split: `fraction` of each class goes to the second set.
fn split(data: &Dataset, fraction: f64, seed: u64) -> (Dataset, Dataset) {
    let split = hdr_data::stratified_split(&data.labels, fraction, seed);
    let rows = |rows: &[u32]| rows.iter().map(|&r| r as usize).collect::<Vec<_>>();
    (
        data.subset(&rows(&split.kept)),
        data.subset(&rows(&split.held_out)),
    )
}
