//! Would test-time augmentation pay? Reads a folder of labelled scans
//! (`DIR/<digit>/*.png`, as `scripts/uci_digits.py --out` writes them) or a
//! split the data stage wrote (`artifacts/data/test.parquet`) and compares plain recognition with the average over copies of each 28x28
//! input shifted by one pixel (4 or 8 neighbours), in accuracy and in
//! model time per image:
//!
//! ```sh
//! python3 scripts/uci_digits.py --out target/uci-digits
//! cargo run --release -p hdr-recognize --example tta_trial -- \
//!     artifacts/train/model.safetensors target/uci-digits
//! cargo run --release -p hdr-recognize --example tta_trial -- \
//!     artifacts/train/model.safetensors artifacts/data/test.parquet
//! ```
//!
//! docs/benchmarks.md says what this found; `cargo xtask predict --tta`
//! turns it on.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hdr_recognize::{prepare_file, Recognizer, IMAGE_PIXELS};

/// Every labelled image under `dir`, the label being its folder's name.
fn labelled_files(dir: &Path) -> Vec<(PathBuf, u8)> {
    let mut files = Vec::new();
    for digit in 0..10u8 {
        let Ok(entries) = std::fs::read_dir(dir.join(digit.to_string())) else {
            continue;
        };
        for entry in entries.flatten() {
            files.push((entry.path(), digit));
        }
    }
    files.sort();
    files
}

/// Share of `inputs` read right, and the model's seconds per image.
fn accuracy_with(
    recognizer: &Recognizer,
    inputs: &[[u8; IMAGE_PIXELS]],
    labels: &[u8],
) -> (f64, f64) {
    let started = Instant::now();
    let recognised = recognizer.recognize_batch(inputs).expect("28x28 inputs");
    let seconds = started.elapsed().as_secs_f64();
    let right = recognised
        .iter()
        .zip(labels)
        .filter(|(r, &label)| r.digit == label)
        .count();
    (
        right as f64 / labels.len() as f64,
        seconds / labels.len() as f64,
    )
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [model, dir] = args.as_slice() else {
        eprintln!("usage: tta_trial MODEL.safetensors (DIR | SPLIT.parquet)");
        std::process::exit(2);
    };
    let recognizer = Recognizer::load(model).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let mut inputs = Vec::new();
    let mut labels = Vec::new();
    if dir.is_file() {
        let split = hdr_artifacts::read_split(dir).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(1)
        });
        for i in 0..split.len() {
            inputs.push(split.image(i).try_into().expect("784 pixels"));
        }
        labels = split.labels;
    } else {
        for (path, label) in &labelled_files(dir) {
            match prepare_file(path) {
                Ok(input) => {
                    inputs.push(input);
                    labels.push(*label);
                }
                Err(e) => eprintln!("skipped: {e}"),
            }
        }
    }
    println!("{} images from {}", labels.len(), dir.display());
    for (name, on) in [("plain", false), ("averaging 5 shifted copies", true)] {
        let recognizer = recognizer.clone().with_test_time_augmentation(on);
        let (accuracy, seconds) = accuracy_with(&recognizer, &inputs, &labels);
        println!(
            "{name:>26}: accuracy {:.2}%, model time {:.1} us per image",
            accuracy * 100.0,
            seconds * 1e6
        );
    }
}
