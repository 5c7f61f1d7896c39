//! The machinery of the tile transforms, and the two tilings built on it
//! (`f2`: F(2x2, 3x3), `f4`: F(4x4, 3x3)).
//!
//! Each transform is separable: a 1-D transform down every column of a
//! small grid, then along every row. The grid holds one [`Value`] per
//! position: a vector of channels in the AVX-512 and AVX2 builds, so a
//! tile's whole grid lives in registers, or one float (the portable build,
//! and the channels past the last whole vector). Both compute each channel
//! with the same operations in the same order (separate multiplies and
//! adds, never fused), so every build gives the same bits.

// Index loops read like the matrix algebra, and the vector builds need
// loops, not iterator closures (see `Transform`).
#![allow(clippy::needless_range_loop)]

pub(super) use f2::F2;
pub(super) use f4::F4;

use crate::kernels::gemm::{matmul, Mat};

/// One Winograd tiling F(m x m, 3x3): a tile of `SIDE x SIDE` outputs comes
/// from a `WINDOW x WINDOW` input window through `POSITIONS` transformed
/// positions, each a channel product.
pub(super) trait Variant {
    /// Outputs along each side of a tile (`m`).
    const SIDE: usize;
    /// Inputs along each side of a tile's window (`m + 2`).
    const WINDOW: usize = Self::SIDE + 2;
    /// Transformed positions per tile.
    const POSITIONS: usize = Self::WINDOW * Self::WINDOW;

    /// `V = Bᵀ d B` of one window: `d` its grid of runs of `c` input
    /// channels, rows `row_stride` floats apart; `v` gets the transformed
    /// runs, position by position.
    fn input_tile<T: Value>(d: &[f32], row_stride: usize, v: &mut [f32], c: usize);
    /// `Y = Aᵀ m A` of one tile: `m` its products (runs of `c` output
    /// channels); `y` gets the tile's outputs, row by row.
    fn output_tile<T: Value>(m: &[f32], y: &mut [f32], c: usize);
    /// `M = A dY Aᵀ` of one tile: `dy` the gradients of its outputs, row by
    /// row; `m` gets the transformed runs.
    fn output_grad_tile<T: Value>(dy: &[&[f32]], m: &mut [f32], c: usize);
    /// `B dV Bᵀ` of one tile: `dv` its transformed input-gradient runs;
    /// the gradients of its input window are written (or, with `ADD`,
    /// added) to the grid of runs `d`, rows `row_stride` floats apart.
    fn input_grad_tile<T: Value, const ADD: bool>(
        dv: &[f32],
        d: &mut [f32],
        row_stride: usize,
        c: usize,
    );
    /// `U = G w Gᵀ` of a 3x3 kernel whose 9 taps (row by row) are runs of
    /// `pair` floats in `w`: the transformed runs.
    fn kernel(w: &[f32], pair: usize) -> Vec<f32>;
    /// `dW = Gᵀ dU G`: the gradient of the 9 taps from that of the
    /// transformed runs (each `pair` floats).
    fn kernel_grad(du: &[f32], pair: usize) -> Vec<f32>;
}

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
    /// `self * k`.
    fn scale(self, k: f32) -> Self;
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
    #[inline(always)]
    fn scale(self, k: f32) -> Self {
        self * k
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
    #[inline(always)]
    fn scale(self, k: f32) -> Self {
        // SAFETY: as in `add`.
        Self(unsafe { S::mul(self.0, S::splat(k)) })
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

/// Reads a `RI x CI` grid of `V` at channel `ch` of the runs `src`,
/// transforms it by `X` and writes (or, with `ADD`, adds) output `(i, j)`
/// to `dst[i][j] + ch`.
///
/// # Safety
/// Every `src[i][j]` and `dst[i][j]` is valid for `ch + V::W` floats, the
/// `dst` pointers come from a mutable borrow (they are only kept as
/// `*const` to share [`grid`]), and the CPU runs `V`'s instructions.
#[inline(always)]
unsafe fn grid_at<
    V,
    X,
    const RI: usize,
    const CI: usize,
    const RO: usize,
    const CO: usize,
    const ADD: bool,
>(
    src: &[[*const f32; CI]; RI],
    dst: &[[*const f32; CO]; RO],
    ch: usize,
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
                let at = dst[i][j].cast_mut().add(ch);
                let value = if ADD {
                    V::load(at).add(out[i][j])
                } else {
                    out[i][j]
                };
                value.store(at);
            }
        }
    }
}

/// Transform `$X` of one tile over all `c` channels: `T` wide, then float
/// by float.
macro_rules! tile {
    ($T:ty, $X:ty, $src:expr, $dst:expr, $c:expr, $add:expr) => {{
        let (src, dst, c) = ($src, $dst, $c);
        #[allow(clippy::modulo_one)] // the float build: one channel per value
        let whole = c - c % <$T>::W;
        let mut ch = 0;
        while ch < whole {
            // SAFETY: the callers assert the lengths `grid_at` needs.
            unsafe { grid_at::<$T, $X, _, _, _, _, { $add }>(&src, &dst, ch) };
            ch += <$T>::W;
        }
        while ch < c {
            // SAFETY: as above.
            unsafe { grid_at::<f32, $X, _, _, _, _, { $add }>(&src, &dst, ch) };
            ch += 1;
        }
    }};
}

/// Pointers to the `N x M` runs of a grid from `base`: rows `row_stride`
/// floats apart, runs `c` apart within a row.
#[inline(always)]
fn grid<const N: usize, const M: usize>(
    base: *const f32,
    row_stride: usize,
    c: usize,
) -> [[*const f32; M]; N] {
    let mut out = [[base; M]; N];
    for i in 0..N {
        for j in 0..M {
            out[i][j] = base.wrapping_add(i * row_stride + j * c);
        }
    }
    out
}

/// Floats a grid of `n x m` runs of `c` spans, rows `row_stride` apart.
fn grid_len(n: usize, m: usize, row_stride: usize, c: usize) -> usize {
    (n - 1) * row_stride + m * c
}

/// Transform `X` of one tile whose `RI x CI` source runs are `src` (row by
/// row, each at least `c` floats) into the `RO x CO` runs of `dst`, back to back.
#[inline(always)]
fn from_runs<T, X, const RI: usize, const CI: usize, const RO: usize, const CO: usize>(
    src: &[&[f32]],
    dst: &mut [f32],
    c: usize,
) where
    T: Value,
    X: Transform<T, RI, CI, RO, CO> + Transform<f32, RI, CI, RO, CO>,
{
    assert!(src.len() == RI * CI && src.iter().all(|r| r.len() >= c));
    assert!(dst.len() >= RO * CO * c);
    let mut ptrs = [[src[0].as_ptr(); CI]; RI];
    for (k, run) in src.iter().enumerate() {
        ptrs[k / CI][k % CI] = run.as_ptr();
    }
    let dst = grid::<RO, CO>(dst.as_mut_ptr(), CO * c, c);
    tile!(T, X, ptrs, dst, c, false);
}

/// Transform `X` of the `RI x CI` grid of runs in `src` (rows `src_rs`
/// floats apart, runs `c` apart) into the `RO x CO` grid in `dst` (rows
/// `dst_rs` apart), written or, with `ADD`, added.
#[inline(always)]
fn between_grids<
    T,
    X,
    const RI: usize,
    const CI: usize,
    const RO: usize,
    const CO: usize,
    const ADD: bool,
>(
    (src, src_rs): (&[f32], usize),
    (dst, dst_rs): (&mut [f32], usize),
    c: usize,
) where
    T: Value,
    X: Transform<T, RI, CI, RO, CO> + Transform<f32, RI, CI, RO, CO>,
{
    assert!(src.len() >= grid_len(RI, CI, src_rs, c));
    assert!(dst.len() >= grid_len(RO, CO, dst_rs, c));
    let src = grid::<RI, CI>(src.as_ptr(), src_rs, c);
    let dst = grid::<RO, CO>(dst.as_mut_ptr(), dst_rs, c);
    tile!(T, X, src, dst, c, ADD);
}

/// [`between_grids`] of runs back to back, written.
#[inline(always)]
fn from_block<T, X, const RI: usize, const CI: usize, const RO: usize, const CO: usize>(
    src: &[f32],
    dst: &mut [f32],
    c: usize,
) where
    T: Value,
    X: Transform<T, RI, CI, RO, CO> + Transform<f32, RI, CI, RO, CO>,
{
    between_grids::<T, X, RI, CI, RO, CO, false>((src, CI * c), (dst, CO * c), c)
}

// After `tile!`, which they use (macros are in scope from where they are defined).
mod f2;
mod f4;

/// Checks shared by the two tilings' tests: each transform against its
/// matrices written out, in f64.
#[cfg(test)]
mod checks {
    use super::Variant;

    /// Runs of `c` floats: run `k` holds `k * 100 + channel` (integers, so
    /// the tile transforms, which scale by small integers, are exact).
    pub(super) fn runs(count: usize, c: usize) -> Vec<f32> {
        (0..count * c)
            .map(|i| ((i / c) * 100 + i % c) as f32)
            .collect()
    }

    /// `P X Qᵀ` for a grid `X` of runs of `c` (row-major, `Q`'s width across).
    pub(super) fn sandwich(p: &[Vec<f64>], q: &[Vec<f64>], x: &[f32], c: usize) -> Vec<f64> {
        let (ri, ci) = (p[0].len(), q[0].len());
        let mut out = vec![0.0; p.len() * q.len() * c];
        for i in 0..p.len() {
            for j in 0..q.len() {
                for ch in 0..c {
                    out[(i * q.len() + j) * c + ch] = (0..ri)
                        .flat_map(|r| (0..ci).map(move |s| (r, s)))
                        .map(|(r, s)| p[i][r] * q[j][s] * x[(r * ci + s) * c + ch] as f64)
                        .sum();
                }
            }
        }
        out
    }

    fn transpose(m: &[Vec<f64>]) -> Vec<Vec<f64>> {
        (0..m[0].len())
            .map(|j| m.iter().map(|row| row[j]).collect())
            .collect()
    }

    /// `X`'s four tile transforms are exactly `Bᵀ d B`, `Aᵀ m A`, `A dY Aᵀ`
    /// and `B dV Bᵀ`, on a channel count that ends with a partial vector.
    pub(super) fn tile_transforms<X: Variant>(bt: &[Vec<f64>], at: &[Vec<f64>]) {
        let c = 16 + 3;
        let (window, side) = (X::POSITIONS, X::SIDE * X::SIDE);
        let check = |got: &[f32], want: Vec<f64>, what: &str| {
            assert_eq!(got.len(), want.len(), "{what}");
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(*g as f64, *w, "{what} value {k}");
            }
        };
        let x = runs(window, c);
        let mut v = vec![0.0; window * c];
        X::input_tile::<f32>(&x, X::WINDOW * c, &mut v, c);
        check(&v, sandwich(bt, bt, &x, c), "Bᵀ d B");

        let mut y = vec![0.0; side * c];
        X::output_tile::<f32>(&x, &mut y, c);
        check(&y, sandwich(at, at, &x, c), "Aᵀ m A");

        let (a, b) = (transpose(at), transpose(bt));
        let small = runs(side, c);
        let dy: Vec<&[f32]> = (0..side).map(|k| &small[k * c..(k + 1) * c]).collect();
        let mut m = vec![0.0; window * c];
        X::output_grad_tile::<f32>(&dy, &mut m, c);
        check(&m, sandwich(&a, &a, &small, c), "A dY Aᵀ");

        let mut d = vec![0.0; window * c];
        X::input_grad_tile::<f32, false>(&x, &mut d, X::WINDOW * c, c);
        check(&d, sandwich(&b, &b, &x, c), "B dV Bᵀ");
        // Added into a grid with gaps between its rows, which stay as they were.
        let rs = X::WINDOW * c + 5;
        let start = runs(X::WINDOW * rs / c + 1, c);
        let mut d = start.clone();
        X::input_grad_tile::<f32, true>(&x, &mut d, rs, c);
        let product = sandwich(&b, &b, &x, c);
        let mut want: Vec<f64> = start.iter().map(|v| *v as f64).collect();
        for (k, p) in product.iter().enumerate() {
            let (run, ch) = (k / c, k % c);
            want[run / X::WINDOW * rs + run % X::WINDOW * c + ch] += p;
        }
        check(&d, want, "d + B dV Bᵀ");
    }

    /// `X`'s kernel transforms are `G w Gᵀ` and `Gᵀ dU G` within `tolerance`
    /// of their f64 values, relative to the largest.
    pub(super) fn kernel_transforms<X: Variant>(g: &[Vec<f64>], tolerance: f64) {
        let pair = 37;
        let close = |got: &[f32], want: Vec<f64>, what: &str| {
            assert_eq!(got.len(), want.len(), "{what}");
            let largest = want.iter().fold(0.0f64, |m, e| m.max(e.abs()));
            for (k, (a, e)) in got.iter().zip(&want).enumerate() {
                let a = *a as f64;
                assert!(
                    (a - e).abs() <= tolerance * largest,
                    "{what} value {k}: {a} vs {e}"
                );
            }
        };
        let w = runs(9, pair);
        close(&X::kernel(&w, pair), sandwich(g, g, &w, pair), "G w Gᵀ");
        let gt = transpose(g);
        let du = runs(X::POSITIONS, pair);
        close(
            &X::kernel_grad(&du, pair),
            sandwich(&gt, &gt, &du, pair),
            "Gᵀ dU G",
        );
    }
}
