//! Explicit x86-64 intrinsics: AVX2 + FMA (8 lanes) and AVX-512F (16 lanes), with F16C
//! (`vcvtph2ps`) widening halfvec elements.
//!
//! Each level is a module of a few primitives (`load`, `load_h`, `fmadd`, ...) under
//! `#[target_feature]`, and `level!` writes the same four kernels for f32 and f16 over them.
//! Since Rust 1.87 an intrinsic that takes no pointer is safe to call where its feature is
//! enabled, and loads are written as `set` of a fixed-size array, which LLVM folds into one
//! unaligned vector load, so those kernels have no `unsafe` at all: the only unsafe call is the
//! dispatch in lib.rs, right after run-time detection. The kernels at the end of the file
//! (`dot4x4`, `one_by_four`, `masked_sum`) load through pointers, masked at the tails; they are
//! `unsafe fn`s whose callers assert the lengths, with each load's reason beside it.
//!
//! Every kernel keeps 4 independent accumulators per sum (4 vectors per iteration, enough
//! chains to hide the FMA latency), then one vector at a time, then the last partial vector
//! padded with zeros, which add nothing to any of these sums.
use half::f16;

/// Folds `step` over a and b with `K` sums of vectors, using the calling level's `N`, `U`,
/// `zero`, `add` and `hsum`; `$ld` loads `N` elements.
macro_rules! fold {
    ($a:ident, $b:ident, $zero:expr, $ld:ident, $k:literal,
     |$s:ident, $x:ident, $y:ident| $step:expr) => {{
        assert_eq!($a.len(), $b.len());
        let mut acc = [[zero(); $k]; 4];
        let (ac, at) = $a.as_chunks::<U>();
        let (bc, bt) = $b.as_chunks::<U>();
        for (xs, ys) in ac.iter().zip(bc) {
            let (xs, ys) = (xs.as_chunks::<N>().0, ys.as_chunks::<N>().0);
            for j in 0..4 {
                let ($s, $x, $y) = (acc[j], $ld(&xs[j]), $ld(&ys[j]));
                acc[j] = $step;
            }
        }
        let mut sum = [zero(); $k];
        for i in 0..$k {
            sum[i] = add(add(acc[0][i], acc[1][i]), add(acc[2][i], acc[3][i]));
        }
        let (ac, at) = at.as_chunks::<N>();
        let (bc, bt) = bt.as_chunks::<N>();
        for (xs, ys) in ac.iter().zip(bc) {
            let ($s, $x, $y) = (sum, $ld(xs), $ld(ys));
            sum = $step;
        }
        if !at.is_empty() {
            let (mut xp, mut yp) = ([$zero; N], [$zero; N]);
            xp[..at.len()].copy_from_slice(at);
            yp[..bt.len()].copy_from_slice(bt);
            let ($s, $x, $y) = (sum, $ld(&xp), $ld(&yp));
            sum = $step;
        }
        let mut out = [0f32; $k];
        for i in 0..$k {
            out[i] = hsum(sum[i]);
        }
        out
    }};
}

/// The four kernels for one element type at the calling level.
macro_rules! instantiate {
    ($feat:literal, $t:ty, $zero:expr, $ld:ident, $dot:ident, $l2:ident, $l1:ident, $cos:ident) => {
        #[target_feature(enable = $feat)]
        pub fn $dot(a: &[$t], b: &[$t]) -> f32 {
            fold!(a, b, $zero, $ld, 1, |s, x, y| [fmadd(x, y, s[0])])[0]
        }

        #[target_feature(enable = $feat)]
        pub fn $l2(a: &[$t], b: &[$t]) -> f32 {
            fold!(a, b, $zero, $ld, 1, |s, x, y| {
                let d = sub(x, y);
                [fmadd(d, d, s[0])]
            })[0]
        }

        #[target_feature(enable = $feat)]
        pub fn $l1(a: &[$t], b: &[$t]) -> f32 {
            fold!(a, b, $zero, $ld, 1, |s, x, y| [add(s[0], abs(sub(x, y)))])[0]
        }

        #[target_feature(enable = $feat)]
        pub fn $cos(a: &[$t], b: &[$t]) -> (f32, f32, f32) {
            let [d, na, nb] = fold!(a, b, $zero, $ld, 3, |s, x, y| [
                fmadd(x, y, s[0]),
                fmadd(x, x, s[1]),
                fmadd(y, y, s[2]),
            ]);
            (d, na, nb)
        }
    };
}

/// One level: its lane count, the primitives that are one intrinsic each, and the kernels for
/// f32 and f16 (`load`, `load_h`, `abs` and `hsum` are written by each level).
macro_rules! level {
    ($feat:literal, $n:literal, zero = $zero:ident, add = $add:ident, sub = $sub:ident,
     fmadd = $fmadd:ident) => {
        const N: usize = $n;
        const U: usize = 4 * $n;

        #[inline]
        #[target_feature(enable = $feat)]
        fn zero() -> V {
            $zero()
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn add(x: V, y: V) -> V {
            $add(x, y)
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn sub(x: V, y: V) -> V {
            $sub(x, y)
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn fmadd(x: V, y: V, acc: V) -> V {
            $fmadd(x, y, acc)
        }

        instantiate!($feat, f32, 0f32, load, dot_f32, l2sq_f32, l1_f32, cos_f32);
        instantiate!(
            $feat,
            f16,
            f16::ZERO,
            load_h,
            dot_f16,
            l2sq_f16,
            l1_f16,
            cos_f16
        );
    };
}

pub mod avx2 {
    use super::*;
    use std::arch::x86_64::*;
    type V = __m256;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn load(x: &[f32; 8]) -> V {
        _mm256_setr_ps(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7])
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn load_h(x: &[f16; 8]) -> V {
        let h = |i: usize| x[i].to_bits() as i16;
        _mm256_cvtph_ps(_mm_setr_epi16(
            h(0),
            h(1),
            h(2),
            h(3),
            h(4),
            h(5),
            h(6),
            h(7),
        ))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn abs(x: V) -> V {
        _mm256_andnot_ps(_mm256_set1_ps(-0.0), x)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn hsum(x: V) -> f32 {
        let q = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps::<1>(x));
        let d = _mm_add_ps(q, _mm_movehl_ps(q, q));
        _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)))
    }

    level!(
        "avx2,fma,f16c",
        8,
        zero = _mm256_setzero_ps,
        add = _mm256_add_ps,
        sub = _mm256_sub_ps,
        fmadd = _mm256_fmadd_ps
    );
}

pub mod avx512 {
    use super::*;
    use std::arch::x86_64::*;
    type V = __m512;

    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma,f16c")]
    fn load(x: &[f32; 16]) -> V {
        _mm512_setr_ps(
            x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11], x[12], x[13],
            x[14], x[15],
        )
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma,f16c")]
    fn load_h(x: &[f16; 16]) -> V {
        let h = |i: usize| x[i].to_bits() as i16;
        _mm512_cvtph_ps(_mm256_setr_epi16(
            h(0),
            h(1),
            h(2),
            h(3),
            h(4),
            h(5),
            h(6),
            h(7),
            h(8),
            h(9),
            h(10),
            h(11),
            h(12),
            h(13),
            h(14),
            h(15),
        ))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma,f16c")]
    fn abs(x: V) -> V {
        _mm512_abs_ps(x)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma,f16c")]
    fn hsum(x: V) -> f32 {
        _mm512_reduce_add_ps(x)
    }

    level!(
        "avx512f,avx512vl,avx2,fma,f16c",
        16,
        zero = _mm512_setzero_ps,
        add = _mm512_add_ps,
        sub = _mm512_sub_ps,
        fmadd = _mm512_fmadd_ps
    );
}

/// Fast scan with AVX2 `vpshufb`: two nibble positions per 32-byte step (one per 128-bit
/// lane), the byte lookups summed in 16-bit lanes as pairs (even code in the low byte, odd in
/// the high byte, whose sum is kept apart so the low one can be recovered), widened to 32 bits
/// every 256 positions so no sum can wrap.
#[target_feature(enable = "avx2")]
pub fn fastscan_avx2(codes: &[u8], lut: &[u8]) -> [u32; 32] {
    use std::arch::x86_64::*;
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(x: &[u8]) -> __m256i {
        let x: &[u8; 32] = x.try_into().unwrap();
        let b = |i: usize| x[i] as i8;
        _mm256_setr_epi8(
            b(0),
            b(1),
            b(2),
            b(3),
            b(4),
            b(5),
            b(6),
            b(7),
            b(8),
            b(9),
            b(10),
            b(11),
            b(12),
            b(13),
            b(14),
            b(15),
            b(16),
            b(17),
            b(18),
            b(19),
            b(20),
            b(21),
            b(22),
            b(23),
            b(24),
            b(25),
            b(26),
            b(27),
            b(28),
            b(29),
            b(30),
            b(31),
        )
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn words(v: __m256i) -> [u16; 16] {
        let q = [
            _mm256_extract_epi64::<0>(v) as u64,
            _mm256_extract_epi64::<1>(v) as u64,
            _mm256_extract_epi64::<2>(v) as u64,
            _mm256_extract_epi64::<3>(v) as u64,
        ];
        std::array::from_fn(|i| (q[i / 4] >> (16 * (i % 4))) as u16)
    }
    let mask = _mm256_set1_epi8(0x0f);
    let mut out = [0u32; 32];
    let (cs, ts) = (codes.as_chunks::<32>().0, lut.as_chunks::<32>().0);
    // 128 steps of two positions: at most 256 * 255 in a 16-bit sum.
    for (cc, tc) in cs.chunks(128).zip(ts.chunks(128)) {
        let z = _mm256_setzero_si256();
        let (mut lo, mut lo_odd, mut hi, mut hi_odd) = (z, z, z, z);
        for (c, t) in cc.iter().zip(tc) {
            let (c, t) = (load(c), load(t));
            let rl = _mm256_shuffle_epi8(t, _mm256_and_si256(c, mask));
            let rh = _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16::<4>(c), mask));
            lo = _mm256_add_epi16(lo, rl);
            lo_odd = _mm256_add_epi16(lo_odd, _mm256_srli_epi16::<8>(rl));
            hi = _mm256_add_epi16(hi, rh);
            hi_odd = _mm256_add_epi16(hi_odd, _mm256_srli_epi16::<8>(rh));
        }
        for (group, (all, odd)) in [(lo, lo_odd), (hi, hi_odd)].into_iter().enumerate() {
            let (all, odd) = (words(all), words(odd));
            for j in 0..16 {
                // word j: codes 2j, 2j+1 of the group in one lane's position (j < 8) or the
                // other's (j >= 8, codes 2(j-8), 2(j-8)+1)
                let even = all[j].wrapping_sub(odd[j] << 8) as u32;
                let code = 16 * group + 2 * (j % 8);
                out[code] += even;
                out[code + 1] += odd[j] as u32;
            }
        }
    }
    out
}

/// The lanes of a 16-wide step with `left` elements still to go.
#[inline]
fn tail_mask(left: usize) -> u16 {
    if left >= 16 {
        0xffff
    } else {
        (1u16 << left) - 1
    }
}

/// Dot products of four rows against four rows, 16 accumulators in AVX-512 registers: each
/// step loads 8 vectors for 16 fused multiply-adds (a pairwise kernel loads 2 per 1), which is
/// what k-means's assignment of samples to centroids is bound by.
///
/// # Safety
/// AVX-512F must be available and every row must hold at least `n` elements.
#[target_feature(enable = "avx512f,avx512vl,avx2,fma,f16c")]
pub unsafe fn dot4x4_avx512(a: [&[f32]; 4], b: [&[f32]; 4], n: usize) -> [[f32; 4]; 4] {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 4]; 4];
    let mut i = 0;
    while i < n {
        let m = tail_mask(n - i);
        // SAFETY: lanes past `n` are masked off, so no read leaves the rows.
        let av: [__m512; 4] =
            std::array::from_fn(|r| unsafe { _mm512_maskz_loadu_ps(m, a[r].as_ptr().add(i)) });
        let bv: [__m512; 4] =
            std::array::from_fn(|c| unsafe { _mm512_maskz_loadu_ps(m, b[c].as_ptr().add(i)) });
        for r in 0..4 {
            for c in 0..4 {
                acc[r][c] = _mm512_fmadd_ps(av[r], bv[c], acc[r][c]);
            }
        }
        i += 16;
    }
    std::array::from_fn(|r| std::array::from_fn(|c| _mm512_reduce_add_ps(acc[r][c])))
}

/// One row against four: dot products (`l2` false) or squared distances (`l2` true), one
/// load of the row per four fused multiply-adds.
///
/// # Safety
/// AVX-512F must be available and every row must hold at least `n` elements.
#[target_feature(enable = "avx512f,avx512vl,avx2,fma,f16c")]
pub unsafe fn one_by_four_avx512(x: &[f32], b: [&[f32]; 4], n: usize, l2: bool) -> [f32; 4] {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i < n {
        let m = tail_mask(n - i);
        // SAFETY: lanes past `n` are masked off, so no read leaves the rows.
        let xv = unsafe { _mm512_maskz_loadu_ps(m, x.as_ptr().add(i)) };
        for c in 0..4 {
            let bv = unsafe { _mm512_maskz_loadu_ps(m, b[c].as_ptr().add(i)) };
            acc[c] = if l2 {
                let d = _mm512_sub_ps(xv, bv);
                _mm512_fmadd_ps(d, d, acc[c])
            } else {
                _mm512_fmadd_ps(xv, bv, acc[c])
            };
        }
        i += 16;
    }
    acc.map(|a| _mm512_reduce_add_ps(a))
}

/// `sum` of `q[i]` over the set bits of `bits`: 16 bits a masked add, four sums at a time.
///
/// # Safety
/// AVX-512F must be available and `q` must hold `8 * bits.len()` elements.
#[target_feature(enable = "avx512f,avx512vl,avx2,fma,f16c")]
pub unsafe fn masked_sum_avx512(bits: &[u8], q: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_ps(); 4];
    let (words, rest) = bits.as_chunks::<8>();
    for (w, qs) in words.iter().zip(q.chunks_exact(64)) {
        let w = u64::from_le_bytes(*w);
        for (k, a) in acc.iter_mut().enumerate() {
            // SAFETY: each chunk of q holds 64 elements, 16 a lane group.
            let x = unsafe { _mm512_loadu_ps(qs.as_ptr().add(16 * k)) };
            *a = _mm512_mask_add_ps(*a, (w >> (16 * k)) as u16, *a, x);
        }
    }
    let base = 64 * words.len();
    for (k, pair) in rest.chunks(2).enumerate() {
        let m = pair[0] as u16 | (pair.get(1).copied().unwrap_or(0) as u16) << 8;
        // SAFETY: only lanes whose bit is set are read, and q covers every bit.
        let x = unsafe { _mm512_maskz_loadu_ps(m, q.as_ptr().add(base + 16 * k)) };
        acc[k] = _mm512_add_ps(acc[k], x);
    }
    let s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(s)
}

/// [`masked_sum_avx512`] on AVX2: each byte broadcast, its bits turned into a lane mask.
///
/// # Safety
/// AVX2 must be available and `q` must hold `8 * bits.len()` elements.
#[target_feature(enable = "avx2")]
pub unsafe fn masked_sum_avx2(bits: &[u8], q: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    let mut acc = [_mm256_setzero_ps(); 4];
    for (k, &b) in bits.iter().enumerate() {
        let m = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(b as i32), sel), sel);
        // SAFETY: q holds 8 elements for each byte of bits.
        let x = unsafe { _mm256_loadu_ps(q.as_ptr().add(8 * k)) };
        acc[k % 4] = _mm256_add_ps(acc[k % 4], _mm256_and_ps(_mm256_castsi256_ps(m), x));
    }
    let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
    let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    let h = _mm_add_ss(h, _mm_shuffle_ps::<1>(h, h));
    _mm_cvtss_f32(h)
}
