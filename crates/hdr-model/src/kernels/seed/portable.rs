//! The seed blocks' per-sample kernels in portable Rust, each handing over
//! to its vector twin ([`super::vector`]) when the active kernel path has one.
//! They are `#[inline(always)]`, so inside a caller compiled for AVX2 or
//! AVX-512 their plain loops vectorise 8 or 16 floats wide.

use super::layout::{
    live_patch_row, Conv1Grads, Conv1Weights, Conv2Grads, Conv2Weights, C1, C2, FEATURES, K, P1,
    P2, PATCH2, PIXELS2, POOLED1, RUN2, TAPS1, USED2,
};
use crate::kernels::common::NO_ARGMAX;
use crate::kernels::cpu::{active, KernelPath};
use crate::kernels::gemm::{matmul, Mat};
use crate::kernels::scratch::Aligned;
use hdr_artifacts::IMAGE_SIDE;

/// conv2 + bias + ReLU + pool2 of every sample of `pooled1` (`[n, 13, 13, 32]`)
/// into `pooled2` and `arg2` (`[n, 5, 5, 64]` each): Winograd on the vector
/// paths, on the portable one an im2col GEMM on the scratch slots `col` and `conv2`.
#[inline(always)]
pub(super) fn conv2_pool2_samples(
    w: &Conv2Weights,
    pooled1: &[f32],
    pooled2: &mut [f32],
    arg2: &mut [u8],
    col: &mut Aligned,
    conv2: &mut Aligned,
) {
    let n = pooled1.len() / POOLED1;
    if active() != KernelPath::Portable {
        for ((p1, p2), a2) in pooled1
            .chunks_exact(POOLED1)
            .zip(pooled2.chunks_exact_mut(FEATURES))
            .zip(arg2.chunks_exact_mut(FEATURES))
        {
            on_vector_path!(seed::vector, conv2_pool2_winograd(w, p1, p2, a2));
        }
        return;
    }
    let m = n * PIXELS2;
    let conv2 = conv2.sized(m * C2);
    let col = col.sized(m * PATCH2);
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

/// directly (no im2col): each output pixel is 9 broadcasts times the 32-wide
/// kernel rows. Pool ties go to the first maximum in row-major window order;
/// non-positive windows output 0 and record [`NO_ARGMAX`]; NaN stays NaN.
#[inline(always)]
pub(super) fn conv1_pool1(w: &Conv1Weights, x: &[f32], out: &mut [f32], arg: &mut [u8]) {
    if on_vector_path!(seed::vector, conv1_pool1(w, x, out, arg)) {
        return;
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
pub(super) fn pool2(conv: &[f32], out: &mut [f32], arg: &mut [u8]) {
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
pub(super) fn conv2_backward(
    w: &Conv2Weights,
    pooled1: &[f32],
    d_pooled2: &[f32],
    arg2: &[u8],
    g: &mut Conv2Grads,
    d_pooled1: &mut [f32],
) {
    if on_vector_path!(
        seed::vector,
        conv2_backward(w, pooled1, d_pooled2, arg2, g, d_pooled1)
    ) {
        return;
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

/// Backward of conv1 + ReLU + pool1 for one sample (no input gradient):
/// per window and position, the 32-channel gradient is the pooled gradient
/// where that position was the argmax.
#[inline(always)]
pub(super) fn conv1_backward(x: &[f32], d_pooled1: &[f32], arg1: &[u8], g: &mut Conv1Grads) {
    if on_vector_path!(seed::vector, conv1_backward(x, d_pooled1, arg1, g)) {
        return;
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
