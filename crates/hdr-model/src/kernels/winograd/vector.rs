//! The Winograd chunk kernels built for AVX-512 and for AVX2 + FMA: the
//! portable bodies in `winograd`, with the transforms on [`Vector`]s, each
//! compiled into a `#[target_feature]` function so they use that set's
//! registers and instructions.

use super::transforms::Vector;
use super::{backward_tiled, forward_tiled, Filter, Output, OutputGrad};
use crate::kernels::generic::ConvGeom;
use crate::kernels::scratch::Aligned;

/// The transforms and products compiled for one instruction set. The
/// transforms do the same operations in the same order on every build, so
/// give the same bits.
macro_rules! build {
    ($name:ident, $lanes:ty, $features:literal) => {
        #[doc = concat!("The Winograd chunk kernels compiled for `", $features, "`.")]
        pub(in crate::kernels) mod $name {
            use super::*;

            /// # Safety
            /// The CPU must have the features above.
            #[target_feature(enable = $features)]
            pub(in crate::kernels) unsafe fn forward_chunk(
                g: &ConvGeom,
                x: &[f32],
                n: usize,
                filter: &Filter,
                bias: &[f32],
                work: &mut [Aligned],
                out: &mut Output,
            ) {
                forward_tiled::<Vector<$lanes>>(g, x, n, filter, bias, work, out)
            }

            /// # Safety
            /// The CPU must have the features above.
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            pub(in crate::kernels) unsafe fn backward_chunk(
                g: &ConvGeom,
                x: &[f32],
                n: usize,
                filter: &Filter,
                d_out: &OutputGrad,
                work: &mut [Aligned],
                du: &mut [f32],
                db: &mut [f32],
                dx: &mut Option<&mut [f32]>,
            ) {
                backward_tiled::<Vector<$lanes>>(g, x, n, filter, d_out, work, du, db, dx)
            }
        }
    };
}

build!(
    avx512,
    crate::kernels::simd::Avx512,
    "avx512f,avx512vl,avx512bw,avx2,fma"
);
build!(avx2, crate::kernels::simd::Avx2, "avx2,fma");
