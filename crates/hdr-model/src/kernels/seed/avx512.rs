//! Hand-vectorised AVX-512 versions of the seed blocks' hottest loops. They
//! use fused multiply-adds (and Winograd for conv2), so they agree with the
//! portable code to rounding, not bit for bit; each is deterministic.
#![allow(clippy::needless_range_loop)] // index loops read like the matrix algebra

use std::arch::x86_64::*;

use super::layout::{
    live_patch_row, Conv1Grads, Conv1Weights, Conv2Grads, Conv2Weights, C1, C2, FEATURES, K, P1,
    P2, PATCH2, POOLED1, RUN2, TAPS1,
};
use crate::kernels::common::NO_ARGMAX;
use hdr_artifacts::{IMAGE_PIXELS, IMAGE_SIDE};

/// [`super::portable::conv1_pool1`]: the 9 taps x 32 channels stay in 18 registers.
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

/// [`super::portable::conv1_backward`]: the kernel and bias gradients stay in 20 registers.
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
/// bias, then max pool with ReLU exactly as [`super::portable::pool2`].
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

/// [`super::portable::conv2_backward`]: a channel's 288 kernel gradients, or a
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
