//! Hand-vectorised versions of the seed blocks' hottest loops, written once
//! over [`Lanes`] and compiled for AVX-512 ([`avx512`]) and AVX2 + FMA
//! ([`avx2`]). They use fused multiply-adds (and Winograd for conv2), so they
//! agree with the portable code to rounding, not bit for bit.
//!
//! Narrower vectors hold fewer channels, so the AVX2 build walks the channels
//! in more groups (the const parameters below, chosen per build to fit its 16
//! or 32 registers). Each lane still sees its values in the same order, so
//! the two builds give the same bits (a test holds them to it).
#![allow(clippy::needless_range_loop)] // index loops read like the matrix algebra

use super::layout::{
    live_patch_row, Conv1Grads, Conv1Weights, Conv2Grads, Conv2Weights, C1, C2, FEATURES, K, P1,
    P2, PATCH2, POOLED1, RUN2, TAPS1,
};
use super::{InferSlots, SeedWeights};
use crate::kernels::common::NO_ARGMAX;
use crate::kernels::simd::Lanes;
use hdr_artifacts::{IMAGE_PIXELS, IMAGE_SIDE};

/// conv1 + bias + ReLU + pool1 of one image, direct: each output pixel is 9
/// broadcasts times the kernel rows. `G` vectors of channels are done at a
/// time, so their 9 x `G` kernel vectors stay in registers.
///
/// # Safety
/// The CPU must have `S`'s instruction set.
#[inline(always)]
unsafe fn conv1_pool1<S: Lanes, const G: usize>(
    w: &Conv1Weights,
    x: &[f32],
    out: &mut [f32],
    arg: &mut [u8],
) {
    const { assert!(C1.is_multiple_of(G * S::W)) };
    assert!(x.len() >= IMAGE_PIXELS && out.len() >= POOLED1 && arg.len() >= POOLED1);
    assert!(w.w1.len() >= TAPS1 * C1 && w.b1.len() >= C1);
    // SAFETY (with the caller's CPU features): every offset below is within the
    // lengths asserted above (x: (2*12+1+2)*28 + 2*12+1+2 < 784; out/arg:
    // (12*13+12)*32+31 < 5408).
    let zero = S::zero();
    let none = S::splat_i(NO_ARGMAX as i32);
    let xp = x.as_ptr();
    for c0 in (0..C1).step_by(G * S::W) {
        let mut taps = [[zero; G]; TAPS1];
        let mut bias = [zero; G];
        for g in 0..G {
            for t in 0..TAPS1 {
                taps[t][g] = S::load(w.w1.as_ptr().add(t * C1 + c0 + g * S::W));
            }
            bias[g] = S::load(w.b1.as_ptr().add(c0 + g * S::W));
        }
        for py in 0..P1 {
            for px in 0..P1 {
                let mut best = [zero; G];
                let mut best_at = [S::splat_i(0); G];
                for pos in 0..4 {
                    let base = (2 * py + pos / 2) * IMAGE_SIDE + 2 * px + pos % 2;
                    let mut acc = bias;
                    for ky in 0..K {
                        for kx in 0..K {
                            let v = S::splat(*xp.add(base + ky * IMAGE_SIDE + kx));
                            for g in 0..G {
                                acc[g] = S::fmadd(v, taps[ky * K + kx][g], acc[g]);
                            }
                        }
                    }
                    if pos == 0 {
                        best = acc;
                    } else {
                        let p = S::splat_i(pos as i32);
                        for g in 0..G {
                            let gt = S::gt(acc[g], best[g]);
                            best[g] = S::blend(gt, best[g], acc[g]);
                            best_at[g] = S::blend_i(gt, best_at[g], p);
                        }
                    }
                }
                let o = (py * P1 + px) * C1 + c0;
                for g in 0..G {
                    let dead = S::le(best[g], zero);
                    S::store(
                        out.as_mut_ptr().add(o + g * S::W),
                        S::blend(dead, best[g], zero),
                    );
                    S::store_bytes(
                        arg.as_mut_ptr().add(o + g * S::W),
                        S::blend_i(dead, best_at[g], none),
                    );
                }
            }
        }
    }
}

/// Backward of conv1 + ReLU + pool1 for one image (no input gradient): `G`
/// vectors of channels at a time, their 9 x `G` kernel gradients in registers.
///
/// # Safety
/// The CPU must have `S`'s instruction set.
#[inline(always)]
unsafe fn conv1_backward<S: Lanes, const G: usize>(
    x: &[f32],
    d_pooled1: &[f32],
    arg1: &[u8],
    g: &mut Conv1Grads,
) {
    const { assert!(C1.is_multiple_of(G * S::W)) };
    assert!(x.len() >= IMAGE_PIXELS && d_pooled1.len() >= POOLED1 && arg1.len() >= POOLED1);
    assert!(g.w1.len() >= TAPS1 * C1 && g.b1.len() >= C1);
    // SAFETY: offsets as in `conv1_pool1`, within the asserted lengths.
    let xp = x.as_ptr();
    for c0 in (0..C1).step_by(G * S::W) {
        let mut gw = [[S::zero(); G]; TAPS1];
        let mut gb = [S::zero(); G];
        for h in 0..G {
            for t in 0..TAPS1 {
                gw[t][h] = S::load(g.w1.as_ptr().add(t * C1 + c0 + h * S::W));
            }
            gb[h] = S::load(g.b1.as_ptr().add(c0 + h * S::W));
        }
        for py in 0..P1 {
            for px in 0..P1 {
                let o = (py * P1 + px) * C1 + c0;
                let mut d = [S::zero(); G];
                let mut a = [S::splat_i(0); G];
                for h in 0..G {
                    d[h] = S::load(d_pooled1.as_ptr().add(o + h * S::W));
                    a[h] = S::load_bytes(arg1.as_ptr().add(o + h * S::W));
                }
                for pos in 0..4 {
                    let p = S::splat_i(pos as i32);
                    let mut dp = [S::zero(); G];
                    for h in 0..G {
                        dp[h] = S::keep(S::eq_i(a[h], p), d[h]);
                        gb[h] = S::add(gb[h], dp[h]);
                    }
                    let base = (2 * py + pos / 2) * IMAGE_SIDE + 2 * px + pos % 2;
                    for ky in 0..K {
                        for kx in 0..K {
                            let v = S::splat(*xp.add(base + ky * IMAGE_SIDE + kx));
                            for h in 0..G {
                                let t = ky * K + kx;
                                gw[t][h] = S::fmadd(v, dp[h], gw[t][h]);
                            }
                        }
                    }
                }
            }
        }
        for h in 0..G {
            for t in 0..TAPS1 {
                S::store(g.w1.as_mut_ptr().add(t * C1 + c0 + h * S::W), gw[t][h]);
            }
            S::store(g.b1.as_mut_ptr().add(c0 + h * S::W), gb[h]);
        }
    }
}

/// conv2 + bias + ReLU + pool2 of one sample with Winograd F(2x2, 3x3):
/// each pooling window is one 2x2 output tile, computed from its 4x4 input
/// tile with 16 products per channel pair instead of 36. Per row of 5
/// tiles: input transform (`V = Bᵀ d B`), 16 products `[5 x 32] x [32 x 64]`
/// (5 tiles x `Q` vectors of output channels at a time in registers), output
/// transform (`Aᵀ M A`), bias, then max pool with ReLU exactly as
/// [`super::portable::pool2`].
///
/// # Safety
/// The CPU must have `S`'s instruction set.
#[inline(always)]
unsafe fn conv2_pool2_winograd<S: Lanes, const Q: usize>(
    w: &Conv2Weights,
    pooled1: &[f32],
    out: &mut [f32],
    arg: &mut [u8],
) {
    const T: usize = P2;
    const { assert!(C2.is_multiple_of(Q * S::W) && C1.is_multiple_of(S::W)) };
    assert!(pooled1.len() >= POOLED1 && out.len() >= FEATURES && arg.len() >= FEATURES);
    assert!(w.u2.len() >= 16 * C1 * C2 && w.b2.len() >= C2);
    #[repr(C, align(64))]
    struct Buf<const N: usize>([f32; N]);
    let mut v = Buf([0.0f32; 16 * T * C1]);
    let mut m = Buf([0.0f32; 16 * T * C2]);
    // SAFETY: input tiles start at ((2 * py) * 13 + 2 * t) * 32 and span 4x4
    // pixels: at most ((8 + 3) * 13 + 8 + 3) * 32 + 31 < POOLED1; `v`, `m`,
    // `u2`, `out` and `arg` offsets stay below their sizes by construction.
    let zero = S::zero();
    let none = S::splat_i(NO_ARGMAX as i32);
    let vp = v.0.as_mut_ptr();
    let mp = m.0.as_mut_ptr();
    for py in 0..P2 {
        // Input transform.
        for t in 0..T {
            for c in (0..C1).step_by(S::W) {
                let mut d = [[zero; 4]; 4];
                for (i, row) in d.iter_mut().enumerate() {
                    for (j, x) in row.iter_mut().enumerate() {
                        *x = S::load(
                            pooled1
                                .as_ptr()
                                .add(((2 * py + i) * P1 + 2 * t + j) * C1 + c),
                        );
                    }
                }
                let mut bd = [[zero; 4]; 4];
                for j in 0..4 {
                    bd[0][j] = S::sub(d[0][j], d[2][j]);
                    bd[1][j] = S::add(d[1][j], d[2][j]);
                    bd[2][j] = S::sub(d[2][j], d[1][j]);
                    bd[3][j] = S::sub(d[1][j], d[3][j]);
                }
                for (i, r) in bd.iter().enumerate() {
                    let vals = [
                        S::sub(r[0], r[2]),
                        S::add(r[1], r[2]),
                        S::sub(r[2], r[1]),
                        S::sub(r[1], r[3]),
                    ];
                    for (j, x) in vals.into_iter().enumerate() {
                        S::store(vp.add(((i * 4 + j) * T + t) * C1 + c), x);
                    }
                }
            }
        }
        // Products in the transformed domain.
        for e in 0..16 {
            let up = w.u2.as_ptr().add(e * C1 * C2);
            let ve = vp.add(e * T * C1);
            for o0 in (0..C2).step_by(Q * S::W) {
                let mut acc = [[zero; Q]; T];
                for ic in 0..C1 {
                    let mut wv = [zero; Q];
                    for (q, x) in wv.iter_mut().enumerate() {
                        *x = S::load(up.add(ic * C2 + o0 + q * S::W));
                    }
                    for (t, a) in acc.iter_mut().enumerate() {
                        let x = S::splat(*ve.add(t * C1 + ic));
                        for q in 0..Q {
                            a[q] = S::fmadd(x, wv[q], a[q]);
                        }
                    }
                }
                for (t, a) in acc.iter().enumerate() {
                    for (q, x) in a.iter().enumerate() {
                        S::store(mp.add((e * T + t) * C2 + o0 + q * S::W), *x);
                    }
                }
            }
        }
        // Output transform, bias, ReLU and pooling.
        for t in 0..T {
            for c in (0..C2).step_by(S::W) {
                let at = |e: usize| S::load(mp.add((e * T + t) * C2 + c));
                let mut s = [[zero; 4]; 2];
                for j in 0..4 {
                    let (m0, m1, m2, m3) = (at(j), at(4 + j), at(8 + j), at(12 + j));
                    s[0][j] = S::add(S::add(m0, m1), m2);
                    s[1][j] = S::sub(S::sub(m1, m2), m3);
                }
                let b = S::load(w.b2.as_ptr().add(c));
                let mut y = [zero; 4];
                for r in 0..2 {
                    let sr = s[r];
                    y[2 * r] = S::add(b, S::add(S::add(sr[0], sr[1]), sr[2]));
                    y[2 * r + 1] = S::add(b, S::sub(S::sub(sr[1], sr[2]), sr[3]));
                }
                let mut best = y[0];
                let mut best_at = S::splat_i(0);
                for (pos, &yv) in y.iter().enumerate().skip(1) {
                    let gt = S::gt(yv, best);
                    best = S::blend(gt, best, yv);
                    best_at = S::blend_i(gt, best_at, S::splat_i(pos as i32));
                }
                let dead = S::le(best, zero);
                let o = (py * P2 + t) * C2 + c;
                S::store(out.as_mut_ptr().add(o), S::blend(dead, best, zero));
                S::store_bytes(arg.as_mut_ptr().add(o), S::blend_i(dead, best_at, none));
            }
        }
    }
}

/// Backward of conv2 + ReLU + pool2 for one sample, visiting only the live
/// argmax positions (see [`super::portable::conv2_backward`]). A channel's
/// kernel-gradient rows, or a patch's input-gradient rows, are accumulated
/// `ROWS` kernel rows (`ROWS * V` vectors) at a time in registers.
///
/// # Safety
/// The CPU must have `S`'s instruction set.
#[inline(always)]
unsafe fn conv2_backward<S: Lanes, const ROWS: usize, const V: usize>(
    w: &Conv2Weights,
    pooled1: &[f32],
    d_pooled2: &[f32],
    arg2: &[u8],
    g: &mut Conv2Grads,
    d_pooled1: &mut [f32],
) {
    const { assert!(V * S::W == RUN2 && K.is_multiple_of(ROWS) && C2 == 64) };
    assert!(pooled1.len() >= POOLED1 && d_pooled1.len() >= POOLED1);
    assert!(d_pooled2.len() >= FEATURES && arg2.len() >= FEATURES);
    assert!(g.w2t.len() >= C2 * PATCH2 && w.w2t.len() >= C2 * PATCH2 && g.b2.len() >= C2);
    // SAFETY: argmax positions are masked to 0..=3, so `live_patch_row(..) + RUN2` is at
    // most ((9 + 2) * 13 + 9) * 32 + 96 < POOLED1; rows are within C2 * PATCH2;
    // window offsets are below P2 * P2 * C2 = FEATURES.
    let zero = S::zero();
    // Live (window, channel) pairs as bit sets, first per window (for the
    // input gradient), then transposed per channel (for the kernel gradient),
    // so that neither pass branches on every pair.
    let mut by_window = [0u64; P2 * P2];
    let mut by_channel = [0u32; C2];
    for (win, bits) in by_window.iter_mut().enumerate() {
        let mut live = !S::bytes_eq_64(arg2.as_ptr().add(win * C2), NO_ARGMAX)
            & S::nonzero_64(d_pooled2.as_ptr().add(win * C2));
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
        for ky0 in (0..K).step_by(ROWS) {
            let mut gw = [[zero; V]; ROWS];
            for (r, row) in gw.iter_mut().enumerate() {
                for (v, x) in row.iter_mut().enumerate() {
                    *x = S::load(gp.add((ky0 + r) * RUN2 + v * S::W));
                }
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
                if ky0 == 0 {
                    *g.b2.get_unchecked_mut(oc) += d;
                }
                let vd = S::splat(d);
                for (r, row) in gw.iter_mut().enumerate() {
                    let src = pooled1.as_ptr().add(live_patch_row(win, a, ky0 + r));
                    for (v, x) in row.iter_mut().enumerate() {
                        *x = S::fmadd(vd, S::load(src.add(v * S::W)), *x);
                    }
                }
            }
            for (r, row) in gw.iter().enumerate() {
                for (v, x) in row.iter().enumerate() {
                    S::store(gp.add((ky0 + r) * RUN2 + v * S::W), *x);
                }
            }
        }
    }
    for (win, &nonzero) in by_window.iter().enumerate() {
        let dp = d_pooled2.as_ptr().add(win * C2);
        for pos in 0..4u8 {
            let live = S::bytes_eq_64(arg2.as_ptr().add(win * C2), pos) & nonzero;
            if live == 0 {
                continue;
            }
            for ky0 in (0..K).step_by(ROWS) {
                let mut acc = [[zero; V]; ROWS];
                let mut channels = live;
                while channels != 0 {
                    let oc = channels.trailing_zeros() as usize;
                    channels &= channels - 1;
                    let vd = S::splat(*dp.add(oc));
                    let wp = w.w2t.as_ptr().add(oc * PATCH2 + ky0 * RUN2);
                    for (r, row) in acc.iter_mut().enumerate() {
                        for (v, x) in row.iter_mut().enumerate() {
                            *x = S::fmadd(vd, S::load(wp.add(r * RUN2 + v * S::W)), *x);
                        }
                    }
                }
                for (r, row) in acc.iter().enumerate() {
                    let dst = d_pooled1
                        .as_mut_ptr()
                        .add(live_patch_row(win, pos, ky0 + r));
                    for (v, x) in row.iter().enumerate() {
                        let p = dst.add(v * S::W);
                        S::store(p, S::add(S::load(p), *x));
                    }
                }
            }
        }
    }
}

/// One build of the kernels above: `#[target_feature]` entry points for the
/// instruction set `$lanes` needs, with its channel-group sizes.
macro_rules! build {
    ($name:ident, $lanes:ty, $features:literal, conv1: $g:literal, conv2: $q:literal, conv2_backward: $rows:literal x $v:literal) => {
        #[doc = concat!("The kernels compiled for `", $features, "`.")]
        ///
        /// # Safety
        /// Every function needs a CPU with those features.
        pub(super) mod $name {
            use super::*;

            /// conv1 + bias + ReLU + pool1 of one image.
            ///
            /// # Safety
            /// The CPU must have the features above.
            #[target_feature(enable = $features)]
            pub(in super::super) unsafe fn conv1_pool1(
                w: &Conv1Weights,
                x: &[f32],
                out: &mut [f32],
                arg: &mut [u8],
            ) {
                super::conv1_pool1::<$lanes, $g>(w, x, out, arg)
            }

            /// # Safety
            /// The CPU must have the features above.
            #[target_feature(enable = $features)]
            pub(in super::super) unsafe fn conv1_backward(
                x: &[f32],
                d_pooled1: &[f32],
                arg1: &[u8],
                g: &mut Conv1Grads,
            ) {
                super::conv1_backward::<$lanes, $g>(x, d_pooled1, arg1, g)
            }

            /// # Safety
            /// The CPU must have the features above.
            #[target_feature(enable = $features)]
            pub(in super::super) unsafe fn conv2_pool2_winograd(
                w: &Conv2Weights,
                pooled1: &[f32],
                out: &mut [f32],
                arg: &mut [u8],
            ) {
                super::conv2_pool2_winograd::<$lanes, $q>(w, pooled1, out, arg)
            }

            /// # Safety
            /// The CPU must have the features above.
            #[target_feature(enable = $features)]
            pub(in super::super) unsafe fn conv2_backward(
                w: &Conv2Weights,
                pooled1: &[f32],
                d_pooled2: &[f32],
                arg2: &[u8],
                g: &mut Conv2Grads,
                d_pooled1: &mut [f32],
            ) {
                super::conv2_backward::<$lanes, $rows, $v>(
                    w, pooled1, d_pooled2, arg2, g, d_pooled1,
                )
            }

            /// The fused inference of a chunk, its plain loops (the dense
            /// layer's among them) vectorised for this instruction set.
            ///
            /// # Safety
            /// The CPU must have the features above.
            #[target_feature(enable = $features)]
            pub(in super::super) unsafe fn infer_chunk(
                w: &SeedWeights,
                x: &[f32],
                logits: &mut [f32],
                slots: &mut InferSlots,
                bytes: &mut [Vec<u8>; 2],
            ) {
                super::super::infer_chunk_body(w, x, logits, slots, bytes)
            }
        }
    };
}

// AVX-512 has 32 registers: conv1's 32 channels at once (18 kernel vectors),
// all 64 of conv2's output channels (20 accumulators), whole 288-float patch
// rows (18). AVX2 has 16: a quarter of conv1's channels, a quarter of conv2's,
// one 96-float kernel row (12).
build!(avx512, crate::kernels::simd::Avx512, "avx512f,avx512vl,avx512bw,avx2,fma",
    conv1: 2, conv2: 4, conv2_backward: 3 x 6);
build!(avx2, crate::kernels::simd::Avx2, "avx2,fma",
    conv1: 1, conv2: 2, conv2_backward: 1 x 12);
