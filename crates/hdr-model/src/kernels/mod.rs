//! Plain-slice compute behind the layers, behind one dispatch point.
//!
//! [`Block`] picks the kernels of a fused conv + bias + ReLU + pool block by
//! its geometry: the seed network's two blocks run kernels written for them
//! (`seed`); any other 3x3 block over enough channels, and any such
//! convolution alone, Winograd F(4x4, 3x3) or F(2x2, 3x3) (`winograd`,
//! through `conv`); the
//! rest the generic im2col + GEMM ones (`generic`), which are also the
//! reference the tuned ones are tested against. Within the seed's
//! kernels, the active [`KernelPath`] says which build runs: AVX-512,
//! AVX2 + FMA (one source over `simd`'s vector operations) or portable loops,
//! by CPU features or as `HDR_KERNELS` asks.
//!
//! All kernels split a batch into chunks of a fixed number of samples and add
//! per-chunk gradient sums in chunk order, so results are bit-identical
//! whatever the number of threads; temporaries live in one scratch system
//! (`scratch`).

/// Runs `$f` from the vector build of module `$m` (its `avx512` or `avx2`
/// submodule) that the active path names; says whether it did (the portable
/// path, and every non-x86 target, has none).
macro_rules! on_vector_path {
    ($($m:ident)::+, $f:ident($($arg:expr),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        let ran = match crate::kernels::cpu::active() {
            // SAFETY: `active` only picks a path whose CPU features were detected.
            crate::kernels::KernelPath::Avx512 => {
                unsafe { crate::kernels::$($m)::+::avx512::$f($($arg),*) };
                true
            }
            // SAFETY: as above.
            crate::kernels::KernelPath::Avx2 => {
                unsafe { crate::kernels::$($m)::+::avx2::$f($($arg),*) };
                true
            }
            crate::kernels::KernelPath::Portable => false,
        };
        #[cfg(not(target_arch = "x86_64"))]
        let ran = false;
        ran
    }};
}

mod common;
mod conv;
mod cpu;
mod gemm;
mod generic;
mod scratch;
mod seed;
#[cfg(target_arch = "x86_64")]
mod simd;
mod softmax;
#[cfg(test)]
pub(crate) mod test_data;
#[cfg(test)]
mod tests;
mod winograd;

pub(crate) use common::CHUNK;
pub(crate) use conv::{conv_backward, conv_forward, ConvKernel};
#[cfg(test)]
pub(crate) use cpu::tests::on_path;
pub use cpu::{
    active_kernel_path, kernel_path, kernels_from_env, KernelPath, KernelsError, KERNELS_ENV,
};
pub(crate) use generic::{pool_backward_batch, pool_forward_batch, ConvGeom, PoolGeom};
pub(crate) use scratch::Buffer;
pub(crate) use seed::SeedWeights;
pub(crate) use softmax::{argmax, log_sum_exp, softmax_into};

/// The kernels of one fused conv + bias + ReLU + max-pool block, chosen by
/// geometry, holding the parameters in the form those kernels want.
pub(crate) struct Block {
    conv: ConvGeom,
    pool: PoolGeom,
    kernels: Kernels,
}

enum Kernels {
    /// The seed's first block; its tuned backward has no input gradient, so
    /// when one is wanted the generic backward runs with `kernel_for_dx`.
    Seed1 {
        weights: seed::Conv1Weights,
        kernel_for_dx: Option<ConvKernel>,
    },
    /// The seed's second block (transposed and Winograd kernels prepared).
    Seed2(Box<seed::Conv2Weights>),
    /// Any geometry: Winograd or im2col, as `ConvKernel` picks.
    Generic { kernel: ConvKernel, bias: Vec<f32> },
}

impl Block {
    /// Prepares the block's kernels for the HWIO `weight` and `bias`;
    /// `input_grad` says whether [`Block::backward`] will be asked for the input gradient.
    pub(crate) fn new(
        conv: ConvGeom,
        pool: PoolGeom,
        weight: Vec<f32>,
        bias: Vec<f32>,
        input_grad: bool,
    ) -> Self {
        let kernels = if (conv, pool) == seed::BLOCK1 {
            Kernels::Seed1 {
                kernel_for_dx: input_grad.then(|| ConvKernel::new(&conv, weight.clone())),
                weights: seed::Conv1Weights::new(weight, bias),
            }
        } else if (conv, pool) == seed::BLOCK2 {
            Kernels::Seed2(Box::new(seed::Conv2Weights::new(weight, bias)))
        } else {
            Kernels::Generic {
                kernel: ConvKernel::new(&conv, weight),
                bias,
            }
        };
        Self {
            conv,
            pool,
            kernels,
        }
    }

    /// `pool(relu(conv(x)))` of the samples in `x` into `out`, with each
    /// pooled value's window position in `argmax` (or `NO_ARGMAX` when the
    /// ReLU cut it).
    pub(crate) fn forward(&self, x: &[f32], out: &mut [f32], argmax: &mut [u8]) {
        match &self.kernels {
            Kernels::Seed1 { weights, .. } => seed::block1_forward(weights, x, out, argmax),
            Kernels::Seed2(weights) => seed::block2_forward(weights, x, out, argmax),
            Kernels::Generic { kernel, bias } => {
                conv::block_forward(&self.conv, &self.pool, x, kernel, bias, out, argmax)
            }
        }
    }

    /// Kernel and bias gradients `(dW, dB)` from the gradient of the pooled
    /// output; the input gradient is added into `dx` when given.
    pub(crate) fn backward(
        &self,
        x: &[f32],
        d_out: &[f32],
        argmax: &[u8],
        dx: Option<&mut [f32]>,
    ) -> (Vec<f32>, Vec<f32>) {
        let n = x.len() / self.conv.in_len();
        let generic = |kernel: &ConvKernel, dx| {
            conv::block_backward(&self.conv, &self.pool, x, n, kernel, d_out, argmax, dx)
        };
        match (&self.kernels, dx) {
            (Kernels::Seed1 { .. }, None) => seed::block1_backward(x, d_out, argmax),
            (Kernels::Seed1 { kernel_for_dx, .. }, Some(dx)) => generic(
                kernel_for_dx
                    .as_ref()
                    .expect("Block::new was told there would be no input gradient"),
                Some(dx),
            ),
            (Kernels::Seed2(weights), dx) => seed::block2_backward(weights, x, d_out, argmax, dx),
            (Kernels::Generic { kernel, .. }, dx) => generic(kernel, dx),
        }
    }
}
