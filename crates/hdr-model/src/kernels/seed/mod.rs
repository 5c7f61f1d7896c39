//! Kernels written for the seed network's two conv blocks, and its whole
//! inference pass fused per chunk.
//!
//! - conv1 (a 3x3x1 patch) runs as direct loops over its 32 channels, fused
//!   with ReLU and pooling: its 26x26 output is never stored;
//! - conv2 computes only the 10x10 outputs pool2 reads (floor drops row and
//!   column 10); with AVX-512 each pooling window is one Winograd F(2x2, 3x3)
//!   tile (16 products per channel pair instead of 36), elsewhere an im2col GEMM;
//! - conv2's backward is sparse: after max pooling only the argmax position of
//!   each live window has a gradient, so the weight and input gradients are
//!   short runs of `y += g * x` over those positions only, reading the patches
//!   straight from the pooled conv1 maps (no im2col, no col2im);
//! - inference runs conv1, conv2 and the dense layer on one chunk of images
//!   while its activations are in cache.
//!
//! Every per-sample kernel has a portable version ([`portable`]) and a vector
//! one written once ([`vector`]) and built for AVX-512 and for AVX2 + FMA,
//! picked at run time by the active [`KernelPath`]. The two vector builds give
//! the same bits; they agree with the portable one to rounding, not bit for
//! bit (fused multiply-adds and Winograd); each is deterministic. Batches are split into chunks of
//! [`CHUNK`] samples with weight gradients summed per chunk and then in chunk
//! order, so results are bit-identical whatever the number of threads.

mod layout;
mod portable;
#[cfg(target_arch = "x86_64")]
mod vector;

use rayon::prelude::*;

use crate::kernels::common::{ordered_sum, CHUNK};
use crate::kernels::scratch::{sized, with_scratch, Aligned, Buffer};
use hdr_artifacts::{IMAGE_PIXELS, NUM_CLASSES};
use layout::{hwio_from_transposed, Conv1Grads, Conv2Grads, FEATURES, POOLED1};
pub(crate) use layout::{Conv1Weights, Conv2Weights, BLOCK1, BLOCK2};
use portable::{conv1_backward, conv1_pool1, conv2_backward, conv2_pool2_samples};

/// conv1 + bias + ReLU + pool1 of the images `x` (`[n, 28, 28, 1]`)
/// into `pooled1` and `arg1` (`[n, 13, 13, 32]` each, overwritten).
pub(crate) fn block1_forward(w: &Conv1Weights, x: &[f32], pooled1: &mut [f32], arg1: &mut [u8]) {
    let n = x.len() / IMAGE_PIXELS;
    assert_eq!((pooled1.len(), arg1.len()), (n * POOLED1, n * POOLED1));
    pooled1
        .par_chunks_mut(CHUNK * POOLED1)
        .zip(arg1.par_chunks_mut(CHUNK * POOLED1))
        .zip(x.par_chunks(CHUNK * IMAGE_PIXELS))
        .for_each(|((p, a), x)| conv1_pool1_samples(w, x, p, a));
}

/// conv1 + bias + ReLU + pool1 of every 28x28 image in `x`.
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

/// Kernel (HWIO) and bias gradients of the first block from the gradient
/// of its pooled output (no input gradient: its input is data).
pub(crate) fn block1_backward(x: &[f32], d_pooled1: &[f32], arg1: &[u8]) -> (Vec<f32>, Vec<f32>) {
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
            with_scratch(|s| {
                let [col, conv2, ..] = &mut s.floats;
                conv2_pool2_samples(w, p1, p2, a2, col, conv2);
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
        let mut g = Conv2Grads::zeros();
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
            .map(|((p1, dp2), a2)| chunk(p1, dp2, a2, &mut Buffer::zeros(p1.len())))
            .collect(),
    };
    (
        hwio_from_transposed(&ordered_sum(&parts, |p| &p.w2t)),
        ordered_sum(&parts, |p| &p.b2),
    )
}

/// The seed network's parameters prepared for its fused inference pass.
#[derive(Debug, Clone)]
pub(crate) struct SeedWeights {
    c1: Conv1Weights,
    c2: Conv2Weights,
    wd: Vec<f32>,
    bd: Vec<f32>,
}

impl SeedWeights {
    /// From the six parameter tensors: conv1 kernel and bias, conv2 kernel
    /// and bias (HWIO), dense weight `[10, 1600]` and bias.
    pub(crate) fn new([w1, b1, w2, b2, wd, bd]: [Vec<f32>; 6]) -> Self {
        assert_eq!((wd.len(), bd.len()), (FEATURES * NUM_CLASSES, NUM_CLASSES));
        Self {
            c1: Conv1Weights::new(w1, b1),
            c2: Conv2Weights::new(w2, b2),
            wd,
            bd,
        }
    }

    /// Logits `[n, 10]` of `n` images; `fill(i, dst)` writes image `i`'s 784
    /// pixels (in [0, 1]) into `dst`, so callers convert inside the parallel loop.
    pub(crate) fn logits(&self, n: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
        let mut out = vec![0.0; n * NUM_CLASSES];
        let chunk = |(ci, logits): (usize, &mut [f32])| {
            let s0 = ci * CHUNK;
            let ns = logits.len() / NUM_CLASSES;
            with_scratch(|s| {
                let [pixels, rest @ ..] = &mut s.floats;
                let x = pixels.sized(ns * IMAGE_PIXELS);
                for (i, dst) in x.chunks_exact_mut(IMAGE_PIXELS).enumerate() {
                    fill(s0 + i, dst);
                }
                infer_chunk(self, x, logits, rest, &mut s.bytes);
            });
        };
        if n <= CHUNK {
            // One chunk runs on the caller's thread: handing it to the pool
            // and waiting would cost more than the chunk (a served drawing).
            chunk((0, &mut out));
        } else {
            out.par_chunks_mut(CHUNK * NUM_CLASSES)
                .enumerate()
                .for_each(chunk);
        }
        out
    }
}

/// Slots of [`infer_chunk`]: pooled1, col, conv2, pooled2 (and more unused).
type InferSlots = [Aligned; 5];

/// Logits of the chunk `x` (no dropout), compiled for the active path's
/// instruction set.
///
/// The portable kernels are `#[inline(always)]` so that they are compiled into
/// each build (their plain loops, the dense layer's among them, then
/// vectorise 8 or 16 floats wide).
fn infer_chunk(
    w: &SeedWeights,
    x: &[f32],
    logits: &mut [f32],
    slots: &mut InferSlots,
    bytes: &mut [Vec<u8>; 2],
) {
    if !on_vector_path!(seed::vector, infer_chunk(w, x, logits, slots, bytes)) {
        infer_chunk_body(w, x, logits, slots, bytes)
    }
}

#[inline(always)]
fn infer_chunk_body(
    w: &SeedWeights,
    x: &[f32],
    logits: &mut [f32],
    [pooled1, col, conv2, pooled2, _]: &mut InferSlots,
    [arg1, arg2]: &mut [Vec<u8>; 2],
) {
    let n = logits.len() / NUM_CLASSES;
    let pooled1 = pooled1.sized(n * POOLED1);
    conv1_pool1_samples(&w.c1, x, pooled1, sized(arg1, n * POOLED1));
    let pooled2 = pooled2.sized(n * FEATURES);
    conv2_pool2_samples(
        &w.c2,
        pooled1,
        pooled2,
        sized(arg2, n * FEATURES),
        col,
        conv2,
    );
    for (l, feat) in logits
        .chunks_exact_mut(NUM_CLASSES)
        .zip(pooled2.chunks_exact(FEATURES))
    {
        dense(w, feat, l.try_into().expect("10 logits"));
    }
}

/// `logits = wd * feat + bd`, each dot product in 16 fixed lanes then summed
/// in lane order (vectorisable and deterministic).
#[inline(always)]
fn dense(w: &SeedWeights, feat: &[f32], logits: &mut [f32; NUM_CLASSES]) {
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
