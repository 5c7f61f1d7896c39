//! The stage on disk: artifacts, determinism, checkpoints and resume, errors.

use std::path::Path;

use crate::common::{data_stage, history_without_timing, small_config};
use hdr_artifacts::{read_card, read_history, HISTORY_HEADER};
use hdr_common::RunOptions;
use hdr_model::{Architecture, Cnn, Deep, ModelConfig};
use hdr_train::{run, run_interruptible, Config, Error, Paths, TrainOptions};

const SEED: ModelConfig = ModelConfig {
    architecture: Architecture::Seed,
};
const DEEP: ModelConfig = ModelConfig {
    architecture: Architecture::Deep,
};
const QUIET: TrainOptions = TrainOptions {
    run: RunOptions { quiet: true },
    resume: false,
};
const RESUME: TrainOptions = TrainOptions {
    run: RunOptions { quiet: true },
    resume: true,
};

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn run_writes_weights_card_and_history_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = data_stage(dir.path(), 300);
    let paths = Paths::under(&artifacts);
    let config = small_config(2);

    let outputs = run(&config, &SEED, &paths, &QUIET).unwrap();
    assert_eq!(
        outputs.files,
        vec![
            paths.weights.clone(),
            paths.card.clone(),
            paths.history.clone()
        ]
    );
    let weights = read(&paths.weights);
    Cnn::from_safetensors(&weights, &paths.weights).expect("weights load back");

    let card = read_card(&paths.card).unwrap();
    assert_eq!(card.architecture_name, "seed");
    assert_eq!(card.architecture, Architecture::Seed.describe());
    assert_eq!(card.parameters, Cnn::PARAMETERS);
    assert_eq!(card.kernels, hdr_model::kernel_path());
    assert_eq!(card.train_config, serde_json::to_value(&config).unwrap());
    assert_eq!(
        card.data_sha256,
        hdr_common::sha256_file(&paths.train_split).unwrap()
    );
    assert_eq!(card.epochs_trained, 2);

    let text = String::from_utf8(read(&paths.history)).unwrap();
    assert_eq!(text.lines().next().unwrap(), HISTORY_HEADER.join(","));
    let history = read_history(&paths.history).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        card.best_val_accuracy,
        history[card.best_epoch - 1].val_accuracy
    );
    assert!(
        paths.checkpoint.exists(),
        "the checkpoint is kept after success"
    );

    // Same seed, config and data: a bit-identical weights file.
    std::fs::remove_file(&paths.weights).unwrap();
    run(&config, &SEED, &paths, &QUIET).unwrap();
    assert_eq!(read(&paths.weights), weights);
}

#[test]
fn resuming_after_an_interruption_matches_an_uninterrupted_run() {
    resume_matches_an_uninterrupted_run(&SEED, 300);
}

#[test]
fn resuming_a_deep_run_matches_an_uninterrupted_run() {
    resume_matches_an_uninterrupted_run(&DEEP, 150);
}

#[test]
fn the_deep_network_is_trained_saved_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = data_stage(dir.path(), 150);
    let paths = Paths::under(&artifacts);
    run(&small_config(1), &DEEP, &paths, &QUIET).unwrap();
    let card = read_card(&paths.card).unwrap();
    assert_eq!(card.architecture_name, "deep");
    assert_eq!(card.architecture, Architecture::Deep.describe());
    assert_eq!(card.parameters, Deep::PARAMETERS);
    Deep::load(&paths.weights).expect("deep weights load back");
    let e = Cnn::load(&paths.weights).err().unwrap().to_string();
    assert!(e.contains("`deep`") && e.contains("`seed`"), "{e}");
    // A seed checkpoint cannot continue as a deep run.
    run(&small_config(2), &SEED, &paths, &QUIET).unwrap();
    let error = run(&small_config(2), &DEEP, &paths, &RESUME).unwrap_err();
    assert!(matches!(error, Error::CheckpointMismatch { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("different `[model]`"), "{message}");
}

fn resume_matches_an_uninterrupted_run(model: &ModelConfig, rows: usize) {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = data_stage(dir.path(), rows);
    let paths = Paths::under(&artifacts);
    let config = small_config(3);

    run(&config, model, &paths, &QUIET).unwrap();
    let uninterrupted_weights = read(&paths.weights);
    let uninterrupted_history = read_history(&paths.history).unwrap();
    for path in [
        &paths.weights,
        &paths.card,
        &paths.history,
        &paths.checkpoint,
    ] {
        std::fs::remove_file(path).unwrap();
    }

    // "Kill" the run after its first epoch: the checkpoint is there, no model.
    let error = run_interruptible(&config, model, &paths, &QUIET, &mut |epochs_done| {
        epochs_done == 1
    })
    .unwrap_err();
    assert!(
        matches!(error, Error::Interrupted { epochs_done: 1 }),
        "{error}"
    );
    assert!(paths.checkpoint.exists());
    assert!(!paths.weights.exists() && !paths.card.exists() && !paths.history.exists());

    run(&config, model, &paths, &RESUME).unwrap();
    assert_eq!(
        read(&paths.weights),
        uninterrupted_weights,
        "resume continues exactly"
    );
    let resumed_history = read_history(&paths.history).unwrap();
    assert_eq!(
        history_without_timing(&resumed_history),
        history_without_timing(&uninterrupted_history)
    );

    // Resuming a finished checkpoint rewrites the same model without training.
    std::fs::remove_file(&paths.weights).unwrap();
    run(&config, model, &paths, &RESUME).unwrap();
    assert_eq!(read(&paths.weights), uninterrupted_weights);
}

#[test]
fn an_interrupted_run_leaves_the_previous_model_intact() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = data_stage(dir.path(), 200);
    let paths = Paths::under(&artifacts);
    run(&small_config(1), &SEED, &paths, &QUIET).unwrap();
    let before = [
        read(&paths.weights),
        read(&paths.card),
        read(&paths.history),
    ];

    let other = Config {
        seed: 9,
        ..small_config(3)
    };
    run_interruptible(&other, &SEED, &paths, &QUIET, &mut |_| true).unwrap_err();
    assert_eq!(
        [
            read(&paths.weights),
            read(&paths.card),
            read(&paths.history)
        ],
        before
    );
}

#[test]
fn resume_refuses_a_missing_checkpoint_or_one_from_another_config() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = data_stage(dir.path(), 200);
    let paths = Paths::under(&artifacts);
    let config = small_config(2);

    let error = run(&config, &SEED, &paths, &RESUME).unwrap_err();
    assert!(
        matches!(&error, Error::NoCheckpoint { path } if *path == paths.checkpoint),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("checkpoint.safetensors") && message.contains("no checkpoint"),
        "{message}"
    );

    run_interruptible(&config, &SEED, &paths, &QUIET, &mut |_| true).unwrap_err();
    let changed = Config {
        learning_rate: 0.001,
        ..config.clone()
    };
    let message = run(&changed, &SEED, &paths, &RESUME)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("checkpoint.safetensors") && message.contains("different"),
        "{message}"
    );
    assert!(!paths.weights.exists());

    std::fs::write(&paths.checkpoint, b"HDRTRAIN\x01\x00").unwrap();
    let error = run(&config, &SEED, &paths, &RESUME).unwrap_err();
    assert!(matches!(error, Error::Model(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("checkpoint.safetensors") && message.contains("truncated"),
        "{message}"
    );
}

#[test]
fn divergence_writes_no_model() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = data_stage(dir.path(), 200);
    let paths = Paths::under(&artifacts);
    let config = Config {
        learning_rate: 1e6,
        ..small_config(3)
    };
    let error = run(&config, &SEED, &paths, &QUIET).unwrap_err();
    assert!(matches!(error, Error::Diverged { .. }), "{error}");
    assert!(error.to_string().contains("train.learning_rate"), "{error}");
    assert!(!paths.weights.exists() && !paths.card.exists() && !paths.history.exists());
}

#[test]
fn missing_or_corrupt_train_split_says_how_to_make_it() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(&dir.path().join("artifacts"));
    let error = run(&Config::default(), &SEED, &paths, &QUIET).unwrap_err();
    assert!(matches!(error, Error::Missing(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("train.parquet") && message.contains("cargo xtask data"),
        "{message}"
    );

    std::fs::create_dir_all(paths.train_split.parent().unwrap()).unwrap();
    std::fs::write(&paths.train_split, b"not a parquet file").unwrap();
    let error = run(&Config::default(), &SEED, &paths, &QUIET).unwrap_err();
    assert!(
        matches!(&error, Error::ReadSplit { path, .. } if *path == paths.train_split),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("train.parquet") && message.contains("cargo xtask data"),
        "{message}"
    );

    let message = run(
        &Config {
            epochs: 0,
            ..Config::default()
        },
        &SEED,
        &paths,
        &QUIET,
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("train.epochs"), "{message}");
}
