//! Matrix products on plain slices: the `gemm` crate for real inner
//! dimensions, plain loops for tiny ones, and (`lanes`) register-blocked
//! vector kernels for the small products of the Winograd blocks.

use gemm::{gemm, Parallelism};

#[cfg(target_arch = "x86_64")]
pub(crate) mod lanes;

/// A read-only strided matrix view.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    /// Distance between consecutive rows.
    pub rs: usize,
    /// Distance between consecutive columns.
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// A `rows x cols` matrix whose rows start `rs` floats apart (columns adjacent).
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, rs: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs,
            cs: 1,
        }
    }

    /// The transpose of this view (no data moves).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    fn assert_in_bounds(&self) {
        if self.rows > 0 && self.cols > 0 {
            assert!((self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len());
        }
    }
}

/// `dst = lhs * rhs` (or `dst += lhs * rhs` when `accumulate`), `dst` row-major
/// with row stride `dst_rs`. Single-threaded: parallelism is over chunks.
pub(crate) fn matmul(dst: &mut [f32], dst_rs: usize, accumulate: bool, lhs: Mat, rhs: Mat) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    if m == 0 || n == 0 {
        return;
    }
    assert!((m - 1) * dst_rs + n <= dst.len());
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_rs..r * dst_rs + n].fill(0.0);
            }
        }
        return;
    }
    lhs.assert_in_bounds();
    rhs.assert_in_bounds();
    // SAFETY: every index gemm touches, (rows-1)*rs + (cols-1)*cs at most, was
    // checked against the slices above; dst does not alias lhs or rhs (&mut).
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// Inner dimensions up to this length (a 3x3 kernel on one channel: 9) use
/// plain loops instead of GEMM, whose packing would cost more than the arithmetic.
pub(crate) const SMALL_INNER: usize = 16;

/// Floats of `dst` a small-inner product keeps in registers at a time.
const LANES: usize = 16;
/// Rows of a small-inner product whose sums run side by side.
const ROWS: usize = 4;
/// Rows of the transposed small-inner product taken per pass, so that their
/// `rhs` rows stay in L1 while each `dst` block is swept over them.
const TN_ROWS: usize = 128;

/// `dst[m, n] += lhs[m, k] * rhs[k, n]`, all row-major, for small `k`: the
/// inner loop runs over `n` contiguous floats and vectorises (inlined, so
/// into each instruction set's build of its caller). Each run of
/// [`LANES`] outputs stays in registers across the `k` products; every
/// output still gets its products added in `k` order.
#[inline(always)]
pub(crate) fn small_k_matmul_add(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    m: usize,
    k: usize,
    n: usize,
) {
    let blocked = n - n % LANES;
    let rows = m - m % ROWS;
    // ROWS rows at a time: independent sums to overlap each add's latency.
    for (d, a) in dst[..rows * n]
        .chunks_exact_mut(ROWS * n)
        .zip(lhs[..rows * k].chunks_exact(ROWS * k))
    {
        for j in (0..blocked).step_by(LANES) {
            let mut acc: [[f32; LANES]; ROWS] =
                std::array::from_fn(|r| d[r * n + j..r * n + j + LANES].try_into().unwrap());
            for p in 0..k {
                let w = &rhs[p * n + j..p * n + j + LANES];
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = a[r * k + p];
                    for l in 0..LANES {
                        acc[l] += av * w[l];
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                d[r * n + j..r * n + j + LANES].copy_from_slice(acc);
            }
        }
        for (d, a) in d.chunks_exact_mut(n).zip(a.chunks_exact(k)) {
            for (p, &av) in a.iter().enumerate() {
                for (dv, wv) in d[blocked..]
                    .iter_mut()
                    .zip(&rhs[p * n + blocked..(p + 1) * n])
                {
                    *dv += av * wv;
                }
            }
        }
    }
    for (d, a) in dst[rows * n..m * n]
        .chunks_exact_mut(n)
        .zip(lhs[rows * k..m * k].chunks_exact(k))
    {
        for (p, &av) in a.iter().enumerate() {
            for (dv, wv) in d.iter_mut().zip(&rhs[p * n..(p + 1) * n]) {
                *dv += av * wv;
            }
        }
    }
}

/// `dst[k, n] += lhs[m, k]^T * rhs[m, n]`, all row-major, for small `k`.
/// Like [`small_k_matmul_add`], runs of [`LANES`] outputs stay in
/// registers while rows are added, in row order for every output.
#[inline(always)]
pub(crate) fn small_k_matmul_tn_add(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    m: usize,
    k: usize,
    n: usize,
) {
    let blocked = n - n % LANES;
    for first in (0..m).step_by(TN_ROWS) {
        let rows = TN_ROWS.min(m - first);
        let a_rows = &lhs[first * k..(first + rows) * k];
        let r_rows = &rhs[first * n..(first + rows) * n];
        for p in 0..k {
            let d = &mut dst[p * n..(p + 1) * n];
            for j in (0..blocked).step_by(LANES) {
                let mut acc: [f32; LANES] = d[j..j + LANES].try_into().unwrap();
                for (a, r) in a_rows.chunks_exact(k).zip(r_rows.chunks_exact(n)) {
                    let (av, r) = (a[p], &r[j..j + LANES]);
                    for l in 0..LANES {
                        acc[l] += av * r[l];
                    }
                }
                d[j..j + LANES].copy_from_slice(&acc);
            }
            for (a, r) in a_rows.chunks_exact(k).zip(r_rows.chunks_exact(n)) {
                for (dv, rv) in d[blocked..].iter_mut().zip(&r[blocked..]) {
                    *dv += a[p] * rv;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_data::random;

    #[test]
    fn transposed_matmul_matches_naive_product() {
        let (m, k, n) = (7, 5, 3);
        let a = random(k * m, 4); // stored [k, m], used transposed
        let b = random(n * k, 5); // stored [n, k], used transposed
        let mut c = vec![0.0; m * n];
        matmul(
            &mut c,
            n,
            false,
            Mat::row_major(&a, k, m).t(),
            Mat::row_major(&b, n, k).t(),
        );
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k)
                    .map(|p| a[p * m + i] as f64 * b[j * k + p] as f64)
                    .sum();
                assert!((c[i * n + j] as f64 - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn small_inner_loops_match_gemm() {
        let (m, k, n) = (9, 4, 6);
        let a = random(m * k, 1);
        let b = random(k * n, 2);
        let mut want = vec![0.0; m * n];
        matmul(
            &mut want,
            n,
            false,
            Mat::row_major(&a, m, k),
            Mat::row_major(&b, k, n),
        );
        let mut got = vec![0.0; m * n];
        small_k_matmul_add(&mut got, &a, &b, m, k, n);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5);
        }
        // [k, n] = a^T [k, m] x r [m, n]
        let r = random(m * n, 3);
        let mut want_tn = vec![0.0; k * n];
        matmul(
            &mut want_tn,
            n,
            false,
            Mat::row_major(&a, m, k).t(),
            Mat::row_major(&r, m, n),
        );
        let mut got_tn = vec![0.0; k * n];
        small_k_matmul_tn_add(&mut got_tn, &a, &r, m, k, n);
        for (g, w) in got_tn.iter().zip(&want_tn) {
            assert!((g - w).abs() < 1e-5);
        }
    }

    /// The register-blocked small-inner loops add each output's products in
    /// the order of the plain loops, so give their exact bits (here with a
    /// partial block of columns and more rows than one pass takes).
    #[test]
    fn small_inner_loops_keep_the_plain_order() {
        let (m, k, n) = (TN_ROWS + 38, 9, 2 * LANES + 5);
        let a = random(m * k, 1);
        let b = random(k * n, 2);
        let r = random(m * n, 3);
        let mut want = random(m * n, 4);
        let mut got = want.clone();
        for i in 0..m {
            for p in 0..k {
                for j in 0..n {
                    want[i * n + j] += a[i * k + p] * b[p * n + j];
                }
            }
        }
        small_k_matmul_add(&mut got, &a, &b, m, k, n);
        assert_eq!(got, want);
        let mut want_tn = random(k * n, 5);
        let mut got_tn = want_tn.clone();
        for i in 0..m {
            for p in 0..k {
                for j in 0..n {
                    want_tn[p * n + j] += a[i * k + p] * r[i * n + j];
                }
            }
        }
        small_k_matmul_tn_add(&mut got_tn, &a, &r, m, k, n);
        assert_eq!(got_tn, want_tn);
    }
}
