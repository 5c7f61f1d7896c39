//! The kernels written for the seed's network, and a tape-free path through it.
//!
//! - [`blocks`]: the batch kernels of its two conv blocks, which the typed
//!   block op ([`crate::conv_relu_pool`]) runs on dfdx's tape during training;
//! - [`logits`]: tape-free inference, used by [`crate::Classifier`];
//! - [`train_batch`]: a whole training step's logits and gradients without
//!   the tape, behind [`crate::Learner::train_step_untaped`] (the cross-check
//!   and benchmark baseline of the tape path). One rayon task runs a chunk's
//!   whole forward *and* backward pass while its activations are in cache.
//!
//! How:
//! - the batch is split into fixed chunks of [`CHUNK`] samples; weight
//!   gradients are summed per chunk and the partials added in chunk order, so
//!   results are bit-identical whatever the number of threads;
//! - conv1 (a 3x3x1 patch) runs as direct loops over its 32 channels, fused
//!   with ReLU and pooling: its 26x26 output is never stored;
//! - conv2 computes only the 10x10 outputs pool2 reads (floor drops row and
//!   column 10); with AVX-512 each pooling window is one Winograd F(2x2, 3x3)
//!   tile (16 products per channel pair instead of 36), elsewhere an im2col GEMM;
//! - conv2's backward is sparse: after max pooling only the argmax position of
//!   each live window (ReLU-positive, not dropped out) has a gradient, so the
//!   weight and input gradients are short runs of `y += g * x` over those
//!   positions only (at most a fifth of the dense products' work), reading the
//!   patches straight from the pooled conv1 maps (no im2col, no col2im).
//!
//! Every kernel has a portable version and, on x86-64 CPUs with AVX-512, a
//! hand-vectorised one (module `avx512`, picked at run time). The two agree to
//! rounding, not bit for bit (the AVX-512 one uses fused multiply-adds and
//! Winograd); each is deterministic, and the tests check both against the
//! separate typed layers on dfdx's tape.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::kernels::{matmul, Mat, NO_ARGMAX};
use crate::learner::dropout_fill;
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

/// One cache line of floats: buffers built from these start on a 64-byte
/// boundary, so that the kernels' 512-bit loads (at offsets that are
/// multiples of 16 floats) never straddle two lines.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A float buffer whose start is cache-line aligned.
#[derive(Clone, Debug, Default)]
pub(crate) struct Aligned {
    lines: Vec<Line>,
    len: usize,
}

impl Aligned {
    /// `len` zeros.
    fn zeros(len: usize) -> Self {
        let mut a = Self::default();
        a.sized(len);
        a
    }

    /// Grows the buffer to at least `len` floats and returns the first `len`
    /// (new floats are zero, old ones keep their values).
    fn sized(&mut self, len: usize) -> &mut [f32] {
        let lines = len.div_ceil(16);
        if self.lines.len() < lines {
            self.lines.resize(lines, Line::default());
        }
        self.len = len;
        &mut self[..]
    }
}

impl std::ops::Deref for Aligned {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` around `[f32; 16]` with size 64 and no
        // padding, so the lines are `16 * lines.len() >= len` contiguous floats.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }
}

impl std::ops::DerefMut for Aligned {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`; the borrow is unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

/// conv1's parameters as plain vectors (kernel HWIO `[3, 3, 1, 32]`, bias).
#[derive(Debug, Clone)]
pub(crate) struct Conv1Weights {
    w1: Vec<f32>,
    b1: Vec<f32>,
}

impl Conv1Weights {
    /// From the HWIO kernel and the bias.
    pub(crate) fn new(w1: Vec<f32>, b1: Vec<f32>) -> Self {
        assert_eq!(
            (w1.len(), b1.len()),
            (TAPS1 * C1, C1),
            "conv1 parameter sizes"
        );
        Self { w1, b1 }
    }
}

/// conv2's parameters as plain vectors, plus its kernel transposed
/// (`[out, patch]`) for the sparse input gradient and Winograd-transformed
/// for the forward pass.
#[derive(Debug, Clone)]
pub(crate) struct Conv2Weights {
    w2: Vec<f32>,
    w2t: Aligned,
    /// conv2's kernel in the Winograd domain, `[16][in][out]` (see [`winograd_kernel`]).
    u2: Aligned,
    b2: Vec<f32>,
}

impl Conv2Weights {
    /// From the HWIO kernel and the bias.
    pub(crate) fn new(w2: Vec<f32>, b2: Vec<f32>) -> Self {
        assert_eq!(
            (w2.len(), b2.len()),
            (PATCH2 * C2, C2),
            "conv2 parameter sizes"
        );
        let mut w2t = Aligned::zeros(w2.len());
        for p in 0..PATCH2 {
            for o in 0..C2 {
                w2t[o * PATCH2 + p] = w2[p * C2 + o];
            }
        }
        Self {
            u2: winograd_kernel(&w2),
            w2,
            w2t,
            b2,
        }
    }
}

/// The network's parameters as plain vectors.
#[derive(Debug, Clone)]
pub(crate) struct Weights {
    c1: Conv1Weights,
    c2: Conv2Weights,
    wd: Vec<f32>,
    bd: Vec<f32>,
}

/// Winograd F(2x2, 3x3) transform of conv2's HWIO kernel: `U = G g Gᵀ` per
/// (input, output) channel pair, stored `[e][in][out]` with `e = 4 * row + column`.
#[allow(clippy::needless_range_loop)] // index loops read like the matrix algebra
fn winograd_kernel(w2: &[f32]) -> Aligned {
    let mut u = Aligned::zeros(16 * C1 * C2);
    for ic in 0..C1 {
        for oc in 0..C2 {
            let g = |ky: usize, kx: usize| w2[((ky * K + kx) * C1 + ic) * C2 + oc];
            let mut t = [[0.0f32; 3]; 4];
            for c in 0..3 {
                let (g0, g1, g2) = (g(0, c), g(1, c), g(2, c));
                t[0][c] = g0;
                t[1][c] = 0.5 * (g0 + g1 + g2);
                t[2][c] = 0.5 * (g0 - g1 + g2);
                t[3][c] = g2;
            }
            for (r, row) in t.iter().enumerate() {
                let (a, b, c) = (row[0], row[1], row[2]);
                let out = [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
                for (j, v) in out.into_iter().enumerate() {
                    u[((r * 4 + j) * C1 + ic) * C2 + oc] = v;
                }
            }
        }
    }
    u
}

impl Weights {
    /// Copies the parameters out of `cnn`.
    pub(crate) fn of(cnn: &Cnn) -> Self {
        let [w1, b1, w2, b2, wd, bd] = cnn.param_values();
        Self {
            c1: Conv1Weights::new(w1, b1),
            c2: Conv2Weights::new(w2, b2),
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

/// conv1's gradient accumulators (kernel HWIO, bias).
pub(crate) struct Conv1Grads {
    w1: Vec<f32>,
    b1: Vec<f32>,
}

impl Conv1Grads {
    fn zeros() -> Self {
        Self {
            w1: vec![0.0; TAPS1 * C1],
            b1: vec![0.0; C1],
        }
    }
}

/// conv2's gradient accumulators; the kernel gradient is kept transposed
/// (`[out, patch]`) so that each update is a contiguous run.
pub(crate) struct Conv2Grads {
    w2t: Aligned,
    b2: Vec<f32>,
}

impl Conv2Grads {
    fn zeros() -> Self {
        Self {
            w2t: Aligned::zeros(PATCH2 * C2),
            b2: vec![0.0; C2],
        }
    }
}

/// Per-chunk gradient accumulators.
struct Partial {
    c1: Conv1Grads,
    c2: Conv2Grads,
    wd: Vec<f32>,
    bd: Vec<f32>,
}

impl Partial {
    fn zeros() -> Self {
        Self {
            c1: Conv1Grads::zeros(),
            c2: Conv2Grads::zeros(),
            wd: vec![0.0; FEATURES * NUM_CLASSES],
            bd: vec![0.0; NUM_CLASSES],
        }
    }

    /// Back to zeros, for the next step.
    fn clear(&mut self) {
        for t in [
            &mut self.c1.w1[..],
            &mut self.c1.b1,
            &mut self.c2.w2t,
            &mut self.c2.b2,
            &mut self.wd,
            &mut self.bd,
        ] {
            t.fill(0.0);
        }
    }
}

/// Sums the chunks' gradients, element by element in chunk order (so the
/// result does not depend on the thread count), in parallel over elements.
fn reduce(parts: &[Partial]) -> Grads {
    Grads {
        tensors: [
            ordered_sum(parts, |p| &p.c1.w1),
            ordered_sum(parts, |p| &p.c1.b1),
            hwio_from_transposed(&ordered_sum(parts, |p| &p.c2.w2t)),
            ordered_sum(parts, |p| &p.c2.b2),
            ordered_sum(parts, |p| &p.wd),
            ordered_sum(parts, |p| &p.bd),
        ],
    }
}

/// The element-wise sum of `get(part)` over `parts`, added in `parts` order
/// (so the result does not depend on the thread count), in parallel over elements.
fn ordered_sum<T: Sync>(parts: &[T], get: impl Fn(&T) -> &[f32] + Sync) -> Vec<f32> {
    const BLOCK: usize = 2048;
    let mut out = vec![0.0; get(&parts[0]).len()];
    out.par_chunks_mut(BLOCK).enumerate().for_each(|(b, o)| {
        let range = b * BLOCK..b * BLOCK + o.len();
        for p in parts {
            o.iter_mut()
                .zip(&get(p)[range.clone()])
                .for_each(|(a, v)| *a += v);
        }
    });
    out
}

/// conv2's kernel gradient from `[out, patch]` back to HWIO `[patch, out]`.
fn hwio_from_transposed(w2t: &[f32]) -> Vec<f32> {
    let mut w2 = vec![0.0; PATCH2 * C2];
    for o in 0..C2 {
        for p in 0..PATCH2 {
            w2[p * C2 + o] = w2t[o * PATCH2 + p];
        }
    }
    w2
}

/// Buffers a learner keeps between steps: the per-chunk gradient
/// accumulators (large enough that allocating them every step would cost
/// page faults).
#[derive(Default)]
pub(crate) struct Workspace {
    partials: Vec<Partial>,
}

/// Per-thread buffers for one chunk, reused across calls.
#[derive(Default)]
struct Scratch {
    pixels: Vec<f32>,
    pooled1: Aligned,
    arg1: Vec<u8>,
    col: Vec<f32>,
    conv2: Vec<f32>,
    pooled2: Aligned,
    arg2: Vec<u8>,
    d_pooled1: Aligned,
    mask: Vec<f32>,
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
pub(crate) fn logits(w: &Weights, n: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
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

/// Inverted dropout on the flattened features: the mask of
/// [`crate::dropout_mask`] with this rate and seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dropout {
    /// Probability of dropping a feature.
    pub rate: f32,
    /// Seed of the mask.
    pub seed: u64,
}

/// One training batch: returns the logits `[n, 10]` (with dropout applied)
/// and the gradients of the mean softmax cross-entropy. Each chunk draws its
/// own slice of the dropout mask (seeking in the mask's random stream), so
/// the mask is built in parallel and is the same whatever the chunking.
pub(crate) fn train_batch(
    w: &Weights,
    images: &[f32],
    labels: &[u8],
    dropout: Option<Dropout>,
    ws: &mut Workspace,
) -> (Vec<f32>, Grads) {
    let n = labels.len();
    assert_eq!(images.len(), n * IMAGE_PIXELS);
    let inv_batch = 1.0 / n as f32;
    let mut logits = vec![0.0; n * NUM_CLASSES];
    let chunks = n.div_ceil(CHUNK);
    while ws.partials.len() < chunks {
        ws.partials.push(Partial::zeros());
    }
    let partials = &mut ws.partials[..chunks];
    logits
        .par_chunks_mut(CHUNK * NUM_CLASSES)
        .zip(partials.par_iter_mut())
        .enumerate()
        .for_each(|(ci, (logits, g))| {
            let s0 = ci * CHUNK;
            let ns = logits.len() / NUM_CLASSES;
            let x = &images[s0 * IMAGE_PIXELS..(s0 + ns) * IMAGE_PIXELS];
            g.clear();
            SCRATCH.with(|s| {
                let s = &mut *s.borrow_mut();
                let mut mask = std::mem::take(&mut s.mask);
                let mask_slice = dropout.map(|d| {
                    let m = sized(&mut mask, ns * FEATURES);
                    dropout_fill(d.rate, d.seed, s0 * FEATURES, m);
                    &*m
                });
                train_chunk(
                    w,
                    x,
                    &labels[s0..s0 + ns],
                    mask_slice,
                    inv_batch,
                    logits,
                    g,
                    s,
                );
                s.mask = mask;
            });
        });
    (logits, reduce(&ws.partials[..chunks]))
}

/// Whether the CPU can run the AVX-512 builds of the chunk kernels.
fn has_avx512() -> bool {
    #[cfg(test)]
    if tests::PORTABLE_ONLY.with(|p| p.get()) {
        return false;
    }
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
/// The portable kernels are `#[inline(always)]` so that they are compiled into
/// both builds (their plain loops then vectorise 16 floats wide).
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
    let pooled1 = s.pooled1.sized(n * POOLED1);
    let arg1 = sized(&mut s.arg1, n * POOLED1);
    conv1_pool1_samples(&w.c1, x, pooled1, arg1);
    let pooled2 = s.pooled2.sized(n * FEATURES);
    let arg2 = sized(&mut s.arg2, n * FEATURES);
    conv2_pool2_samples(
        &w.c2,
        &s.pooled1[..n * POOLED1],
        pooled2,
        arg2,
        &mut s.col,
        &mut s.conv2,
    );
}

/// conv1 + bias + ReLU + pool1 of every 28x28 image in `x` into `pooled1`
/// and `arg1` (`[n, 13, 13, 32]` each).
#[inline(always)]
fn conv1_pool1_samples(w: &Conv1Weights, x: &[f32], pooled1: &mut [f32], arg1: &mut [u8]) {
    for ((xs, p), a) in x
        .chunks_exact(IMAGE_PIXELS)
        .zip(pooled1.chunks_exact_mut(POOLED1))
        .zip(arg1.chunks_exact_mut(POOLED1))
    {
        conv1_pool1(w, xs, p, a);
    }
}

/// conv2 + bias + ReLU + pool2 of every sample of `pooled1` (`[n, 13, 13, 32]`)
/// into `pooled2` and `arg2` (`[n, 5, 5, 64]` each): Winograd with AVX-512,
/// elsewhere an im2col GEMM on the scratch buffers `col` and `conv2`.
#[inline(always)]
fn conv2_pool2_samples(
    w: &Conv2Weights,
    pooled1: &[f32],
    pooled2: &mut [f32],
    arg2: &mut [u8],
    col: &mut Vec<f32>,
    conv2: &mut Vec<f32>,
) {
    let n = pooled1.len() / POOLED1;
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        for ((p1, p2), a2) in pooled1
            .chunks_exact(POOLED1)
            .zip(pooled2.chunks_exact_mut(FEATURES))
            .zip(arg2.chunks_exact_mut(FEATURES))
        {
            // SAFETY: the features it was compiled for were detected.
            unsafe { avx512::conv2_pool2_winograd(w, p1, p2, a2) };
        }
        return;
    }
    let m = n * PIXELS2;
    let conv2 = sized(conv2, m * C2);
    let col = sized(col, m * PATCH2);
    im2col2(pooled1, col);
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
            for ((gw, &f), (df, &wv)) in grow
                .iter_mut()
                .zip(feat.iter())
                .zip(d_feat.iter_mut().zip(row))
            {
                *gw += d * f;
                *df += d * wv;
            }
        }
        if let Some(m) = mask {
            d_feat.iter_mut().zip(m).for_each(|(d, m)| *d *= m);
        }
        let d_pooled1 = s.d_pooled1.sized(POOLED1);
        d_pooled1.fill(0.0);
        conv2_backward(
            &w.c2,
            &s.pooled1[i * POOLED1..(i + 1) * POOLED1],
            &d_feat,
            &s.arg2[i * FEATURES..(i + 1) * FEATURES],
            &mut g.c2,
            d_pooled1,
        );
        conv1_backward(
            &x[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS],
            d_pooled1,
            &s.arg1[i * POOLED1..(i + 1) * POOLED1],
            &mut g.c1,
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
fn conv1_pool1(w: &Conv1Weights, x: &[f32], out: &mut [f32], arg: &mut [u8]) {
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
                keep_max(&mut best, &mut best_at, &acc, pos);
            }
            let o = (py * P1 + px) * C1;
            relu_store(&best, &best_at, &mut out[o..o + C1], &mut arg[o..o + C1]);
        }
    }
}

/// Folds window position `pos` (0..4) into the running per-channel maximum;
/// the first position seeds it, and ties keep the earlier position.
#[inline(always)]
fn keep_max(best: &mut [f32], best_at: &mut [u32], values: &[f32], pos: usize) {
    if pos == 0 {
        best.copy_from_slice(values);
        return;
    }
    for ((b, at), &v) in best.iter_mut().zip(best_at.iter_mut()).zip(values) {
        let gt = v > *b;
        *b = if gt { v } else { *b };
        *at = if gt { pos as u32 } else { *at };
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
                keep_max(&mut best, &mut best_at, v, pos);
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
    w: &Conv2Weights,
    pooled1: &[f32],
    d_pooled2: &[f32],
    arg2: &[u8],
    g: &mut Conv2Grads,
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
                axpy(
                    &mut gw[ky * RUN2..(ky + 1) * RUN2],
                    d,
                    &pooled1[at..at + RUN2],
                );
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
fn conv1_backward(x: &[f32], d_pooled1: &[f32], arg1: &[u8], g: &mut Conv1Grads) {
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

/// Hand-vectorised AVX-512 versions of the hottest loops. They use fused
/// multiply-adds (and Winograd for conv2), so they agree with the portable
/// code to rounding, not bit for bit; each is deterministic on its own.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::needless_range_loop)] // index loops read like the matrix algebra
mod avx512 {
    use std::arch::x86_64::*;

    use super::{
        live_patch_row, Conv1Grads, Conv1Weights, Conv2Grads, Conv2Weights, C1, C2, FEATURES,
        IMAGE_SIDE, K, P1, P2, PATCH2, POOLED1, RUN2, TAPS1,
    };
    use crate::kernels::NO_ARGMAX;
    use crate::IMAGE_PIXELS;

    /// [`super::conv1_pool1`]: the 9 taps x 32 channels stay in 18 registers.
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,fma")]
    pub(super) fn conv1_pool1(w: &Conv1Weights, x: &[f32], out: &mut [f32], arg: &mut [u8]) {
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
                                a_lo = _mm512_fmadd_ps(v, lo[ky * K + kx], a_lo);
                                a_hi = _mm512_fmadd_ps(v, hi[ky * K + kx], a_hi);
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
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,fma")]
    pub(super) fn conv1_backward(x: &[f32], d_pooled1: &[f32], arg1: &[u8], g: &mut Conv1Grads) {
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
                                lo[t] = _mm512_fmadd_ps(v, dp_lo, lo[t]);
                                hi[t] = _mm512_fmadd_ps(v, dp_hi, hi[t]);
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

    /// conv2 + bias + ReLU + pool2 of one sample with Winograd F(2x2, 3x3):
    /// each pooling window is one 2x2 output tile, computed from its 4x4 input
    /// tile with 16 products per channel pair instead of 36. Per row of 5
    /// tiles: input transform (`V = Bᵀ d B`), 16 products `[5 x 32] x [32 x 64]`
    /// (5 tiles x 64 channels in 20 registers), output transform (`Aᵀ M A`),
    /// bias, then max pool with ReLU exactly as [`super::pool2`].
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,fma")]
    pub(super) fn conv2_pool2_winograd(
        w: &Conv2Weights,
        pooled1: &[f32],
        out: &mut [f32],
        arg: &mut [u8],
    ) {
        const T: usize = P2;
        const Q: usize = C2 / 16;
        assert!(pooled1.len() >= POOLED1 && out.len() >= FEATURES && arg.len() >= FEATURES);
        assert!(w.u2.len() >= 16 * C1 * C2 && w.b2.len() >= C2);
        #[repr(C, align(64))]
        struct Buf<const N: usize>([f32; N]);
        let mut v = Buf([0.0f32; 16 * T * C1]);
        let mut m = Buf([0.0f32; 16 * T * C2]);
        // SAFETY: input tiles start at ((2 * py) * 13 + 2 * t) * 32 and span 4x4
        // pixels: at most ((8 + 3) * 13 + 8 + 3) * 32 + 31 < POOLED1; `v`, `m`,
        // `u2`, `out` and `arg` offsets stay below their sizes by construction.
        unsafe {
            let zero = _mm512_setzero_ps();
            let none = _mm512_set1_epi32(NO_ARGMAX as i32);
            let vp = v.0.as_mut_ptr();
            let mp = m.0.as_mut_ptr();
            for py in 0..P2 {
                // Input transform.
                for t in 0..T {
                    for h in 0..C1 / 16 {
                        let mut d = [[zero; 4]; 4];
                        for (i, row) in d.iter_mut().enumerate() {
                            for (j, x) in row.iter_mut().enumerate() {
                                *x = _mm512_loadu_ps(
                                    pooled1
                                        .as_ptr()
                                        .add(((2 * py + i) * P1 + 2 * t + j) * C1 + 16 * h),
                                );
                            }
                        }
                        let mut bd = [[zero; 4]; 4];
                        for j in 0..4 {
                            bd[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
                            bd[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
                            bd[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
                            bd[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
                        }
                        for (i, r) in bd.iter().enumerate() {
                            let vals = [
                                _mm512_sub_ps(r[0], r[2]),
                                _mm512_add_ps(r[1], r[2]),
                                _mm512_sub_ps(r[2], r[1]),
                                _mm512_sub_ps(r[1], r[3]),
                            ];
                            for (j, x) in vals.into_iter().enumerate() {
                                _mm512_storeu_ps(vp.add(((i * 4 + j) * T + t) * C1 + 16 * h), x);
                            }
                        }
                    }
                }
                // Products in the transformed domain.
                for e in 0..16 {
                    let up = w.u2.as_ptr().add(e * C1 * C2);
                    let ve = vp.add(e * T * C1);
                    let mut acc = [[zero; Q]; T];
                    for ic in 0..C1 {
                        let mut wv = [zero; Q];
                        for (q, x) in wv.iter_mut().enumerate() {
                            *x = _mm512_loadu_ps(up.add(ic * C2 + 16 * q));
                        }
                        for (t, a) in acc.iter_mut().enumerate() {
                            let x = _mm512_set1_ps(*ve.add(t * C1 + ic));
                            for q in 0..Q {
                                a[q] = _mm512_fmadd_ps(x, wv[q], a[q]);
                            }
                        }
                    }
                    for (t, a) in acc.iter().enumerate() {
                        for (q, x) in a.iter().enumerate() {
                            _mm512_storeu_ps(mp.add((e * T + t) * C2 + 16 * q), *x);
                        }
                    }
                }
                // Output transform, bias, ReLU and pooling.
                for t in 0..T {
                    for q in 0..Q {
                        let at = |e: usize| _mm512_loadu_ps(mp.add((e * T + t) * C2 + 16 * q));
                        let mut s = [[zero; 4]; 2];
                        for j in 0..4 {
                            let (m0, m1, m2, m3) = (at(j), at(4 + j), at(8 + j), at(12 + j));
                            s[0][j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
                            s[1][j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
                        }
                        let b = _mm512_loadu_ps(w.b2.as_ptr().add(16 * q));
                        let mut y = [zero; 4];
                        for r in 0..2 {
                            let sr = s[r];
                            y[2 * r] =
                                _mm512_add_ps(b, _mm512_add_ps(_mm512_add_ps(sr[0], sr[1]), sr[2]));
                            y[2 * r + 1] =
                                _mm512_add_ps(b, _mm512_sub_ps(_mm512_sub_ps(sr[1], sr[2]), sr[3]));
                        }
                        let mut best = y[0];
                        let mut best_at = _mm512_setzero_si512();
                        for (pos, &yv) in y.iter().enumerate().skip(1) {
                            let gt = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(yv, best);
                            best = _mm512_mask_blend_ps(gt, best, yv);
                            best_at =
                                _mm512_mask_blend_epi32(gt, best_at, _mm512_set1_epi32(pos as i32));
                        }
                        let dead = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(best, zero);
                        let o = (py * P2 + t) * C2 + 16 * q;
                        _mm512_storeu_ps(
                            out.as_mut_ptr().add(o),
                            _mm512_mask_blend_ps(dead, best, zero),
                        );
                        _mm_storeu_si128(
                            arg.as_mut_ptr().add(o) as *mut __m128i,
                            _mm512_cvtepi32_epi8(_mm512_mask_blend_epi32(dead, best_at, none)),
                        );
                    }
                }
            }
        }
    }

    /// [`super::conv2_backward`]: a channel's 288 kernel gradients, or a
    /// patch's 288 input gradients, stay in 18 registers.
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,fma")]
    pub(super) fn conv2_backward(
        w: &Conv2Weights,
        pooled1: &[f32],
        d_pooled2: &[f32],
        arg2: &[u8],
        g: &mut Conv2Grads,
        d_pooled1: &mut [f32],
    ) {
        assert!(pooled1.len() >= POOLED1 && d_pooled1.len() >= POOLED1);
        assert!(d_pooled2.len() >= FEATURES && arg2.len() >= FEATURES);
        assert!(g.w2t.len() >= C2 * PATCH2 && w.w2t.len() >= C2 * PATCH2 && g.b2.len() >= C2);
        const V: usize = RUN2 / 16;
        const R: usize = K * V;
        // SAFETY: argmax positions are masked to 0..=3, so `live_patch_row(..) + RUN2` is at
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
                    let m =
                        _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(_mm512_loadu_ps(dp.add(16 * q)), zero);
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
                    // A live argmax is 0..=3; masking keeps the offsets in
                    // bounds even for a corrupted byte.
                    let a = a & 3;
                    *g.b2.get_unchecked_mut(oc) += d;
                    let vd = _mm512_set1_ps(d);
                    for ky in 0..K {
                        let src = pooled1.as_ptr().add(live_patch_row(win, a, ky));
                        for v in 0..V {
                            let r = &mut gw[ky * V + v];
                            *r = _mm512_fmadd_ps(vd, _mm512_loadu_ps(src.add(16 * v)), *r);
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
                    let mut live =
                        _mm512_cmpeq_epi8_mask(args, _mm512_set1_epi8(pos as i8)) & nonzero;
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
                            *r = _mm512_fmadd_ps(vd, _mm512_loadu_ps(wp.add(16 * i)), *r);
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

/// Batch kernels of the two typed conv blocks of the seed's network
/// ([`crate::conv_relu_pool`] runs them on dfdx's tape): the same per-sample
/// kernels as [`train_batch`], one op per block, parallel over fixed chunks of
/// [`CHUNK`] samples with weight gradients summed per chunk and then in chunk
/// order (bit-identical whatever the number of threads).
pub(crate) mod blocks {
    use std::sync::Mutex;

    use rayon::prelude::*;

    use super::{
        conv1_backward, conv1_pool1_samples, conv2_backward, conv2_pool2_samples,
        hwio_from_transposed, ordered_sum, Conv1Grads, Conv1Weights, Conv2Grads, Conv2Weights,
        CHUNK, FEATURES, IMAGE_PIXELS, POOLED1, SCRATCH,
    };

    /// conv1 + bias + ReLU + pool1 of the images `x` (`[n, 28, 28, 1]`)
    /// into `pooled1` and `arg1` (`[n, 13, 13, 32]` each, overwritten).
    pub(crate) fn block1_forward(
        w: &Conv1Weights,
        x: &[f32],
        pooled1: &mut [f32],
        arg1: &mut [u8],
    ) {
        let n = x.len() / IMAGE_PIXELS;
        assert_eq!((pooled1.len(), arg1.len()), (n * POOLED1, n * POOLED1));
        pooled1
            .par_chunks_mut(CHUNK * POOLED1)
            .zip(arg1.par_chunks_mut(CHUNK * POOLED1))
            .zip(x.par_chunks(CHUNK * IMAGE_PIXELS))
            .for_each(|((p, a), x)| conv1_pool1_samples(w, x, p, a));
    }

    /// Kernel (HWIO) and bias gradients of the first block from the gradient
    /// of its pooled output (no input gradient: its input is data).
    pub(crate) fn block1_backward(
        x: &[f32],
        d_pooled1: &[f32],
        arg1: &[u8],
    ) -> (Vec<f32>, Vec<f32>) {
        let parts: Vec<Conv1Grads> = x
            .par_chunks(CHUNK * IMAGE_PIXELS)
            .zip(d_pooled1.par_chunks(CHUNK * POOLED1))
            .zip(arg1.par_chunks(CHUNK * POOLED1))
            .map(|((x, d), a)| {
                let mut g = Conv1Grads::zeros();
                for ((xs, ds), a) in x
                    .chunks_exact(IMAGE_PIXELS)
                    .zip(d.chunks_exact(POOLED1))
                    .zip(a.chunks_exact(POOLED1))
                {
                    conv1_backward(xs, ds, a, &mut g);
                }
                g
            })
            .collect();
        (
            ordered_sum(&parts, |p| &p.w1),
            ordered_sum(&parts, |p| &p.b1),
        )
    }

    /// conv2 + bias + ReLU + pool2 of `pooled1` (`[n, 13, 13, 32]`) into
    /// `pooled2` and `arg2` (`[n, 5, 5, 64]` each, overwritten).
    pub(crate) fn block2_forward(
        w: &Conv2Weights,
        pooled1: &[f32],
        pooled2: &mut [f32],
        arg2: &mut [u8],
    ) {
        let n = pooled1.len() / POOLED1;
        assert_eq!((pooled2.len(), arg2.len()), (n * FEATURES, n * FEATURES));
        pooled2
            .par_chunks_mut(CHUNK * FEATURES)
            .zip(arg2.par_chunks_mut(CHUNK * FEATURES))
            .zip(pooled1.par_chunks(CHUNK * POOLED1))
            .for_each(|((p2, a2), p1)| {
                SCRATCH.with(|s| {
                    let s = &mut *s.borrow_mut();
                    conv2_pool2_samples(w, p1, p2, a2, &mut s.col, &mut s.conv2);
                })
            });
    }

    /// Sparse backward of the second block: kernel (HWIO) and bias gradients,
    /// and the input gradient added into `d_pooled1` when given.
    pub(crate) fn block2_backward(
        w: &Conv2Weights,
        pooled1: &[f32],
        d_pooled2: &[f32],
        arg2: &[u8],
        d_pooled1: Option<&mut [f32]>,
    ) -> (Vec<f32>, Vec<f32>) {
        let chunk = |p1: &[f32], dp2: &[f32], a2: &[u8], dp1: &mut [f32]| {
            let mut g = take_conv2_grads();
            for (((p1, dp2), a2), dp1) in p1
                .chunks_exact(POOLED1)
                .zip(dp2.chunks_exact(FEATURES))
                .zip(a2.chunks_exact(FEATURES))
                .zip(dp1.chunks_exact_mut(POOLED1))
            {
                conv2_backward(w, p1, dp2, a2, &mut g, dp1);
            }
            g
        };
        let inputs = pooled1
            .par_chunks(CHUNK * POOLED1)
            .zip(d_pooled2.par_chunks(CHUNK * FEATURES))
            .zip(arg2.par_chunks(CHUNK * FEATURES));
        let parts: Vec<Conv2Grads> = match d_pooled1 {
            Some(dp1) => inputs
                .zip(dp1.par_chunks_mut(CHUNK * POOLED1))
                .map(|(((p1, dp2), a2), dp1)| chunk(p1, dp2, a2, dp1))
                .collect(),
            None => inputs
                .map(|((p1, dp2), a2)| chunk(p1, dp2, a2, &mut vec![0.0; p1.len()]))
                .collect(),
        };
        let sums = (
            hwio_from_transposed(&ordered_sum(&parts, |p| &p.w2t)),
            ordered_sum(&parts, |p| &p.b2),
        );
        give_back_conv2_grads(parts);
        sums
    }

    /// Per-chunk conv2 gradient accumulators kept between steps: 74 KB each,
    /// and allocating them afresh on worker threads costs page faults every step.
    static CONV2_GRADS: Mutex<Vec<Conv2Grads>> = Mutex::new(Vec::new());
    /// At most this many are kept (enough for a batch of 512).
    const KEEP: usize = 64;

    /// A zeroed accumulator, reused if one is kept.
    fn take_conv2_grads() -> Conv2Grads {
        let kept = CONV2_GRADS.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match kept {
            Some(mut g) => {
                g.w2t.fill(0.0);
                g.b2.fill(0.0);
                g
            }
            None => Conv2Grads::zeros(),
        }
    }

    /// Keeps `parts` for later steps (up to [`KEEP`]).
    fn give_back_conv2_grads(parts: Vec<Conv2Grads>) {
        let mut kept = CONV2_GRADS.lock().unwrap_or_else(|e| e.into_inner());
        let room = KEEP.saturating_sub(kept.len());
        kept.extend(parts.into_iter().take(room));
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use dfdx::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::{Dropout, *};
    use crate::dropout_mask;

    thread_local! {
        /// Makes this thread take the portable code even on an AVX-512 CPU.
        pub(super) static PORTABLE_ONLY: Cell<bool> = const { Cell::new(false) };
    }

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    const DROPOUT: Dropout = Dropout {
        rate: 0.5,
        seed: 26,
    };

    /// A network with non-zero biases and a batch that is not a multiple of
    /// [`CHUNK`], and the dropout mask of [`DROPOUT`] (from the public function).
    fn case() -> (Cnn, Vec<f32>, Vec<u8>, Vec<f32>) {
        let mut cnn = Cnn::new(21);
        let scaled = |n, seed| random(n, seed).iter().map(|v| v * 0.1).collect::<Vec<_>>();
        cnn.conv1.bias.copy_from(&scaled(32, 22));
        cnn.conv2.bias.copy_from(&scaled(64, 23));
        cnn.dense.bias.copy_from(&random(10, 24));
        let n = 2 * CHUNK + 3;
        let images: Vec<f32> = random(n * IMAGE_PIXELS, 25)
            .iter()
            .map(|v| (v + 1.0) / 2.0)
            .collect();
        let labels: Vec<u8> = (0..n).map(|i| (i * 7 % 10) as u8).collect();
        let mask = dropout_mask(&Cpu::default(), n, DROPOUT.rate, DROPOUT.seed).as_vec();
        (cnn, images, labels, mask)
    }

    /// Logits and parameter gradients through dfdx's tape and the typed layers.
    fn reference(
        cnn: &Cnn,
        images: &[f32],
        labels: &[u8],
        mask: &[f32],
    ) -> (Vec<f32>, [Vec<f32>; 6]) {
        let dev = Cpu::default();
        let n = labels.len();
        let x: Tensor<(usize, Const<28>, Const<28>, Const<1>), f32, Cpu> =
            dev.tensor_from_vec(images.to_vec(), (n, Const, Const, Const));
        let mask = dev.tensor_from_vec(mask.to_vec(), (n, Const::<FEATURES>));
        let logits = cnn.forward_layers(x.leaky_trace(), Some(mask));
        let values = logits.retaped::<NoneTape>().as_vec();
        let mut t = vec![0.0f32; n * NUM_CLASSES];
        for (i, &l) in labels.iter().enumerate() {
            t[i * NUM_CLASSES + l as usize] = 1.0;
        }
        let targets = dev.tensor_from_vec(t, (n, Const::<NUM_CLASSES>));
        let grads = cross_entropy_with_logits_loss(logits, targets).backward();
        (
            values,
            [
                grads.get(&cnn.conv1.weight).as_vec(),
                grads.get(&cnn.conv1.bias).as_vec(),
                grads.get(&cnn.conv2.weight).as_vec(),
                grads.get(&cnn.conv2.bias).as_vec(),
                grads.get(&cnn.dense.weight).as_vec(),
                grads.get(&cnn.dense.bias).as_vec(),
            ],
        )
    }

    /// `|a - b| <= tol * |b|` in the Euclidean norm (robust to a rare argmax
    /// near-tie resolved differently by two summation orders).
    fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f64) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let diff: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
        let norm: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
        assert!(norm > 0.0, "{what}: zero reference");
        assert!(
            diff.sqrt() <= tol * norm.sqrt(),
            "{what}: |a - b| = {} vs |b| = {}",
            diff.sqrt(),
            norm.sqrt()
        );
    }

    fn check_against_reference() {
        let (cnn, images, labels, mask) = case();
        let w = Weights::of(&cnn);
        let (want_logits, want_grads) = reference(&cnn, &images, &labels, &mask);
        let (logits, grads) = train_batch(
            &w,
            &images,
            &labels,
            Some(DROPOUT),
            &mut Workspace::default(),
        );
        assert_close("logits", &logits, &want_logits, 1e-5);
        for (i, (g, want)) in grads.tensors.iter().zip(&want_grads).enumerate() {
            assert_close(crate::io::TENSORS[i].0, g, want, 1e-4);
        }
        let plain = logits_of(&w, &images);
        let dev = Cpu::default();
        let x: Tensor<(usize, Const<28>, Const<28>, Const<1>), f32, Cpu> =
            dev.tensor_from_vec(images.clone(), (labels.len(), Const, Const, Const));
        assert_close(
            "inference logits",
            &plain,
            &cnn.forward_layers(x, None).as_vec(),
            1e-5,
        );
    }

    fn logits_of(w: &Weights, images: &[f32]) -> Vec<f32> {
        logits(w, images.len() / IMAGE_PIXELS, |i, dst| {
            dst.copy_from_slice(&images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS])
        })
    }

    #[test]
    fn matches_the_dfdx_tape_through_the_typed_layers() {
        check_against_reference();
    }

    #[test]
    fn portable_build_matches_the_dfdx_tape_too() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        pool.install(|| {
            PORTABLE_ONLY.with(|p| p.set(true));
            check_against_reference();
            PORTABLE_ONLY.with(|p| p.set(false));
        });
    }

    /// Logits and parameter gradients of the training configuration on
    /// dfdx's tape: the typed fused blocks (fast kernels, no input gradient),
    /// dfdx's mask multiply, `Linear` and cross-entropy, as `Learner::train_step` runs them.
    fn tape(cnn: &Cnn, images: &[f32], labels: &[u8], mask: &[f32]) -> (Vec<f32>, [Vec<f32>; 6]) {
        let dev = Cpu::default();
        let n = labels.len();
        let x: Tensor<(usize, Const<28>, Const<28>, Const<1>), f32, Cpu> =
            dev.tensor_from_vec(images.to_vec(), (n, Const, Const, Const));
        let mask = dev.tensor_from_vec(mask.to_vec(), (n, Const::<FEATURES>));
        let logits = cnn.forward(x.traced(cnn.alloc_grads()), Some(mask), false);
        let values = logits.retaped::<NoneTape>().as_vec();
        let mut t = vec![0.0f32; n * NUM_CLASSES];
        for (i, &l) in labels.iter().enumerate() {
            t[i * NUM_CLASSES + l as usize] = 1.0;
        }
        let targets = dev.tensor_from_vec(t, (n, Const::<NUM_CLASSES>));
        let grads = cross_entropy_with_logits_loss(logits, targets).backward();
        (
            values,
            [
                grads.get(&cnn.conv1.weight).as_vec(),
                grads.get(&cnn.conv1.bias).as_vec(),
                grads.get(&cnn.conv2.weight).as_vec(),
                grads.get(&cnn.conv2.bias).as_vec(),
                grads.get(&cnn.dense.weight).as_vec(),
                grads.get(&cnn.dense.bias).as_vec(),
            ],
        )
    }

    fn check_tape_against_untaped() {
        let (cnn, images, labels, mask) = case();
        let (tape_logits, tape_grads) = tape(&cnn, &images, &labels, &mask);
        let (logits, grads) = train_batch(
            &Weights::of(&cnn),
            &images,
            &labels,
            Some(DROPOUT),
            &mut Workspace::default(),
        );
        // Same conv kernels; only the dense layer and the loss sum in another order.
        assert_close("logits", &tape_logits, &logits, 1e-6);
        for (i, (g, want)) in tape_grads.iter().zip(&grads.tensors).enumerate() {
            assert_close(crate::io::TENSORS[i].0, g, want, 1e-5);
        }
    }

    #[test]
    fn tape_path_matches_the_untaped_path() {
        check_tape_against_untaped();
    }

    #[test]
    fn portable_tape_path_matches_the_untaped_path_too() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        pool.install(|| {
            PORTABLE_ONLY.with(|p| p.set(true));
            check_tape_against_untaped();
            PORTABLE_ONLY.with(|p| p.set(false));
        });
    }

    #[test]
    fn tape_results_do_not_depend_on_the_thread_count() {
        let (cnn, images, labels, mask) = case();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (logits, grads) = tape(&cnn, &images, &labels, &mask);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let mut all = vec![bits(&logits)];
                all.extend(grads.iter().map(|g| bits(g)));
                all
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (cnn, images, labels, _) = case();
        let w = Weights::of(&cnn);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (logits, grads) = train_batch(
                    &w,
                    &images,
                    &labels,
                    Some(DROPOUT),
                    &mut Workspace::default(),
                );
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let mut all = vec![bits(&logits), bits(&logits_of(&w, &images))];
                all.extend(grads.tensors.iter().map(|g| bits(g)));
                all
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }

    #[test]
    fn winograd_kernel_of_a_delta_is_the_transform_of_g() {
        // A kernel with a single 1 at (ky, kx) = (1, 1) for channel pair (0, 0):
        // U = G e11 Gᵀ = outer([0, .5, -.5, 0], [0, .5, -.5, 0]).
        let mut w2 = vec![0.0; PATCH2 * C2];
        w2[(K + 1) * C1 * C2] = 1.0;
        let u = winograd_kernel(&w2);
        let g = [0.0, 0.5, -0.5, 0.0];
        for r in 0..4 {
            for c in 0..4 {
                assert_eq!(u[(r * 4 + c) * C1 * C2], g[r] * g[c]);
            }
        }
    }
}
