//! Synthetic but realistic report inputs: the real data stage splits 1,000
//! MNIST digits from the project's sample (test.parquet, summary.json), a
//! simulated model's predictions, metrics computed from those predictions
//! and a plausible training history.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hdr_artifacts::{Averages, ClassMetrics, Dataset, Metrics, ModelCard, SplitMetrics};
use hdr_report::Paths;

/// Rows of the sample the fixture's data stage splits (20 % become the test split).
pub const SOURCE_ROWS: usize = 1000;

/// A tiny deterministic generator (no dependency, no seed plumbing).
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(
            seed.wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407),
        )
    }
    /// Uniform in [0, 1).
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() * n as f64) as usize % n
    }
}

/// Runs the real data stage on the first `SOURCE_ROWS` digits of the sample.
fn run_data_stage(artifacts: &Path) {
    let hdr_testkit::Dataset { labels, pixels } = hdr_testkit::load_sample(0..SOURCE_ROWS);
    let mut csv = String::from("label");
    for p in 0..784 {
        csv.push_str(&format!(",pixel{p}"));
    }
    csv.push('\n');
    for (i, label) in labels.iter().enumerate() {
        csv.push_str(&label.to_string());
        for v in &pixels[i * 784..(i + 1) * 784] {
            csv.push_str(&format!(",{v}"));
        }
        csv.push('\n');
    }
    let source = artifacts.join("digits.csv");
    std::fs::create_dir_all(artifacts).unwrap();
    std::fs::write(&source, csv).unwrap();
    let config = hdr_data::Config {
        source,
        test_source: None,
        user_samples: std::path::PathBuf::new(),
        extra_test_sources: Vec::new(),
        test_fraction: 0.2,
        seed: 42,
    };
    hdr_data::run(
        &config,
        &hdr_data::Paths::under(artifacts),
        &hdr_common::RunOptions { quiet: true },
    )
    .unwrap();
}

/// The fixture's test split, as the report reads it.
pub fn test_split(paths: &Paths) -> Dataset {
    hdr_artifacts::read_split(&paths.test_split).unwrap()
}

/// sklearn-style metrics (zero_division = 0) of predictions with the true class's probability.
pub fn split_metrics(
    labels: &[u8],
    predicted: &[u8],
    p_true: &[f64],
    images_per_s: f64,
) -> SplitMetrics {
    let mut confusion = vec![vec![0u64; 10]; 10];
    for (&t, &p) in labels.iter().zip(predicted) {
        confusion[t as usize][p as usize] += 1;
    }
    let per_class: Vec<ClassMetrics> = (0..10)
        .map(|k| {
            let tp = confusion[k][k] as f64;
            let support: u64 = confusion[k].iter().sum();
            let predicted_k: u64 = confusion.iter().map(|row| row[k]).sum();
            let precision = if predicted_k == 0 {
                0.0
            } else {
                tp / predicted_k as f64
            };
            let recall = if support == 0 {
                0.0
            } else {
                tp / support as f64
            };
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            ClassMetrics {
                class: k as u8,
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let n = labels.len() as f64;
    let mean = |f: &dyn Fn(&ClassMetrics) -> f64| per_class.iter().map(f).sum::<f64>() / 10.0;
    let weighted = |f: &dyn Fn(&ClassMetrics) -> f64| {
        per_class
            .iter()
            .map(|c| f(c) * c.support as f64)
            .sum::<f64>()
            / n
    };
    SplitMetrics {
        accuracy: (0..10).map(|k| confusion[k][k]).sum::<u64>() as f64 / n,
        log_loss: p_true.iter().map(|p| -p.max(1e-15).ln()).sum::<f64>() / n,
        macro_avg: Averages {
            precision: mean(&|c| c.precision),
            recall: mean(&|c| c.recall),
            f1: mean(&|c| c.f1),
        },
        weighted: Averages {
            precision: weighted(&|c| c.precision),
            recall: weighted(&|c| c.recall),
            f1: weighted(&|c| c.f1),
        },
        per_class,
        confusion_matrix: confusion,
        support: labels.len() as u64,
        images_per_s,
    }
}

/// A simulated classifier: right with probability `accuracy`, else a
/// plausible confusion; returns (predicted, probabilities per image).
pub fn simulate(labels: &[u8], accuracy: f64, rng: &mut Lcg) -> (Vec<u8>, Vec<[f64; 10]>) {
    // Digits people (and CNNs) confuse.
    const LOOKALIKE: [u8; 10] = [6, 7, 7, 5, 9, 3, 0, 1, 3, 4];
    let mut predicted = Vec::with_capacity(labels.len());
    let mut probabilities = Vec::with_capacity(labels.len());
    for &label in labels {
        let right = rng.next() < accuracy;
        let guess = if right {
            label
        } else if rng.next() < 0.7 {
            LOOKALIKE[label as usize]
        } else {
            ((label as usize + 1 + rng.below(9)) % 10) as u8
        };
        let confidence = if right {
            0.9 + 0.1 * rng.next()
        } else {
            0.4 + 0.6 * rng.next()
        };
        let mut p = [0.0; 10];
        let rest = 1.0 - confidence;
        let other = if right {
            (label as usize + 1) % 10
        } else {
            label as usize
        };
        p[guess as usize] = confidence;
        p[other] += rest * 0.8;
        for (k, v) in p.iter_mut().enumerate() {
            if k != guess as usize && k != other {
                *v += rest * 0.2 / 8.0;
            }
        }
        predicted.push(guess);
        probabilities.push(p);
    }
    (predicted, probabilities)
}

/// How the fixture's model behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Model {
    /// A good CNN: ~99 % train, ~96 % test accuracy.
    Good,
    /// A degenerate model that always answers `digit`.
    OneClass(u8),
}

/// Writes every input of the report under `artifacts` and returns the report's paths.
pub fn write_inputs(artifacts: &Path, model: Model) -> Paths {
    let paths = Paths::under(artifacts);
    run_data_stage(artifacts);
    let labels = test_split(&paths).labels;

    let mut rng = Lcg::new(7);
    let (predicted, probabilities) = match model {
        Model::Good => simulate(&labels, 0.96, &mut rng),
        Model::OneClass(d) => {
            let mut p = [0.0; 10];
            p[d as usize] = 1.0;
            (vec![d; labels.len()], vec![p; labels.len()])
        }
    };
    let mut csv = String::from("index,label,predicted,confidence");
    for k in 0..10 {
        csv.push_str(&format!(",p{k}"));
    }
    csv.push('\n');
    for (i, ((&l, &p), probs)) in labels
        .iter()
        .zip(&predicted)
        .zip(&probabilities)
        .enumerate()
    {
        csv.push_str(&format!("{i},{l},{p},{:.6}", probs[p as usize]));
        for v in probs {
            csv.push_str(&format!(",{v:.6}"));
        }
        csv.push('\n');
    }
    std::fs::create_dir_all(paths.predictions_test.parent().unwrap()).unwrap();
    std::fs::write(&paths.predictions_test, csv).unwrap();
    let p_true: Vec<f64> = labels
        .iter()
        .zip(&probabilities)
        .map(|(&l, p)| p[l as usize])
        .collect();
    let test = split_metrics(&labels, &predicted, &p_true, 41_873.2);

    // The train split, scored by the same model, a little better.
    let train_labels = hdr_artifacts::read_split(&hdr_artifacts::DataFiles::under(artifacts).train)
        .unwrap()
        .labels;
    let (train_predicted, train_probabilities) = match model {
        Model::Good => simulate(&train_labels, 0.992, &mut rng),
        Model::OneClass(d) => {
            let mut p = [0.0; 10];
            p[d as usize] = 1.0;
            (vec![d; train_labels.len()], vec![p; train_labels.len()])
        }
    };
    let train_p_true: Vec<f64> = train_labels
        .iter()
        .zip(&train_probabilities)
        .map(|(&l, p)| p[l as usize])
        .collect();
    let train = split_metrics(&train_labels, &train_predicted, &train_p_true, 43_120.9);
    let metrics = Metrics {
        train,
        test,
        user_test: None,
        extra_tests: Vec::new(),
    };
    std::fs::write(
        &paths.metrics,
        serde_json::to_string_pretty(&metrics).unwrap(),
    )
    .unwrap();

    // Ten epochs of a CNN converging, validation plateauing.
    let mut history = String::from(
        "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,samples_per_s\n",
    );
    for e in 1..=10 {
        let t = e as f64;
        let train_loss = 0.05 + 0.55 / t.powf(1.3);
        let val_loss = 0.06 + 0.35 / t.powf(1.1) + 0.004 * (t - 8.0).max(0.0);
        let train_acc = 1.0 - train_loss * 0.3;
        let val_acc = (1.0 - val_loss * 0.32).min(0.985);
        history.push_str(&format!(
            "{e},{train_loss:.5},{train_acc:.5},{val_loss:.5},{val_acc:.5},0.001,{:.3},{:.1}\n",
            2.1 + 0.01 * t,
            3_420.0 + t
        ));
    }
    std::fs::create_dir_all(paths.history.parent().unwrap()).unwrap();
    std::fs::write(&paths.history, history).unwrap();

    let card = ModelCard {
        architecture_name: "seed".into(),
        architecture: vec![
            "input: 1x28x28".into(),
            "conv1: Conv2D 1->32 3x3 valid -> 32x26x26".into(),
            "relu1: ReLU -> 32x26x26".into(),
            "pool1: MaxPool2D 2x2 -> 32x13x13".into(),
            "conv2: Conv2D 32->64 3x3 valid -> 64x11x11".into(),
            "relu2: ReLU -> 64x11x11".into(),
            "pool2: MaxPool2D 2x2 -> 64x5x5".into(),
            "flatten: -> 1600".into(),
            "dropout: p=0.5 -> 1600".into(),
            "dense: Dense 1600->10 softmax -> 10".into(),
        ],
        parameters: 34_826,
        kernels: "portable".into(),
        train_config: serde_json::json!({
            "epochs": 10, "batch_size": 128, "learning_rate": 0.001, "seed": 42,
            "validation_fraction": 0.1, "dropout": 0.5, "augment": false, "patience": 3
        }),
        data_sha256: "3f2a9c1d5e7b8a6c4d2e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c".into(),
        epochs_trained: 10,
        best_epoch: 8,
        best_val_accuracy: 0.9791,
        user_samples: 0,
    };
    std::fs::write(
        &paths.model_card,
        serde_json::to_string_pretty(&card).unwrap(),
    )
    .unwrap();

    paths
}

/// The artifacts directory's files of a report run, for comparisons.
pub fn report_files(paths: &Paths) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&paths.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}
