//! The im2col chunk kernels built for AVX-512 and for AVX2 + FMA: the
//! portable bodies in `generic`, compiled into `#[target_feature]`
//! functions so their loops use that set's registers. Plain float adds and
//! multiplies in the same order (Rust never fuses them), so every build
//! gives the same bits.

use super::{backward_chunk_body, forward_chunk_body, ConvGeom};
use crate::kernels::scratch::Aligned;

macro_rules! build {
    ($name:ident, $features:literal) => {
        #[doc = concat!("The im2col chunk kernels compiled for `", $features, "`.")]
        pub(in crate::kernels) mod $name {
            use super::*;

            /// # Safety
            /// The CPU must have the features above.
            #[target_feature(enable = $features)]
            pub(in crate::kernels) unsafe fn conv_forward_chunk(
                g: &ConvGeom,
                x: &[f32],
                n: usize,
                weight: &[f32],
                bias: &[f32],
                col: &mut Aligned,
                out: &mut [f32],
            ) {
                forward_chunk_body(g, x, n, weight, bias, col, out)
            }

            /// # Safety
            /// The CPU must have the features above.
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            pub(in crate::kernels) unsafe fn conv_backward_chunk(
                g: &ConvGeom,
                x: &[f32],
                n: usize,
                weight: &[f32],
                d_out: &[f32],
                scratch: &mut [&mut Aligned; 2],
                dw: &mut [f32],
                db: &mut [f32],
                dx: &mut Option<&mut [f32]>,
            ) {
                backward_chunk_body(g, x, n, weight, d_out, scratch, dw, db, dx)
            }
        }
    };
}

build!(avx512, "avx512f,avx512vl,avx512bw,avx2,fma");
build!(avx2, "avx2,fma");
