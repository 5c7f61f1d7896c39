//! Kernels for any geometry: a valid, stride-1 convolution of one chunk as
//! im2col + GEMM (the reference every tuned convolution is tested against),
//! and max pooling.
//!
//! Layout is NHWC everywhere (batch, row, column, channel), chosen because:
//! - an im2col row for output pixel (y, x) is `K` runs of `K * IN_C` contiguous
//!   floats (one per kernel row), so building it is a handful of copies;
//! - the convolution's GEMM output `[pixels, OUT_C]` already *is* the NHWC
//!   output, with no transpose;
//! - the kernel matrix `[K * K * IN_C, OUT_C]` is Keras' HWIO kernel as stored.
//!
//! The chunk kernels run single-threaded GEMMs on the caller's scratch;
//! `conv` splits batches into chunks and runs them in parallel.

use rayon::prelude::*;

use super::common::{CHUNK, NO_ARGMAX};
use super::gemm::{matmul, small_k_matmul_add, small_k_matmul_tn_add, Mat, SMALL_INNER};
use super::scratch::Aligned;

#[cfg(target_arch = "x86_64")]
mod vector;

/// Geometry of a valid-padding, stride-1 convolution over NHWC samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub in_c: usize,
    pub out_c: usize,
    pub k: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl ConvGeom {
    /// Floats per input sample.
    pub fn in_len(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }
    /// Floats per output sample.
    pub fn out_len(&self) -> usize {
        self.out_h * self.out_w * self.out_c
    }
    /// Output pixels per sample (GEMM rows per sample).
    pub fn pixels(&self) -> usize {
        self.out_h * self.out_w
    }
    /// Length of one im2col row: kernel rows x kernel columns x input channels.
    pub fn patch(&self) -> usize {
        self.k * self.k * self.in_c
    }
    /// Weights in the HWIO kernel.
    pub fn weight_len(&self) -> usize {
        self.patch() * self.out_c
    }
}

/// Geometry of a `P x P`, stride-`P` max pooling that floors odd sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolGeom {
    pub p: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub c: usize,
}

impl PoolGeom {
    /// Floats per input sample.
    pub fn in_len(&self) -> usize {
        self.in_h * self.in_w * self.c
    }
    /// Floats per output sample.
    pub fn out_len(&self) -> usize {
        self.out_h * self.out_w * self.c
    }
}

/// Builds the im2col matrix `[n * pixels, patch]` of `n` samples.
#[inline(always)]
fn im2col(g: &ConvGeom, x: &[f32], n: usize, col: &mut [f32]) {
    let seg = g.k * g.in_c;
    let mut rows = col.chunks_exact_mut(g.patch());
    for xs in x.chunks_exact(g.in_len()).take(n) {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let row = rows.next().expect("im2col buffer too small");
                for ky in 0..g.k {
                    let src = ((oy + ky) * g.in_w + ox) * g.in_c;
                    // An element loop, not copy_from_slice: with one input
                    // channel a run is only 3 floats and a memcpy call per run would dominate.
                    for (d, v) in row[ky * seg..(ky + 1) * seg]
                        .iter_mut()
                        .zip(&xs[src..src + seg])
                    {
                        *d = *v;
                    }
                }
            }
        }
    }
}

/// Adds the im2col-shaped gradient `dcol` back onto the input gradient `dx`.
#[inline(always)]
fn col2im_add(g: &ConvGeom, dcol: &[f32], n: usize, dx: &mut [f32]) {
    let seg = g.k * g.in_c;
    let mut rows = dcol.chunks_exact(g.patch());
    for dxs in dx.chunks_exact_mut(g.in_len()).take(n) {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let row = rows.next().expect("dcol buffer too small");
                for ky in 0..g.k {
                    let dst = ((oy + ky) * g.in_w + ox) * g.in_c;
                    for (d, v) in dxs[dst..dst + seg]
                        .iter_mut()
                        .zip(&row[ky * seg..(ky + 1) * seg])
                    {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// `out = conv(x) + bias` for `n` samples (`out` is `[n, OUT_H, OUT_W, OUT_C]`),
/// with `col` as im2col scratch.
///
/// The vector paths run this same source compiled for their instruction
/// set (`vector`): the loops around the GEMM (im2col, the small-inner
/// products of a one-channel layer) then use wide registers, with the same
/// operations in the same order, so every path gives the same bits.
pub(crate) fn conv_forward_chunk(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    weight: &[f32],
    bias: &[f32],
    col: &mut Aligned,
    out: &mut [f32],
) {
    if !on_vector_path!(
        generic::vector,
        conv_forward_chunk(g, x, n, weight, bias, col, out)
    ) {
        forward_chunk_body(g, x, n, weight, bias, col, out)
    }
}

#[inline(always)]
fn forward_chunk_body(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    weight: &[f32],
    bias: &[f32],
    col: &mut Aligned,
    out: &mut [f32],
) {
    let m = n * g.pixels();
    let col = col.sized(m * g.patch());
    im2col(g, x, n, col);
    for row in out[..m * g.out_c].chunks_exact_mut(g.out_c) {
        row.copy_from_slice(bias);
    }
    if g.patch() <= SMALL_INNER {
        small_k_matmul_add(out, col, weight, m, g.patch(), g.out_c);
    } else {
        matmul(
            out,
            g.out_c,
            true,
            Mat::row_major(col, m, g.patch()),
            Mat::row_major(weight, g.patch(), g.out_c),
        );
    }
}

/// Gradients of `n` samples given `d_out` (`[n, OUT_H, OUT_W, OUT_C]`):
/// adds this chunk's sums to `dw` and `db` and the input gradient to `dx`.
/// Built per path like [`conv_forward_chunk`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_backward_chunk(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    weight: &[f32],
    d_out: &[f32],
    scratch: [&mut Aligned; 2],
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let mut dx = dx;
    let mut scratch = scratch;
    if !on_vector_path!(
        generic::vector,
        conv_backward_chunk(g, x, n, weight, d_out, &mut scratch, dw, db, &mut dx)
    ) {
        backward_chunk_body(g, x, n, weight, d_out, &mut scratch, dw, db, &mut dx)
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_chunk_body(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    weight: &[f32],
    d_out: &[f32],
    [col, dcol]: &mut [&mut Aligned; 2],
    dw: &mut [f32],
    db: &mut [f32],
    dx: &mut Option<&mut [f32]>,
) {
    let m = n * g.pixels();
    let d_out = Mat::row_major(&d_out[..m * g.out_c], m, g.out_c);
    for row in d_out.data.chunks_exact(g.out_c) {
        for (b, v) in db.iter_mut().zip(row) {
            *b += v;
        }
    }
    let col = col.sized(m * g.patch());
    im2col(g, x, n, col);
    // dW[patch, out_c] += col^T [patch, m] x dOut [m, out_c]
    if g.patch() <= SMALL_INNER {
        small_k_matmul_tn_add(dw, col, d_out.data, m, g.patch(), g.out_c);
    } else {
        matmul(
            dw,
            g.out_c,
            true,
            Mat::row_major(col, m, g.patch()).t(),
            d_out,
        );
    }
    if let Some(dx) = dx.as_deref_mut() {
        // dCol[m, patch] = dOut [m, out_c] x W^T [out_c, patch]
        let dcol = dcol.sized(m * g.patch());
        matmul(
            dcol,
            g.patch(),
            false,
            d_out,
            Mat::row_major(weight, g.patch(), g.out_c).t(),
        );
        col2im_add(g, dcol, n, dx);
    }
}

/// Max pooling of `n` samples. Ties: the first maximum in row-major window
/// order wins (strict `>`). Rows/columns past `out * p` are never read (floor).
/// With `relu`, a window whose maximum is not positive outputs 0 and records
/// [`NO_ARGMAX`] (this equals ReLU then pooling, with ReLU's gradient 0 at 0).
/// NaN inputs stay NaN so that a diverging run is visible.
pub(crate) fn pool_forward(
    g: &PoolGeom,
    input: &[f32],
    n: usize,
    relu: bool,
    out: &mut [f32],
    argmax: &mut [u8],
) {
    let c = g.c;
    for s in 0..n {
        let xs = &input[s * g.in_len()..(s + 1) * g.in_len()];
        for py in 0..g.out_h {
            for px in 0..g.out_w {
                let o = ((s * g.out_h + py) * g.out_w + px) * c;
                let best = &mut out[o..o + c];
                let arg = &mut argmax[o..o + c];
                let first = ((py * g.p) * g.in_w + px * g.p) * c;
                best.copy_from_slice(&xs[first..first + c]);
                arg.fill(0);
                for dy in 0..g.p {
                    for dx in 0..g.p {
                        if dy == 0 && dx == 0 {
                            continue;
                        }
                        let pos = (dy * g.p + dx) as u8;
                        let at = ((py * g.p + dy) * g.in_w + px * g.p + dx) * c;
                        for ((b, a), &v) in best.iter_mut().zip(arg.iter_mut()).zip(&xs[at..at + c])
                        {
                            if v > *b {
                                *b = v;
                                *a = pos;
                            }
                        }
                    }
                }
                if relu {
                    for (b, a) in best.iter_mut().zip(arg.iter_mut()) {
                        if *b <= 0.0 {
                            *b = 0.0;
                            *a = NO_ARGMAX;
                        }
                    }
                }
            }
        }
    }
}

/// Routes each pooled gradient to its window's recorded maximum (adds into `d_in`).
pub(crate) fn pool_backward(
    g: &PoolGeom,
    d_out: &[f32],
    argmax: &[u8],
    n: usize,
    d_in: &mut [f32],
) {
    let c = g.c;
    for s in 0..n {
        let dis = &mut d_in[s * g.in_len()..(s + 1) * g.in_len()];
        for py in 0..g.out_h {
            for px in 0..g.out_w {
                let o = ((s * g.out_h + py) * g.out_w + px) * c;
                for ch in 0..c {
                    let a = argmax[o + ch];
                    if a == NO_ARGMAX {
                        continue;
                    }
                    let (dy, dx) = (a as usize / g.p, a as usize % g.p);
                    dis[((py * g.p + dy) * g.in_w + px * g.p + dx) * c + ch] += d_out[o + ch];
                }
            }
        }
    }
}

/// Max pooling over a batch into `out` and `argmax` (`[n, OUT_H, OUT_W, C]` each).
pub(crate) fn pool_forward_batch(g: &PoolGeom, input: &[f32], out: &mut [f32], arg: &mut [u8]) {
    out.par_chunks_mut(CHUNK * g.out_len())
        .zip(arg.par_chunks_mut(CHUNK * g.out_len()))
        .zip(input.par_chunks(CHUNK * g.in_len()))
        .for_each(|((o, a), xc)| pool_forward(g, xc, xc.len() / g.in_len(), false, o, a));
}

/// Max-pooling backward over a batch (adds into `d_in`).
pub(crate) fn pool_backward_batch(g: &PoolGeom, d_out: &[f32], argmax: &[u8], d_in: &mut [f32]) {
    d_in.par_chunks_mut(CHUNK * g.in_len())
        .zip(d_out.par_chunks(CHUNK * g.out_len()))
        .zip(argmax.par_chunks(CHUNK * g.out_len()))
        .for_each(|((di, d), a)| pool_backward(g, d, a, d.len() / g.out_len(), di));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_ties_go_to_the_first_maximum_and_odd_sizes_floor() {
        // One channel, 3x3 input pooled 2x2 -> 1x1: the last row and column are dropped.
        let g = PoolGeom {
            p: 2,
            in_h: 3,
            in_w: 3,
            out_h: 1,
            out_w: 1,
            c: 1,
        };
        let input = [1.0, 5.0, 9.0, 5.0, 2.0, 9.0, 9.0, 9.0, 9.0];
        let mut out = [0.0];
        let mut arg = [0];
        pool_forward(&g, &input, 1, false, &mut out, &mut arg);
        assert_eq!(out, [5.0]); // the 9s sit in the dropped row/column
        assert_eq!(arg, [1]); // 5.0 at (0,1) and (1,0): the first in row-major order wins
        let mut d_in = [0.0; 9];
        pool_backward(&g, &[1.5], &arg, 1, &mut d_in);
        assert_eq!(d_in, [0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn fused_relu_pool_blocks_non_positive_windows_and_keeps_nan() {
        let g = PoolGeom {
            p: 2,
            in_h: 2,
            in_w: 2,
            out_h: 1,
            out_w: 1,
            c: 3,
        };
        // channel 0: all negative; channel 1: a zero max; channel 2: a NaN first.
        let input = [
            -3.0,
            0.0,
            f32::NAN,
            -1.0,
            -2.0,
            1.0,
            -2.0,
            -5.0,
            1.0,
            -4.0,
            -1.0,
            1.0,
        ];
        let mut out = [0.0; 3];
        let mut arg = [0; 3];
        pool_forward(&g, &input, 1, true, &mut out, &mut arg);
        assert_eq!(&out[..2], &[0.0, 0.0]);
        assert_eq!(&arg[..2], &[NO_ARGMAX, NO_ARGMAX]);
        assert!(out[2].is_nan());
    }
}
