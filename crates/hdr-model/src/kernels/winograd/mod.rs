//! Winograd F(m x m, 3x3) convolution for any valid, stride-1 3x3
//! geometry: forward and backward, on NHWC chunks, in two tilings
//! (`transforms::F2`, F(2x2, 3x3), and `transforms::F4`, F(4x4, 3x3)).
//!
//! Each m x m block of outputs (a *tile*) comes from an (m+2) x (m+2) input
//! window. With `V = Bᵀ d B` (the window, transformed per input channel) and
//! `U = G g Gᵀ` (the kernel, per channel pair), the tile is
//! `Aᵀ [Σ_ci U ⊙ V] A`: (m+2)² products per channel pair instead of a
//! direct convolution's 9m². The sum over input channels at each
//! transformed position is a matrix product across the tiles of a chunk
//! (`[tiles, in_c] x [in_c, out_c]`), so the arithmetic stays in
//! matrix-product kernels while the transforms are a few adds per value,
//! with no im2col buffer. [`Tiling::fastest`] picks the tiling with fewer
//! products for a geometry (F(4x4, 3x3) for the deep network's layers).
//!
//! Backward follows from the same identity. With `M = A dY Aᵀ` (a tile's
//! output gradient, transformed): `dU = Σ_tiles Vᵀ M` (one product per
//! position summed over tiles, then `dW = Gᵀ dU G` once per batch), and
//! `dV = M Uᵀ`, whose windows `B dV Bᵀ` add into the input gradient.
//!
//! Layout: a block of tiles keeps its transformed values tile-major,
//! `[tile][position][channel]`, so each transform reads and writes one
//! contiguous run per tile; the products read them with a row stride.
//! Edge tiles of an output whose size the tile does not divide read zeros
//! past the input's edge and drop the outputs past its own.
//!
//! The transforms and products are built for each kernel path (`vector` for
//! AVX-512 and AVX2, plain floats otherwise). The transforms compute each
//! channel with the same operations in the same order on every path, so
//! they give the same bits everywhere; the products are register-blocked
//! vector kernels on the two vector paths (`gemm::lanes`, the same bits on
//! both) and the gemm crate's on the portable path, which rounds
//! differently. The result differs from im2col's by rounding: tests hold
//! it to a direct convolution within 1e-5 relative (F(4x4, 3x3): 1e-5 of
//! the layer's largest output), and its gradients to im2col's within 1e-5
//! of their norm.

mod transforms;
#[cfg(target_arch = "x86_64")]
mod vector;

use super::common::NO_ARGMAX;
use super::gemm::Mat;
use super::generic::{ConvGeom, PoolGeom};
use super::scratch::Aligned;
use std::marker::PhantomData;
use transforms::{Value, Variant, F2, F4};

/// Outputs of the largest tile (4x4).
const MAX_TILE: usize = 16;

/// Tiles whose transforms and products are done together: enough rows for
/// the products to run at speed, few enough that a block's values stay in
/// cache (about 128 KB per buffer).
fn tiles_per_block<X: Variant>(g: &ConvGeom) -> usize {
    (32 * 1024 / (X::POSITIONS * g.in_c.max(g.out_c))).clamp(16, 256)
}

/// Which Winograd tiling a [`Filter`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tiling {
    /// F(2x2, 3x3): 2x2 tiles, 16 positions.
    F2x2,
    /// F(4x4, 3x3): 4x4 tiles, 36 positions.
    F4x4,
}

impl Tiling {
    /// Both, for tests that hold each to the reference.
    #[cfg(test)]
    pub(crate) const ALL: [Tiling; 2] = [Tiling::F2x2, Tiling::F4x4];

    /// The tiling with fewer channel products for `g`'s output (tiles past
    /// an edge count whole): F(4x4, 3x3) on all but the smallest outputs.
    pub(crate) fn fastest(g: &ConvGeom) -> Self {
        let products = |side: usize, positions: usize| {
            g.out_h.div_ceil(side) * g.out_w.div_ceil(side) * positions
        };
        if products(F4::SIDE, F4::POSITIONS) < products(F2::SIDE, F2::POSITIONS) {
            Tiling::F4x4
        } else {
            Tiling::F2x2
        }
    }

    fn positions(self) -> usize {
        match self {
            Tiling::F2x2 => F2::POSITIONS,
            Tiling::F4x4 => F4::POSITIONS,
        }
    }
}

/// Whether [`forward_chunk`] and [`backward_chunk`] serve this geometry
/// faster than im2col: a 3x3 kernel with enough channels in and out that
/// the products, not the transforms, dominate (one channel, a first layer
/// on raw pixels, stays on im2col).
pub(crate) fn serves(g: &ConvGeom) -> bool {
    g.k == 3 && g.in_c >= 8 && g.out_c >= 8
}

/// A kernel in the form the chunk kernels want: `U = G g Gᵀ` as
/// `[position][in_c][out_c]`, and each position's transpose
/// `[position][out_c][in_c]` for the input gradient's products, whose
/// right-hand operand is then read row by row.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    tiling: Tiling,
    u: Vec<f32>,
    u_t: Vec<f32>,
}

impl Filter {
    /// The tiling it is transformed for.
    #[cfg(test)]
    pub(crate) fn tiling(&self) -> Tiling {
        self.tiling
    }

    /// Floats in the transformed kernel `U` (and in its gradient `dU`).
    pub(crate) fn len(&self) -> usize {
        self.u.len()
    }

    /// `dW = Gᵀ dU G` of a transformed kernel gradient, as an HWIO kernel gradient.
    pub(crate) fn weight_grad(&self, g: &ConvGeom, du: &[f32]) -> Vec<f32> {
        assert_eq!(du.len(), self.len());
        let pair = g.in_c * g.out_c;
        match self.tiling {
            Tiling::F2x2 => F2::kernel_grad(du, pair),
            Tiling::F4x4 => F4::kernel_grad(du, pair),
        }
    }
}

/// The [`Filter`] of the HWIO kernel `weight` for `tiling`.
pub(crate) fn transform_filter(g: &ConvGeom, weight: &[f32], tiling: Tiling) -> Filter {
    assert!(serves(g) && weight.len() == g.weight_len());
    let (ci, co) = (g.in_c, g.out_c);
    let u = match tiling {
        Tiling::F2x2 => F2::kernel(weight, ci * co),
        Tiling::F4x4 => F4::kernel(weight, ci * co),
    };
    assert_eq!(u.len(), tiling.positions() * ci * co);
    let mut u_t = vec![0.0; u.len()];
    for (ut, u) in u_t.chunks_exact_mut(ci * co).zip(u.chunks_exact(ci * co)) {
        for i in 0..ci {
            for o in 0..co {
                ut[o * ci + i] = u[i * co + o];
            }
        }
    }
    Filter { tiling, u, u_t }
}

/// Where a forward pass puts its outputs.
pub(crate) enum Output<'a> {
    /// `conv(x) + bias`, `[n, out_h, out_w, out_c]`.
    Conv(&'a mut [f32]),
    /// `pool(relu(conv(x) + bias))` by 2x2 windows, which tile the tiles
    /// (see [`fuses_pool`]), with each window's argmax as
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
/// 2x2 windows from the top-left, so each tile holds whole windows (one or
/// four; windows past an odd edge are dropped, like the tiles' extra outputs).
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
        forward_tiled::<f32>(g, x, n, filter, bias, work, out)
    }
}

/// Gradients of the `n` samples of `x` from `d_out`, given the kernel's [`Filter`]: adds the transformed
/// kernel gradient into `du` ([`Filter::len`] floats), the bias gradient
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
        backward_tiled::<f32>(g, x, n, filter, d_out, work, du, db, &mut dx)
    }
}

/// [`forward_chunk`] in the filter's tiling, its transforms on `T`
/// (floats, or one build's vectors).
#[inline(always)]
fn forward_tiled<T: Value>(
    g: &ConvGeom,
    x: &[f32],
    n: usize,
    filter: &Filter,
    bias: &[f32],
    work: &mut [Aligned],
    out: &mut Output,
) {
    match filter.tiling {
        Tiling::F2x2 => forward_body::<T, F2>(g, x, n, filter, bias, work, out),
        Tiling::F4x4 => forward_body::<T, F4>(g, x, n, filter, bias, work, out),
    }
}

/// [`backward_chunk`] in the filter's tiling, its transforms on `T`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_tiled<T: Value>(
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
    match filter.tiling {
        Tiling::F2x2 => backward_body::<T, F2>(g, x, n, filter, d_out, work, du, db, dx),
        Tiling::F4x4 => backward_body::<T, F4>(g, x, n, filter, d_out, work, du, db, dx),
    }
}

/// [`forward_chunk`] in tiling `X`, its transforms on `T`.
#[inline(always)]
fn forward_body<T: Value, X: Variant>(
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
    let tiles = Tiles::<X>::new(g, n);
    let block = tiles_per_block::<X>(g);
    let (ci, co, positions) = (g.in_c, g.out_c, X::POSITIONS);
    let u = &filter.u;
    let mut y = vec![0.0; X::SIDE * X::SIDE * co];
    let mut edge = vec![0.0; positions * ci];
    for first in (0..tiles.count).step_by(block) {
        let tb = block.min(tiles.count - first);
        let v = v.sized(tb * positions * ci);
        tiles.transform_windows::<T>(first, x, &mut edge, v);
        let m = m.sized(tb * positions * co);
        for k in 0..positions {
            // SAFETY: the vector builds run on CPUs with their features.
            unsafe {
                T::product(
                    &mut m[k * co..],
                    positions * co,
                    false,
                    Mat::strided(&v[k * ci..], tb, ci, positions * ci),
                    Mat::row_major(&u[k * ci * co..(k + 1) * ci * co], ci, co),
                )
            };
        }
        for (t, mt) in m.chunks_exact(positions * co).enumerate() {
            let (s, oy, ox) = tiles.origin(first + t);
            match out {
                Output::Conv(out) => {
                    X::output_tile::<T>(mt, &mut y, co);
                    for (p, yp) in y.chunks_exact(co).enumerate() {
                        let (oy, ox) = (oy + p / X::SIDE, ox + p % X::SIDE);
                        if oy < g.out_h && ox < g.out_w {
                            let at = s * g.out_len() + (oy * g.out_w + ox) * co;
                            add_bias(&mut out[at..at + co], yp, bias);
                        }
                    }
                }
                Output::Pooled { pool, out, arg } => {
                    if oy / 2 >= pool.out_h || ox / 2 >= pool.out_w {
                        continue;
                    }
                    X::output_tile::<T>(mt, &mut y, co);
                    for (wy, wx, runs) in pool_windows::<X>() {
                        let (py, px) = (oy / 2 + wy, ox / 2 + wx);
                        if py < pool.out_h && px < pool.out_w {
                            let at = s * pool.out_len() + (py * pool.out_w + px) * co;
                            let y = runs.map(|p| &y[p * co..(p + 1) * co]);
                            relu_pool(y, bias, &mut out[at..at + co], &mut arg[at..at + co]);
                        }
                    }
                }
            }
        }
    }
}

/// The 2x2 pooling windows of an `X` tile: each one's row and column among
/// the tile's windows, and its four outputs (row by row) as positions in the tile.
#[inline(always)]
fn pool_windows<X: Variant>() -> impl Iterator<Item = (usize, usize, [usize; 4])> {
    let across = X::SIDE / 2;
    (0..across * across).map(move |w| {
        let (wy, wx) = (w / across, w % across);
        let corner = 2 * wy * X::SIDE + 2 * wx;
        (
            wy,
            wx,
            [corner, corner + 1, corner + X::SIDE, corner + X::SIDE + 1],
        )
    })
}

/// `out = y + bias`.
#[inline(always)]
fn add_bias(out: &mut [f32], y: &[f32], bias: &[f32]) {
    for ((o, v), b) in out.iter_mut().zip(y).zip(bias) {
        *o = v + b;
    }
}

/// Max of the four runs `y` (a window's outputs, each `out.len()` floats)
/// plus `bias`, and where it was; as `generic::pool_forward` with `relu`:
/// the first maximum wins, a window whose maximum is not positive gives 0
/// and `NO_ARGMAX`, NaN stays NaN.
#[inline(always)]
fn relu_pool(y: [&[f32]; 4], bias: &[f32], out: &mut [f32], arg: &mut [u8]) {
    let c = out.len();
    let [y0, y1, y2, y3] = y.map(|run| &run[..c]);
    let (bias, arg) = (&bias[..c], &mut arg[..c]);
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

/// [`backward_chunk`] in tiling `X`, its transforms on `T`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_body<T: Value, X: Variant>(
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
    let (ci, co, positions) = (g.in_c, g.out_c, X::POSITIONS);
    let outputs = X::SIDE * X::SIDE;
    let (u_t, tiles) = (&filter.u_t, Tiles::<X>::new(g, n));
    let block = tiles_per_block::<X>(g);
    let mut edge = vec![0.0; positions * ci];
    let mut routed = vec![0.0; outputs * co];
    let zeros = vec![0.0; co];
    for first in (0..tiles.count).step_by(block) {
        let tb = block.min(tiles.count - first);
        let v = v.sized(tb * positions * ci);
        tiles.transform_windows::<T>(first, x, &mut edge, v);
        let m = m.sized(tb * positions * co);
        for (t, mt) in m.chunks_exact_mut(positions * co).enumerate() {
            let (s, oy, ox) = tiles.origin(first + t);
            let mut dy = [&zeros[..co]; MAX_TILE];
            match d_out {
                OutputGrad::Conv(d_out) => {
                    for (p, dyp) in dy[..outputs].iter_mut().enumerate() {
                        let (oy, ox) = (oy + p / X::SIDE, ox + p % X::SIDE);
                        if oy < g.out_h && ox < g.out_w {
                            let at = s * g.out_len() + (oy * g.out_w + ox) * co;
                            *dyp = &d_out[at..at + co];
                            add_into(db, dyp);
                        }
                    }
                }
                OutputGrad::Pooled { pool, d, arg } => {
                    for (wy, wx, runs) in pool_windows::<X>() {
                        let (py, px) = (oy / 2 + wy, ox / 2 + wx);
                        if py < pool.out_h && px < pool.out_w {
                            let at = s * pool.out_len() + (py * pool.out_w + px) * co;
                            route(&d[at..at + co], &arg[at..at + co], &mut routed, runs, db);
                        } else {
                            for p in runs {
                                routed[p * co..(p + 1) * co].fill(0.0);
                            }
                        }
                    }
                    for (p, dyp) in dy[..outputs].iter_mut().enumerate() {
                        *dyp = &routed[p * co..(p + 1) * co];
                    }
                }
            }
            X::output_grad_tile::<T>(&dy[..outputs], mt, co);
        }
        for k in 0..positions {
            // dU[k] += V[k]ᵀ M[k]
            // SAFETY: as in the forward products.
            unsafe {
                T::product(
                    &mut du[k * ci * co..(k + 1) * ci * co],
                    co,
                    true,
                    Mat::strided(&v[k * ci..], tb, ci, positions * ci).t(),
                    Mat::strided(&m[k * co..], tb, co, positions * co),
                )
            };
        }
        let Some(dx) = dx.as_deref_mut() else {
            continue;
        };
        let dv = dv.sized(tb * positions * ci);
        for k in 0..positions {
            // dV[k] = M[k] U[k]ᵀ
            // SAFETY: as in the forward products.
            unsafe {
                T::product(
                    &mut dv[k * ci..],
                    positions * ci,
                    false,
                    Mat::strided(&m[k * co..], tb, co, positions * co),
                    Mat::row_major(&u_t[k * ci * co..(k + 1) * ci * co], co, ci),
                )
            };
        }
        for (t, dvt) in dv.chunks_exact(positions * ci).enumerate() {
            let (s, oy, ox) = tiles.origin(first + t);
            let corner = s * g.in_len() + (oy * g.in_w + ox) * ci;
            if tiles.inside(oy, ox) {
                let row_stride = g.in_w * ci;
                X::input_grad_tile::<T, true>(dvt, &mut dx[corner..], row_stride, ci);
                continue;
            }
            // Past the input's edge: the whole window, then the part inside.
            X::input_grad_tile::<T, false>(dvt, &mut edge, X::WINDOW * ci, ci);
            for (p, d) in edge.chunks_exact(ci).enumerate() {
                let (iy, ix) = (oy + p / X::WINDOW, ox + p % X::WINDOW);
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

/// A pooled window's gradient `d` sent to the one of its four outputs
/// (`runs`, positions in `routed`, row by row) that its argmax names;
/// adds what flows into `db`.
#[inline(always)]
fn route(d: &[f32], arg: &[u8], routed: &mut [f32], runs: [usize; 4], db: &mut [f32]) {
    let c = d.len();
    let (arg, db) = (&arg[..c], &mut db[..c]);
    for (code, p) in runs.into_iter().enumerate() {
        let run = &mut routed[p * c..(p + 1) * c];
        for i in 0..c {
            run[i] = if arg[i] == code as u8 { d[i] } else { 0.0 };
        }
    }
    for i in 0..c {
        if arg[i] != NO_ARGMAX {
            db[i] += d[i];
        }
    }
}

/// The `X` tiles of a chunk, numbered sample by sample, row by row.
struct Tiles<'g, X> {
    g: &'g ConvGeom,
    across: usize,
    per_sample: usize,
    count: usize,
    tiling: PhantomData<X>,
}

impl<'g, X: Variant> Tiles<'g, X> {
    fn new(g: &'g ConvGeom, n: usize) -> Self {
        let (down, across) = (g.out_h.div_ceil(X::SIDE), g.out_w.div_ceil(X::SIDE));
        Self {
            g,
            across,
            per_sample: down * across,
            count: n * down * across,
            tiling: PhantomData,
        }
    }

    /// Sample, output row and output column of tile `t`'s top-left output
    /// (also its input window's top-left).
    #[inline(always)]
    fn origin(&self, t: usize) -> (usize, usize, usize) {
        let (s, r) = (t / self.per_sample, t % self.per_sample);
        (s, X::SIDE * (r / self.across), X::SIDE * (r % self.across))
    }

    /// `V = Bᵀ d B` of the windows of the tiles from `first` on, one per
    /// `X::POSITIONS * in_c` floats of `v`.
    #[inline(always)]
    fn transform_windows<T: Value>(
        &self,
        first: usize,
        x: &[f32],
        edge: &mut [f32],
        v: &mut [f32],
    ) {
        let c = self.g.in_c;
        for (t, vt) in v.chunks_exact_mut(X::POSITIONS * c).enumerate() {
            let (window, row_stride) = self.window(first + t, x, edge);
            X::input_tile::<T>(window, row_stride, vt, c);
        }
    }

    /// Whether the window of the tile at output `(oy, ox)` lies inside the input.
    #[inline(always)]
    fn inside(&self, oy: usize, ox: usize) -> bool {
        oy + X::WINDOW <= self.g.in_h && ox + X::WINDOW <= self.g.in_w
    }

    /// Tile `t`'s input window as a grid of channel runs, and the floats
    /// between its rows: in place in `x` when it lies inside the input,
    /// else copied into `edge` (`X::POSITIONS` runs) with zeros past the edge.
    #[inline(always)]
    fn window<'a>(&self, t: usize, x: &'a [f32], edge: &'a mut [f32]) -> (&'a [f32], usize) {
        let (g, c) = (self.g, self.g.in_c);
        let (s, y0, x0) = self.origin(t);
        let corner = s * g.in_len() + (y0 * g.in_w + x0) * c;
        if self.inside(y0, x0) {
            let row_stride = g.in_w * c;
            let end = corner + (X::WINDOW - 1) * row_stride + X::WINDOW * c;
            return (&x[corner..end], row_stride);
        }
        for (p, run) in edge[..X::POSITIONS * c].chunks_exact_mut(c).enumerate() {
            let (i, j) = (p / X::WINDOW, p % X::WINDOW);
            if y0 + i < g.in_h && x0 + j < g.in_w {
                let at = corner + (i * g.in_w + j) * c;
                run.copy_from_slice(&x[at..at + c]);
            } else {
                run.fill(0.0);
            }
        }
        (edge, X::WINDOW * c)
    }
}
