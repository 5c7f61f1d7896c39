//! Small matrix products on one instruction set's vectors, for the products
//! a Winograd block does per transformed position (a few dozen rows, 8 to a
//! few hundred inner and output columns).
//!
//! Why by hand: the `gemm` crate serves these shapes through its general
//! path, which packs both operands on every call (its packing and dispatch
//! cost a quarter of what its kernels do here); these products are too
//! small for packing to pay, and their right-hand operand, a transformed
//! kernel, is already laid out as a row-major matrix that fits in L1. So
//! a register block of outputs (up to 6 rows of 4 vectors) is
//! kept while the inner dimension is walked, reading the right-hand rows
//! straight from memory.
//!
//! Each output is `Σ_p lhs[i, p] * rhs[p, j]` summed in `p` order with one
//! fused multiply-add per term, whichever block shape computes it, so the
//! result does not depend on the shapes or on how the rows are split.

// Index loops over const bounds, which unroll into registers (see `Block::run`).
#![allow(clippy::needless_range_loop)]

use super::Mat;
use crate::kernels::simd::Lanes;

/// Output rows and vectors per row of one register block, at most: 24
/// sums, 4 right-hand vectors and a broadcast fill 29 of AVX-512's 32
/// registers; AVX2's 16 take 4 x 3 (as the gemm crate's kernels do).
fn block_shape<L: Lanes>() -> (usize, usize) {
    if L::W >= 16 {
        (6, 4)
    } else {
        (4, 3)
    }
}

/// Runs the block `$at` with the `($r, $v)` that matches `($rows, $vectors)`.
macro_rules! blocks {
    ($at:ident, $l:ty, $rows:expr, $vectors:expr; $(($r:literal, $v:literal)),*) => {
        match ($rows, $vectors) {
            $(($r, $v) => $at.run::<$l, $r, $v>(),)*
            _ => unreachable!("block shapes are at most 6 x 4"),
        }
    };
}

/// Columns must come in multiples of this (AVX-512's width) on every
/// build, so that both vector paths take the same products here and the
/// gemm crate's for the rest, and so give the same bits.
const COLUMN_MULTIPLE: usize = 16;

/// `dst = lhs * rhs` (or `dst += lhs * rhs` when `accumulate`), `dst`
/// row-major with row stride `dst_rs`, when `rhs`'s rows are contiguous
/// and a multiple of [`COLUMN_MULTIPLE`] long; returns `false`, touching
/// nothing, otherwise.
///
/// # Safety
/// The CPU has `L`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn matmul<L: Lanes>(
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: Mat,
    rhs: Mat,
) -> bool {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    if rhs.cs != 1 || n % COLUMN_MULTIPLE != 0 || m == 0 || n == 0 || k == 0 {
        return false;
    }
    assert!((m - 1) * dst_rs + n <= dst.len());
    lhs.assert_in_bounds();
    rhs.assert_in_bounds();
    let d = dst.as_mut_ptr();
    let (max_rows, max_vectors) = block_shape::<L>();
    let mut row = 0;
    while row < m {
        let rows = max_rows.min(m - row);
        let mut col = 0;
        while col < n {
            let vectors = max_vectors.min((n - col) / L::W);
            let at = Block {
                dst: d.add(row * dst_rs + col),
                dst_rs,
                lhs: lhs.data.as_ptr().add(row * lhs.rs),
                lhs_rs: lhs.rs,
                lhs_cs: lhs.cs,
                rhs: rhs.data.as_ptr().add(col),
                rhs_rs: rhs.rs,
                inner: k,
                accumulate,
            };
            // SAFETY: the block's rows, columns and inner steps lie within
            // the views checked above, and the CPU has `L` (contract).
            unsafe {
                blocks!(at, L, rows, vectors; (1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (2, 3), (2, 4), (3, 1), (3, 2), (3, 3), (3, 4), (4, 1), (4, 2), (4, 3), (4, 4), (5, 1), (5, 2), (5, 3), (5, 4), (6, 1), (6, 2), (6, 3), (6, 4))
            }
            col += vectors * L::W;
        }
        row += rows;
    }
    true
}

/// One register block of outputs: where it is, and what it sums.
struct Block {
    dst: *mut f32,
    dst_rs: usize,
    lhs: *const f32,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const f32,
    rhs_rs: usize,
    inner: usize,
    accumulate: bool,
}

impl Block {
    /// `R x V` vectors of outputs, kept in registers over the inner
    /// dimension (loops over constants, no closures, so that they unroll
    /// into the caller's `#[target_feature]` build).
    ///
    /// # Safety
    /// The pointers are valid for the block, and the CPU has `L`.
    #[inline(always)]
    unsafe fn run<L: Lanes, const R: usize, const V: usize>(&self) {
        let mut acc = [[L::zero(); V]; R];
        if self.accumulate {
            for r in 0..R {
                for v in 0..V {
                    acc[r][v] = L::load(self.dst.add(r * self.dst_rs + v * L::W));
                }
            }
        }
        for p in 0..self.inner {
            let b_row = self.rhs.add(p * self.rhs_rs);
            let mut b = [L::zero(); V];
            for v in 0..V {
                b[v] = L::load(b_row.add(v * L::W));
            }
            let a_col = self.lhs.add(p * self.lhs_cs);
            for r in 0..R {
                let a = L::splat(*a_col.add(r * self.lhs_rs));
                for v in 0..V {
                    acc[r][v] = L::fmadd(a, b[v], acc[r][v]);
                }
            }
        }
        for r in 0..R {
            for v in 0..V {
                L::store(self.dst.add(r * self.dst_rs + v * L::W), acc[r][v]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::simd::{Avx2, Avx512};
    use crate::kernels::test_data::random;
    use crate::kernels::KernelPath;

    /// Every block shape, strided and transposed operands, with and without
    /// accumulation: within rounding of an f64 product.
    fn matches_f64<L: Lanes>() {
        for (m, k, n) in [
            (1, 1, 16),
            (7, 5, 16),
            (9, 33, 48),
            (13, 64, 64),
            (6, 3, 16 * 11),
        ] {
            // lhs stored transposed ([k, m]) with padding, so both strides matter.
            let a = random(k * (m + 3), 1);
            let lhs = Mat::strided(&a, k, m, m + 3).t();
            let b = random(k * n, 2);
            let rhs = Mat::row_major(&b, k, n);
            for accumulate in [false, true] {
                let start = random(m * (n + 5), 3);
                let mut got = start.clone();
                // SAFETY: the test runs only where the CPU has `L` (callers check).
                assert!(unsafe { matmul::<L>(&mut got, n + 5, accumulate, lhs, rhs) });
                for i in 0..m {
                    for j in 0..n {
                        let mut want = if accumulate {
                            start[i * (n + 5) + j] as f64
                        } else {
                            0.0
                        };
                        for p in 0..k {
                            want += a[p * (m + 3) + i] as f64 * b[p * n + j] as f64;
                        }
                        let g = got[i * (n + 5) + j] as f64;
                        assert!(
                            (g - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "{m}x{k}x{n} [{i},{j}]: {g} vs {want}"
                        );
                    }
                    // Padding between rows is left alone.
                    assert_eq!(
                        got[i * (n + 5) + n..i * (n + 5) + n + 5],
                        start[i * (n + 5) + n..i * (n + 5) + n + 5]
                    );
                }
            }
        }
        // Other column counts (here a whole number of AVX2 vectors) are
        // declined, untouched, on every build.
        let (a, b) = (random(4, 1), random(2 * 24, 2));
        let mut dst = vec![0.5; 2 * 24];
        // SAFETY: as above.
        let declined = unsafe {
            !matmul::<L>(
                &mut dst,
                24,
                false,
                Mat::row_major(&a, 2, 2),
                Mat::row_major(&b, 2, 24),
            )
        };
        assert!(declined && dst.iter().all(|v| *v == 0.5));
    }

    #[test]
    fn avx512_products_match_f64() {
        if KernelPath::Avx512.is_available() {
            matches_f64::<Avx512>();
        }
    }

    #[test]
    fn avx2_products_match_f64() {
        if KernelPath::Avx2.is_available() {
            matches_f64::<Avx2>();
        }
    }
}
