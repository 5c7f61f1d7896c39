//! Winograd F(2x2, 3x3) convolution for any valid, stride-1 3x3 geometry:
//! forward and backward, on NHWC chunks.
//!
//! Each 2x2 block of outputs (a *tile*) comes from a 4x4 input window. With
//! `V = Bᵀ d B` (the window, transformed per input channel) and `U = G g Gᵀ`
//! (the kernel, per channel pair), the tile is `Aᵀ [Σ_ci U ⊙ V] A`: 16
//! products per channel pair instead of im2col's 36. The sum over input
//! channels at each of the 16 transformed positions is a matrix product
//! across the tiles of a chunk (`[tiles, in_c] x [in_c, out_c]`), so the
//! arithmetic stays in matrix-product kernels while the transforms are a
//! few adds per value, with no im2col buffer.
//!
//! Backward follows from the same identity. With `M = A dY Aᵀ` (a tile's
//! output gradient, transformed): `dU = Σ_tiles Vᵀ M` (16 products summed
//! over tiles, then `dW = Gᵀ dU G` once per batch), and `dV = M Uᵀ`, whose
//! windows `B dV Bᵀ` add into the input gradient.
//!
//! Layout: a block of tiles keeps its transformed values tile-major,
//! `[tile][position][channel]`, so each transform reads and writes one
//! contiguous run per tile; the 16 products read them with a row stride.
//! Edge tiles of an odd-sized output read zeros past the input's edge and
//! drop the outputs past its own.
//!
//! The transforms and products are built for each kernel path (`vector` for
//! AVX-512 and AVX2, plain floats otherwise). The transforms only add,
//! subtract and halve exactly, channel by channel, so every path gives the
//! same bits; the products are register-blocked vector kernels on the two
//! vector paths (`gemm::lanes`, the same bits on both) and the gemm crate's
//! on the portable path, which rounds differently. The result
//! differs from im2col's by rounding: tests hold it to a direct convolution
//! within 1e-5 relative, and its gradients to im2col's within 1e-5 of their norm.

mod transforms;
#[cfg(target_arch = "x86_64")]
mod vector;

use super::common::NO_ARGMAX;
use super::gemm::Mat;
use super::generic::{ConvGeom, PoolGeom};
use super::scratch::Aligned;
use transforms::{input_grad_tile, input_tile, output_grad_tile, output_tile, Value};

/// Transformed positions per tile (4x4).
const POSITIONS: usize = 16;

/// Tiles whose transforms and products are done together: enough rows for
/// the products to run at speed, few enough that a block's values stay in
/// cache (about 128 KB per buffer).
fn tiles_per_block(g: &ConvGeom) -> usize {
    (32 * 1024 / (POSITIONS * g.in_c.max(g.out_c))).clamp(16, 256)
}

/// Whether [`forward_chunk`] and [`backward_chunk`] serve this geometry
/// faster than im2col: a 3x3 kernel with enough channels in and out that
/// the products, not the transforms, dominate (one channel, a first layer
/// on raw pixels, stays on im2col).
pub(crate) fn serves(g: &ConvGeom) -> bool {
    g.k == 3 && g.in_c >= 8 && g.out_c >= 8
}

/// Floats in the transformed kernel `U` (and in its gradient `dU`).
pub(crate) fn filter_len(g: &ConvGeom) -> usize {
    POSITIONS * g.in_c * g.out_c
}

/// A kernel in the form the chunk kernels want: `U = G g Gᵀ` as
/// `[position][in_c][out_c]`, and each position's transpose
/// `[position][out_c][in_c]` for the input gradient's products, whose
/// right-hand operand is then read row by row.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    u: Vec<f32>,
    u_t: Vec<f32>,
}

/// The [`Filter`] of the HWIO kernel `weight`.
pub(crate) fn transform_filter(g: &ConvGeom, weight: &[f32]) -> Filter {
    assert!(serves(g) && weight.len() == g.weight_len());
    let (ci, co) = (g.in_c, g.out_c);
    let u = transforms::kernel(weight, ci * co);
    let mut u_t = vec![0.0; u.len()];
    for (ut, u) in u_t.chunks_exact_mut(ci * co).zip(u.chunks_exact(ci * co)) {
        for i in 0..ci {
            for o in 0..co {
                ut[o * ci + i] = u[i * co + o];
            }
        }
    }
    Filter { u, u_t }
}

/// `dW = Gᵀ dU G` of a transformed kernel gradient, as an HWIO kernel gradient.
pub(crate) fn weight_grad(g: &ConvGeom, du: &[f32]) -> Vec<f32> {
    assert_eq!(du.len(), filter_len(g));
    transforms::kernel_grad(du, g.in_c * g.out_c)
}

/// Where a forward pass puts its outputs.
pub(crate) enum Output<'a> {
    /// `conv(x) + bias`, `[n, out_h, out_w, out_c]`.
    Conv(&'a mut [f32]),
    /// `pool(relu(conv(x) + bias))` by 2x2 windows, which are exactly the
    /// tiles (see [`fuses_pool`]), with each window's argmax as
    /// `generic::pool_forward` records it.
    Pooled {
        pool: PoolGeom,
        out: &'a mut [f32],
        arg: &'a mut [u8],
    },
}

/// The gradient a backward pass starts from.
pub(crate) enum OutputGrad<'a> {
    /// Of the convolution's output, `[n, out_h, out_w, out_c]`.
    Conv(&'a [f32]),
    /// Of an [`Output::Pooled`] output, routed through its argmax map.
    Pooled {
        pool: PoolGeom,
        d: &'a [f32],
        arg: &'a [u8],
    },
}

/// Whether pooling `pool` after the convolution can be fused into the tiles:
/// 2x2 windows from the top-left, so each window is one tile (windows past
/// an odd edge are dropped, like the tiles' extra outputs).
pub(crate) fn fuses_pool(pool: &PoolGeom) -> bool {
    pool.p == 2
}

/// Forward pass of the `n` samples of `x`, given the kernel's [`Filter`], into `out`; `work` holds at least two scratch slots.
pub(crate) fn forward_chunk(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    filter: &Filter,
    bias: &[f32],
    work: &mut [Aligned],
    out: &mut Output,
) {
    if !on_vector_path!(
        winograd::vector,
        forward_chunk(g, x, n, filter, bias, work, out)
    ) {
        forward_body::<f32>(g, x, n, filter, bias, work, out)
    }
}

/// Gradients of the `n` samples of `x` from `d_out`, given the kernel's [`Filter`]: adds the transformed
/// kernel gradient into `du` ([`filter_len`] floats), the bias gradient
/// into `db` and, when given, the input gradient into `dx`. `work` holds
/// at least three scratch slots.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_chunk(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    filter: &Filter,
    d_out: &OutputGrad,
    work: &mut [Aligned],
    du: &mut [f32],
    db: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let mut dx = dx;
    if !on_vector_path!(
        winograd::vector,
        backward_chunk(g, x, n, filter, d_out, work, du, db, &mut dx)
    ) {
        backward_body::<f32>(g, x, n, filter, d_out, work, du, db, &mut dx)
    }
}

/// [`forward_chunk`], its transforms on `T` (floats, or one build's vectors).
#[inline(always)]
fn forward_body<T: Value>(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    filter: &Filter,
    bias: &[f32],
    work: &mut [Aligned],
    out: &mut Output,
) {
    let [v, m, ..] = work else {
        panic!("two scratch slots")
    };
    let tiles = Tiles::new(g, n);
    let block = tiles_per_block(g);
    let (ci, co) = (g.in_c, g.out_c);
    let u = &filter.u;
    let mut y = vec![0.0; 4 * co];
    let zeros = vec![0.0; ci];
    for first in (0..tiles.count).step_by(block) {
        let tb = block.min(tiles.count - first);
        let v = v.sized(tb * POSITIONS * ci);
        for (t, vt) in v.chunks_exact_mut(POSITIONS * ci).enumerate() {
            let window = tiles.window(first + t, x, &zeros);
            input_tile::<T>(&window, vt, ci);
        }
        let m = m.sized(tb * POSITIONS * co);
        for k in 0..POSITIONS {
            // SAFETY: the vector builds run on CPUs with their features.
            unsafe {
                T::product(
                    &mut m[k * co..],
                    POSITIONS * co,
                    false,
                    Mat::strided(&v[k * ci..], tb, ci, POSITIONS * ci),
                    Mat::row_major(&u[k * ci * co..(k + 1) * ci * co], ci, co),
                )
            };
        }
        for (t, mt) in m.chunks_exact(POSITIONS * co).enumerate() {
            let (s, oy, ox) = tiles.origin(first + t);
            match out {
                Output::Conv(out) => {
                    output_tile::<T>(mt, &mut y, co);
                    for (p, yp) in y.chunks_exact(co).enumerate() {
                        let (oy, ox) = (oy + p / 2, ox + p % 2);
                        if oy < g.out_h && ox < g.out_w {
                            let at = s * g.out_len() + (oy * g.out_w + ox) * co;
                            add_bias(&mut out[at..at + co], yp, bias);
                        }
                    }
                }
                Output::Pooled { pool, out, arg } => {
                    let (py, px) = (oy / 2, ox / 2);
                    if py < pool.out_h && px < pool.out_w {
                        output_tile::<T>(mt, &mut y, co);
                        let at = s * pool.out_len() + (py * pool.out_w + px) * co;
                        relu_pool(&y, bias, &mut out[at..at + co], &mut arg[at..at + co]);
                    }
                }
            }
        }
    }
}

/// `out = y + bias`.
#[inline(always)]
fn add_bias(out: &mut [f32], y: &[f32], bias: &[f32]) {
    for ((o, v), b) in out.iter_mut().zip(y).zip(bias) {
        *o = v + b;
    }
}

/// Max of the four runs of `y` (a tile's outputs, each `out.len()` floats)
/// plus `bias`, and where it was; as `generic::pool_forward` with `relu`:
/// the first maximum wins, a window whose maximum is not positive gives 0
/// and `NO_ARGMAX`, NaN stays NaN.
#[inline(always)]
fn relu_pool(y: &[f32], bias: &[f32], out: &mut [f32], arg: &mut [u8]) {
    let c = out.len();
    let (y0, rest) = y.split_at(c);
    let (y1, rest) = rest.split_at(c);
    let (y2, y3) = rest.split_at(c);
    let (y3, bias, arg) = (&y3[..c], &bias[..c], &mut arg[..c]);
    for i in 0..c {
        let b = bias[i];
        let (mut best, mut at) = (y0[i] + b, 0u8);
        for (p, v) in [(1u8, y1[i] + b), (2, y2[i] + b), (3, y3[i] + b)] {
            if v > best {
                best = v;
                at = p;
            }
        }
        if best <= 0.0 {
            out[i] = 0.0;
            arg[i] = NO_ARGMAX;
        } else {
            out[i] = best;
            arg[i] = at;
        }
    }
}

/// [`backward_chunk`], its transforms on `T`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_body<T: Value>(
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
    let [v, m, dv, ..] = work else {
        panic!("three scratch slots")
    };
    let (ci, co) = (g.in_c, g.out_c);
    let (u_t, tiles) = (&filter.u_t, Tiles::new(g, n));
    let block = tiles_per_block(g);
    let mut window_grad = vec![0.0; POSITIONS * ci];
    let mut routed = vec![0.0; 4 * co];
    let zeros = vec![0.0; ci.max(co)];
    for first in (0..tiles.count).step_by(block) {
        let tb = block.min(tiles.count - first);
        let v = v.sized(tb * POSITIONS * ci);
        for (t, vt) in v.chunks_exact_mut(POSITIONS * ci).enumerate() {
            let window = tiles.window(first + t, x, &zeros);
            input_tile::<T>(&window, vt, ci);
        }
        let m = m.sized(tb * POSITIONS * co);
        for (t, mt) in m.chunks_exact_mut(POSITIONS * co).enumerate() {
            let (s, oy, ox) = tiles.origin(first + t);
            match d_out {
                OutputGrad::Conv(d_out) => {
                    let dy: [&[f32]; 4] = std::array::from_fn(|p| {
                        let (oy, ox) = (oy + p / 2, ox + p % 2);
                        if oy < g.out_h && ox < g.out_w {
                            let at = s * g.out_len() + (oy * g.out_w + ox) * co;
                            &d_out[at..at + co]
                        } else {
                            &zeros[..co]
                        }
                    });
                    for dyp in dy {
                        add_into(db, dyp);
                    }
                    output_grad_tile::<T>(&dy, mt, co);
                }
                OutputGrad::Pooled { pool, d, arg } => {
                    let (py, px) = (oy / 2, ox / 2);
                    if py < pool.out_h && px < pool.out_w {
                        let at = s * pool.out_len() + (py * pool.out_w + px) * co;
                        route(&d[at..at + co], &arg[at..at + co], &mut routed, db);
                    } else {
                        routed.fill(0.0);
                    }
                    let dy: [&[f32]; 4] = std::array::from_fn(|p| &routed[p * co..(p + 1) * co]);
                    output_grad_tile::<T>(&dy, mt, co);
                }
            }
        }
        for k in 0..POSITIONS {
            // dU[k] += V[k]ᵀ M[k]
            // SAFETY: as in the forward products.
            unsafe {
                T::product(
                    &mut du[k * ci * co..(k + 1) * ci * co],
                    co,
                    true,
                    Mat::strided(&v[k * ci..], tb, ci, POSITIONS * ci).t(),
                    Mat::strided(&m[k * co..], tb, co, POSITIONS * co),
                )
            };
        }
        let Some(dx) = dx.as_deref_mut() else {
            continue;
        };
        let dv = dv.sized(tb * POSITIONS * ci);
        for k in 0..POSITIONS {
            // dV[k] = M[k] U[k]ᵀ
            // SAFETY: as in the forward products.
            unsafe {
                T::product(
                    &mut dv[k * ci..],
                    POSITIONS * ci,
                    false,
                    Mat::strided(&m[k * co..], tb, co, POSITIONS * co),
                    Mat::row_major(&u_t[k * ci * co..(k + 1) * ci * co], co, ci),
                )
            };
        }
        for (t, dvt) in dv.chunks_exact(POSITIONS * ci).enumerate() {
            let (s, oy, ox) = tiles.origin(first + t);
            input_grad_tile::<T>(dvt, &mut window_grad, ci);
            for (p, d) in window_grad.chunks_exact(ci).enumerate() {
                let (iy, ix) = (oy + p / 4, ox + p % 4);
                if iy < g.in_h && ix < g.in_w {
                    let at = s * g.in_len() + (iy * g.in_w + ix) * ci;
                    add_into(&mut dx[at..at + ci], d);
                }
            }
        }
    }
}

/// `acc += v`, element-wise.
#[inline(always)]
fn add_into(acc: &mut [f32], v: &[f32]) {
    for (a, v) in acc.iter_mut().zip(v) {
        *a += v;
    }
}

/// A pooled window's gradient `d` sent to the position its argmax names,
/// as four runs (the tile's positions) in `routed`; adds what flows into `db`.
#[inline(always)]
fn route(d: &[f32], arg: &[u8], routed: &mut [f32], db: &mut [f32]) {
    let c = d.len();
    let (arg, db) = (&arg[..c], &mut db[..c]);
    for (p, run) in routed.chunks_exact_mut(c).enumerate() {
        for i in 0..c {
            run[i] = if arg[i] == p as u8 { d[i] } else { 0.0 };
        }
    }
    for i in 0..c {
        if arg[i] != NO_ARGMAX {
            db[i] += d[i];
        }
    }
}

/// The tiles of a chunk, numbered sample by sample, row by row.
struct Tiles<'g> {
    g: &'g ConvGeom,
    across: usize,
    per_sample: usize,
    count: usize,
}

impl<'g> Tiles<'g> {
    fn new(g: &'g ConvGeom, n: usize) -> Self {
        let (down, across) = (g.out_h.div_ceil(2), g.out_w.div_ceil(2));
        Self {
            g,
            across,
            per_sample: down * across,
            count: n * down * across,
        }
    }

    /// Sample, output row and output column of tile `t`'s top-left output
    /// (also its input window's top-left).
    #[inline(always)]
    fn origin(&self, t: usize) -> (usize, usize, usize) {
        let (s, r) = (t / self.per_sample, t % self.per_sample);
        (s, 2 * (r / self.across), 2 * (r % self.across))
    }

    /// The 16 channel runs of tile `t`'s 4x4 input window, row by row;
    /// `zeros` stands in past the input's edge.
    #[inline(always)]
    fn window<'a>(&self, t: usize, x: &'a [f32], zeros: &'a [f32]) -> [&'a [f32]; POSITIONS] {
        let g = self.g;
        let (s, y0, x0) = self.origin(t);
        // A loop, not `array::from_fn`, whose closure would not be inlined.
        let mut window = [&zeros[..g.in_c]; POSITIONS];
        for (p, run) in window.iter_mut().enumerate() {
            let (iy, ix) = (y0 + p / 4, x0 + p % 4);
            if iy < g.in_h && ix < g.in_w {
                let at = s * g.in_len() + (iy * g.in_w + ix) * g.in_c;
                *run = &x[at..at + g.in_c];
            }
        }
        window
    }
}
