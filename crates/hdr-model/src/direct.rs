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

use crate::kernels::{matmul, Mat, NO_ARGMAX};
use crate::network::{Cnn, FEATURES};
use crate::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};

/// Samples per parallel work item. Fixed (not derived from the thread count)
/// so that the order of floating-point reductions never changes.
pub(crate) const CHUNK: usize = 4;

pub static PHASE: [std::sync::atomic::AtomicU64; 8] = [const { std::sync::atomic::AtomicU64::new(0) }; 8];
macro_rules! timed { ($i:expr, $e:expr) => {{ let t = std::time::Instant::now(); let r = $e; PHASE[$i].fetch_add(t.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed); r }} }
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
                infer_chunk(w, x, logits, s);
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
                train_chunk(
                    w,
                    x,
                    &labels[s0..s0 + ns],
                    mask,
                    inv_batch,
                    logits,
                    &mut g,
                    s,
                );
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

/// Whether the CPU can run the AVX-512 builds of the chunk kernels.
fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Logits of the chunk `x` (no dropout), compiled for AVX-512 when the CPU has it.
///
/// Every kernel below is `#[inline(always)]` so that it is compiled into both
/// builds; Rust never contracts `a * b + c` into an FMA, so both builds give
/// identical results.
fn infer_chunk(w: &Weights, x: &[f32], logits: &mut [f32], s: &mut Scratch) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx2,fma")]
        unsafe fn avx512(w: &Weights, x: &[f32], logits: &mut [f32], s: &mut Scratch) {
            infer_chunk_body(w, x, logits, s)
        }
        // SAFETY: the features it was compiled for were just detected.
        return unsafe { avx512(w, x, logits, s) };
    }
    infer_chunk_body(w, x, logits, s)
}

#[inline(always)]
fn infer_chunk_body(w: &Weights, x: &[f32], logits: &mut [f32], s: &mut Scratch) {
    forward_chunk(w, x, logits.len() / NUM_CLASSES, s);
    for (i, l) in logits.chunks_exact_mut(NUM_CLASSES).enumerate() {
        let feat = &s.pooled2[i * FEATURES..(i + 1) * FEATURES];
        dense(w, feat, l.try_into().expect("10 logits"));
    }
}

/// [`train_chunk_body`], compiled for AVX-512 when the CPU has it.
#[allow(clippy::too_many_arguments)]
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
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn avx512(
            w: &Weights,
            x: &[f32],
            labels: &[u8],
            mask: Option<&[f32]>,
            inv_batch: f32,
            logits: &mut [f32],
            g: &mut Partial,
            s: &mut Scratch,
        ) {
            train_chunk_body(w, x, labels, mask, inv_batch, logits, g, s)
        }
        // SAFETY: the features it was compiled for were just detected.
        return unsafe { avx512(w, x, labels, mask, inv_batch, logits, g, s) };
    }
    train_chunk_body(w, x, labels, mask, inv_batch, logits, g, s)
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
        timed!(0, conv1_pool1(w, xs, p, a));
    }
    let m = n * PIXELS2;
    let col = sized(&mut s.col, m * PATCH2);
    timed!(1, im2col2(&s.pooled1[..n * POOLED1], col));
    let conv2 = sized(&mut s.conv2, m * C2);
    for row in conv2.chunks_exact_mut(C2) {
        row.copy_from_slice(&w.b2);
    }
    timed!(2, matmul(
        conv2,
        C2,
        true,
        Mat::row_major(col, m, PATCH2),
        Mat::row_major(&w.w2, PATCH2, C2),
    ));
    let pooled2 = sized(&mut s.pooled2, n * FEATURES);
    let arg2 = sized(&mut s.arg2, n * FEATURES);
    for ((c, p), a) in conv2
        .chunks_exact(PIXELS2 * C2)
        .zip(pooled2.chunks_exact_mut(FEATURES))
        .zip(arg2.chunks_exact_mut(FEATURES))
    {
        timed!(3, pool2(c, p, a));
    }
}

/// Forward and backward of one chunk: writes its logits and adds its
/// parameter gradients (of the batch-mean loss) into `g`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn train_chunk_body(
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
        let t = std::time::Instant::now();
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
        PHASE[4].fetch_add(t.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        let d_pooled1 = sized(&mut s.d_pooled1, POOLED1);
        d_pooled1.fill(0.0);
        timed!(5, conv2_backward(
            w,
            &s.pooled1[i * POOLED1..(i + 1) * POOLED1],
            &d_feat,
            &s.arg2[i * FEATURES..(i + 1) * FEATURES],
            g,
            d_pooled1,
        ));
        timed!(6, conv1_backward(
            &x[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS],
            d_pooled1,
            &s.arg1[i * POOLED1..(i + 1) * POOLED1],
            g,
        ));
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
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the features it was compiled for were detected.
        return unsafe { avx512::conv1_pool1(w, x, out, arg) };
    }
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
                        let gt = acc[c] > best[c];
                        best[c] = if gt { acc[c] } else { best[c] };
                        best_at[c] = if gt { pos as u32 } else { best_at[c] };
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
        let dead = b <= 0.0;
        *o = if dead { 0.0 } else { b };
        *a = if dead { NO_ARGMAX } else { at as u8 };
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
                        let gt = v[c] > best[c];
                        best[c] = if gt { v[c] } else { best[c] };
                        best_at[c] = if gt { pos as u32 } else { best_at[c] };
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
/// `d_pooled1`, the gradient of the pooled conv1 maps. Output channels are the
/// outer loop so that a channel's kernel-gradient row stays in registers.
#[inline(always)]
fn conv2_backward(
    w: &Weights,
    pooled1: &[f32],
    d_pooled2: &[f32],
    arg2: &[u8],
    g: &mut Partial,
    d_pooled1: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the features it was compiled for were detected.
        return unsafe { avx512::conv2_backward(w, pooled1, d_pooled2, arg2, g, d_pooled1) };
    }
    // Kernel and bias gradients: one channel at a time.
    for oc in 0..C2 {
        let gw = &mut g.w2t[oc * PATCH2..(oc + 1) * PATCH2];
        for win in 0..P2 * P2 {
            let (a, d) = (arg2[win * C2 + oc], d_pooled2[win * C2 + oc]);
            if a == NO_ARGMAX || d == 0.0 {
                continue;
            }
            g.b2[oc] += d;
            for ky in 0..K {
                let at = live_patch_row(win, a, ky);
                axpy(&mut gw[ky * RUN2..(ky + 1) * RUN2], d, &pooled1[at..at + RUN2]);
            }
        }
    }
    // Input gradient: per window and argmax position, the patch gradient
    // (the sum over the live channels of d * kernel row) is added once.
    let mut patch = [0.0f32; PATCH2];
    for win in 0..P2 * P2 {
        for pos in 0..4u8 {
            let mut live = false;
            for oc in 0..C2 {
                let (a, d) = (arg2[win * C2 + oc], d_pooled2[win * C2 + oc]);
                if a != pos || d == 0.0 {
                    continue;
                }
                if !live {
                    patch.fill(0.0);
                    live = true;
                }
                for (p, &wv) in patch.iter_mut().zip(&w.w2t[oc * PATCH2..(oc + 1) * PATCH2]) {
                    *p += d * wv;
                }
            }
            if live {
                for ky in 0..K {
                    let at = live_patch_row(win, pos, ky);
                    for (dp, &p) in d_pooled1[at..at + RUN2]
                        .iter_mut()
                        .zip(&patch[ky * RUN2..(ky + 1) * RUN2])
                    {
                        *dp += p;
                    }
                }
            }
        }
    }
}

/// Where kernel row `ky` of the conv2 patch of pooling window `win`'s argmax
/// `a` starts in the pooled conv1 maps (NHWC offset).
#[inline(always)]
fn live_patch_row(win: usize, a: u8, ky: usize) -> usize {
    let (py, px) = (win / P2, win % P2);
    let (oy, ox) = (2 * py + (a as usize >> 1), 2 * px + (a as usize & 1));
    ((oy + ky) * P1 + ox) * C1
}

/// Backward of conv1 + ReLU + pool1 for one sample (no input gradient):
/// per window and position, the 32-channel gradient is the pooled gradient
/// where that position was the argmax.
#[inline(always)]
fn conv1_backward(x: &[f32], d_pooled1: &[f32], arg1: &[u8], g: &mut Partial) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the features it was compiled for were detected.
        return unsafe { avx512::conv1_backward(x, d_pooled1, arg1, g) };
    }
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

/// Hand-vectorised AVX-512 versions of the hottest loops. Same operations in
/// the same order as the portable code (separate multiply and add, no FMA),
/// so both give bit-identical results.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{
        live_patch_row, Partial, Weights, C1, C2, FEATURES, IMAGE_SIDE, K, P1, P2, PATCH2,
        POOLED1, RUN2, TAPS1,
    };
    use crate::kernels::NO_ARGMAX;
    use crate::IMAGE_PIXELS;

    /// [`super::conv1_pool1`]: the 9 taps x 32 channels stay in 18 registers.
    #[target_feature(enable = "avx512f,avx512vl,avx512bw")]
    pub(super) fn conv1_pool1(w: &Weights, x: &[f32], out: &mut [f32], arg: &mut [u8]) {
        assert!(x.len() >= IMAGE_PIXELS && out.len() >= POOLED1 && arg.len() >= POOLED1);
        assert!(w.w1.len() >= TAPS1 * C1 && w.b1.len() >= C1);
        // SAFETY: every offset below is within the lengths asserted above
        // (x: (2*12+1+2)*28 + 2*12+1+2 < 784; out/arg: (12*13+12)*32+16+16 = 5408).
        unsafe {
            let mut lo = [_mm512_setzero_ps(); TAPS1];
            let mut hi = [_mm512_setzero_ps(); TAPS1];
            for t in 0..TAPS1 {
                lo[t] = _mm512_loadu_ps(w.w1.as_ptr().add(t * C1));
                hi[t] = _mm512_loadu_ps(w.w1.as_ptr().add(t * C1 + 16));
            }
            let b_lo = _mm512_loadu_ps(w.b1.as_ptr());
            let b_hi = _mm512_loadu_ps(w.b1.as_ptr().add(16));
            let zero = _mm512_setzero_ps();
            let none = _mm512_set1_epi32(NO_ARGMAX as i32);
            let xp = x.as_ptr();
            for py in 0..P1 {
                for px in 0..P1 {
                    let (mut best_lo, mut best_hi) = (zero, zero);
                    let (mut at_lo, mut at_hi) = (_mm512_setzero_si512(), _mm512_setzero_si512());
                    for pos in 0..4 {
                        let base = (2 * py + pos / 2) * IMAGE_SIDE + 2 * px + pos % 2;
                        let (mut a_lo, mut a_hi) = (b_lo, b_hi);
                        for ky in 0..K {
                            for kx in 0..K {
                                let v = _mm512_set1_ps(*xp.add(base + ky * IMAGE_SIDE + kx));
                                a_lo = _mm512_add_ps(a_lo, _mm512_mul_ps(v, lo[ky * K + kx]));
                                a_hi = _mm512_add_ps(a_hi, _mm512_mul_ps(v, hi[ky * K + kx]));
                            }
                        }
                        if pos == 0 {
                            (best_lo, best_hi) = (a_lo, a_hi);
                        } else {
                            let p = _mm512_set1_epi32(pos as i32);
                            let m_lo = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a_lo, best_lo);
                            let m_hi = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a_hi, best_hi);
                            best_lo = _mm512_mask_blend_ps(m_lo, best_lo, a_lo);
                            best_hi = _mm512_mask_blend_ps(m_hi, best_hi, a_hi);
                            at_lo = _mm512_mask_blend_epi32(m_lo, at_lo, p);
                            at_hi = _mm512_mask_blend_epi32(m_hi, at_hi, p);
                        }
                    }
                    let o = (py * P1 + px) * C1;
                    let dead_lo = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(best_lo, zero);
                    let dead_hi = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(best_hi, zero);
                    let op = out.as_mut_ptr().add(o);
                    _mm512_storeu_ps(op, _mm512_mask_blend_ps(dead_lo, best_lo, zero));
                    _mm512_storeu_ps(op.add(16), _mm512_mask_blend_ps(dead_hi, best_hi, zero));
                    let ap = arg.as_mut_ptr().add(o) as *mut __m128i;
                    _mm_storeu_si128(
                        ap,
                        _mm512_cvtepi32_epi8(_mm512_mask_blend_epi32(dead_lo, at_lo, none)),
                    );
                    _mm_storeu_si128(
                        ap.add(1),
                        _mm512_cvtepi32_epi8(_mm512_mask_blend_epi32(dead_hi, at_hi, none)),
                    );
                }
            }
        }
    }

    /// [`super::conv1_backward`]: the kernel and bias gradients stay in 20 registers.
    #[target_feature(enable = "avx512f,avx512vl,avx512bw")]
    pub(super) fn conv1_backward(x: &[f32], d_pooled1: &[f32], arg1: &[u8], g: &mut Partial) {
        assert!(x.len() >= IMAGE_PIXELS && d_pooled1.len() >= POOLED1 && arg1.len() >= POOLED1);
        assert!(g.w1.len() >= TAPS1 * C1 && g.b1.len() >= C1);
        // SAFETY: offsets as in `conv1_pool1`, within the asserted lengths.
        unsafe {
            let mut lo = [_mm512_setzero_ps(); TAPS1];
            let mut hi = [_mm512_setzero_ps(); TAPS1];
            for t in 0..TAPS1 {
                lo[t] = _mm512_loadu_ps(g.w1.as_ptr().add(t * C1));
                hi[t] = _mm512_loadu_ps(g.w1.as_ptr().add(t * C1 + 16));
            }
            let mut gb_lo = _mm512_loadu_ps(g.b1.as_ptr());
            let mut gb_hi = _mm512_loadu_ps(g.b1.as_ptr().add(16));
            let xp = x.as_ptr();
            for py in 0..P1 {
                for px in 0..P1 {
                    let o = (py * P1 + px) * C1;
                    let d_lo = _mm512_loadu_ps(d_pooled1.as_ptr().add(o));
                    let d_hi = _mm512_loadu_ps(d_pooled1.as_ptr().add(o + 16));
                    let ap = arg1.as_ptr().add(o) as *const __m128i;
                    let a_lo = _mm512_cvtepu8_epi32(_mm_loadu_si128(ap));
                    let a_hi = _mm512_cvtepu8_epi32(_mm_loadu_si128(ap.add(1)));
                    for pos in 0..4 {
                        let p = _mm512_set1_epi32(pos as i32);
                        let dp_lo = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a_lo, p), d_lo);
                        let dp_hi = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a_hi, p), d_hi);
                        gb_lo = _mm512_add_ps(gb_lo, dp_lo);
                        gb_hi = _mm512_add_ps(gb_hi, dp_hi);
                        let base = (2 * py + pos / 2) * IMAGE_SIDE + 2 * px + pos % 2;
                        for ky in 0..K {
                            for kx in 0..K {
                                let v = _mm512_set1_ps(*xp.add(base + ky * IMAGE_SIDE + kx));
                                let t = ky * K + kx;
                                lo[t] = _mm512_add_ps(lo[t], _mm512_mul_ps(v, dp_lo));
                                hi[t] = _mm512_add_ps(hi[t], _mm512_mul_ps(v, dp_hi));
                            }
                        }
                    }
                }
            }
            for t in 0..TAPS1 {
                _mm512_storeu_ps(g.w1.as_mut_ptr().add(t * C1), lo[t]);
                _mm512_storeu_ps(g.w1.as_mut_ptr().add(t * C1 + 16), hi[t]);
            }
            _mm512_storeu_ps(g.b1.as_mut_ptr(), gb_lo);
            _mm512_storeu_ps(g.b1.as_mut_ptr().add(16), gb_hi);
        }
    }

    /// [`super::conv2_backward`]: a channel's 288 kernel gradients, or a
    /// patch's 288 input gradients, stay in 18 registers.
    #[target_feature(enable = "avx512f,avx512vl,avx512bw")]
    pub(super) fn conv2_backward(
        w: &Weights,
        pooled1: &[f32],
        d_pooled2: &[f32],
        arg2: &[u8],
        g: &mut Partial,
        d_pooled1: &mut [f32],
    ) {
        assert!(pooled1.len() >= POOLED1 && d_pooled1.len() >= POOLED1);
        assert!(d_pooled2.len() >= FEATURES && arg2.len() >= FEATURES);
        assert!(g.w2t.len() >= C2 * PATCH2 && w.w2t.len() >= C2 * PATCH2 && g.b2.len() >= C2);
        const V: usize = RUN2 / 16;
        const R: usize = K * V;
        // SAFETY: a live argmax is below 4, so `live_patch_row(..) + RUN2` is at
        // most ((9 + 2) * 13 + 9) * 32 + 96 < POOLED1; rows are within C2 * PATCH2;
        // window offsets are below P2 * P2 * C2 = FEATURES.
        unsafe {
            // Live (window, channel) pairs as bit sets, first per window (for the
            // input gradient), then transposed per channel (for the kernel gradient),
            // so that neither pass branches on every pair.
            let zero = _mm512_setzero_ps();
            let none = _mm512_set1_epi8(NO_ARGMAX as i8);
            let mut by_window = [0u64; P2 * P2];
            let mut by_channel = [0u32; C2];
            for (win, bits) in by_window.iter_mut().enumerate() {
                let args = _mm512_loadu_si512(arg2.as_ptr().add(win * C2) as *const _);
                let dp = d_pooled2.as_ptr().add(win * C2);
                let mut live = !_mm512_cmpeq_epi8_mask(args, none);
                for q in 0..4 {
                    let m = _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(_mm512_loadu_ps(dp.add(16 * q)), zero);
                    live &= !((!(m as u64) & 0xffff) << (16 * q));
                }
                *bits = live;
                while live != 0 {
                    let oc = live.trailing_zeros() as usize;
                    live &= live - 1;
                    by_channel[oc] |= 1 << win;
                }
            }
            for (oc, &wins) in by_channel.iter().enumerate() {
                if wins == 0 {
                    continue;
                }
                let gp = g.w2t.as_mut_ptr().add(oc * PATCH2);
                let mut gw = [zero; R];
                for (i, r) in gw.iter_mut().enumerate() {
                    *r = _mm512_loadu_ps(gp.add(16 * i));
                }
                let mut wins = wins;
                while wins != 0 {
                    let win = wins.trailing_zeros() as usize;
                    wins &= wins - 1;
                    let (a, d) = (arg2[win * C2 + oc], d_pooled2[win * C2 + oc]);
                    debug_assert!(a < 4);
                    *g.b2.get_unchecked_mut(oc) += d;
                    let vd = _mm512_set1_ps(d);
                    for ky in 0..K {
                        let src = pooled1.as_ptr().add(live_patch_row(win, a, ky));
                        for v in 0..V {
                            let r = &mut gw[ky * V + v];
                            *r = _mm512_add_ps(*r, _mm512_mul_ps(vd, _mm512_loadu_ps(src.add(16 * v))));
                        }
                    }
                }
                for (i, r) in gw.iter().enumerate() {
                    _mm512_storeu_ps(gp.add(16 * i), *r);
                }
            }
            for (win, &nonzero) in by_window.iter().enumerate() {
                let args = _mm512_loadu_si512(arg2.as_ptr().add(win * C2) as *const _);
                let dp = d_pooled2.as_ptr().add(win * C2);
                for pos in 0..4u8 {
                    let mut live = _mm512_cmpeq_epi8_mask(args, _mm512_set1_epi8(pos as i8)) & nonzero;
                    if live == 0 {
                        continue;
                    }
                    let mut acc = [zero; R];
                    while live != 0 {
                        let oc = live.trailing_zeros() as usize;
                        live &= live - 1;
                        let vd = _mm512_set1_ps(*dp.add(oc));
                        let wp = w.w2t.as_ptr().add(oc * PATCH2);
                        for (i, r) in acc.iter_mut().enumerate() {
                            *r = _mm512_add_ps(*r, _mm512_mul_ps(vd, _mm512_loadu_ps(wp.add(16 * i))));
                        }
                    }
                    for ky in 0..K {
                        let dst = d_pooled1.as_mut_ptr().add(live_patch_row(win, pos, ky));
                        for v in 0..V {
                            let p = dst.add(16 * v);
                            _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), acc[ky * V + v]));
                        }
                    }
                }
            }
        }
    }
}
