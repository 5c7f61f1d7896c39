//! Training in memory: [`fit`] and the validation hold-out it uses.

use hdr_artifacts::{Dataset, EpochRecord};
use hdr_common::{Progress, RunOptions};
use hdr_model::ModelConfig;

use crate::trainer::{self, AfterEpoch, State};
use crate::{Config, Error};

/// A trained network and how training went.
pub struct Fitted {
    /// The kept (best-validation) network.
    pub network: hdr_model::AnyNetwork,
    /// One record per epoch run.
    pub history: Vec<EpochRecord>,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
    /// Validation accuracy of the kept weights.
    pub best_val_accuracy: f64,
}

/// Trains the `model` network on an in-memory dataset (validation is held
/// out of it), writing nothing.
pub fn fit(
    config: &Config,
    model: &ModelConfig,
    data: &Dataset,
    opts: &RunOptions,
) -> Result<Fitted, Error> {
    config.validate()?;
    trainer::train(
        config,
        data,
        &Dataset::default(),
        Progress::new(opts.quiet),
        State::fresh(config, model.architecture),
        &mut |_| Ok(AfterEpoch::Continue),
    )
}

/// The training and validation images [`fit`] uses for `data`: a stratified
/// hold-out of `train.validation_fraction` of each class, seeded by `train.seed`.
pub fn validation_split(config: &Config, data: &Dataset) -> Result<(Dataset, Dataset), Error> {
    config.validate()?;
    let split = trainer::hold_out(config, data)?;
    Ok((data.subset(&split.train), data.subset(&split.validation)))
}
