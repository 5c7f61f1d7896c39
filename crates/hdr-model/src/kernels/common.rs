//! Conventions every kernel shares: the chunking that keeps results
//! independent of the thread count, and the argmax marker of dead windows.

use rayon::prelude::*;

/// Samples per parallel work item. Fixed (not derived from the thread count)
/// so that the order of floating-point reductions never changes.
pub(crate) const CHUNK: usize = 8;

/// Marks a pooling window whose maximum was not positive after a fused ReLU:
/// no gradient flows back through it.
pub(crate) const NO_ARGMAX: u8 = u8::MAX;

/// The element-wise sum of `get(part)` over `parts`, added in `parts` order
/// (so the result does not depend on the thread count), in parallel over elements.
pub(crate) fn ordered_sum<T: Sync>(parts: &[T], get: impl Fn(&T) -> &[f32] + Sync) -> Vec<f32> {
    const BLOCK: usize = 2048;
    let mut out = vec![0.0; get(&parts[0]).len()];
    out.par_chunks_mut(BLOCK).enumerate().for_each(|(b, o)| {
        let range = b * BLOCK..b * BLOCK + o.len();
        for p in parts {
            o.iter_mut()
                .zip(&get(p)[range.clone()])
                .for_each(|(a, v)| *a += v);
        }
    });
    out
}
