//! Inverted dropout with a mask drawn from a seed, so a training step is
//! reproducible and its mask can be drawn in parallel slices.

use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::shapes::Features;
use super::tensors::cached_tensor;
use crate::kernels::Buffer;

/// Inverted dropout on a batch of features: each feature is kept with
/// probability `1 - rate` and then scaled by `1 / (1 - rate)`; the mask
/// depends only on `seed`, the batch size, the width and `rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// Probability of dropping a feature, in [0, 1).
    pub rate: f32,
    /// Seed of the mask.
    pub seed: u64,
}

impl Dropout {
    /// The mask `[batch, N]` as a tensor on `dev` (allocated through its cache).
    pub fn mask<const N: usize>(&self, dev: &Cpu, batch: usize) -> Features<N> {
        let mut values = Buffer::take(batch * N);
        self.fill(&mut values);
        cached_tensor(dev, (batch, Const), &values)
    }

    /// `features * mask`, on the features' tape.
    pub fn apply<const N: usize, T: Tape<f32, Cpu>>(
        &self,
        features: Features<N, T>,
    ) -> Features<N, T> {
        let mask = self.mask::<N>(features.device(), features.shape().0);
        features * mask
    }

    /// Fills a whole row-major mask in parallel slices, each seeking to its
    /// place in the one random stream, so the values do not depend on the
    /// slicing or the thread count.
    fn fill(&self, mask: &mut [f32]) {
        const SLICE: usize = 16 * 1024;
        mask.par_chunks_mut(SLICE)
            .enumerate()
            .for_each(|(i, m)| self.fill_from(i * SLICE, m));
    }

    /// Writes the mask's values for features `first..first + out.len()`
    /// (counted over the whole row-major mask) into `out`.
    ///
    /// Feature `i` keeps what the `i`-th `rng.gen::<f32>()` of the seeded
    /// ChaCha8 stream decides (rand 0.8's `Standard` f32: the top 24 bits of a
    /// `u32` times 2^-24); the `u32`s are filled in bulk from word `first` on.
    fn fill_from(&self, first: usize, out: &mut [f32]) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_word_pos(first as u128);
        let scale = 1.0 / (1.0 - self.rate);
        let mut bits = [0u32; 256];
        for block in out.chunks_mut(bits.len()) {
            let bits = &mut bits[..block.len()];
            rng.fill(bits);
            for (m, &b) in block.iter_mut().zip(bits.iter()) {
                let uniform = (b >> 8) as f32 * (1.0 / (1u32 << 24) as f32);
                *m = if uniform < self.rate { 0.0 } else { scale };
            }
        }
    }
}

/// Applies `dropout` when given (training), passes `features` through otherwise.
pub(crate) fn maybe_dropout<const N: usize, T: Tape<f32, Cpu>>(
    features: Features<N, T>,
    dropout: Option<Dropout>,
) -> Features<N, T> {
    match dropout {
        Some(d) => d.apply(features),
        None => features,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_mask_values_equal_one_draw_per_feature() {
        const N: usize = 1600;
        for (batch, rate, seed) in [(1, 0.5, 3), (3, 0.25, 99), (2, 0.9, 0)] {
            let d = Dropout { rate, seed };
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let scale = 1.0 / (1.0 - rate);
            let want: Vec<f32> = (0..batch * N)
                .map(|_| if rng.gen::<f32>() < rate { 0.0 } else { scale })
                .collect();
            assert_eq!(d.mask::<N>(&Cpu::default(), batch).as_vec(), want);
            // Any slice drawn on its own equals the same slice of the whole mask.
            for (first, len) in [(0, 7), (5, 300), (N + 3, 1000)] {
                if first + len <= want.len() {
                    let mut part = vec![0.0; len];
                    d.fill_from(first, &mut part);
                    assert_eq!(part, want[first..first + len]);
                }
            }
        }
    }
}
