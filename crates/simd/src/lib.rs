//! Distance kernels for `vector` (f32) and `halfvec` (f16) with run-time SIMD dispatch.
//!
//! On x86-64 the kernels are explicit intrinsics (`x86`: AVX-512F and AVX2 + FMA, with F16C
//! widening halfvec), chosen once at run time. Elsewhere, and on x86-64 CPUs without AVX2, a
//! portable body with independent accumulators that LLVM vectorizes for the target's baseline
//! (SSE2, NEON) is used. `scalar` holds plain sequential references that the tests compare
//! against.
//!
//! The only `unsafe` here is calling a `#[target_feature]` function, each time right after the
//! run-time check that the CPU has those features.
use half::f16;

pub mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

/// Which instruction set the kernels use on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// x86-64 AVX-512F/VL with FMA and F16C.
    Avx512,
    /// x86-64 AVX2 with FMA and F16C.
    Avx2,
    /// The compilation target's baseline (SSE2 on x86-64, NEON on aarch64).
    Baseline,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Avx512 => "avx512",
            Level::Avx2 => "avx2+fma",
            Level::Baseline => "baseline",
        }
    }
}

/// The best level this CPU supports (detected once).
pub fn detected() -> Level {
    use std::sync::OnceLock;
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c");
            if avx2
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                return Level::Avx512;
            }
            if avx2 {
                return Level::Avx2;
            }
        }
        Level::Baseline
    })
}

/// Widens a finite f16 to f32 exactly (normals and subnormals): shift the exponent and
/// mantissa into place and rescale by 2^112. halfvec never holds NaN or infinities, so they need
/// no case of their own, and the branch-free form vectorizes.
#[inline(always)]
fn widen(h: f16) -> f32 {
    let b = h.to_bits() as u32;
    let magnitude = f32::from_bits((b & 0x7fff) << 13) * f32::from_bits(0x7780_0000); // 2^112
    f32::from_bits(magnitude.to_bits() | ((b & 0x8000) << 16))
}

trait Lane: Copy + Default {
    fn f(self) -> f32;
}
impl Lane for f32 {
    #[inline(always)]
    fn f(self) -> f32 {
        self
    }
}
impl Lane for f16 {
    #[inline(always)]
    fn f(self) -> f32 {
        widen(self)
    }
}

#[inline(always)]
fn madd<const FMA: bool>(x: f32, y: f32, acc: f32) -> f32 {
    if FMA { x.mul_add(y, acc) } else { acc + x * y }
}

#[inline(always)]
fn reduce<const N: usize>(acc: [f32; N]) -> f32 {
    // pairwise, so the order is the same on every level
    let mut a = acc;
    let mut n = N;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            a[i] += a[i + n];
        }
    }
    a[0]
}

/// One pass of `step(acc, x, y) -> acc` over a and b, keeping `K` sums. The loop has `W`
/// independent accumulators per sum over fixed-size chunks (so LLVM vectorizes it at the
/// target's width with enough chains to hide latency); the last partial chunk is padded with
/// zeros, which add nothing to any of these sums.
#[inline(always)]
fn fold<L: Lane, const W: usize, const K: usize>(
    a: &[L],
    b: &[L],
    step: impl Fn([f32; K], f32, f32) -> [f32; K],
) -> [f32; K] {
    #[inline(always)]
    fn run<L: Lane, const W: usize, const K: usize>(
        acc: &mut [[f32; W]; K],
        x: &[L; W],
        y: &[L; W],
        step: &impl Fn([f32; K], f32, f32) -> [f32; K],
    ) {
        for i in 0..W {
            let next = step(std::array::from_fn(|k| acc[k][i]), x[i].f(), y[i].f());
            for k in 0..K {
                acc[k][i] = next[k];
            }
        }
    }
    assert_eq!(a.len(), b.len());
    let mut acc = [[0f32; W]; K];
    let ((ac, at), (bc, bt)) = (a.as_chunks::<W>(), b.as_chunks::<W>());
    for (x, y) in ac.iter().zip(bc) {
        run(&mut acc, x, y, &step);
    }
    if !at.is_empty() {
        let (mut x, mut y) = ([L::default(); W], [L::default(); W]);
        x[..at.len()].copy_from_slice(at);
        y[..bt.len()].copy_from_slice(bt);
        run(&mut acc, &x, &y, &step);
    }
    acc.map(reduce)
}

#[inline(always)]
fn dot_body<L: Lane, const FMA: bool, const W: usize>(a: &[L], b: &[L]) -> f32 {
    fold::<L, W, 1>(a, b, |[s], x, y| [madd::<FMA>(x, y, s)])[0]
}

#[inline(always)]
fn l2sq_body<L: Lane, const FMA: bool, const W: usize>(a: &[L], b: &[L]) -> f32 {
    fold::<L, W, 1>(a, b, |[s], x, y| [madd::<FMA>(x - y, x - y, s)])[0]
}

#[inline(always)]
fn l1_body<L: Lane, const FMA: bool, const W: usize>(a: &[L], b: &[L]) -> f32 {
    fold::<L, W, 1>(a, b, |[s], x, y| [s + (x - y).abs()])[0]
}

/// (a·b, a·a, b·b) in one pass, for cosine distance.
#[inline(always)]
fn cos_body<L: Lane, const FMA: bool, const W: usize>(a: &[L], b: &[L]) -> (f32, f32, f32) {
    let [d, na, nb] = fold::<L, W, 3>(a, b, |[d, na, nb], x, y| {
        [
            madd::<FMA>(x, y, d),
            madd::<FMA>(x, x, na),
            madd::<FMA>(y, y, nb),
        ]
    });
    (d, na, nb)
}

/// Instantiates a kernel body for each level and a public function that dispatches.
macro_rules! kernel {
    ($(#[$doc:meta])* $name:ident, $body:ident, $x86:ident, $t:ty, $ret:ty) => {
        $(#[$doc])*
        #[inline]
        pub fn $name(a: &[$t], b: &[$t]) -> $ret {
            $name::at_level(detected(), a, b)
        }

        pub mod $name {
            use super::*;

            fn baseline(a: &[$t], b: &[$t]) -> $ret {
                $body::<$t, false, 32>(a, b)
            }

            /// The kernel at a given level. A level above what [`detected`] returns falls back
            /// to the baseline (so benchmarks and tests can ask for any level).
            #[inline]
            pub fn at_level(level: Level, a: &[$t], b: &[$t]) -> $ret {
                #[cfg(target_arch = "x86_64")]
                match (level, detected()) {
                    // SAFETY: detected() found these features on this CPU.
                    (Level::Avx512, Level::Avx512) => return unsafe { crate::x86::avx512::$x86(a, b) },
                    (Level::Avx2, Level::Avx512 | Level::Avx2) => {
                        return unsafe { crate::x86::avx2::$x86(a, b) };
                    }
                    _ => {}
                }
                let _ = level;
                baseline(a, b)
            }
        }
    };
}

/// Kernels over `vector` elements.
pub mod f32x {
    use super::*;
    kernel!(
        /// Inner product.
        dot, dot_body, dot_f32, f32, f32
    );
    kernel!(
        /// Squared Euclidean distance.
        l2sq, l2sq_body, l2sq_f32, f32, f32
    );
    kernel!(
        /// Manhattan distance.
        l1, l1_body, l1_f32, f32, f32
    );
    kernel!(
        /// (a·b, |a|², |b|²).
        cos_parts, cos_body, cos_f32, f32, (f32, f32, f32)
    );
}

/// Kernels over `halfvec` elements (accumulated in f32).
pub mod f16x {
    use super::*;
    kernel!(
        /// Inner product.
        dot, dot_body, dot_f16, f16, f32
    );
    kernel!(
        /// Squared Euclidean distance.
        l2sq, l2sq_body, l2sq_f16, f16, f32
    );
    kernel!(
        /// Manhattan distance.
        l1, l1_body, l1_f16, f16, f32
    );
    kernel!(
        /// (a·b, |a|², |b|²).
        cos_parts, cos_body, cos_f16, f16, (f32, f32, f32)
    );
}

/// RaBitQ fast scan over a block of 32 codes: `codes` holds, for each nibble position, 16
/// bytes whose low nibbles are those of codes 0..16 and whose high nibbles are those of codes
/// 16..32; `lut` holds one 16-entry table of bytes per position. Returns, for each code, the
/// sum over positions of the table entry its nibble selects (exact integers on every level).
/// The number of positions must be even.
pub mod fastscan {
    use super::*;

    #[inline]
    pub fn scan(codes: &[u8], lut: &[u8]) -> [u32; 32] {
        at_level(detected(), codes, lut)
    }

    #[inline]
    pub fn at_level(level: Level, codes: &[u8], lut: &[u8]) -> [u32; 32] {
        assert_eq!(codes.len(), lut.len(), "one table per nibble position");
        assert_eq!(codes.len() % 32, 0, "an even number of nibble positions");
        #[cfg(target_arch = "x86_64")]
        if level != Level::Baseline && detected() != Level::Baseline {
            // SAFETY: detected() found AVX2 (every level above the baseline has it).
            return unsafe { crate::x86::fastscan_avx2(codes, lut) };
        }
        let _ = level;
        scalar::fastscan(codes, lut)
    }
}

/// A query's float lookup table turned into the fast scan's byte table: each group of 16
/// entries becomes steps of `delta` above the group's minimum (`u8`, nearest step or the next
/// one, as the reciprocal rounds).
pub mod lut {
    use super::*;

    /// What [`quantize`] measured.
    #[derive(Clone, Copy, Debug, Default, PartialEq)]
    pub struct Quantized {
        /// `sum` of the groups' minimums (what every code's sum starts from).
        pub base: f64,
        /// The step: the largest group's range over 255.
        pub delta: f32,
        /// `sum` over groups of the largest `|min + delta * byte - entry|`, computed in f32.
        pub err: f64,
        /// `sum` over groups of `|min|` (for the caller's bound on f32 rounding).
        pub abs_mins: f64,
        /// The largest group's range.
        pub range: f32,
    }

    /// Quantizes `t` (groups of 16) into `out` (one byte per entry).
    pub fn quantize(t: &[f32], out: &mut [u8]) -> Quantized {
        at_level(detected(), t, out)
    }

    /// [`quantize`] with the kernel of `level` (or the baseline where the CPU lacks it).
    pub fn at_level(level: Level, t: &[f32], out: &mut [u8]) -> Quantized {
        assert_eq!(t.len(), out.len());
        assert_eq!(t.len() % 16, 0, "whole groups of 16 entries");
        #[cfg(target_arch = "x86_64")]
        match (level, detected()) {
            // SAFETY: detected() found AVX-512F/VL (with AVX2 and FMA).
            (Level::Avx512, Level::Avx512) => return unsafe { quantize_avx512(t, out) },
            // SAFETY: detected() found AVX2 and FMA (every level above the baseline has them).
            (Level::Avx2, Level::Avx512 | Level::Avx2) => {
                return unsafe { quantize_avx2(t, out) };
            }
            _ => {}
        }
        let _ = level;
        quantize_body(t, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    fn quantize_avx512(t: &[f32], out: &mut [u8]) -> Quantized {
        quantize_body(t, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn quantize_avx2(t: &[f32], out: &mut [u8]) -> Quantized {
        quantize_body(t, out)
    }

    #[inline(always)]
    fn fold16(a: &[f32; 16], f: impl Fn(f32, f32) -> f32) -> f32 {
        let a8: [f32; 8] = std::array::from_fn(|i| f(a[i], a[i + 8]));
        let a4: [f32; 4] = std::array::from_fn(|i| f(a8[i], a8[i + 4]));
        let a2: [f32; 2] = std::array::from_fn(|i| f(a4[i], a4[i + 2]));
        f(a2[0], a2[1])
    }

    #[inline(always)]
    fn lesser(a: f32, b: f32) -> f32 {
        if b < a { b } else { a }
    }

    #[inline(always)]
    fn greater(a: f32, b: f32) -> f32 {
        if b > a { b } else { a }
    }

    /// Written over fixed arrays of 16, with comparisons as selects (no NaN cases: the table
    /// is finite), so that the compiler vectorizes it at each level it is compiled for.
    #[inline(always)]
    fn quantize_body(t: &[f32], out: &mut [u8]) -> Quantized {
        let (groups, _) = t.as_chunks::<16>();
        let mut range = 0f32;
        for g in groups {
            range = greater(range, fold16(g, greater) - fold16(g, lesser));
        }
        let delta = if range > 0.0 { range / 255.0 } else { 0.0 };
        let inv = if delta > 0.0 { 1.0 / delta } else { 0.0 };
        let mut q = Quantized {
            delta,
            range,
            ..Quantized::default()
        };
        let (outs, _) = out.as_chunks_mut::<16>();
        for (g, o) in groups.iter().zip(outs) {
            let lo = fold16(g, lesser);
            let mut err = [0f32; 16];
            for i in 0..16 {
                // In 0..=256 (256 only by rounding at the top, which becomes 255).
                let u = (((g[i] - lo) * inv + 0.5) as i32).min(255);
                o[i] = u as u8;
                err[i] = (lo + delta * u as f32 - g[i]).abs();
            }
            q.base += lo as f64;
            q.err += fold16(&err, greater) as f64;
            q.abs_mins += lo.abs() as f64;
        }
        q
    }
}

/// `sum` of `q[i]` over the set bits `i` of `bits` (bit `j` of byte `k` is `i = 8k + j`), the
/// core of a RaBitQ code's dot product with a query: one masked add per 16 dimensions on
/// AVX-512, where a 16-entry table per 4 dimensions takes four lookups. `q` must hold
/// `8 * bits.len()` elements (pad with zeros).
pub mod bitsum {
    use super::*;

    #[inline]
    pub fn masked_sum(bits: &[u8], q: &[f32]) -> f32 {
        at_level(detected(), bits, q)
    }

    /// Whether [`masked_sum`] has a vector kernel here (else a table may be the faster way).
    pub fn vectorized() -> bool {
        detected() != Level::Baseline
    }

    #[inline]
    pub fn at_level(level: Level, bits: &[u8], q: &[f32]) -> f32 {
        assert!(q.len() >= 8 * bits.len(), "q holds 8 elements a byte");
        #[cfg(target_arch = "x86_64")]
        match (level, detected()) {
            // SAFETY: detected() found AVX-512F/VL; q covers every bit (asserted).
            (Level::Avx512, Level::Avx512) => {
                return unsafe { crate::x86::masked_sum_avx512(bits, q) };
            }
            // SAFETY: detected() found AVX2; q covers every bit (asserted).
            (Level::Avx2, Level::Avx512 | Level::Avx2) => {
                return unsafe { crate::x86::masked_sum_avx2(bits, q) };
            }
            _ => {}
        }
        let _ = level;
        scalar::masked_sum(bits, q) as f32
    }
}

/// Dot products of four rows against four others, `out[r][c] = a[r] · b[c]` over the first
/// `dims` elements (every row must have that many). [`tiled`] says whether this CPU has the
/// register-tiled kernel, which is worth using over pairwise [`f32x::dot`] calls only then.
pub fn dot4x4(a: [&[f32]; 4], b: [&[f32]; 4], dims: usize) -> [[f32; 4]; 4] {
    assert!(
        a.iter().chain(&b).all(|r| r.len() >= dims),
        "rows shorter than dims"
    );
    #[cfg(target_arch = "x86_64")]
    if tiled() {
        // SAFETY: tiled() found AVX-512F; the rows hold `dims` elements (asserted).
        return unsafe { crate::x86::dot4x4_avx512(a, b, dims) };
    }
    std::array::from_fn(|r| std::array::from_fn(|c| f32x::dot(&a[r][..dims], &b[c][..dims])))
}

/// `x` against four rows over the first `dims` elements: dot products, or squared Euclidean
/// distances when `l2` (routing a vector to the nearest of many centroids).
pub fn one_by_four(x: &[f32], b: [&[f32]; 4], dims: usize, l2: bool) -> [f32; 4] {
    assert!(
        x.len() >= dims && b.iter().all(|r| r.len() >= dims),
        "rows shorter than dims"
    );
    #[cfg(target_arch = "x86_64")]
    if tiled() {
        // SAFETY: tiled() found AVX-512F; the rows hold `dims` elements (asserted).
        return unsafe { crate::x86::one_by_four_avx512(x, b, dims, l2) };
    }
    b.map(|r| {
        if l2 {
            f32x::l2sq(&x[..dims], &r[..dims])
        } else {
            f32x::dot(&x[..dims], &r[..dims])
        }
    })
}

/// Whether [`dot4x4`] runs the register-tiled kernel here (AVX-512).
pub fn tiled() -> bool {
    detected() == Level::Avx512
}

/// Asks the CPU to bring `bytes` into its caches ahead of use, one hint per 64-byte line: a
/// scan that will read a page soon issues this while it still works on the one before, so the
/// page's memory latency overlaps that work. A hint only; it reads nothing and cannot fault.
#[inline]
pub fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch of an address inside a live slice; SSE is part of x86-64.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr() as *const i8
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// Cosine distance from (a·b, |a|², |b|²), as pgvector defines it: NaN when either vector is
/// zero, the similarity clamped to [-1, 1].
pub fn cosine_from_parts((dot, na, nb): (f32, f32, f32)) -> f64 {
    let sim = dot as f64 / ((na as f64) * (nb as f64)).sqrt();
    if sim.is_nan() {
        f64::NAN
    } else {
        1.0 - sim.clamp(-1.0, 1.0)
    }
}

#[cfg(test)]
mod tests;
