//! Winograd F(2x2, 3x3): each 2x2 tile of outputs from a 4x4 window, 16
//! products per channel pair where a direct convolution does 36.
//!
//! The matrices are Lavin & Gray's (2016) with the signs of `B`'s and `A`'s
//! last rows flipped (the two flips cancel in the product), so that no
//! transform negates: `Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 -1 0 1]`,
//! `G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]`, `Aᵀ = [1 1 1 0; 0 1 -1 1]`. The
//! tile transforms only add and subtract; the kernel's also halve, exactly.

use super::{between_grids, from_block, from_runs, Transform, Value, Variant};

/// The F(2x2, 3x3) tiling.
pub(in crate::kernels::winograd) struct F2;

impl Variant for F2 {
    const SIDE: usize = 2;

    #[inline(always)]
    fn input_tile<T: Value>(d: &[f32], row_stride: usize, v: &mut [f32], c: usize) {
        between_grids::<T, Input, 4, 4, 4, 4, false>((d, row_stride), (v, 4 * c), c)
    }
    #[inline(always)]
    fn output_tile<T: Value>(m: &[f32], y: &mut [f32], c: usize) {
        from_block::<T, Output, 4, 4, 2, 2>(m, y, c)
    }
    #[inline(always)]
    fn output_grad_tile<T: Value>(dy: &[&[f32]], m: &mut [f32], c: usize) {
        from_runs::<T, OutputGrad, 2, 2, 4, 4>(dy, m, c)
    }
    #[inline(always)]
    fn input_grad_tile<T: Value, const ADD: bool>(
        dv: &[f32],
        d: &mut [f32],
        row_stride: usize,
        c: usize,
    ) {
        between_grids::<T, InputGrad, 4, 4, 4, 4, ADD>((dv, 4 * c), (d, row_stride), c)
    }
    fn kernel(w: &[f32], pair: usize) -> Vec<f32> {
        assert_eq!(w.len(), 9 * pair);
        let mut u = vec![0.0; 16 * pair];
        from_block::<f32, Kernel, 3, 3, 4, 4>(w, &mut u, pair);
        u
    }
    fn kernel_grad(du: &[f32], pair: usize) -> Vec<f32> {
        assert_eq!(du.len(), 16 * pair);
        let mut dw = vec![0.0; 9 * pair];
        from_block::<f32, KernelGrad, 4, 4, 3, 3>(du, &mut dw, pair);
        dw
    }
}

/// `Bᵀ d B`: `Bᵀ z = (z0 - z2, z1 + z2, z2 - z1, z3 - z1)`.
struct Input;
impl<T: Value> Transform<T, 4, 4, 4, 4> for Input {
    #[inline(always)]
    fn down([z0, z1, z2, z3]: [T; 4]) -> [T; 4] {
        [z0.sub(z2), z1.add(z2), z2.sub(z1), z3.sub(z1)]
    }
    #[inline(always)]
    fn along(z: [T; 4]) -> [T; 4] {
        Self::down(z)
    }
}

/// `Aᵀ m A`: `Aᵀ z = (z0 + z1 + z2, z1 - z2 + z3)`.
struct Output;
impl<T: Value> Transform<T, 4, 4, 2, 2> for Output {
    #[inline(always)]
    fn down([z0, z1, z2, z3]: [T; 4]) -> [T; 2] {
        [z0.add(z1).add(z2), z1.sub(z2).add(z3)]
    }
    #[inline(always)]
    fn along(z: [T; 4]) -> [T; 2] {
        Self::down(z)
    }
}

/// `A dY Aᵀ`: `A z = (z0, z0 + z1, z0 - z1, z1)`.
struct OutputGrad;
impl<T: Value> Transform<T, 2, 2, 4, 4> for OutputGrad {
    #[inline(always)]
    fn down([z0, z1]: [T; 2]) -> [T; 4] {
        [z0, z0.add(z1), z0.sub(z1), z1]
    }
    #[inline(always)]
    fn along(z: [T; 2]) -> [T; 4] {
        Self::down(z)
    }
}

/// `B dV Bᵀ`: `B z = (z0, z1 - z2 - z3, z1 + z2 - z0, z3)`.
struct InputGrad;
impl<T: Value> Transform<T, 4, 4, 4, 4> for InputGrad {
    #[inline(always)]
    fn down([z0, z1, z2, z3]: [T; 4]) -> [T; 4] {
        [z0, z1.sub(z2).sub(z3), z1.add(z2).sub(z0), z3]
    }
    #[inline(always)]
    fn along(z: [T; 4]) -> [T; 4] {
        Self::down(z)
    }
}

/// `G w Gᵀ`: `G z = (z0, (z0 + z1 + z2) / 2, (z0 - z1 + z2) / 2, z2)`. Runs
/// once per batch, on floats.
struct Kernel;
impl Transform<f32, 3, 3, 4, 4> for Kernel {
    fn down([z0, z1, z2]: [f32; 3]) -> [f32; 4] {
        [z0, (z0 + z1 + z2) * 0.5, (z0 - z1 + z2) * 0.5, z2]
    }
    fn along(z: [f32; 3]) -> [f32; 4] {
        Self::down(z)
    }
}

/// `Gᵀ dU G`: `Gᵀ z = (z0 + (z1 + z2) / 2, (z1 - z2) / 2, (z1 + z2) / 2 + z3)`.
struct KernelGrad;
impl Transform<f32, 4, 4, 3, 3> for KernelGrad {
    fn down([z0, z1, z2, z3]: [f32; 4]) -> [f32; 3] {
        let half_sum = (z1 + z2) * 0.5;
        [z0 + half_sum, (z1 - z2) * 0.5, half_sum + z3]
    }
    fn along(z: [f32; 4]) -> [f32; 3] {
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
            [1., 0., -1., 0.],
            [0., 1., 1., 0.],
            [0., -1., 1., 0.],
            [0., -1., 0., 1.],
        ]);
        let at = rows([[1., 1., 1., 0.], [0., 1., -1., 1.]]);
        checks::tile_transforms::<F2>(&bt, &at);
        let g = rows([
            [1., 0., 0.],
            [0.5, 0.5, 0.5],
            [0.5, -0.5, 0.5],
            [0., 0., 1.],
        ]);
        // Halving is exact: the kernel transforms are too.
        checks::kernel_transforms::<F2>(&g, 0.0);
    }
}
