//! Kernels for any geometry: a valid, stride-1 convolution as im2col + GEMM,
//! max pooling, and the two fused as conv + bias + ReLU + pool.
//!
//! Layout is NHWC everywhere (batch, row, column, channel), chosen because:
//! - an im2col row for output pixel (y, x) is `K` runs of `K * IN_C` contiguous
//!   floats (one per kernel row), so building it is a handful of copies;
//! - the convolution's GEMM output `[pixels, OUT_C]` already *is* the NHWC
//!   output, with no transpose;
//! - the kernel matrix `[K * K * IN_C, OUT_C]` is Keras' HWIO kernel as stored.
//!
//! Work is split over the batch in chunks of [`CHUNK`] samples; each chunk
//! runs single-threaded GEMMs on this thread's scratch, and rayon runs chunks
//! in parallel. Weight gradients are summed per chunk and the chunk partials
//! then added in chunk order, so results are bit-identical whatever the
//! number of threads.

use rayon::prelude::*;

use super::common::{ordered_sum, CHUNK, NO_ARGMAX};
use super::gemm::{matmul, small_k_matmul_add, small_k_matmul_tn_add, Mat, SMALL_INNER};
use super::scratch::{with_scratch, Aligned};

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
fn conv_forward_chunk(
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
#[allow(clippy::too_many_arguments)]
fn conv_backward_chunk(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    weight: &[f32],
    d_out: &[f32],
    [col, dcol]: [&mut Aligned; 2],
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<&mut [f32]>,
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
    if let Some(dx) = dx {
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

/// Convolution forward over a batch into `out` (`[n, OUT_H, OUT_W, OUT_C]`).
pub(crate) fn conv_forward(g: &ConvGeom, x: &[f32], weight: &[f32], bias: &[f32], out: &mut [f32]) {
    out.par_chunks_mut(CHUNK * g.out_len())
        .zip(x.par_chunks(CHUNK * g.in_len()))
        .for_each(|(o, xc)| {
            let ns = xc.len() / g.in_len();
            with_scratch(|s| conv_forward_chunk(g, xc, ns, weight, bias, &mut s.floats[0], o));
        });
}

/// Runs `f(chunk, dx_chunk, dw, db)` for every chunk of `n` samples in
/// parallel, each adding into its own zeroed `dw` and `db`, and sums the
/// per-chunk gradients in chunk order (deterministic).
fn reduce_chunks<F>(
    n: usize,
    dx: Option<&mut [f32]>,
    dx_per_sample: usize,
    w_len: usize,
    b_len: usize,
    f: F,
) -> (Vec<f32>, Vec<f32>)
where
    F: Fn(usize, Option<&mut [f32]>, &mut [f32], &mut [f32]) + Sync,
{
    let chunks = n.div_ceil(CHUNK);
    let dx_chunks: Vec<Option<&mut [f32]>> = match dx {
        Some(dx) => dx.chunks_mut(CHUNK * dx_per_sample).map(Some).collect(),
        None => (0..chunks).map(|_| None).collect(),
    };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx_chunks
        .into_par_iter()
        .enumerate()
        .map(|(i, dxc)| {
            let mut dw = vec![0.0; w_len];
            let mut db = vec![0.0; b_len];
            f(i, dxc, &mut dw, &mut db);
            (dw, db)
        })
        .collect();
    (
        ordered_sum(&partials, |p| &p.0),
        ordered_sum(&partials, |p| &p.1),
    )
}

/// Convolution backward over a batch of `n`: returns `(dW, dB)`, adds the input gradient to `dx`.
pub(crate) fn conv_backward(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    weight: &[f32],
    d_out: &[f32],
    dx: Option<&mut [f32]>,
) -> (Vec<f32>, Vec<f32>) {
    reduce_chunks(
        n,
        dx,
        g.in_len(),
        g.weight_len(),
        g.out_c,
        |i, dxc, dw, db| {
            let s0 = i * CHUNK;
            let ns = CHUNK.min(n - s0);
            let xc = &x[s0 * g.in_len()..(s0 + ns) * g.in_len()];
            let dc = &d_out[s0 * g.out_len()..(s0 + ns) * g.out_len()];
            with_scratch(|s| {
                let [col, dcol, ..] = &mut s.floats;
                conv_backward_chunk(g, xc, ns, weight, dc, [col, dcol], dw, db, dxc)
            });
        },
    )
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

/// Fused conv + bias + ReLU + max pool forward into `out` and `arg`; the
/// full-resolution convolution output only ever lives in per-thread scratch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_forward(
    cg: &ConvGeom,
    pg: &PoolGeom,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    out: &mut [f32],
    arg: &mut [u8],
) {
    debug_assert_eq!((cg.out_h, cg.out_w, cg.out_c), (pg.in_h, pg.in_w, pg.c));
    out.par_chunks_mut(CHUNK * pg.out_len())
        .zip(arg.par_chunks_mut(CHUNK * pg.out_len()))
        .zip(x.par_chunks(CHUNK * cg.in_len()))
        .for_each(|((o, a), xc)| {
            let ns = xc.len() / cg.in_len();
            with_scratch(|s| {
                let [col, conv, ..] = &mut s.floats;
                let conv = conv.sized(ns * cg.out_len());
                conv_forward_chunk(cg, xc, ns, weight, bias, col, conv);
                pool_forward(pg, conv, ns, true, o, a);
            });
        });
}

/// Fused backward of [`block_forward`]: returns `(dW, dB)`, adds the input gradient to `dx`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_backward(
    cg: &ConvGeom,
    pg: &PoolGeom,
    x: &[f32],
    n: usize,
    weight: &[f32],
    d_pooled: &[f32],
    argmax: &[u8],
    dx: Option<&mut [f32]>,
) -> (Vec<f32>, Vec<f32>) {
    reduce_chunks(
        n,
        dx,
        cg.in_len(),
        cg.weight_len(),
        cg.out_c,
        |i, dxc, dw, db| {
            let s0 = i * CHUNK;
            let ns = CHUNK.min(n - s0);
            let xc = &x[s0 * cg.in_len()..(s0 + ns) * cg.in_len()];
            let po = s0 * pg.out_len()..(s0 + ns) * pg.out_len();
            with_scratch(|s| {
                let [col, dcol, d_conv, ..] = &mut s.floats;
                let d_conv = d_conv.sized(ns * cg.out_len());
                d_conv.fill(0.0);
                pool_backward(pg, &d_pooled[po.clone()], &argmax[po], ns, d_conv);
                conv_backward_chunk(cg, xc, ns, weight, d_conv, [col, dcol], dw, db, dxc);
            });
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_data::random;

    /// The seed's two convolutions.
    const CONV1: ConvGeom = ConvGeom {
        in_c: 1,
        out_c: 32,
        k: 3,
        in_h: 28,
        in_w: 28,
        out_h: 26,
        out_w: 26,
    };
    const CONV2: ConvGeom = ConvGeom {
        in_c: 32,
        out_c: 64,
        k: 3,
        in_h: 13,
        in_w: 13,
        out_h: 11,
        out_w: 11,
    };

    /// Direct six-loop convolution in f64: the reference.
    fn conv_reference(g: &ConvGeom, x: &[f32], n: usize, w: &[f32], b: &[f32]) -> Vec<f64> {
        let mut out = vec![0.0; n * g.out_len()];
        for s in 0..n {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for oc in 0..g.out_c {
                        let mut acc = b[oc] as f64;
                        for ky in 0..g.k {
                            for kx in 0..g.k {
                                for ic in 0..g.in_c {
                                    let xv = x[s * g.in_len()
                                        + ((oy + ky) * g.in_w + ox + kx) * g.in_c
                                        + ic];
                                    let wv = w[((ky * g.k + kx) * g.in_c + ic) * g.out_c + oc];
                                    acc += xv as f64 * wv as f64;
                                }
                            }
                        }
                        out[s * g.out_len() + (oy * g.out_w + ox) * g.out_c + oc] = acc;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn conv_forward_matches_direct_loops() {
        // Non-square, several channels, a batch that is not a multiple of the chunk size.
        for g in [
            ConvGeom {
                in_c: 3,
                out_c: 5,
                k: 3,
                in_h: 9,
                in_w: 7,
                out_h: 7,
                out_w: 5,
            },
            CONV1,
            CONV2,
            ConvGeom {
                in_c: 2,
                out_c: 3,
                k: 1,
                in_h: 4,
                in_w: 4,
                out_h: 4,
                out_w: 4,
            },
        ] {
            let n = CHUNK + 1;
            let x = random(n * g.in_len(), 1);
            let w = random(g.weight_len(), 2);
            let b = random(g.out_c, 3);
            let mut got = vec![0.0; n * g.out_len()];
            conv_forward(&g, &x, &w, &b, &mut got);
            let want = conv_reference(&g, &x, n, &w, &b);
            assert_eq!(got.len(), want.len());
            for (i, (a, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (*a as f64 - e).abs() <= 1e-5 * (1.0 + e.abs()),
                    "{g:?} output {i}: {a} vs {e}"
                );
            }
        }
    }

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

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let g = CONV2;
        let n = 3 * CHUNK + 2;
        let x = random(n * g.in_len(), 6);
        let w = random(g.weight_len(), 7);
        let d = random(n * g.out_len(), 8);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut dx = vec![0.0; n * g.in_len()];
                let (dw, db) = conv_backward(&g, &x, n, &w, &d, Some(&mut dx));
                [dw, db, dx].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
            })
        };
        assert_eq!(run(1), run(3));
    }
}
