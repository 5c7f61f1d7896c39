//! Adam with Keras' defaults, whose moments a checkpoint can read and restore.

use dfdx::optim::AdamConfig;
use dfdx::prelude::*;

use crate::error::ModelError;
use crate::io::TensorFile;
use crate::networks::{for_each_mut, for_each_ref, Network};

/// Adam with Keras' defaults (betas 0.9/0.999, epsilon 1e-7), using dfdx's
/// Adam update kernel but keeping the moments here, where checkpoints can
/// read and restore them (dfdx's `Adam` keeps them private).
pub(crate) struct AdamState {
    pub(crate) cfg: AdamConfig,
    pub(crate) step: i32,
    moment1: Gradients<f32, Cpu>,
    moment2: Gradients<f32, Cpu>,
}

/// Names of the moments in checkpoints: `adam.m.<parameter>`, `adam.v.<parameter>`.
const MOMENTS: [&str; 2] = ["adam.m.", "adam.v."];
/// Metadata key of the step count.
const STEP_KEY: &str = "adam_step";

impl AdamState {
    pub(crate) fn new(learning_rate: f32) -> Self {
        let cfg = AdamConfig {
            lr: learning_rate as f64,
            betas: [0.9, 0.999],
            eps: 1e-7,
            weight_decay: None,
        };
        Self {
            cfg,
            step: 0,
            moment1: Gradients::leaky(),
            moment2: Gradients::leaky(),
        }
    }

    /// One step on every parameter of `net` from `grads`.
    pub(crate) fn update<N: Network>(&mut self, net: &mut N, grads: &mut Gradients<f32, Cpu>) {
        self.step = self.step.checked_add(1).expect("fewer than 2^31 steps");
        let (cfg, step) = (self.cfg, self.step);
        let (m, v) = (&mut self.moment1, &mut self.moment2);
        let done: Result<(), std::convert::Infallible> = for_each_mut(net, |_, mut p| {
            p.adam_update(&cfg, step, [&mut *m, &mut *v], grads);
            Ok(())
        });
        let Ok(()) = done;
    }

    /// Writes the step count and both moments of every parameter of `net`
    /// (zeros before the first step) into `file`.
    pub(crate) fn write<N: Network>(&self, net: &N, file: &mut TensorFile) {
        // Reading a missing moment allocates zeros, hence the copies.
        let mut moments = [self.moment1.clone(), self.moment2.clone()];
        for_each_ref(net, |name, p| {
            for (prefix, m) in MOMENTS.iter().zip(&mut moments) {
                file.push_f32(format!("{prefix}{name}"), &p.dims(), p.entry(m));
            }
        });
        file.set_metadata(STEP_KEY, self.step.to_string());
    }

    /// Restores the step count and moments written by [`AdamState::write`]
    /// for the parameters of `net`.
    pub(crate) fn read<N: Network>(
        &mut self,
        net: &N,
        file: &mut TensorFile,
    ) -> Result<(), ModelError> {
        let text = file.require_metadata(STEP_KEY)?;
        let step: i32 = text.parse().ok().filter(|s| *s >= 0).ok_or_else(|| {
            file.error(format!("metadata `{STEP_KEY}` is not a step count: {text}"))
        })?;
        let mut result = Ok(());
        let moments = [&mut self.moment1, &mut self.moment2];
        let mut moments = moments;
        for_each_ref(net, |name, p| {
            for (prefix, m) in MOMENTS.iter().zip(moments.iter_mut()) {
                if result.is_err() {
                    return;
                }
                match file.take_f32(&format!("{prefix}{name}"), &p.dims()) {
                    Ok(values) => p.entry(m).copy_from_slice(&values),
                    Err(e) => result = Err(e),
                }
            }
        });
        self.step = step;
        result
    }
}
