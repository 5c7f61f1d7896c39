//! The training stage: trains the CNN with Adam on the train split, with
//! validation, early stopping, checkpoints and progress.
//!
//! [`run`] reads the data stage's `train.parquet`, holds out a stratified
//! validation share, trains with [`hdr_model::Learner`] (Adam) on a fresh
//! seeded shuffle every epoch, augmenting the images as other writers and
//! other scans would differ ([`augment_batch`]), keeps the weights of the best
//! validation epoch, and writes `model.safetensors`, `model.json` and
//! `history.csv` together, only at the end ([`Paths`]; the file formats are
//! [`hdr_artifacts`]'). [`fit`] does the same in memory and writes nothing.
//! The images stay as the split's bytes throughout; each batch is scaled (and
//! augmented) into floats only when it is trained or validated on.
//!
//! Reproducibility: every random draw (initial weights, hold-out, shuffle,
//! augmentation, dropout) comes from a seed derived from `train.seed` and what
//! it is for (epoch, batch, image), so the same config and data give a
//! bit-identical weights file, whatever the number of threads, and a run
//! resumed from its checkpoint continues exactly as if never interrupted.

#![deny(missing_docs)]

mod augment;
mod checkpoint;
mod config;
mod error;
mod fit;
mod holdout;
mod run;
mod seeds;
mod trainer;

pub use augment::{
    augment_batch, augment_image, binarise, low_resolution, stroke, warp, Affine, Augmentation,
    Draw, Elastic, BINARISE_THRESHOLDS, ELASTIC_AMPLITUDE, LOW_RESOLUTION_SIDES, MAX_ROTATION,
    MAX_SHIFT_FRACTION, MAX_ZOOM,
};
pub use config::{Config, LrSchedule};
pub use error::Error;
pub use fit::{fit, validation_split, Fitted};
pub use hdr_artifacts::EpochRecord;
pub use run::{run, run_interruptible, Outputs, Paths, TrainOptions};
