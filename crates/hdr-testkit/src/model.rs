//! A small CNN trained in-process, for tests that need a model that reads
//! digits (quick in the dev profile, still about 95% accurate on MNIST).

use hdr_artifacts::Dataset;
use hdr_common::RunOptions;
use hdr_model::AnyNetwork;

/// The seed network trained on `train` for four epochs (batch 64, no
/// augmentation, no early stopping), quietly; prints its best validation
/// accuracy to stderr.
///
/// # Panics
/// If training fails: the tests cannot go on without a model.
pub fn small_trained_network(train: &Dataset) -> AnyNetwork {
    let config = hdr_train::Config {
        epochs: 4,
        batch_size: 64,
        augment: false,
        patience: 0,
        ..hdr_train::Config::default()
    };
    let fitted = hdr_train::fit(
        &config,
        &hdr_model::ModelConfig::default(),
        train,
        &RunOptions { quiet: true },
    )
    .expect("training on the sample works");
    eprintln!(
        "test model trained: best validation accuracy {:.1}%",
        fitted.best_val_accuracy * 100.0
    );
    fitted.network
}
