//! The seed blocks' sizes, their parameters as the kernels want them, and
//! per-chunk gradient accumulators.

use crate::kernels::generic::{ConvGeom, PoolGeom};
use crate::kernels::scratch::{Aligned, Buffer};
use hdr_artifacts::IMAGE_SIDE;

pub(super) const K: usize = 3;
pub(super) const C1: usize = 32;
pub(super) const C2: usize = 64;
/// conv1 taps: 3x3, one input channel.
pub(super) const TAPS1: usize = K * K;
/// conv1 pooled side (26 / 2).
pub(super) const P1: usize = 13;
/// Floats per sample after conv1 + pool1.
pub(super) const POOLED1: usize = P1 * P1 * C1;
/// conv2 output side that pool2 reads (11 floored to 10).
pub(super) const USED2: usize = 10;
/// conv2 output pixels computed per sample.
pub(super) const PIXELS2: usize = USED2 * USED2;
/// One kernel row of a conv2 patch: 3 pixels x 32 channels, contiguous in NHWC.
pub(super) const RUN2: usize = K * C1;
/// conv2 patch length (3x3x32).
pub(super) const PATCH2: usize = K * RUN2;
/// pool2 side.
pub(super) const P2: usize = 5;
/// Floats per sample after conv2 + pool2 (the flattened features).
pub(super) const FEATURES: usize = P2 * P2 * C2;

/// The seed's first block: conv 1 -> 32, 28 -> 26, pool 2 -> 13.
pub(crate) const BLOCK1: (ConvGeom, PoolGeom) = (
    ConvGeom {
        in_c: 1,
        out_c: C1,
        k: K,
        in_h: IMAGE_SIDE,
        in_w: IMAGE_SIDE,
        out_h: 26,
        out_w: 26,
    },
    PoolGeom {
        p: 2,
        in_h: 26,
        in_w: 26,
        out_h: P1,
        out_w: P1,
        c: C1,
    },
);

/// The seed's second block: conv 32 -> 64, 13 -> 11, pool 2 -> 5 (floor).
pub(crate) const BLOCK2: (ConvGeom, PoolGeom) = (
    ConvGeom {
        in_c: C1,
        out_c: C2,
        k: K,
        in_h: P1,
        in_w: P1,
        out_h: 11,
        out_w: 11,
    },
    PoolGeom {
        p: 2,
        in_h: 11,
        in_w: 11,
        out_h: P2,
        out_w: P2,
        c: C2,
    },
);

/// conv1's parameters (kernel HWIO `[3, 3, 1, 32]`, bias).
#[derive(Debug, Clone)]
pub(crate) struct Conv1Weights {
    pub(super) w1: Vec<f32>,
    pub(super) b1: Vec<f32>,
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

/// conv2's parameters, plus its kernel transposed (`[out, patch]`) for the
/// sparse input gradient and Winograd-transformed for the forward pass.
#[derive(Debug, Clone)]
pub(crate) struct Conv2Weights {
    pub(super) w2: Vec<f32>,
    pub(super) w2t: Aligned,
    /// conv2's kernel in the Winograd domain, `[16][in][out]` (see [`winograd_kernel`]).
    pub(super) u2: Aligned,
    pub(super) b2: Vec<f32>,
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

/// Winograd F(2x2, 3x3) transform of conv2's HWIO kernel: `U = G g Gᵀ` per
/// (input, output) channel pair, stored `[e][in][out]` with `e = 4 * row + column`.
#[allow(clippy::needless_range_loop)] // index loops read like the matrix algebra
pub(super) fn winograd_kernel(w2: &[f32]) -> Aligned {
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

/// conv1's gradient accumulators of one chunk (kernel HWIO, bias).
pub(super) struct Conv1Grads {
    pub(super) w1: Buffer<f32>,
    pub(super) b1: Buffer<f32>,
}

impl Conv1Grads {
    pub(super) fn zeros() -> Self {
        Self {
            w1: Buffer::zeros(TAPS1 * C1),
            b1: Buffer::zeros(C1),
        }
    }
}

/// conv2's gradient accumulators of one chunk; the kernel gradient is kept
/// transposed (`[out, patch]`) so that each update is a contiguous run.
pub(super) struct Conv2Grads {
    pub(super) w2t: Buffer<f32>,
    pub(super) b2: Buffer<f32>,
}

impl Conv2Grads {
    pub(super) fn zeros() -> Self {
        Self {
            w2t: Buffer::zeros(PATCH2 * C2),
            b2: Buffer::zeros(C2),
        }
    }
}

/// conv2's kernel gradient from `[out, patch]` back to HWIO `[patch, out]`.
pub(super) fn hwio_from_transposed(w2t: &[f32]) -> Vec<f32> {
    let mut w2 = vec![0.0; PATCH2 * C2];
    for o in 0..C2 {
        for p in 0..PATCH2 {
            w2[p * C2 + o] = w2t[o * PATCH2 + p];
        }
    }
    w2
}

/// Where kernel row `ky` of the conv2 patch of pooling window `win`'s argmax
/// `a` starts in the pooled conv1 maps (NHWC offset).
#[inline(always)]
pub(super) fn live_patch_row(win: usize, a: u8, ky: usize) -> usize {
    let (py, px) = (win / P2, win % P2);
    let (oy, ox) = (2 * py + (a as usize >> 1), 2 * px + (a as usize & 1));
    ((oy + ky) * P1 + ox) * C1
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn transposed_gradient_goes_back_to_hwio() {
        let w2t: Vec<f32> = (0..PATCH2 * C2).map(|i| i as f32).collect();
        let w2 = hwio_from_transposed(&w2t);
        assert_eq!(w2[5 * C2 + 7], w2t[7 * PATCH2 + 5]);
    }
}
