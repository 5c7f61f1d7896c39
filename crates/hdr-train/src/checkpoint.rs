//! `checkpoint.safetensors`: everything needed to continue an interrupted
//! run, in an open format (readable with Python's `safetensors`).
//!
//! Tensors: the weights after the last finished epoch (`conv1.weight`, ...),
//! Adam's moments (`adam.m.<name>`, `adam.v.<name>`), the best weights so far
//! (`best.<name>`, absent before the first epoch) and the history so far
//! (`history`, f64 `[epochs, 8]` in `history.csv`'s column order).
//! Metadata: `format`, `architecture`, `adam_step`, `epochs_done`,
//! `best_epoch`, `best_val_accuracy`, `best_val_loss` (shortest decimal that
//! reads back to the same bits) and `fingerprint` (sha256 of the config and
//! train data the run was started with).
//!
//! The random streams need no saved position: every draw is keyed by (seed,
//! epoch, batch, ...), see [`crate::seeds`], so `epochs_done` is the position.

use std::path::Path;

use hdr_common::OutputSet;
use hdr_model::{AnyNetwork, Architecture, Cnn, Deep, TensorFile};

use crate::trainer::{AnyLearner, State};
use crate::{Config, EpochRecord, Error};

/// The metadata key naming the file's format (not `format`, which Hugging
/// Face tools read as the tensors' framework).
const FORMAT_KEY: &str = "hdr_format";
/// The format entry.
const FORMAT: &str = "hdr-train checkpoint v3";
/// Prefix of the best weights' tensors.
const BEST: &str = "best.";
/// Columns of the `history` tensor.
const HISTORY_COLUMNS: usize = 8;

/// The checkpoint of `state` as safetensors bytes.
fn to_bytes(fingerprint: &[u8; 32], state: &State) -> Vec<u8> {
    let mut file = TensorFile::new();
    state.learner.write_state(&mut file);
    match &state.best {
        Some(AnyNetwork::Seed(n)) => file.push_weights(n, BEST),
        Some(AnyNetwork::Deep(n)) => file.push_weights(n, BEST),
        None => {}
    }
    let history: Vec<f64> = state
        .history
        .iter()
        .flat_map(|r| {
            [
                r.epoch as f64,
                r.train_loss,
                r.train_accuracy,
                r.val_loss,
                r.val_accuracy,
                r.learning_rate,
                r.seconds,
                r.samples_per_s,
            ]
        })
        .collect();
    file.push_f64("history", &[state.history.len(), HISTORY_COLUMNS], &history);
    file.set_metadata(FORMAT_KEY, FORMAT);
    file.set_metadata("fingerprint", hex(fingerprint));
    file.set_metadata("epochs_done", state.epochs_done().to_string());
    file.set_metadata("best_epoch", state.best_epoch.to_string());
    file.set_metadata("best_val_accuracy", state.best_val_accuracy.to_string());
    file.set_metadata("best_val_loss", state.best_val_loss.to_string());
    file.to_bytes()
}

/// Reads [`to_bytes`]'s output. The fingerprint must be `fingerprint`:
/// another config or train split cannot continue this run.
fn from_bytes(
    bytes: &[u8],
    path: &Path,
    config: &Config,
    fingerprint: &[u8; 32],
) -> Result<State, Error> {
    let model_error = Error::Model;
    let mut file = TensorFile::from_bytes(bytes, path).map_err(model_error)?;
    if file.metadata(FORMAT_KEY) != Some(FORMAT) {
        return Err(Error::NotCheckpoint {
            path: path.to_path_buf(),
            key: FORMAT_KEY,
            expected: FORMAT,
        });
    }
    if file.require_metadata("fingerprint").map_err(model_error)? != hex(fingerprint) {
        return Err(Error::CheckpointMismatch {
            path: path.to_path_buf(),
        });
    }
    let number = |file: &TensorFile, key: &str| -> Result<f64, Error> {
        let text = file.require_metadata(key).map_err(model_error)?;
        text.parse().map_err(|_| {
            model_error(file.error(format!("metadata `{key}` is not a number: {text}")))
        })
    };
    let count = |file: &TensorFile, key: &str| -> Result<usize, Error> {
        let text = file.require_metadata(key).map_err(model_error)?;
        text.parse().map_err(|_| {
            model_error(file.error(format!("metadata `{key}` is not a count: {text}")))
        })
    };
    let epochs_done = count(&file, "epochs_done")?;
    let best_epoch = count(&file, "best_epoch")?;
    let best_val_accuracy = number(&file, "best_val_accuracy")?;
    let best_val_loss = number(&file, "best_val_loss")?;
    let arch_name = file.require_metadata("architecture").map_err(model_error)?;
    let architecture = Architecture::from_name(arch_name)
        .ok_or_else(|| model_error(file.error(format!("unknown architecture `{arch_name}`"))))?;
    let learner = AnyLearner::read_state(
        architecture,
        &mut file,
        config.learning_rate as f32,
        config.dropout as f32,
    )
    .map_err(model_error)?;
    let best = if epochs_done == 0 {
        None
    } else {
        Some(match architecture {
            Architecture::Seed => file.take_weights::<Cnn>(BEST).map(AnyNetwork::from),
            Architecture::Deep => file.take_weights::<Deep>(BEST).map(AnyNetwork::from),
        })
        .transpose()
        .map_err(model_error)?
    };
    let rows = file
        .take_f64("history", &[epochs_done, HISTORY_COLUMNS])
        .map_err(model_error)?;
    file.finish().map_err(model_error)?;
    let history = rows
        .chunks_exact(HISTORY_COLUMNS)
        .map(|r| EpochRecord {
            epoch: r[0] as usize,
            train_loss: r[1],
            train_accuracy: r[2],
            val_loss: r[3],
            val_accuracy: r[4],
            learning_rate: r[5],
            seconds: r[6],
            samples_per_s: r[7],
        })
        .collect();
    Ok(State {
        learner,
        best,
        best_epoch,
        best_val_accuracy,
        best_val_loss,
        history,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Saves `state` atomically to `path`.
pub(crate) fn save(path: &Path, fingerprint: &[u8; 32], state: &State) -> Result<(), Error> {
    let mut set = OutputSet::new();
    set.write(path, &to_bytes(fingerprint, state))
        .and_then(|()| set.commit().map(|_| ()))
        .map_err(|source| Error::WriteCheckpoint {
            path: path.to_path_buf(),
            source,
        })
}

/// Loads the state saved at `path`; errors name the file and say how to start afresh.
pub(crate) fn load(config: &Config, path: &Path, fingerprint: &[u8; 32]) -> Result<State, Error> {
    let bytes = std::fs::read(path).map_err(|source| {
        let path = path.to_path_buf();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NoCheckpoint { path }
        } else {
            Error::Io { path, source }
        }
    })?;
    from_bytes(&bytes, path, config, fingerprint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(architecture: Architecture) -> State {
        let mut state = State::fresh(&Config::default(), architecture);
        let (images, labels) = (vec![0.5f32; 2 * 784], vec![3u8, 7]);
        state.learner.train_step(&images, &labels, 1);
        state.best = Some(state.learner.network());
        state.learner.train_step(&images, &labels, 2);
        state.best_epoch = 1;
        state.best_val_accuracy = 0.987_654_321;
        state.best_val_loss = 0.0432;
        state.history = (1..=2)
            .map(|epoch| EpochRecord {
                epoch,
                train_loss: 0.1 / epoch as f64,
                train_accuracy: 0.9,
                val_loss: 0.2,
                val_accuracy: 0.95 + epoch as f64 / 1000.0,
                learning_rate: 1e-3,
                seconds: 1.5,
                samples_per_s: 12_345.6,
            })
            .collect();
        state
    }

    #[test]
    fn round_trips_exactly() {
        for architecture in Architecture::ALL {
            let state = sample(architecture);
            let bytes = to_bytes(&[7; 32], &state);
            let back = from_bytes(&bytes, Path::new("c"), &Config::default(), &[7; 32]).unwrap();
            assert_eq!(back.history, state.history);
            assert_eq!(
                (back.best_epoch, back.best_val_accuracy, back.best_val_loss),
                (
                    state.best_epoch,
                    state.best_val_accuracy,
                    state.best_val_loss
                )
            );
            assert_eq!(
                back.best.unwrap().to_safetensors(),
                state.best.as_ref().unwrap().to_safetensors()
            );
            assert_eq!(
                to_bytes(&[7; 32], &back_again(&bytes)),
                bytes,
                "{architecture}"
            );
        }
    }

    fn back_again(bytes: &[u8]) -> State {
        from_bytes(bytes, Path::new("c"), &Config::default(), &[7; 32]).unwrap()
    }

    #[test]
    fn opens_as_plain_safetensors_with_named_tensors() {
        let bytes = to_bytes(&[7; 32], &sample(Architecture::Seed));
        let file = TensorFile::from_bytes(&bytes, Path::new("c")).unwrap();
        let names: Vec<&str> = file.names().collect();
        for name in [
            "conv1.weight",
            "adam.m.conv1.weight",
            "adam.v.dense.bias",
            "best.dense.weight",
            "history",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        assert_eq!(file.metadata("epochs_done"), Some("2"));
        assert_eq!(file.metadata("architecture"), Some("seed"));
        assert_eq!(file.metadata("adam_step"), Some("2"));
    }

    #[test]
    fn truncation_garbage_and_another_fingerprint_are_errors_naming_the_file() {
        let bytes = to_bytes(&[7; 32], &sample(Architecture::Seed));
        let path = Path::new("dir/checkpoint.safetensors");
        let config = Config::default();
        for cut in [0, 5, 20, 60, bytes.len() - 1] {
            let err = from_bytes(&bytes[..cut], path, &config, &[7; 32])
                .err()
                .unwrap();
            assert!(
                err.to_string().contains("dir/checkpoint.safetensors"),
                "{err}"
            );
        }
        let err = from_bytes(b"PK\x03\x04 something else", path, &config, &[7; 32])
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("not a readable safetensors file"),
            "{err}"
        );
        let weights = Cnn::new(1).to_safetensors();
        let err = from_bytes(&weights, path, &config, &[7; 32]).err().unwrap();
        assert!(matches!(err, Error::NotCheckpoint { .. }), "{err}");
        assert!(
            err.to_string().contains("not an hdr-train checkpoint"),
            "{err}"
        );
        let err = from_bytes(&bytes, path, &config, &[8; 32]).err().unwrap();
        assert!(matches!(err, Error::CheckpointMismatch { .. }), "{err}");
        assert!(err.to_string().contains("different"), "{err}");
    }
}
