//! Winograd F(4x4, 3x3): each 4x4 tile of outputs from a 6x6 window, 36
//! products per channel pair where a direct convolution does 144 (F(2x2,
//! 3x3) 64), and one window read, transformed and written per 16 outputs
//! instead of per 4.
//!
//! The matrices are Lavin & Gray's (2016), from the points 0, ±1, ±2 and ∞:
//!
//! ```text
//! Bᵀ = [4  0 -5  0 1 0;  0 -4 -4  1 1 0;  0 4 -4 -1 1 0;
//!       0 -2 -1  2 1 0;  0  2 -1 -2 1 0;  0 4  0 -5 0 1]
//! G  = [1/4 0 0;  -1/6 -1/6 -1/6;  -1/6 1/6 -1/6;
//!       1/24 1/12 1/6;  1/24 -1/12 1/6;  0 0 1]
//! Aᵀ = [1 1 1 1 1 0;  0 1 -1 2 -2 0;  0 1 1 4 4 0;  0 1 -1 8 -8 1]
//! ```
//!
//! The tile transforms scale by small integers, so they round more than
//! F(2x2, 3x3)'s adds: outputs stay within about 1e-5 of a direct
//! convolution's, relative to its largest (the tests state the bounds).
//! The kernel transforms, with their sixths, run once per batch in f64.

use rayon::prelude::*;

use super::{between_grids, from_block, from_runs, Transform, Value, Variant};

/// The F(4x4, 3x3) tiling.
pub(in crate::kernels::winograd) struct F4;

/// `G`, for the kernel transforms.
const G: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

impl Variant for F4 {
    const SIDE: usize = 4;

    #[inline(always)]
    fn input_tile<T: Value>(d: &[f32], row_stride: usize, v: &mut [f32], c: usize) {
        between_grids::<T, Input, 6, 6, 6, 6, false>((d, row_stride), (v, 6 * c), c)
    }
    #[inline(always)]
    fn output_tile<T: Value>(m: &[f32], y: &mut [f32], c: usize) {
        from_block::<T, Output, 6, 6, 4, 4>(m, y, c)
    }
    #[inline(always)]
    fn output_grad_tile<T: Value>(dy: &[&[f32]], m: &mut [f32], c: usize) {
        from_runs::<T, OutputGrad, 4, 4, 6, 6>(dy, m, c)
    }
    #[inline(always)]
    fn input_grad_tile<T: Value, const ADD: bool>(
        dv: &[f32],
        d: &mut [f32],
        row_stride: usize,
        c: usize,
    ) {
        between_grids::<T, InputGrad, 6, 6, 6, 6, ADD>((dv, 6 * c), (d, row_stride), c)
    }
    fn kernel(w: &[f32], pair: usize) -> Vec<f32> {
        assert_eq!(w.len(), 9 * pair);
        sandwich(&G, w, pair)
    }
    fn kernel_grad(du: &[f32], pair: usize) -> Vec<f32> {
        assert_eq!(du.len(), 36 * pair);
        let gt: [[f64; 6]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| G[j][i]));
        sandwich(&gt, du, pair)
    }
}

/// `M X Mᵀ` of each channel's `I x I` grid in `x` (runs of `pair` floats,
/// row by row), in f64: the `O x O` grids, rounded once. Each output run is
/// its own weighted sum of input runs, so they run in parallel (this is
/// once per batch, between the steps' parallel parts), and the loops run
/// across channels, so they vectorise.
fn sandwich<const O: usize, const I: usize>(m: &[[f64; I]; O], x: &[f32], pair: usize) -> Vec<f32> {
    const BLOCK: usize = 256;
    let mut out = vec![0.0; O * O * pair];
    out.par_chunks_mut(pair).enumerate().for_each(|(k, run)| {
        let (i, j) = (k / O, k % O);
        let mut acc = [0.0f64; BLOCK];
        for first in (0..pair).step_by(BLOCK) {
            let len = BLOCK.min(pair - first);
            let acc = &mut acc[..len];
            acc.fill(0.0);
            for r in 0..I {
                for s in 0..I {
                    let weight = m[i][r] * m[j][s];
                    if weight == 0.0 {
                        continue;
                    }
                    let src = &x[(r * I + s) * pair + first..][..len];
                    for (a, v) in acc.iter_mut().zip(src) {
                        *a += weight * *v as f64;
                    }
                }
            }
            for (o, a) in run[first..first + len].iter_mut().zip(acc.iter()) {
                *o = *a as f32;
            }
        }
    });
    out
}

/// `Bᵀ d B`, by shared partial sums.
struct Input;
impl<T: Value> Transform<T, 6, 6, 6, 6> for Input {
    #[inline(always)]
    fn down([z0, z1, z2, z3, z4, z5]: [T; 6]) -> [T; 6] {
        let (outer, inner) = (z4.sub(z2), z3.sub(z1).scale(2.0));
        [
            z0.scale(4.0).sub(z2.scale(5.0)).add(z4),
            z3.add(z4).sub(z1.add(z2).scale(4.0)),
            z4.sub(z3).add(z1.sub(z2).scale(4.0)),
            outer.add(inner),
            outer.sub(inner),
            z1.scale(4.0).sub(z3.scale(5.0)).add(z5),
        ]
    }
    #[inline(always)]
    fn along(z: [T; 6]) -> [T; 6] {
        Self::down(z)
    }
}

/// `Aᵀ m A`.
struct Output;
impl<T: Value> Transform<T, 6, 6, 4, 4> for Output {
    #[inline(always)]
    fn down([z0, z1, z2, z3, z4, z5]: [T; 6]) -> [T; 4] {
        let (s12, d12, s34, d34) = (z1.add(z2), z1.sub(z2), z3.add(z4), z3.sub(z4));
        [
            z0.add(s12).add(s34),
            d12.add(d34.scale(2.0)),
            s12.add(s34.scale(4.0)),
            d12.add(d34.scale(8.0)).add(z5),
        ]
    }
    #[inline(always)]
    fn along(z: [T; 6]) -> [T; 4] {
        Self::down(z)
    }
}

/// `A dY Aᵀ`.
struct OutputGrad;
impl<T: Value> Transform<T, 4, 4, 6, 6> for OutputGrad {
    #[inline(always)]
    fn down([z0, z1, z2, z3]: [T; 4]) -> [T; 6] {
        let (even, odd) = (z0.add(z2), z1.add(z3));
        let (even4, odd8) = (z0.add(z2.scale(4.0)), z1.scale(2.0).add(z3.scale(8.0)));
        [
            z0,
            even.add(odd),
            even.sub(odd),
            even4.add(odd8),
            even4.sub(odd8),
            z3,
        ]
    }
    #[inline(always)]
    fn along(z: [T; 4]) -> [T; 6] {
        Self::down(z)
    }
}

/// `B dV Bᵀ`.
struct InputGrad;
impl<T: Value> Transform<T, 6, 6, 6, 6> for InputGrad {
    #[inline(always)]
    fn down([z0, z1, z2, z3, z4, z5]: [T; 6]) -> [T; 6] {
        let (s12, s34) = (z1.add(z2), z3.add(z4));
        [
            z0.scale(4.0),
            z2.sub(z1).add(z5).scale(4.0).add(z4.sub(z3).scale(2.0)),
            z0.scale(-5.0).sub(s12.scale(4.0)).sub(s34),
            z1.sub(z2).add(z3.sub(z4).scale(2.0)).sub(z5.scale(5.0)),
            z0.add(s12).add(s34),
            z5,
        ]
    }
    #[inline(always)]
    fn along(z: [T; 6]) -> [T; 6] {
        Self::down(z)
    }
}

#[cfg(test)]
mod tests {
    use super::super::checks;
    use super::*;

    fn rows<const R: usize, const C: usize>(m: [[f64; C]; R]) -> Vec<Vec<f64>> {
        m.iter().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn transforms_are_the_matrix_products() {
        let bt = rows([
            [4., 0., -5., 0., 1., 0.],
            [0., -4., -4., 1., 1., 0.],
            [0., 4., -4., -1., 1., 0.],
            [0., -2., -1., 2., 1., 0.],
            [0., 2., -1., -2., 1., 0.],
            [0., 4., 0., -5., 0., 1.],
        ]);
        let at = rows([
            [1., 1., 1., 1., 1., 0.],
            [0., 1., -1., 2., -2., 0.],
            [0., 1., 1., 4., 4., 0.],
            [0., 1., -1., 8., -8., 1.],
        ]);
        checks::tile_transforms::<F4>(&bt, &at);
        // Computed in f64 and rounded once.
        checks::kernel_transforms::<F4>(&rows(G), 1e-7);
    }
}
