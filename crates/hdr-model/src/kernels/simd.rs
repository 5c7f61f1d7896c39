//! The few vector operations the tuned kernels are written in, for AVX-512
//! (16 lanes) and AVX2 + FMA (8 lanes), so that each kernel has one source
//! compiled once per instruction set (see `seed::vector`).
//!
//! Why not `pulp` (already in the tree through gemm): the kernels keep pooling
//! argmaxes as bytes and walk live channels as 64-bit sets, which needs
//! narrowing stores, widening loads and byte-compare bitmasks that pulp's
//! portable `Simd` trait does not offer; and this trait lets the AVX-512 build
//! keep the exact instruction sequence, so its results are the bits they were.
//!
//! Every operation is lane-wise with the same rounding on both builds (one
//! fused multiply-add, IEEE adds, exact compares and selects), so a kernel
//! that visits each lane's values in the same order gives the same bits at
//! either width.
//!
//! All methods are `unsafe`: the CPU must have the instruction set (callers
//! are `#[target_feature]` functions chosen by `cpu::active`), and pointers
//! must be valid for the lanes read or written.

#![allow(clippy::missing_safety_doc)] // the contract is the module's, above

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512};

/// One instruction set's vectors of `W` lanes: floats, 32-bit integers (pooling
/// argmaxes) and lane masks.
pub(crate) trait Lanes {
    /// Lanes per vector.
    const W: usize;
    type F: Copy;
    type I: Copy;
    type M: Copy;

    unsafe fn zero() -> Self::F;
    unsafe fn splat(v: f32) -> Self::F;
    unsafe fn load(p: *const f32) -> Self::F;
    unsafe fn store(p: *mut f32, v: Self::F);
    unsafe fn add(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn sub(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn mul(a: Self::F, b: Self::F) -> Self::F;
    /// `a * b + c`, rounded once.
    unsafe fn fmadd(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    /// Lanes where `a > b` (false when either is NaN).
    unsafe fn gt(a: Self::F, b: Self::F) -> Self::M;
    /// Lanes where `a <= b` (false when either is NaN).
    unsafe fn le(a: Self::F, b: Self::F) -> Self::M;
    /// `m ? b : a` per lane.
    unsafe fn blend(m: Self::M, a: Self::F, b: Self::F) -> Self::F;
    /// `m ? v : 0.0` per lane.
    unsafe fn keep(m: Self::M, v: Self::F) -> Self::F;

    unsafe fn splat_i(v: i32) -> Self::I;
    /// `m ? b : a` per lane.
    unsafe fn blend_i(m: Self::M, a: Self::I, b: Self::I) -> Self::I;
    /// Lanes where `a == b`.
    unsafe fn eq_i(a: Self::I, b: Self::I) -> Self::M;
    /// `W` bytes, each widened to a lane.
    unsafe fn load_bytes(p: *const u8) -> Self::I;
    /// The low byte of each lane, as `W` bytes.
    unsafe fn store_bytes(p: *mut u8, v: Self::I);

    /// Bit `i` set where byte `i` of the 64 at `p` is `value`.
    unsafe fn bytes_eq_64(p: *const u8, value: u8) -> u64;
    /// Bit `i` set where float `i` of the 64 at `p` is not 0.0 (NaN counts as not zero).
    unsafe fn nonzero_64(p: *const f32) -> u64;
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Lanes;

    /// The methods of a [`Lanes`] impl, each `#[inline(always)]` so that it
    /// is compiled into the `#[target_feature]` function that calls it.
    macro_rules! ops {
        ($(fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block)*) => {
            $(
                #[inline(always)]
                // SAFETY: each body only runs the instructions of the impl's
                // instruction set, which the trait's contract (the module
                // docs) has the caller guarantee, and reads or writes the
                // lanes at the pointers the caller vouches for.
                unsafe fn $name($($arg: $ty),*) $(-> $ret)? $body
            )*
        };
    }

    /// AVX-512 F/VL/BW with FMA: 16 lanes, `__mmask16` masks.
    pub(crate) struct Avx512;

    impl Lanes for Avx512 {
        const W: usize = 16;
        type F = __m512;
        type I = __m512i;
        type M = __mmask16;

        ops! {
            fn zero() -> __m512 {
                _mm512_setzero_ps()
            }
            fn splat(v: f32) -> __m512 {
                _mm512_set1_ps(v)
            }
            fn load(p: *const f32) -> __m512 {
                _mm512_loadu_ps(p)
            }
            fn store(p: *mut f32, v: __m512) {
                _mm512_storeu_ps(p, v)
            }
            fn add(a: __m512, b: __m512) -> __m512 {
                _mm512_add_ps(a, b)
            }
            fn sub(a: __m512, b: __m512) -> __m512 {
                _mm512_sub_ps(a, b)
            }
            fn mul(a: __m512, b: __m512) -> __m512 {
                _mm512_mul_ps(a, b)
            }
            fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
                _mm512_fmadd_ps(a, b, c)
            }
            fn gt(a: __m512, b: __m512) -> __mmask16 {
                _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b)
            }
            fn le(a: __m512, b: __m512) -> __mmask16 {
                _mm512_cmp_ps_mask::<_CMP_LE_OQ>(a, b)
            }
            fn blend(m: __mmask16, a: __m512, b: __m512) -> __m512 {
                _mm512_mask_blend_ps(m, a, b)
            }
            fn keep(m: __mmask16, v: __m512) -> __m512 {
                _mm512_maskz_mov_ps(m, v)
            }
            fn splat_i(v: i32) -> __m512i {
                _mm512_set1_epi32(v)
            }
            fn blend_i(m: __mmask16, a: __m512i, b: __m512i) -> __m512i {
                _mm512_mask_blend_epi32(m, a, b)
            }
            fn eq_i(a: __m512i, b: __m512i) -> __mmask16 {
                _mm512_cmpeq_epi32_mask(a, b)
            }
            fn load_bytes(p: *const u8) -> __m512i {
                _mm512_cvtepu8_epi32(_mm_loadu_si128(p as *const __m128i))
            }
            fn store_bytes(p: *mut u8, v: __m512i) {
                _mm_storeu_si128(p as *mut __m128i, _mm512_cvtepi32_epi8(v))
            }
            fn bytes_eq_64(p: *const u8, value: u8) -> u64 {
                _mm512_cmpeq_epi8_mask(
                    _mm512_loadu_si512(p as *const _),
                    _mm512_set1_epi8(value as i8),
                )
            }
            fn nonzero_64(p: *const f32) -> u64 {
                let mut bits = 0;
                for q in 0..4 {
                    let v = _mm512_loadu_ps(p.add(16 * q));
                    let m = _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(v, Self::zero());
                    bits |= (m as u64) << (16 * q);
                }
                bits
            }
        }
    }

    /// AVX2 with FMA (x86-64-v3): 8 lanes, masks as all-ones lanes.
    pub(crate) struct Avx2;

    impl Lanes for Avx2 {
        const W: usize = 8;
        type F = __m256;
        type I = __m256i;
        type M = __m256;

        ops! {
            fn zero() -> __m256 {
                _mm256_setzero_ps()
            }
            fn splat(v: f32) -> __m256 {
                _mm256_set1_ps(v)
            }
            fn load(p: *const f32) -> __m256 {
                _mm256_loadu_ps(p)
            }
            fn store(p: *mut f32, v: __m256) {
                _mm256_storeu_ps(p, v)
            }
            fn add(a: __m256, b: __m256) -> __m256 {
                _mm256_add_ps(a, b)
            }
            fn sub(a: __m256, b: __m256) -> __m256 {
                _mm256_sub_ps(a, b)
            }
            fn mul(a: __m256, b: __m256) -> __m256 {
                _mm256_mul_ps(a, b)
            }
            fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
                _mm256_fmadd_ps(a, b, c)
            }
            fn gt(a: __m256, b: __m256) -> __m256 {
                _mm256_cmp_ps::<_CMP_GT_OQ>(a, b)
            }
            fn le(a: __m256, b: __m256) -> __m256 {
                _mm256_cmp_ps::<_CMP_LE_OQ>(a, b)
            }
            fn blend(m: __m256, a: __m256, b: __m256) -> __m256 {
                _mm256_blendv_ps(a, b, m)
            }
            fn keep(m: __m256, v: __m256) -> __m256 {
                _mm256_and_ps(m, v)
            }
            fn splat_i(v: i32) -> __m256i {
                _mm256_set1_epi32(v)
            }
            fn blend_i(m: __m256, a: __m256i, b: __m256i) -> __m256i {
                _mm256_castps_si256(_mm256_blendv_ps(
                    _mm256_castsi256_ps(a),
                    _mm256_castsi256_ps(b),
                    m,
                ))
            }
            fn eq_i(a: __m256i, b: __m256i) -> __m256 {
                _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b))
            }
            fn load_bytes(p: *const u8) -> __m256i {
                _mm256_cvtepu8_epi32(_mm_loadl_epi64(p as *const __m128i))
            }
            fn store_bytes(p: *mut u8, v: __m256i) {
                // The low byte of each 32-bit lane to the bottom of its 128-bit
                // half, then the two halves' first 4 bytes side by side.
                let low_bytes = _mm256_setr_epi8(
                    0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
                    0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                );
                let packed = _mm256_permutevar8x32_epi32(
                    _mm256_shuffle_epi8(v, low_bytes),
                    _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0),
                );
                _mm_storel_epi64(p as *mut __m128i, _mm256_castsi256_si128(packed))
            }
            fn bytes_eq_64(p: *const u8, value: u8) -> u64 {
                let v = _mm256_set1_epi8(value as i8);
                let half = |q: usize| {
                    let bytes = _mm256_loadu_si256(p.add(32 * q) as *const _);
                    let eq = _mm256_cmpeq_epi8(bytes, v);
                    _mm256_movemask_epi8(eq) as u32 as u64
                };
                half(0) | (half(1) << 32)
            }
            fn nonzero_64(p: *const f32) -> u64 {
                let mut bits = 0;
                for q in 0..8 {
                    let v = _mm256_loadu_ps(p.add(8 * q));
                    let ne = _mm256_cmp_ps::<_CMP_NEQ_UQ>(v, Self::zero());
                    bits |= (_mm256_movemask_ps(ne) as u32 as u64) << (8 * q);
                }
                bits
            }
        }
    }
}
