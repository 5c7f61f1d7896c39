//! A convolution over a batch, alone or fused with bias, ReLU and max
//! pooling, by whichever chunk kernel serves its geometry: Winograd
//! (`winograd`, in the tiling with fewer products) for 3x3 kernels over
//! enough channels, im2col + GEMM (`generic`) otherwise.
//!
//! Work is split over the batch in chunks of [`CHUNK`] samples; each chunk
//! runs single-threaded on this thread's scratch, and rayon runs chunks in
//! parallel. Weight gradients are summed per chunk and the chunk partials
//! then added in chunk order, so results are bit-identical whatever the
//! number of threads.

use std::ops::Range;

use rayon::prelude::*;

use super::common::{ordered_sum, CHUNK};
use super::generic::{
    conv_backward_chunk, conv_forward_chunk, pool_backward, pool_forward, ConvGeom, PoolGeom,
};
use super::scratch::{with_scratch, Aligned, Buffer};
use super::winograd::{self, Output, OutputGrad};

/// Scratch slots a chunk kernel may use (the fused block takes the next one).
const WORK_SLOTS: usize = 3;

/// A convolution's kernel, in the form its chunk kernel wants.
#[derive(Debug, Clone)]
pub(crate) enum ConvKernel {
    /// The HWIO kernel, for im2col + GEMM.
    Im2col(Vec<f32>),
    /// The Winograd-transformed kernel.
    Winograd(winograd::Filter),
}

impl ConvKernel {
    /// The fastest kernel for geometry `g`, from the HWIO `weight`.
    pub(crate) fn new(g: &ConvGeom, weight: Vec<f32>) -> Self {
        assert_eq!(weight.len(), g.weight_len());
        if winograd::serves(g) {
            let tiling = winograd::Tiling::fastest(g);
            Self::Winograd(winograd::transform_filter(g, &weight, tiling))
        } else {
            Self::Im2col(weight)
        }
    }

    /// The reference: im2col + GEMM whatever the geometry.
    #[cfg(test)]
    pub(crate) fn reference(g: &ConvGeom, weight: Vec<f32>) -> Self {
        assert_eq!(weight.len(), g.weight_len());
        Self::Im2col(weight)
    }

    /// `out = conv(x) + bias` for the `n` samples of the chunk `x`.
    #[allow(clippy::too_many_arguments)]
    fn forward_chunk(
        &self,
        g: &ConvGeom,
        x: &[f32],
        n: usize,
        bias: &[f32],
        work: &mut [Aligned],
        out: &mut [f32],
    ) {
        match self {
            Self::Im2col(weight) => conv_forward_chunk(g, x, n, weight, bias, &mut work[0], out),
            Self::Winograd(u) => {
                winograd::forward_chunk(g, x, n, u, bias, work, &mut Output::Conv(out))
            }
        }
    }

    /// Adds the chunk's kernel-gradient partial (see [`Self::partial_len`])
    /// to `dw`, its bias gradient to `db` and, when given, its input gradient to `dx`.
    #[allow(clippy::too_many_arguments)]
    fn backward_chunk(
        &self,
        g: &ConvGeom,
        x: &[f32],
        n: usize,
        d_out: &[f32],
        work: &mut [Aligned],
        dw: &mut [f32],
        db: &mut [f32],
        dx: Option<&mut [f32]>,
    ) {
        match self {
            Self::Im2col(weight) => {
                let [col, dcol, ..] = work else {
                    panic!("two scratch slots")
                };
                conv_backward_chunk(g, x, n, weight, d_out, [col, dcol], dw, db, dx)
            }
            Self::Winograd(u) => {
                winograd::backward_chunk(g, x, n, u, &OutputGrad::Conv(d_out), work, dw, db, dx)
            }
        }
    }

    /// Floats in one chunk's kernel-gradient partial.
    fn partial_len(&self, g: &ConvGeom) -> usize {
        match self {
            Self::Im2col(_) => g.weight_len(),
            Self::Winograd(filter) => filter.len(),
        }
    }

    /// The HWIO kernel gradient from the sum of the chunks' partials.
    fn kernel_grad(&self, g: &ConvGeom, partials: Vec<f32>) -> Vec<f32> {
        match self {
            Self::Im2col(_) => partials,
            Self::Winograd(filter) => filter.weight_grad(g, &partials),
        }
    }
}

/// Convolution forward over a batch into `out` (`[n, OUT_H, OUT_W, OUT_C]`),
/// followed by a ReLU when `relu` is set. The ReLU runs chunk by chunk while
/// the chunk is still in cache, as dfdx's (NaN gives 0).
pub(crate) fn conv_forward(
    g: &ConvGeom,
    x: &[f32],
    kernel: &ConvKernel,
    bias: &[f32],
    relu: bool,
    out: &mut [f32],
) {
    out.par_chunks_mut(CHUNK * g.out_len())
        .zip(x.par_chunks(CHUNK * g.in_len()))
        .for_each(|(o, xc)| {
            let ns = xc.len() / g.in_len();
            with_scratch(|s| kernel.forward_chunk(g, xc, ns, bias, &mut s.floats, o));
            if relu {
                relu_in_place(o);
            }
        });
}

/// Convolution backward over a batch of `n`: returns `(dW, dB)`, adds the
/// input gradient to `dx`. With `relu_out` (the output of a
/// [`conv_forward`] with `relu`), `d_out` is the gradient after the ReLU,
/// which passes where the output is positive (as dfdx's ReLU).
pub(crate) fn conv_backward(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    kernel: &ConvKernel,
    d_out: &[f32],
    relu_out: Option<&[f32]>,
    dx: Option<&mut [f32]>,
) -> (Vec<f32>, Vec<f32>) {
    backward_by_chunks(g, kernel, n, dx, |samples, dxc, dw, db| {
        let xc = &x[samples.start * g.in_len()..samples.end * g.in_len()];
        let outputs = samples.start * g.out_len()..samples.end * g.out_len();
        let dc = &d_out[outputs.clone()];
        let ns = samples.len();
        with_scratch(|s| {
            let (work, rest) = s.floats.split_at_mut(WORK_SLOTS);
            let dc = match relu_out {
                Some(out) => {
                    let masked = rest[0].sized(dc.len());
                    relu_grad(&out[outputs], dc, masked);
                    &*masked
                }
                None => dc,
            };
            kernel.backward_chunk(g, xc, ns, dc, work, dw, db, dxc)
        });
    })
}

/// Fused conv + bias + ReLU + max pool forward into `out` and `arg`; the
/// full-resolution convolution output only ever lives in per-thread scratch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_forward(
    cg: &ConvGeom,
    pg: &PoolGeom,
    x: &[f32],
    kernel: &ConvKernel,
    bias: &[f32],
    out: &mut [f32],
    arg: &mut [u8],
) {
    debug_assert_eq!((cg.out_h, cg.out_w, cg.out_c), (pg.in_h, pg.in_w, pg.c));
    out.par_chunks_mut(CHUNK * pg.out_len())
        .zip(arg.par_chunks_mut(CHUNK * pg.out_len()))
        .zip(x.par_chunks(CHUNK * cg.in_len()))
        .for_each(|((o, a), xc)| {
            let ns = xc.len() / cg.in_len();
            with_scratch(|s| {
                let (work, rest) = s.floats.split_at_mut(WORK_SLOTS);
                match kernel {
                    ConvKernel::Winograd(u) if winograd::fuses_pool(pg) => {
                        let mut out = Output::Pooled {
                            pool: *pg,
                            out: o,
                            arg: a,
                        };
                        winograd::forward_chunk(cg, xc, ns, u, bias, work, &mut out);
                    }
                    _ => {
                        let conv = rest[0].sized(ns * cg.out_len());
                        kernel.forward_chunk(cg, xc, ns, bias, work, conv);
                        pool_forward(pg, conv, ns, true, o, a);
                    }
                }
            });
        });
}

/// Fused backward of [`block_forward`]: returns `(dW, dB)`, adds the input gradient to `dx`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_backward(
    cg: &ConvGeom,
    pg: &PoolGeom,
    x: &[f32],
    n: usize,
    kernel: &ConvKernel,
    d_pooled: &[f32],
    argmax: &[u8],
    dx: Option<&mut [f32]>,
) -> (Vec<f32>, Vec<f32>) {
    backward_by_chunks(cg, kernel, n, dx, |samples, dxc, dw, db| {
        let xc = &x[samples.start * cg.in_len()..samples.end * cg.in_len()];
        let po = samples.start * pg.out_len()..samples.end * pg.out_len();
        let ns = samples.len();
        let (d, arg) = (&d_pooled[po.clone()], &argmax[po]);
        with_scratch(|s| {
            let (work, rest) = s.floats.split_at_mut(WORK_SLOTS);
            match kernel {
                ConvKernel::Winograd(u) if winograd::fuses_pool(pg) => {
                    let pool = *pg;
                    let grad = OutputGrad::Pooled { pool, d, arg };
                    winograd::backward_chunk(cg, xc, ns, u, &grad, work, dw, db, dxc);
                }
                _ => {
                    let d_conv = rest[0].sized(ns * cg.out_len());
                    d_conv.fill(0.0);
                    pool_backward(pg, d, arg, ns, d_conv);
                    kernel.backward_chunk(cg, xc, ns, d_conv, work, dw, db, dxc);
                }
            }
        });
    })
}

/// `v = max(v, 0)`, NaN giving 0 as in dfdx's ReLU.
fn relu_in_place(v: &mut [f32]) {
    for x in v {
        *x = keep_if(*x, *x > 0.0);
    }
}

/// The gradient through a ReLU whose output was `out`: `d` where `out > 0`, else 0.
fn relu_grad(out: &[f32], d: &[f32], masked: &mut [f32]) {
    let n = masked.len();
    let (out, d) = (&out[..n], &d[..n]);
    for i in 0..n {
        masked[i] = keep_if(d[i], out[i] > 0.0);
    }
}

/// `v` if `keep`, else +0.0; by masking bits, which vectorises where a
/// branch or a select on floats may not.
#[inline(always)]
fn keep_if(v: f32, keep: bool) -> f32 {
    f32::from_bits(v.to_bits() & (keep as u32).wrapping_neg())
}

/// Runs `f(samples, dx_chunk, dw, db)` for every chunk of `n` samples in
/// parallel, each adding into its own zeroed kernel-gradient partial `dw`
/// and bias gradient `db`; sums them in chunk order (deterministic) and
/// returns the kernel gradient (HWIO) and the bias gradient.
fn backward_by_chunks<F>(
    g: &ConvGeom,
    kernel: &ConvKernel,
    n: usize,
    dx: Option<&mut [f32]>,
    f: F,
) -> (Vec<f32>, Vec<f32>)
where
    F: Fn(Range<usize>, Option<&mut [f32]>, &mut [f32], &mut [f32]) + Sync,
{
    let (w_len, b_len) = (kernel.partial_len(g), g.out_c);
    let chunks = n.div_ceil(CHUNK);
    let dx_chunks: Vec<Option<&mut [f32]>> = match dx {
        Some(dx) => dx.chunks_mut(CHUNK * g.in_len()).map(Some).collect(),
        None => (0..chunks).map(|_| None).collect(),
    };
    // One pooled buffer for all partials: fresh ones each step would be
    // fresh pages, and faulting them in costs as much as the arithmetic.
    // Each chunk zeroes its own partial, in parallel and into its cache.
    let mut dw_parts = Buffer::<f32>::take(chunks * w_len);
    let mut db_parts = vec![0.0; chunks * b_len];
    dw_parts
        .par_chunks_mut(w_len)
        .zip(db_parts.par_chunks_mut(b_len))
        .zip(dx_chunks)
        .enumerate()
        .for_each(|(i, ((dw, db), dxc))| {
            dw.fill(0.0);
            f(i * CHUNK..n.min((i + 1) * CHUNK), dxc, dw, db)
        });
    let dw_parts: Vec<&[f32]> = dw_parts.chunks(w_len).collect();
    let db_parts: Vec<&[f32]> = db_parts.chunks(b_len).collect();
    (
        kernel.kernel_grad(g, ordered_sum(&dw_parts, |p| *p)),
        ordered_sum(&db_parts, |p| *p),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::NO_ARGMAX;
    use crate::kernels::test_data::{assert_close, random};

    /// The seed's two convolutions.
    const CONV1: ConvGeom = ConvGeom {
        in_c: 1,
        out_c: 32,
        k: 3,
        in_h: 28,
        in_w: 28,
        out_h: 26,
        out_w: 26,
    };
    const CONV2: ConvGeom = ConvGeom {
        in_c: 32,
        out_c: 64,
        k: 3,
        in_h: 13,
        in_w: 13,
        out_h: 11,
        out_w: 11,
    };

    /// The deep network's last convolution.
    const DEEP4: ConvGeom = ConvGeom {
        in_c: 64,
        out_c: 64,
        k: 3,
        in_h: 10,
        in_w: 10,
        out_h: 8,
        out_w: 8,
    };

    /// Non-square, odd-sized, channel counts that are not multiples of a vector.
    const ODD: ConvGeom = ConvGeom {
        in_c: 9,
        out_c: 11,
        k: 3,
        in_h: 9,
        in_w: 8,
        out_h: 7,
        out_w: 6,
    };

    /// Direct six-loop convolution in f64: the reference for both chunk kernels.
    fn conv_reference(g: &ConvGeom, x: &[f32], n: usize, w: &[f32], b: &[f32]) -> Vec<f64> {
        let mut out = vec![0.0; n * g.out_len()];
        for s in 0..n {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for oc in 0..g.out_c {
                        let mut acc = b[oc] as f64;
                        for ky in 0..g.k {
                            for kx in 0..g.k {
                                for ic in 0..g.in_c {
                                    let xv = x[s * g.in_len()
                                        + ((oy + ky) * g.in_w + ox + kx) * g.in_c
                                        + ic];
                                    let wv = w[((ky * g.k + kx) * g.in_c + ic) * g.out_c + oc];
                                    acc += xv as f64 * wv as f64;
                                }
                            }
                        }
                        out[s * g.out_len() + (oy * g.out_w + ox) * g.out_c + oc] = acc;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn both_kernels_match_direct_loops() {
        // Non-square, several channels, a batch that is not a multiple of the chunk size.
        let small = ConvGeom {
            in_c: 3,
            out_c: 5,
            k: 3,
            in_h: 9,
            in_w: 7,
            out_h: 7,
            out_w: 5,
        };
        let pointwise = ConvGeom {
            in_c: 2,
            out_c: 3,
            k: 1,
            in_h: 4,
            in_w: 4,
            out_h: 4,
            out_w: 4,
        };
        for g in [small, CONV1, CONV2, pointwise, DEEP4, ODD] {
            let n = CHUNK + 1;
            let x = random(n * g.in_len(), 1);
            let w = random(g.weight_len(), 2);
            let b = random(g.out_c, 3);
            let want = conv_reference(&g, &x, n, &w, &b);
            let largest = want.iter().fold(0.0f64, |m, e| m.max(e.abs()));
            for (kernel, scale) in kernels_for(&g, &w) {
                let mut got = vec![0.0; n * g.out_len()];
                conv_forward(&g, &x, &kernel, &b, false, &mut got);
                for (i, (a, e)) in got.iter().zip(&want).enumerate() {
                    // Winograd's transforms add a few roundings per value;
                    // F(4x4, 3x3)'s scale by up to 25, so its bound is relative
                    // to the layer's largest output.
                    let bound = if scale { largest } else { e.abs() };
                    assert!(
                        (*a as f64 - e).abs() <= 1e-5 * (1.0 + bound),
                        "{g:?} {kernel:?} output {i}: {a} vs {e}",
                        kernel = kind(&kernel),
                    );
                }
            }
        }
    }

    /// Every kernel for `g` from the HWIO `w`: im2col, and each Winograd
    /// tiling where Winograd serves; with whether its error bound scales
    /// with the largest output (F(4x4, 3x3)) rather than with each.
    fn kernels_for(g: &ConvGeom, w: &[f32]) -> Vec<(ConvKernel, bool)> {
        let mut kernels = vec![(ConvKernel::reference(g, w.to_vec()), false)];
        if winograd::serves(g) {
            for kernel in winograd_kernels(g, w) {
                let scaled = matches!(&kernel, ConvKernel::Winograd(f) if f.tiling() == winograd::Tiling::F4x4);
                kernels.push((kernel, scaled));
            }
        }
        kernels
    }

    /// The Winograd kernel of `g` from the HWIO `w` in each tiling.
    fn winograd_kernels(g: &ConvGeom, w: &[f32]) -> Vec<ConvKernel> {
        winograd::Tiling::ALL
            .map(|tiling| ConvKernel::Winograd(winograd::transform_filter(g, w, tiling)))
            .to_vec()
    }

    /// The kernel's name in a failure message.
    fn kind(kernel: &ConvKernel) -> String {
        match kernel {
            ConvKernel::Im2col(_) => "im2col".into(),
            ConvKernel::Winograd(filter) => format!("{:?}", filter.tiling()),
        }
    }

    #[test]
    fn winograd_serves_the_deep_networks_convolutions_and_not_a_first_layer() {
        assert!(matches!(
            ConvKernel::new(&DEEP4, vec![0.0; DEEP4.weight_len()]),
            ConvKernel::Winograd(_)
        ));
        assert!(matches!(
            ConvKernel::new(&CONV1, vec![0.0; CONV1.weight_len()]),
            ConvKernel::Im2col(_)
        ));
        // F(4x4, 3x3) where its tiles fit (all of the deep network's
        // layers), F(2x2, 3x3) where a 4x4 tile would be mostly edge.
        let out = |side: usize| ConvGeom {
            in_h: side + 2,
            in_w: side + 2,
            out_h: side,
            out_w: side,
            ..DEEP4
        };
        for side in [24, 10, 8, 7] {
            assert_eq!(
                winograd::Tiling::fastest(&out(side)),
                winograd::Tiling::F4x4
            );
        }
        for side in [1, 2, 5] {
            assert_eq!(
                winograd::Tiling::fastest(&out(side)),
                winograd::Tiling::F2x2
            );
        }
    }

    /// Winograd's gradients (kernel, bias, input) against im2col's, with
    /// and without the input gradient, on geometries with odd edges.
    #[test]
    fn winograd_backward_matches_the_reference() {
        for g in [CONV2, DEEP4, ODD] {
            let n = CHUNK + 3;
            let x = random(n * g.in_len(), 11);
            let w = random(g.weight_len(), 12);
            let d = random(n * g.out_len(), 13);
            let run = |kernel: ConvKernel| {
                let mut dx = vec![0.0; n * g.in_len()];
                let (dw, db) = conv_backward(&g, &x, n, &kernel, &d, None, Some(&mut dx));
                let (dw_alone, _) = conv_backward(&g, &x, n, &kernel, &d, None, None);
                assert_eq!(dw, dw_alone, "the input gradient changes nothing else");
                [dw, db, dx]
            };
            let want = run(ConvKernel::reference(&g, w.clone()));
            for kernel in winograd_kernels(&g, &w) {
                let name = kind(&kernel);
                let got = run(kernel);
                for (what, (a, b)) in ["dW", "dB", "dx"].iter().zip(got.iter().zip(&want)) {
                    assert_close(&format!("{g:?} {name} {what}"), a, b, 1e-5);
                }
            }
        }
    }

    /// The fused block on Winograd (pooling fused into its tiles) against
    /// the fused block on im2col, on even sizes and on odd ones that pooling floors.
    #[test]
    fn winograd_block_matches_the_reference_block() {
        for cg in [DEEP4, ODD] {
            let pg = PoolGeom {
                p: 2,
                in_h: cg.out_h,
                in_w: cg.out_w,
                out_h: cg.out_h / 2,
                out_w: cg.out_w / 2,
                c: cg.out_c,
            };
            let n = CHUNK + 5;
            let x = random(n * cg.in_len(), 21);
            let w = random(cg.weight_len(), 22);
            let b = random(cg.out_c, 23);
            let d = random(n * pg.out_len(), 24);
            let run = |kernel: ConvKernel, arg: Option<&[u8]>| {
                let mut out = vec![0.0; n * pg.out_len()];
                let mut own_arg = vec![0u8; n * pg.out_len()];
                block_forward(&cg, &pg, &x, &kernel, &b, &mut out, &mut own_arg);
                let mut dx = vec![0.0; n * cg.in_len()];
                // Both backwards route through the same argmax map, so a near-tie
                // resolved differently by the two forwards cannot move gradients.
                let arg = arg.unwrap_or(&own_arg);
                let (dw, db) = block_backward(&cg, &pg, &x, n, &kernel, &d, arg, Some(&mut dx));
                ([out, dw, db, dx], own_arg)
            };
            let (want, want_arg) = run(ConvKernel::reference(&cg, w.clone()), None);
            assert!(want_arg.contains(&NO_ARGMAX) && want_arg.contains(&3));
            for kernel in winograd_kernels(&cg, &w) {
                let name = kind(&kernel);
                let (got, got_arg) = run(kernel, Some(&want_arg));
                let same = got_arg
                    .iter()
                    .zip(&want_arg)
                    .filter(|(a, b)| a == b)
                    .count();
                assert!(
                    same * 1000 >= 999 * want_arg.len(),
                    "{name}: argmax maps differ"
                );
                for (what, (a, b)) in ["pooled", "dW", "dB", "dx"]
                    .iter()
                    .zip(got.iter().zip(&want))
                {
                    assert_close(&format!("{cg:?} {name} {what}"), a, b, 1e-5);
                }
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        for g in [CONV2, DEEP4] {
            let n = 3 * CHUNK + 2;
            let x = random(n * g.in_len(), 6);
            let w = random(g.weight_len(), 7);
            let d = random(n * g.out_len(), 8);
            for kernel in winograd_kernels(&g, &w) {
                let run = |threads: usize| {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    pool.install(|| {
                        let mut dx = vec![0.0; n * g.in_len()];
                        let (dw, db) = conv_backward(&g, &x, n, &kernel, &d, None, Some(&mut dx));
                        let mut out = vec![0.0; n * g.out_len()];
                        conv_forward(&g, &x, &kernel, &w[..g.out_c], false, &mut out);
                        [dw, db, dx, out].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
                    })
                };
                assert_eq!(run(1), run(3), "{}", kind(&kernel));
            }
        }
    }

    /// The transforms are compiled once per kernel path and do the same
    /// operations in the same order on each, so they give the same bits
    /// everywhere, in either tiling. The
    /// products are `gemm::lanes`' on both vector paths (the same sums in
    /// the same order, so the same bits) and the gemm crate's on the
    /// portable path and for channel counts that are not whole vectors (so
    /// with `ODD`'s channels every path gives the same bits).
    #[test]
    fn winograd_gives_the_same_bits_on_every_path() {
        let run = |cg: ConvGeom, tiling: winograd::Tiling| {
            let n = CHUNK + 2;
            let pg = PoolGeom {
                p: 2,
                in_h: cg.out_h,
                in_w: cg.out_w,
                out_h: cg.out_h / 2,
                out_w: cg.out_w / 2,
                c: cg.out_c,
            };
            let x = random(n * cg.in_len(), 31);
            let w = random(cg.weight_len(), 32);
            let b = random(cg.out_c, 33);
            let d = random(n * pg.out_len(), 34);
            let kernel = ConvKernel::Winograd(winograd::transform_filter(&cg, &w, tiling));
            let mut conv = vec![0.0; n * cg.out_len()];
            conv_forward(&cg, &x, &kernel, &b, false, &mut conv);
            let mut out = vec![0.0; n * pg.out_len()];
            let mut arg = vec![0u8; n * pg.out_len()];
            block_forward(&cg, &pg, &x, &kernel, &b, &mut out, &mut arg);
            let mut dx = vec![0.0; n * cg.in_len()];
            let (dw, db) = block_backward(&cg, &pg, &x, n, &kernel, &d, &arg, Some(&mut dx));
            let bits =
                [conv, out, dw, db, dx].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>());
            (bits, arg)
        };
        let paths = crate::kernels::KernelPath::available();
        let vector_paths: Vec<_> = paths
            .iter()
            .copied()
            .filter(|p| *p != crate::kernels::KernelPath::Portable)
            .collect();
        for tiling in winograd::Tiling::ALL {
            let first = crate::kernels::on_path(paths[0], || run(ODD, tiling));
            for path in &paths[1..] {
                assert!(
                    crate::kernels::on_path(*path, || run(ODD, tiling)) == first,
                    "{path:?} {tiling:?}"
                );
            }
            if let Some((first_path, rest)) = vector_paths.split_first() {
                let first = crate::kernels::on_path(*first_path, || run(DEEP4, tiling));
                for path in rest {
                    assert!(
                        crate::kernels::on_path(*path, || run(DEEP4, tiling)) == first,
                        "{path:?} {tiling:?}"
                    );
                }
            }
        }
    }
}
