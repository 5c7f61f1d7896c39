//! The tape-free hot path: forward and backward of the seed's network on plain
//! buffers, used by [`crate::Learner::train_step`] and [`crate::Classifier`].
//!
//! The typed dfdx layers ([`crate::Cnn::forward`]) stay the reference this
//! path is tested against (see the tests below); this one exists for speed:
//! - the batch is split into fixed chunks of [`CHUNK`] samples, and one rayon
//!   task runs a chunk's whole forward *and* backward pass while its
//!   activations are still in cache, so a training step is one parallel pass;
//!   weight gradients are summed per chunk and the partials added in chunk
//!   order, so results are bit-identical whatever the number of threads;
//! - conv1 (a 3x3x1 patch) runs as direct loops over its 32 channels, fused
//!   with ReLU and pooling: its 26x26 output is never stored;
//! - conv2 computes only the 10x10 outputs pool2 reads (floor drops row and
//!   column 10) as one im2col GEMM per chunk;
//! - conv2's backward is sparse: after max pooling only the argmax position of
//!   each live window (ReLU-positive, not dropped out) has a gradient, so the
//!   weight and input gradients are short runs of `y += g * x` over those
//!   positions only (at most a fifth of the dense products' work), reading the
//!   patches straight from the pooled conv1 maps (no im2col, no col2im).

use std::cell::RefCell;

use rayon::prelude::*;

use crate::kernels::{matmul, simd, Mat, NO_ARGMAX};
use crate::network::{Cnn, FEATURES};
use crate::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};

/// Samples per parallel work item. Fixed (not derived from the thread count)
/// so that the order of floating-point reductions never changes.
pub(crate) const CHUNK: usize = 8;

const K: usize = 3;
const C1: usize = 32;
const C2: usize = 64;
/// conv1 taps: 3x3, one input channel.
const TAPS1: usize = K * K;
/// conv1 pooled side (26 / 2).
const P1: usize = 13;
/// Floats per sample after conv1 + pool1.
const POOLED1: usize = P1 * P1 * C1;
/// conv2 output side that pool2 reads (11 floored to 10).
const USED2: usize = 10;
/// conv2 output pixels computed per sample.
const PIXELS2: usize = USED2 * USED2;
/// One kernel row of a conv2 patch: 3 pixels x 32 channels, contiguous in NHWC.
const RUN2: usize = K * C1;
/// conv2 patch length (3x3x32).
const PATCH2: usize = K * RUN2;
/// pool2 side.
const P2: usize = 5;

/// The network's parameters as plain vectors, plus conv2's kernel transposed
/// (`[out, patch]`) for the sparse input gradient.
#[derive(Debug, Clone)]
pub(crate) struct Weights {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    w2t: Vec<f32>,
    b2: Vec<f32>,
    wd: Vec<f32>,
    bd: Vec<f32>,
}

impl Weights {
    /// Copies the parameters out of `cnn`.
    pub(crate) fn of(cnn: &Cnn) -> Self {
        let [w1, b1, w2, b2, wd, bd] = cnn.param_values();
        let mut w2t = vec![0.0; w2.len()];
        for p in 0..PATCH2 {
            for o in 0..C2 {
                w2t[o * PATCH2 + p] = w2[p * C2 + o];
            }
        }
        Self {
            w1,
            b1,
            w2,
            w2t,
            b2,
            wd,
            bd,
        }
    }
}

/// Parameter gradients; conv2's kernel gradient is kept transposed (`[out, patch]`)
/// while accumulating, so each update is a contiguous run.
pub(crate) struct Grads {
    /// Gradients in [`crate::io::TENSORS`] order and layout.
    pub tensors: [Vec<f32>; 6],
}

/// Per-chunk gradient accumulators.
struct Partial {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2t: Vec<f32>,
    b2: Vec<f32>,
    wd: Vec<f32>,
    bd: Vec<f32>,
}

impl Partial {
    fn zeros() -> Self {
        Self {
            w1: vec![0.0; TAPS1 * C1],
            b1: vec![0.0; C1],
            w2t: vec![0.0; PATCH2 * C2],
            b2: vec![0.0; C2],
            wd: vec![0.0; FEATURES * NUM_CLASSES],
            bd: vec![0.0; NUM_CLASSES],
        }
    }

    fn add(&mut self, o: &Partial) {
        for (a, b) in [
            (&mut self.w1, &o.w1),
            (&mut self.b1, &o.b1),
            (&mut self.w2t, &o.w2t),
            (&mut self.b2, &o.b2),
            (&mut self.wd, &o.wd),
            (&mut self.bd, &o.bd),
        ] {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
    }

    fn into_grads(self) -> Grads {
        let mut w2 = vec![0.0; PATCH2 * C2];
        for o in 0..C2 {
            for p in 0..PATCH2 {
                w2[p * C2 + o] = self.w2t[o * PATCH2 + p];
            }
        }
        Grads {
            tensors: [self.w1, self.b1, w2, self.b2, self.wd, self.bd],
        }
    }
}

/// Per-thread buffers for one chunk, reused across calls.
#[derive(Default)]
struct Scratch {
    pixels: Vec<f32>,
    pooled1: Vec<f32>,
    arg1: Vec<u8>,
    col: Vec<f32>,
    conv2: Vec<f32>,
    pooled2: Vec<f32>,
    arg2: Vec<u8>,
    d_pooled1: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Grows `v` to at least `len` elements and returns the first `len`.
fn sized<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}

/// Logits `[n, 10]` of `n` images, no dropout; `fill(i, dst)` writes image
/// `i`'s 784 pixels (in [0, 1]) into `dst`, so callers convert inside the
/// parallel loop.
pub(crate) fn logits(
    w: &Weights,
    n: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut out = vec![0.0; n * NUM_CLASSES];
    out.par_chunks_mut(CHUNK * NUM_CLASSES)
        .enumerate()
        .for_each(|(ci, logits)| {
            let s0 = ci * CHUNK;
            let ns = logits.len() / NUM_CLASSES;
            SCRATCH.with(|s| {
                let s = &mut *s.borrow_mut();
                let mut pixels = std::mem::take(&mut s.pixels);
                let x = sized(&mut pixels, ns * IMAGE_PIXELS);
                for (i, dst) in x.chunks_exact_mut(IMAGE_PIXELS).enumerate() {
                    fill(s0 + i, dst);
                }
                simd(|| {
                    forward_chunk(w, x, ns, s);
                    for (i, l) in logits.chunks_exact_mut(NUM_CLASSES).enumerate() {
                        let feat = &s.pooled2[i * FEATURES..(i + 1) * FEATURES];
                        dense(w, feat, l.try_into().expect("10 logits"));
                    }
                });
                s.pixels = pixels;
            });
        });
    out
}

/// One training batch: returns the logits `[n, 10]` (with dropout applied)
/// and the gradients of the mean softmax cross-entropy. `mask` (B*1600,
/// already scaled) multiplies the flattened features.
pub(crate) fn train_batch(
    w: &Weights,
    images: &[f32],
    labels: &[u8],
    mask: Option<&[f32]>,
) -> (Vec<f32>, Grads) {
    let n = labels.len();
    assert_eq!(images.len(), n * IMAGE_PIXELS);
    if let Some(m) = mask {
        assert_eq!(m.len(), n * FEATURES);
    }
    let inv_batch = 1.0 / n as f32;
    let mut logits = vec![0.0; n * NUM_CLASSES];
    let partials: Vec<Partial> = logits
        .par_chunks_mut(CHUNK * NUM_CLASSES)
        .enumerate()
        .map(|(ci, logits)| {
            let s0 = ci * CHUNK;
            let ns = logits.len() / NUM_CLASSES;
            let x = &images[s0 * IMAGE_PIXELS..(s0 + ns) * IMAGE_PIXELS];
            let mask = mask.map(|m| &m[s0 * FEATURES..(s0 + ns) * FEATURES]);
            let mut g = Partial::zeros();
            SCRATCH.with(|s| {
                let s = &mut *s.borrow_mut();
                simd(|| {
                    train_chunk(
                        w,
                        x,
                        &labels[s0..s0 + ns],
                        mask,
                        inv_batch,
                        logits,
                        &mut g,
                        s,
                    )
                });
            });
            g
        })
        .collect();
    let mut total = Partial::zeros();
    for p in &partials {
        total.add(p);
    }
    (logits, total.into_grads())
}

/// Forward of `n` samples up to the pooled conv2 features (`s.pooled2`,
/// `[n, 1600]`), keeping what the backward pass needs in `s`.
#[inline(always)]
fn forward_chunk(w: &Weights, x: &[f32], n: usize, s: &mut Scratch) {
    let pooled1 = sized(&mut s.pooled1, n * POOLED1);
    let arg1 = sized(&mut s.arg1, n * POOLED1);
    for ((xs, p), a) in x
        .chunks_exact(IMAGE_PIXELS)
        .zip(pooled1.chunks_exact_mut(POOLED1))
        .zip(arg1.chunks_exact_mut(POOLED1))
    {
        conv1_pool1(w, xs, p, a);
    }
    let m = n * PIXELS2;
    let col = sized(&mut s.col, m * PATCH2);
    im2col2(&s.pooled1[..n * POOLED1], col);
    let conv2 = sized(&mut s.conv2, m * C2);
    for row in conv2.chunks_exact_mut(C2) {
        row.copy_from_slice(&w.b2);
    }
    matmul(
        conv2,
        C2,
        true,
        Mat::row_major(col, m, PATCH2),
        Mat::row_major(&w.w2, PATCH2, C2),
    );
    let pooled2 = sized(&mut s.pooled2, n * FEATURES);
    let arg2 = sized(&mut s.arg2, n * FEATURES);
    for ((c, p), a) in conv2
        .chunks_exact(PIXELS2 * C2)
        .zip(pooled2.chunks_exact_mut(FEATURES))
        .zip(arg2.chunks_exact_mut(FEATURES))
    {
        pool2(c, p, a);
    }
}

/// Forward and backward of one chunk: writes its logits and adds its
/// parameter gradients (of the batch-mean loss) into `g`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn train_chunk(
    w: &Weights,
    x: &[f32],
    labels: &[u8],
    mask: Option<&[f32]>,
    inv_batch: f32,
    logits: &mut [f32],
    g: &mut Partial,
    s: &mut Scratch,
) {
    let n = labels.len();
    forward_chunk(w, x, n, s);
    let mut d_feat = [0.0f32; FEATURES];
    for i in 0..n {
        let feat = &mut s.pooled2[i * FEATURES..(i + 1) * FEATURES];
        let mask = mask.map(|m| &m[i * FEATURES..(i + 1) * FEATURES]);
        if let Some(m) = mask {
            feat.iter_mut().zip(m).for_each(|(f, m)| *f *= m);
        }
        let l: &mut [f32; NUM_CLASSES] = (&mut logits[i * NUM_CLASSES..(i + 1) * NUM_CLASSES])
            .try_into()
            .expect("10 logits");
        dense(w, feat, l);
        // d(mean cross-entropy)/d(logits) = (softmax - one_hot) / batch.
        let max = l.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let mut e = [0.0f32; NUM_CLASSES];
        for (e, &v) in e.iter_mut().zip(l.iter()) {
            *e = (v - max).exp();
        }
        let sum: f32 = e.iter().sum();
        let mut d_logits = [0.0f32; NUM_CLASSES];
        for (j, d) in d_logits.iter_mut().enumerate() {
            let target = if j == labels[i] as usize { 1.0 } else { 0.0 };
            *d = (e[j] / sum - target) * inv_batch;
        }
        // Dense layer: weight [10, 1600].
        d_feat.fill(0.0);
        for (j, &d) in d_logits.iter().enumerate() {
            g.bd[j] += d;
            let row = &w.wd[j * FEATURES..(j + 1) * FEATURES];
            let grow = &mut g.wd[j * FEATURES..(j + 1) * FEATURES];
            for ((gw, &f), (df, &wv)) in grow.iter_mut().zip(feat.iter()).zip(d_feat.iter_mut().zip(row)) {
                *gw += d * f;
                *df += d * wv;
            }
        }
        if let Some(m) = mask {
            d_feat.iter_mut().zip(m).for_each(|(d, m)| *d *= m);
        }
        let d_pooled1 = sized(&mut s.d_pooled1, POOLED1);
        d_pooled1.fill(0.0);
        conv2_backward(
            w,
            &s.pooled1[i * POOLED1..(i + 1) * POOLED1],
            &d_feat,
            &s.arg2[i * FEATURES..(i + 1) * FEATURES],
            g,
            d_pooled1,
        );
        conv1_backward(
            &x[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS],
            d_pooled1,
            &s.arg1[i * POOLED1..(i + 1) * POOLED1],
            g,
        );
    }
}

/// `logits = wd * feat + bd`, each dot product in 16 fixed lanes then summed
/// in lane order (vectorisable and deterministic).
#[inline(always)]
fn dense(w: &Weights, feat: &[f32], logits: &mut [f32; NUM_CLASSES]) {
    for (j, l) in logits.iter_mut().enumerate() {
        let row = &w.wd[j * FEATURES..(j + 1) * FEATURES];
        let mut acc = [0.0f32; 16];
        for (f, r) in feat.chunks_exact(16).zip(row.chunks_exact(16)) {
            for k in 0..16 {
                acc[k] += f[k] * r[k];
            }
        }
        *l = w.bd[j] + acc.iter().sum::<f32>();
    }
}

/// conv1 (3x3, 1 -> 32) + bias + ReLU + 2x2 max pool of one 28x28 image,
/// directly (no im2col): each output pixel is 9 broadcasts times the 32-wide
/// kernel rows. Pool ties go to the first maximum in row-major window order;
/// non-positive windows output 0 and record [`NO_ARGMAX`]; NaN stays NaN.
#[inline(always)]
fn conv1_pool1(w: &Weights, x: &[f32], out: &mut [f32], arg: &mut [u8]) {
    let b1: &[f32; C1] = w.b1.as_slice().try_into().expect("32 biases");
    let mut taps = [[0.0f32; C1]; TAPS1];
    for (t, row) in taps.iter_mut().zip(w.w1.chunks_exact(C1)) {
        t.copy_from_slice(row);
    }
    for py in 0..P1 {
        for px in 0..P1 {
            let mut best = [0.0f32; C1];
            let mut best_at = [0u32; C1];
            for pos in 0..4 {
                let (oy, ox) = (2 * py + pos / 2, 2 * px + pos % 2);
                let mut acc = *b1;
                for ky in 0..K {
                    for kx in 0..K {
                        let xv = x[(oy + ky) * IMAGE_SIDE + ox + kx];
                        for (a, &t) in acc.iter_mut().zip(&taps[ky * K + kx]) {
                            *a += xv * t;
                        }
                    }
                }
                if pos == 0 {
                    best = acc;
                } else {
                    for c in 0..C1 {
                        if acc[c] > best[c] {
                            best[c] = acc[c];
                            best_at[c] = pos as u32;
                        }
                    }
                }
            }
            let o = (py * P1 + px) * C1;
            relu_store(&best, &best_at, &mut out[o..o + C1], &mut arg[o..o + C1]);
        }
    }
}

/// Stores a pooled window after ReLU: non-positive maxima become 0 with no argmax.
#[inline(always)]
fn relu_store(best: &[f32], best_at: &[u32], out: &mut [f32], arg: &mut [u8]) {
    for (((o, a), &b), &at) in out.iter_mut().zip(arg.iter_mut()).zip(best).zip(best_at) {
        if b <= 0.0 {
            *o = 0.0;
            *a = NO_ARGMAX;
        } else {
            *o = b;
            *a = at as u8;
        }
    }
}

/// im2col of conv2 for the 10x10 outputs pool2 reads: one row of 288 per
/// output pixel, three contiguous runs of 96 floats each.
#[inline(always)]
fn im2col2(pooled1: &[f32], col: &mut [f32]) {
    let mut rows = col.chunks_exact_mut(PATCH2);
    for xs in pooled1.chunks_exact(POOLED1) {
        for oy in 0..USED2 {
            for ox in 0..USED2 {
                let row = rows.next().expect("im2col buffer too small");
                for ky in 0..K {
                    let src = ((oy + ky) * P1 + ox) * C1;
                    row[ky * RUN2..(ky + 1) * RUN2].copy_from_slice(&xs[src..src + RUN2]);
                }
            }
        }
    }
}

/// ReLU + 2x2 max pool of one sample's 10x10x64 conv2 output.
#[inline(always)]
fn pool2(conv: &[f32], out: &mut [f32], arg: &mut [u8]) {
    for py in 0..P2 {
        for px in 0..P2 {
            let mut best = [0.0f32; C2];
            let mut best_at = [0u32; C2];
            for pos in 0..4 {
                let (oy, ox) = (2 * py + pos / 2, 2 * px + pos % 2);
                let v = &conv[(oy * USED2 + ox) * C2..(oy * USED2 + ox + 1) * C2];
                if pos == 0 {
                    best.copy_from_slice(v);
                } else {
                    for c in 0..C2 {
                        if v[c] > best[c] {
                            best[c] = v[c];
                            best_at[c] = pos as u32;
                        }
                    }
                }
            }
            let o = (py * P2 + px) * C2;
            relu_store(&best, &best_at, &mut out[o..o + C2], &mut arg[o..o + C2]);
        }
    }
}

/// `y += a * x` over a run of conv2 patch.
#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    let y: &mut [f32; RUN2] = y.try_into().expect("run of 96");
    let x: &[f32; RUN2] = x.try_into().expect("run of 96");
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Backward of conv2 + ReLU + pool2 for one sample, visiting only the live
/// argmax positions: adds to the kernel (transposed) and bias gradients and to
/// `d_pooled1`, the gradient of the pooled conv1 maps.
#[inline(always)]
fn conv2_backward(
    w: &Weights,
    pooled1: &[f32],
    d_pooled2: &[f32],
    arg2: &[u8],
    g: &mut Partial,
    d_pooled1: &mut [f32],
) {
    for py in 0..P2 {
        for px in 0..P2 {
            let o = (py * P2 + px) * C2;
            for oc in 0..C2 {
                let a = arg2[o + oc];
                let d = d_pooled2[o + oc];
                if a == NO_ARGMAX || d == 0.0 {
                    continue;
                }
                let (oy, ox) = (2 * py + (a as usize >> 1), 2 * px + (a as usize & 1));
                g.b2[oc] += d;
                let gw = &mut g.w2t[oc * PATCH2..(oc + 1) * PATCH2];
                let wt = &w.w2t[oc * PATCH2..(oc + 1) * PATCH2];
                for ky in 0..K {
                    let at = ((oy + ky) * P1 + ox) * C1;
                    let run = ky * RUN2..(ky + 1) * RUN2;
                    axpy(&mut gw[run.clone()], d, &pooled1[at..at + RUN2]);
                    axpy(&mut d_pooled1[at..at + RUN2], d, &wt[run]);
                }
            }
        }
    }
}

/// Backward of conv1 + ReLU + pool1 for one sample (no input gradient):
/// per window and position, the 32-channel gradient is the pooled gradient
/// where that position was the argmax.
#[inline(always)]
fn conv1_backward(x: &[f32], d_pooled1: &[f32], arg1: &[u8], g: &mut Partial) {
    let mut gw = [[0.0f32; C1]; TAPS1];
    let mut gb = [0.0f32; C1];
    for (t, row) in gw.iter_mut().zip(g.w1.chunks_exact(C1)) {
        t.copy_from_slice(row);
    }
    gb.copy_from_slice(&g.b1);
    for py in 0..P1 {
        for px in 0..P1 {
            let o = (py * P1 + px) * C1;
            let d = &d_pooled1[o..o + C1];
            let a = &arg1[o..o + C1];
            for pos in 0..4u8 {
                let mut dp = [0.0f32; C1];
                for c in 0..C1 {
                    dp[c] = if a[c] == pos { d[c] } else { 0.0 };
                }
                let (oy, ox) = (2 * py + (pos as usize >> 1), 2 * px + (pos as usize & 1));
                for (b, &v) in gb.iter_mut().zip(&dp) {
                    *b += v;
                }
                for ky in 0..K {
                    for kx in 0..K {
                        let xv = x[(oy + ky) * IMAGE_SIDE + ox + kx];
                        for (t, &v) in gw[ky * K + kx].iter_mut().zip(&dp) {
                            *t += xv * v;
                        }
                    }
                }
            }
        }
    }
    for (t, row) in gw.iter().zip(g.w1.chunks_exact_mut(C1)) {
        row.copy_from_slice(t);
    }
    g.b1.copy_from_slice(&gb);
}
