//! In-memory training: determinism, learning, early stopping, divergence.

use crate::common::{history_without_timing, sample, small_config};
use hdr_common::RunOptions;
use hdr_model::{Classifier, ModelConfig};
use hdr_train::{fit, validation_split, Config, Error, LrSchedule};

const QUIET: RunOptions = RunOptions { quiet: true };
const SEED: ModelConfig = ModelConfig {
    architecture: hdr_model::Architecture::Seed,
};

#[test]
fn same_seed_gives_bit_identical_weights_and_another_seed_does_not() {
    let data = sample(300);
    let config = small_config(2);
    let first = fit(&config, &SEED, &data, &QUIET).unwrap();
    let second = fit(&config, &SEED, &data, &QUIET).unwrap();
    assert_eq!(
        first.network.to_safetensors(),
        second.network.to_safetensors()
    );
    assert_eq!(
        history_without_timing(&first.history),
        history_without_timing(&second.history)
    );

    let other = fit(&Config { seed: 7, ..config }, &SEED, &data, &QUIET).unwrap();
    assert_ne!(
        first.network.to_safetensors(),
        other.network.to_safetensors()
    );
}

#[test]
fn same_weights_whatever_the_thread_count() {
    let data = sample(200);
    let config = small_config(1);
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            fit(&config, &SEED, &data, &QUIET)
                .unwrap()
                .network
                .to_safetensors()
        })
    };
    assert_eq!(on(1), on(2));
}

#[test]
fn training_learns_and_keeps_the_best_epoch() {
    let data = sample(600);
    let config = Config {
        epochs: 6,
        batch_size: 32,
        patience: 2,
        lr_schedule: LrSchedule::Constant,
        ..Config::default()
    };
    let fitted = fit(&config, &SEED, &data, &QUIET).unwrap();
    let history = &fitted.history;
    assert!(!history.is_empty() && history.len() <= 6);
    for (i, record) in history.iter().enumerate() {
        assert_eq!(record.epoch, i + 1);
        assert!(record.learning_rate == config.learning_rate);
        assert!(record.samples_per_s > 0.0 && record.seconds > 0.0);
    }
    assert!(
        history.last().unwrap().train_loss < history[0].train_loss,
        "{history:?}"
    );
    // Early stopping: training ends at the budget or `patience` epochs after the best.
    assert!(
        history.len() == 6 || history.len() == fitted.best_epoch + config.patience,
        "{history:?}"
    );
    let best = history
        .iter()
        .map(|r| r.val_accuracy)
        .fold(f64::MIN, f64::max);
    assert_eq!(fitted.best_val_accuracy, best);
    assert_eq!(history[fitted.best_epoch - 1].val_accuracy, best);
    assert!(
        best > 0.7,
        "600 images and a few epochs should reach well above chance: {best}"
    );

    // The returned network is the best epoch's, not the last one's.
    let (_, validation) = validation_split(&config, &data).unwrap();
    let predictions = Classifier::new(fitted.network).predict(&validation.pixels);
    let correct = predictions
        .iter()
        .zip(&validation.labels)
        .filter(|(p, &l)| p.digit == l)
        .count();
    assert_eq!(
        correct as f64 / validation.len() as f64,
        fitted.best_val_accuracy
    );
}

#[test]
fn validation_split_is_stratified_and_disjoint() {
    let data = sample(500);
    let config = Config {
        validation_fraction: 0.2,
        ..Config::default()
    };
    let (train, validation) = validation_split(&config, &data).unwrap();
    assert_eq!(train.len() + validation.len(), 500);
    assert!(
        (95..=105).contains(&validation.len()),
        "{}",
        validation.len()
    );
    for class in 0..10u8 {
        let total = data.labels.iter().filter(|&&l| l == class).count() as f64;
        let held = validation.labels.iter().filter(|&&l| l == class).count() as f64;
        assert!(
            (held - total * 0.2).abs() <= 0.5,
            "class {class}: {held} of {total}"
        );
    }
}

#[test]
fn absurd_learning_rate_is_reported_as_divergence_naming_the_key() {
    let data = sample(200);
    let config = Config {
        learning_rate: 1e6,
        ..small_config(3)
    };
    let error = fit(&config, &SEED, &data, &QUIET)
        .err()
        .expect("training must not succeed");
    assert!(matches!(error, Error::Diverged { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("`train.learning_rate` = 1000000"),
        "{message}"
    );
}

#[test]
fn invalid_config_and_tiny_data_are_errors() {
    let data = sample(50);
    let error = fit(
        &Config {
            batch_size: 0,
            ..Config::default()
        },
        &SEED,
        &data,
        &QUIET,
    )
    .err()
    .unwrap();
    assert!(error.to_string().contains("train.batch_size"), "{error}");
    let error = fit(&Config::default(), &SEED, &sample(3), &QUIET)
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("train.validation_fraction"),
        "{error}"
    );
}
