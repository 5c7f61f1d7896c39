//! Plain-slice compute kernels behind the Conv2D and MaxPool2D layers, for
//! any geometry: im2col + GEMM (the `gemm` crate) and plain loops that the
//! compiler vectorises for the build target. The seed network's two fused
//! blocks run the hand-written kernels in `direct` instead (see `block`); these
//! are the reference the tests compare them with and the path for any other shape.
//!
//! Layout is NHWC everywhere (batch, row, column, channel), chosen because:
//! - an im2col row for output pixel (y, x) is `K` runs of `K * IN_C` contiguous
//!   floats (one per kernel row), so building it is a handful of `memcpy`s;
//! - the convolution's GEMM output `[pixels, OUT_C]` already *is* the NHWC
//!   output, with no transpose;
//! - the kernel matrix `[K * K * IN_C, OUT_C]` is Keras' HWIO kernel as stored.
//!
//! Work is split over the batch in chunks of a fixed number of samples
//! ([`SAMPLES_PER_CHUNK`]); each chunk runs single-threaded GEMMs on
//! thread-local scratch that stays in cache, and rayon runs chunks in parallel.
//! Weight gradients are summed per chunk and the chunk partials are then added
//! in chunk order, so results are bit-identical whatever the number of threads.

use std::cell::RefCell;

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// Samples per parallel work item. Fixed (not derived from the thread count)
/// so that the order of floating-point reductions never changes.
pub(crate) const SAMPLES_PER_CHUNK: usize = 4;

/// Marks a pooling window whose maximum was not positive after a fused ReLU:
/// no gradient flows back through it.
pub(crate) const NO_ARGMAX: u8 = u8::MAX;

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

/// Patches up to this length (conv1's 3x3x1 = 9) use plain loops instead of
/// GEMM: with so short an inner dimension GEMM's packing costs more than the
/// arithmetic (measured: 4-8 GFLOP/s for conv1 through gemm).
const SMALL_PATCH: usize = 16;

/// Runs [`small_k_matmul_add_body`].
fn small_k_matmul_add(dst: &mut [f32], lhs: &[f32], rhs: &[f32], m: usize, k: usize, n: usize) {
    small_k_matmul_add_body(dst, lhs, rhs, m, k, n)
}

/// `dst[m, n] += lhs[m, k] * rhs[k, n]`, all row-major, for small `k`: the
/// inner loop runs over `n` contiguous floats and vectorises.
#[inline(always)]
fn small_k_matmul_add_body(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    m: usize,
    k: usize,
    n: usize,
) {
    for (d, a) in dst[..m * n]
        .chunks_exact_mut(n)
        .zip(lhs[..m * k].chunks_exact(k))
    {
        for (p, &av) in a.iter().enumerate() {
            for (dv, wv) in d.iter_mut().zip(&rhs[p * n..(p + 1) * n]) {
                *dv += av * wv;
            }
        }
    }
}

/// Runs [`small_k_matmul_tn_body`].
fn small_k_matmul_tn(dst: &mut [f32], lhs: &[f32], rhs: &[f32], m: usize, k: usize, n: usize) {
    small_k_matmul_tn_body(dst, lhs, rhs, m, k, n)
}

/// `dst[k, n] = lhs[m, k]^T * rhs[m, n]`, all row-major, for small `k`.
#[inline(always)]
fn small_k_matmul_tn_body(dst: &mut [f32], lhs: &[f32], rhs: &[f32], m: usize, k: usize, n: usize) {
    dst[..k * n].fill(0.0);
    for (a, r) in lhs[..m * k]
        .chunks_exact(k)
        .zip(rhs[..m * n].chunks_exact(n))
    {
        for (p, &av) in a.iter().enumerate() {
            for (dv, rv) in dst[p * n..(p + 1) * n].iter_mut().zip(r) {
                *dv += av * rv;
            }
        }
    }
}

/// Per-thread buffers reused across calls, so the hot loop does not allocate.
#[derive(Default)]
pub(crate) struct Scratch {
    pub col: Vec<f32>,
    pub dcol: Vec<f32>,
    pub conv: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| f(&mut s.borrow_mut()))
}

/// Resizes `v` to `len` without caring about its contents (they get overwritten).
fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

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

/// Runs [`im2col_body`].
pub(crate) fn im2col(g: &ConvGeom, x: &[f32], n: usize, col: &mut [f32]) {
    im2col_body(g, x, n, col)
}

/// Builds the im2col matrix `[n * pixels, patch]` of `n` samples.
#[inline(always)]
fn im2col_body(g: &ConvGeom, x: &[f32], n: usize, col: &mut [f32]) {
    let seg = g.k * g.in_c;
    let patch = g.patch();
    let mut rows = col.chunks_exact_mut(patch);
    for s in 0..n {
        let xs = &x[s * g.in_len()..(s + 1) * g.in_len()];
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let row = rows.next().expect("im2col buffer too small");
                for ky in 0..g.k {
                    let src = ((oy + ky) * g.in_w + ox) * g.in_c;
                    // An element loop, not copy_from_slice: for conv1 a run is
                    // only 3 floats and a memcpy call per run would dominate.
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

/// Runs [`col2im_add_body`].
pub(crate) fn col2im_add(g: &ConvGeom, dcol: &[f32], n: usize, dx: &mut [f32]) {
    col2im_add_body(g, dcol, n, dx)
}

/// Adds the im2col-shaped gradient `dcol` back onto the input gradient `dx`.
#[inline(always)]
fn col2im_add_body(g: &ConvGeom, dcol: &[f32], n: usize, dx: &mut [f32]) {
    let seg = g.k * g.in_c;
    let patch = g.patch();
    let mut rows = dcol.chunks_exact(patch);
    for s in 0..n {
        let dxs = &mut dx[s * g.in_len()..(s + 1) * g.in_len()];
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

/// `out = conv(x) + bias` for `n` samples (`out` is `[n, OUT_H, OUT_W, OUT_C]`).
pub(crate) fn conv_forward_chunk(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    weight: &[f32],
    bias: &[f32],
    col: &mut Vec<f32>,
    out: &mut [f32],
) {
    let m = n * g.pixels();
    let col = sized(col, m * g.patch());
    im2col(g, x, n, col);
    for row in out[..m * g.out_c].chunks_exact_mut(g.out_c) {
        row.copy_from_slice(bias);
    }
    if g.patch() <= SMALL_PATCH {
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
/// overwrites `dw` and `db` with this chunk's sums, adds the input gradient to `dx`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_backward_chunk(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    weight: &[f32],
    d_out: &[f32],
    col: &mut Vec<f32>,
    dcol: &mut Vec<f32>,
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let m = n * g.pixels();
    let d_out = Mat::row_major(&d_out[..m * g.out_c], m, g.out_c);
    db.fill(0.0);
    for row in d_out.data.chunks_exact(g.out_c) {
        for (b, v) in db.iter_mut().zip(row) {
            *b += v;
        }
    }
    let col = sized(col, m * g.patch());
    im2col(g, x, n, col);
    // dW[patch, out_c] = col^T [patch, m] x dOut [m, out_c]
    if g.patch() <= SMALL_PATCH {
        small_k_matmul_tn(dw, col, d_out.data, m, g.patch(), g.out_c);
    } else {
        matmul(
            dw,
            g.out_c,
            false,
            Mat::row_major(col, m, g.patch()).t(),
            d_out,
        );
    }
    if let Some(dx) = dx {
        // dCol[m, patch] = dOut [m, out_c] x W^T [out_c, patch]
        let dcol = sized(dcol, m * g.patch());
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

/// Runs [`pool_forward_body`].
pub(crate) fn pool_forward(
    g: &PoolGeom,
    input: &[f32],
    n: usize,
    relu: bool,
    out: &mut [f32],
    argmax: &mut [u8],
) {
    pool_forward_body(g, input, n, relu, out, argmax)
}

/// Max pooling of `n` samples. Ties: the first maximum in row-major window
/// order wins (strict `>`). Rows/columns past `out * p` are never read (floor).
/// With `relu`, a window whose maximum is not positive outputs 0 and records
/// [`NO_ARGMAX`] (this equals ReLU then pooling, with ReLU's gradient 0 at 0).
/// NaN inputs stay NaN so that a diverging run is visible.
#[inline(always)]
fn pool_forward_body(
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

/// Runs [`pool_backward_body`].
pub(crate) fn pool_backward(
    g: &PoolGeom,
    d_out: &[f32],
    argmax: &[u8],
    n: usize,
    d_in: &mut [f32],
) {
    pool_backward_body(g, d_out, argmax, n, d_in)
}

/// Routes each pooled gradient to its window's recorded maximum (adds into `d_in`).
#[inline(always)]
fn pool_backward_body(g: &PoolGeom, d_out: &[f32], argmax: &[u8], n: usize, d_in: &mut [f32]) {
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

/// Splits `len` floats per sample of an `n`-sample buffer into chunk slices.
fn chunk_len(per_sample: usize) -> usize {
    SAMPLES_PER_CHUNK * per_sample
}

/// Convolution forward over a batch: `[n, OUT_H, OUT_W, OUT_C]`.
pub(crate) fn conv_forward(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    weight: &[f32],
    bias: &[f32],
) -> Vec<f32> {
    let mut out = vec![0.0; n * g.out_len()];
    out.par_chunks_mut(chunk_len(g.out_len()))
        .zip(x.par_chunks(chunk_len(g.in_len())))
        .for_each(|(o, xc)| {
            let ns = xc.len() / g.in_len();
            with_scratch(|s| conv_forward_chunk(g, xc, ns, weight, bias, &mut s.col, o));
        });
    out
}

/// Runs `f(chunk, dx_chunk, dw, db)` for every chunk in parallel and sums the
/// per-chunk weight and bias gradients in chunk order (deterministic).
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
    let chunks = n.div_ceil(SAMPLES_PER_CHUNK);
    let dx_chunks: Vec<Option<&mut [f32]>> = match dx {
        Some(dx) => dx.chunks_mut(chunk_len(dx_per_sample)).map(Some).collect(),
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
    let mut dw = vec![0.0; w_len];
    let mut db = vec![0.0; b_len];
    for (pw, pb) in &partials {
        dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    (dw, db)
}

/// Convolution backward over a batch: returns `(dW, dB)`, adds the input gradient to `dx`.
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
            let s0 = i * SAMPLES_PER_CHUNK;
            let ns = SAMPLES_PER_CHUNK.min(n - s0);
            let xc = &x[s0 * g.in_len()..(s0 + ns) * g.in_len()];
            let dc = &d_out[s0 * g.out_len()..(s0 + ns) * g.out_len()];
            with_scratch(|s| {
                conv_backward_chunk(g, xc, ns, weight, dc, &mut s.col, &mut s.dcol, dw, db, dxc)
            });
        },
    )
}

/// Max pooling over a batch: `(pooled, argmax)`.
pub(crate) fn pool_forward_batch(
    g: &PoolGeom,
    input: &[f32],
    n: usize,
    relu: bool,
) -> (Vec<f32>, Vec<u8>) {
    let mut out = vec![0.0; n * g.out_len()];
    let mut arg = vec![0u8; n * g.out_len()];
    out.par_chunks_mut(chunk_len(g.out_len()))
        .zip(arg.par_chunks_mut(chunk_len(g.out_len())))
        .zip(input.par_chunks(chunk_len(g.in_len())))
        .for_each(|((o, a), xc)| pool_forward(g, xc, xc.len() / g.in_len(), relu, o, a));
    (out, arg)
}

/// Max-pooling backward over a batch (adds into `d_in`).
pub(crate) fn pool_backward_batch(g: &PoolGeom, d_out: &[f32], argmax: &[u8], d_in: &mut [f32]) {
    d_in.par_chunks_mut(chunk_len(g.in_len()))
        .zip(d_out.par_chunks(chunk_len(g.out_len())))
        .zip(argmax.par_chunks(chunk_len(g.out_len())))
        .for_each(|((di, d), a)| pool_backward(g, d, a, d.len() / g.out_len(), di));
}

/// Fused conv + bias + ReLU + max pool forward: `(pooled, argmax)`; the
/// full-resolution convolution output only ever lives in per-thread scratch.
pub(crate) fn block_forward(
    cg: &ConvGeom,
    pg: &PoolGeom,
    x: &[f32],
    n: usize,
    weight: &[f32],
    bias: &[f32],
) -> (Vec<f32>, Vec<u8>) {
    debug_assert_eq!((cg.out_h, cg.out_w, cg.out_c), (pg.in_h, pg.in_w, pg.c));
    let mut out = vec![0.0; n * pg.out_len()];
    let mut arg = vec![0u8; n * pg.out_len()];
    out.par_chunks_mut(chunk_len(pg.out_len()))
        .zip(arg.par_chunks_mut(chunk_len(pg.out_len())))
        .zip(x.par_chunks(chunk_len(cg.in_len())))
        .for_each(|((o, a), xc)| {
            let ns = xc.len() / cg.in_len();
            with_scratch(|s| {
                let conv = sized(&mut s.conv, ns * cg.out_len());
                conv_forward_chunk(cg, xc, ns, weight, bias, &mut s.col, conv);
                pool_forward(pg, conv, ns, true, o, a);
            });
        });
    (out, arg)
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
            let s0 = i * SAMPLES_PER_CHUNK;
            let ns = SAMPLES_PER_CHUNK.min(n - s0);
            let xc = &x[s0 * cg.in_len()..(s0 + ns) * cg.in_len()];
            let po = s0 * pg.out_len()..(s0 + ns) * pg.out_len();
            with_scratch(|s| {
                let d_conv = sized(&mut s.conv, ns * cg.out_len());
                d_conv.fill(0.0);
                pool_backward(pg, &d_pooled[po.clone()], &argmax[po], ns, d_conv);
                conv_backward_chunk(
                    cg,
                    xc,
                    ns,
                    weight,
                    d_conv,
                    &mut s.col,
                    &mut s.dcol,
                    dw,
                    db,
                    dxc,
                );
            });
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

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
            ConvGeom {
                in_c: 1,
                out_c: 32,
                k: 3,
                in_h: 28,
                in_w: 28,
                out_h: 26,
                out_w: 26,
            },
            ConvGeom {
                in_c: 32,
                out_c: 64,
                k: 3,
                in_h: 13,
                in_w: 13,
                out_h: 11,
                out_w: 11,
            },
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
            let n = SAMPLES_PER_CHUNK + 1;
            let x = random(n * g.in_len(), 1);
            let w = random(g.weight_len(), 2);
            let b = random(g.out_c, 3);
            let got = conv_forward(&g, &x, n, &w, &b);
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
        let g = ConvGeom {
            in_c: 32,
            out_c: 64,
            k: 3,
            in_h: 13,
            in_w: 13,
            out_h: 11,
            out_w: 11,
        };
        let n = 3 * SAMPLES_PER_CHUNK + 2;
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
                (dw, db, dx)
            })
        };
        let one = run(1);
        let three = run(3);
        assert!(one
            .0
            .iter()
            .zip(&three.0)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(one
            .1
            .iter()
            .zip(&three.1)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(one
            .2
            .iter()
            .zip(&three.2)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[cfg(test)]
mod profile {
    use super::*;
    #[test]
    #[ignore]
    fn profile_kernels() {
        let n = 1000;
        for (name, g) in [
            (
                "conv1",
                ConvGeom {
                    in_c: 1,
                    out_c: 32,
                    k: 3,
                    in_h: 28,
                    in_w: 28,
                    out_h: 26,
                    out_w: 26,
                },
            ),
            (
                "conv2",
                ConvGeom {
                    in_c: 32,
                    out_c: 64,
                    k: 3,
                    in_h: 13,
                    in_w: 13,
                    out_h: 11,
                    out_w: 11,
                },
            ),
        ] {
            let x = vec![0.5f32; n * g.in_len()];
            let w = vec![0.01f32; g.weight_len()];
            let b = vec![0.0f32; g.out_c];
            let t = std::time::Instant::now();
            let out = conv_forward(&g, &x, n, &w, &b);
            let fwd = t.elapsed();
            let mut col = vec![0.0; n * g.pixels() * g.patch()];
            let t = std::time::Instant::now();
            im2col(&g, &x, n, &mut col);
            let i2c = t.elapsed();
            let t = std::time::Instant::now();
            let mut dx = vec![0.0; n * g.in_len()];
            let _ = conv_backward(&g, &x, n, &w, &out, Some(&mut dx));
            let bwd = t.elapsed();
            let m = n * g.pixels();
            let mut o2 = vec![0.0; m * g.out_c];
            let t = std::time::Instant::now();
            matmul(
                &mut o2,
                g.out_c,
                false,
                Mat::row_major(&col, m, g.patch()),
                Mat::row_major(&w, g.patch(), g.out_c),
            );
            let mm = t.elapsed();
            let flops = 2.0 * (m * g.patch() * g.out_c) as f64;
            eprintln!("{name}: fwd {fwd:?} ({:.1} GF/s) im2col(all, 1 thread) {i2c:?} one big gemm 1 thread {mm:?} ({:.1} GF/s) bwd {bwd:?}", flops / fwd.as_secs_f64() / 1e9, flops / mm.as_secs_f64() / 1e9);
        }
    }
}
