//! The F(2x2, 3x3) transforms of one tile (and of the kernel), channel by
//! channel.
//!
//! Each is separable: a 1-D transform down every column of a small grid,
//! then along every row. The grid holds one [`Value`] per position: a
//! vector of channels in the AVX-512 and AVX2 builds, so a tile's whole
//! grid lives in registers, or one float (the portable build, and the
//! channels past the last whole vector). Both compute each channel with the
//! same operations in the same order, so every build gives the same bits.
//!
//! The matrices are Lavin & Gray's (2016) with the signs of `B`'s and `A`'s
//! last rows flipped (the two flips cancel in the product), so that no
//! transform negates: `Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 -1 0 1]`,
//! `G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]`, `Aᵀ = [1 1 1 0; 0 1 -1 1]`. The
//! tile transforms only add and subtract; the kernel's also halve, exactly.

// Index loops read like the matrix algebra, and the vector builds need
// loops, not iterator closures (see `Transform`).
#![allow(clippy::needless_range_loop)]

use crate::kernels::gemm::{matmul, Mat};

/// What the tile transforms compute with: one float, or one vector of them.
pub(super) trait Value: Copy {
    /// Channels one value holds.
    const W: usize;
    /// # Safety
    /// `p` is valid for `W` floats (and, for vectors, the CPU has their instruction set).
    unsafe fn load(p: *const f32) -> Self;
    /// # Safety
    /// As [`Value::load`].
    unsafe fn store(self, p: *mut f32);
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
    /// `dst (+)= lhs * rhs` as [`matmul`]: a block's channel products, on
    /// the gemm crate for floats (the portable path) and on register-blocked
    /// vector kernels for vectors where the shapes allow (`gemm::lanes`).
    ///
    /// # Safety
    /// For vectors, the CPU has their instruction set.
    unsafe fn product(dst: &mut [f32], dst_rs: usize, accumulate: bool, lhs: Mat, rhs: Mat) {
        matmul(dst, dst_rs, accumulate, lhs, rhs)
    }
}

impl Value for f32 {
    const W: usize = 1;
    // SAFETY: callers keep `Value::load`'s contract (`# Safety` above).
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller's contract.
        unsafe { *p }
    }
    // SAFETY: callers keep `Value::store`'s contract.
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller's contract.
        unsafe { *p = self }
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self + other
    }
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        self - other
    }
}

/// A vector of `S::W` channels. Only [`Value::load`] makes one, and its
/// contract has the CPU run `S`'s instructions, so the arithmetic is safe.
#[cfg(target_arch = "x86_64")]
pub(super) struct Vector<S: crate::kernels::simd::Lanes>(S::F);

#[cfg(target_arch = "x86_64")]
impl<S: crate::kernels::simd::Lanes> Clone for Vector<S> {
    fn clone(&self) -> Self {
        *self
    }
}

#[cfg(target_arch = "x86_64")]
impl<S: crate::kernels::simd::Lanes> Copy for Vector<S> {}

#[cfg(target_arch = "x86_64")]
impl<S: crate::kernels::simd::Lanes> Value for Vector<S> {
    const W: usize = S::W;
    // SAFETY: callers keep `Value::load`'s contract, CPU features included.
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller's contract.
        Self(unsafe { S::load(p) })
    }
    // SAFETY: callers keep `Value::store`'s contract.
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller's contract.
        unsafe { S::store(p, self.0) }
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        // SAFETY: a `Vector` exists, so the CPU has `S`'s instruction set (above).
        Self(unsafe { S::add(self.0, other.0) })
    }
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        // SAFETY: as in `add`.
        Self(unsafe { S::sub(self.0, other.0) })
    }
    // SAFETY: callers keep `Value::product`'s contract.
    #[inline(always)]
    unsafe fn product(dst: &mut [f32], dst_rs: usize, accumulate: bool, lhs: Mat, rhs: Mat) {
        // SAFETY: the caller's contract: the CPU has `S`.
        if !unsafe { crate::kernels::gemm::lanes::matmul::<S>(dst, dst_rs, accumulate, lhs, rhs) } {
            matmul(dst, dst_rs, accumulate, lhs, rhs)
        }
    }
}

/// A separable 2-D transform: `down` each column of an `RI x CI` grid of
/// `T`, then `along` each row, giving `RO x CO`. Static functions, so the
/// vector builds call them directly and compile them with their features
/// (a closure, a function pointer or `array::from_fn` would be a separate
/// function without them, and every intrinsic in it a call).
trait Transform<T, const RI: usize, const CI: usize, const RO: usize, const CO: usize> {
    fn down(z: [T; RI]) -> [T; RO];
    fn along(z: [T; CI]) -> [T; CO];

    #[inline(always)]
    fn apply(grid: [[T; CI]; RI]) -> [[T; CO]; RO]
    where
        T: Copy,
    {
        let mut columns = [[grid[0][0]; RO]; CI];
        for j in 0..CI {
            let mut column = [grid[0][j]; RI];
            for i in 0..RI {
                column[i] = grid[i][j];
            }
            columns[j] = Self::down(column);
        }
        let mut out = [[grid[0][0]; CO]; RO];
        for i in 0..RO {
            let mut row = [columns[0][i]; CI];
            for j in 0..CI {
                row[j] = columns[j][i];
            }
            out[i] = Self::along(row);
        }
        out
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

/// Reads a `RI x CI` grid of `V` at channel `ch` of the runs `src`,
/// transforms it by `X` and writes output `k` (row by row) to `dst + k * c + ch`.
///
/// # Safety
/// Every `src[i][j]` is valid for `ch + V::W` floats, `dst` for
/// `(RO * CO - 1) * c + ch + V::W`, and the CPU runs `V`'s instructions.
#[inline(always)]
unsafe fn grid_at<V, X, const RI: usize, const CI: usize, const RO: usize, const CO: usize>(
    src: &[[*const f32; CI]; RI],
    dst: *mut f32,
    (c, ch): (usize, usize),
) where
    V: Value,
    X: Transform<V, RI, CI, RO, CO>,
{
    // SAFETY: the caller's contract.
    unsafe {
        let first = V::load(src[0][0].add(ch));
        let mut grid = [[first; CI]; RI];
        for i in 0..RI {
            for j in 0..CI {
                grid[i][j] = V::load(src[i][j].add(ch));
            }
        }
        let out = X::apply(grid);
        for i in 0..RO {
            for j in 0..CO {
                out[i][j].store(dst.add((i * CO + j) * c + ch));
            }
        }
    }
}

/// Transform `$X` of one tile over all `c` channels: `T` wide, then float
/// by float.
macro_rules! tile {
    ($T:ty, $X:ty, $src:expr, $dst:expr, $c:expr) => {{
        let (src, dst, c) = ($src, $dst, $c);
        #[allow(clippy::modulo_one)] // the float build: one channel per value
        let whole = c - c % <$T>::W;
        let mut ch = 0;
        while ch < whole {
            // SAFETY: the callers assert the lengths `grid_at` needs.
            unsafe { grid_at::<$T, $X, _, _, _, _>(&src, dst, (c, ch)) };
            ch += <$T>::W;
        }
        while ch < c {
            // SAFETY: as above.
            unsafe { grid_at::<f32, $X, _, _, _, _>(&src, dst, (c, ch)) };
            ch += 1;
        }
    }};
}

/// Pointers to `N x M` runs `c` floats apart, row by row, from `base`.
#[inline(always)]
fn runs<const N: usize, const M: usize>(base: *const f32, c: usize) -> [[*const f32; M]; N] {
    let mut out = [[base; M]; N];
    for i in 0..N {
        for j in 0..M {
            out[i][j] = base.wrapping_add((i * M + j) * c);
        }
    }
    out
}

/// `V = Bᵀ d B` of one window: `d` its 16 runs of `c` input channels, row
/// by row; `v` gets the 16 transformed runs, position by position.
#[inline(always)]
pub(super) fn input_tile<T: Value>(d: &[&[f32]; 16], v: &mut [f32], c: usize) {
    assert!(d.iter().all(|r| r.len() >= c) && v.len() >= 16 * c);
    let mut src = [[d[0].as_ptr(); 4]; 4];
    for (k, run) in d.iter().enumerate() {
        src[k / 4][k % 4] = run.as_ptr();
    }
    tile!(T, Input, src, v.as_mut_ptr(), c);
}

/// `Y = Aᵀ m A` of one tile: `m` its 16 products (runs of `c` output
/// channels); `y` gets the 2x2 outputs, row by row.
#[inline(always)]
pub(super) fn output_tile<T: Value>(m: &[f32], y: &mut [f32], c: usize) {
    assert!(m.len() >= 16 * c && y.len() >= 4 * c);
    tile!(T, Output, runs::<4, 4>(m.as_ptr(), c), y.as_mut_ptr(), c);
}

/// `M = A dY Aᵀ` of one tile: `dy` the gradients of its 2x2 outputs, row
/// by row; `m` gets the 16 transformed runs.
#[inline(always)]
pub(super) fn output_grad_tile<T: Value>(dy: &[&[f32]; 4], m: &mut [f32], c: usize) {
    assert!(dy.iter().all(|r| r.len() >= c) && m.len() >= 16 * c);
    let src = [
        [dy[0].as_ptr(), dy[1].as_ptr()],
        [dy[2].as_ptr(), dy[3].as_ptr()],
    ];
    tile!(T, OutputGrad, src, m.as_mut_ptr(), c);
}

/// `B dV Bᵀ` of one tile: `dv` its 16 transformed input-gradient runs;
/// `d` gets the gradients of its 4x4 input window, row by row.
#[inline(always)]
pub(super) fn input_grad_tile<T: Value>(dv: &[f32], d: &mut [f32], c: usize) {
    assert!(dv.len() >= 16 * c && d.len() >= 16 * c);
    tile!(
        T,
        InputGrad,
        runs::<4, 4>(dv.as_ptr(), c),
        d.as_mut_ptr(),
        c
    );
}

/// `U = G w Gᵀ` of a 3x3 kernel whose 9 taps (row by row) are runs of
/// `pair` floats in `w`: the 16 transformed runs.
pub(super) fn kernel(w: &[f32], pair: usize) -> Vec<f32> {
    assert_eq!(w.len(), 9 * pair);
    let mut u = vec![0.0; 16 * pair];
    tile!(
        f32,
        Kernel,
        runs::<3, 3>(w.as_ptr(), pair),
        u.as_mut_ptr(),
        pair
    );
    u
}

/// `dW = Gᵀ dU G`: the gradient of the 9 taps from that of the 16
/// transformed runs (each `pair` floats).
pub(super) fn kernel_grad(du: &[f32], pair: usize) -> Vec<f32> {
    assert_eq!(du.len(), 16 * pair);
    let mut dw = vec![0.0; 9 * pair];
    tile!(
        f32,
        KernelGrad,
        runs::<4, 4>(du.as_ptr(), pair),
        dw.as_mut_ptr(),
        pair
    );
    dw
}

#[cfg(test)]
mod tests {
    use std::array::from_fn;

    use super::*;

    /// Runs of `c` floats: run `k` holds `k * 100 + channel`.
    fn runs(count: usize, c: usize) -> Vec<f32> {
        (0..count * c)
            .map(|i| ((i / c) * 100 + i % c) as f32)
            .collect()
    }

    /// The transforms against the matrices written out, in f64, on a
    /// channel count that ends with a partial block.
    #[test]
    fn tile_transforms_are_the_matrix_products() {
        let c = 16 + 3;
        let bt_m = [
            [1., 0., -1., 0.],
            [0., 1., 1., 0.],
            [0., -1., 1., 0.],
            [0., -1., 0., 1.],
        ];
        let at_m = [[1., 1., 1., 0.], [0., 1., -1., 1.]];
        // X' = P X Qᵀ for a grid X of runs (row-major, `cols` wide).
        fn product<const RO: usize, const RI: usize, const CO: usize, const CI: usize>(
            p: &[[f64; RI]; RO],
            q: &[[f64; CI]; CO],
            x: &[f32],
            c: usize,
        ) -> Vec<f64> {
            let mut out = vec![0.0; RO * CO * c];
            for i in 0..RO {
                for j in 0..CO {
                    for ch in 0..c {
                        out[(i * CO + j) * c + ch] = (0..RI)
                            .flat_map(|r| (0..CI).map(move |s| (r, s)))
                            .map(|(r, s)| p[i][r] * q[j][s] * x[(r * CI + s) * c + ch] as f64)
                            .sum();
                    }
                }
            }
            out
        }
        let check = |got: &[f32], want: Vec<f64>, what: &str| {
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(*g as f64, *w, "{what} value {k}");
            }
        };

        let x = runs(16, c);
        let window: [&[f32]; 16] = from_fn(|k| &x[k * c..(k + 1) * c]);
        let mut v = vec![0.0; 16 * c];
        input_tile::<f32>(&window, &mut v, c);
        check(&v, product(&bt_m, &bt_m, &x, c), "Bᵀ d B");

        let mut y = vec![0.0; 4 * c];
        output_tile::<f32>(&x, &mut y, c);
        check(&y, product(&at_m, &at_m, &x, c), "Aᵀ m A");

        let a_m: [[f64; 2]; 4] = from_fn(|i| from_fn(|j| at_m[j][i]));
        let small = runs(4, c);
        let dy: [&[f32]; 4] = from_fn(|k| &small[k * c..(k + 1) * c]);
        let mut m = vec![0.0; 16 * c];
        output_grad_tile::<f32>(&dy, &mut m, c);
        check(&m, product(&a_m, &a_m, &small, c), "A dY Aᵀ");

        let b_m: [[f64; 4]; 4] = from_fn(|i| from_fn(|j| bt_m[j][i]));
        let mut d = vec![0.0; 16 * c];
        input_grad_tile::<f32>(&x, &mut d, c);
        check(&d, product(&b_m, &b_m, &x, c), "B dV Bᵀ");
    }

    #[test]
    fn kernel_transforms_are_the_matrix_products() {
        let pair = 37;
        let w = runs(9, pair);
        let g_m = [
            [1., 0., 0.],
            [0.5, 0.5, 0.5],
            [0.5, -0.5, 0.5],
            [0., 0., 1.],
        ];
        let u = kernel(&w, pair);
        for i in 0..4 {
            for j in 0..4 {
                for ch in 0..pair {
                    let want: f64 = (0..3)
                        .flat_map(|r| (0..3).map(move |s| (r, s)))
                        .map(|(r, s)| g_m[i][r] * g_m[j][s] * w[(r * 3 + s) * pair + ch] as f64)
                        .sum();
                    assert_eq!(u[(i * 4 + j) * pair + ch] as f64, want);
                }
            }
        }
        let du = runs(16, pair);
        let dw = kernel_grad(&du, pair);
        for r in 0..3 {
            for s in 0..3 {
                for ch in 0..pair {
                    let want: f64 = (0..4)
                        .flat_map(|i| (0..4).map(move |j| (i, j)))
                        .map(|(i, j)| g_m[i][r] * g_m[j][s] * du[(i * 4 + j) * pair + ch] as f64)
                        .sum();
                    assert_eq!(dw[(r * 3 + s) * pair + ch] as f64, want);
                }
            }
        }
    }
}
