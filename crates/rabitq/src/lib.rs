//! RaBitQ (Gao & Long, SIGMOD 2024) as vchord uses it.
//!
//! * [`Rotation`]: one fixed-seed random orthogonal transform for any dimension: rounds of
//!   random sign flips and a normalised fast Walsh-Hadamard transform over the largest
//!   power-of-two window, the window alternating between the front and the back.
//! * [`encode`]: the 1-bit code of a (rotated) residual `r = x - c`, its sign bits plus four
//!   scalars ([`Factors`]).
//! * [`QueryLut`]: the rotated query as nibble lookup tables, so that `sum_i s_i q_i`
//!   (`s_i = +-1` from the code's bits) costs one table lookup per four dimensions, exactly.
//! * [`estimate`]: the distance estimate and the error bound that makes lower bounds
//!   (`estimate - epsilon * error`) sound with high probability.
//!
//! With `o = r/|r|` and `x̄ = s/sqrt(D)`, RaBitQ estimates `<o, u>` for a unit `u` by
//! `<x̄, u> / <x̄, o>`, with `|error| <= sqrt(1 - <x̄,o>²) / <x̄,o> * eps0 / sqrt(D - 1)`.
//! Scaled back: `<r, q> ~ |r|² * (sum_i s_i q_i) / (sum_i |r_i|)`.
pub mod rng;

pub use rng::Rng;

/// Rounds of sign flip + Walsh-Hadamard: four make the rotated coordinates close enough to
/// independent for the bound to hold at its nominal rate (tested on real data).
const ROUNDS: usize = 4;

/// A fixed random orthogonal transform of `dims`-dimensional vectors.
#[derive(Clone, Debug)]
pub struct Rotation {
    dims: usize,
    window: usize,
    signs: Vec<Vec<f32>>,
}

impl Rotation {
    /// `Rotation::new(dims, seed)`, made once per thread and then shared: every index scan
    /// needs its index's rotation, and making one (random signs for each round) cost as much
    /// as rotating the query.
    pub fn shared(dims: usize, seed: u64) -> std::sync::Arc<Rotation> {
        use std::cell::RefCell;
        use std::sync::Arc;
        type Made = Vec<((usize, u64), Arc<Rotation>)>;
        thread_local! {
            static MADE: RefCell<Made> = const { RefCell::new(Vec::new()) };
        }
        MADE.with_borrow_mut(|made| {
            if let Some((_, r)) = made.iter().find(|(k, _)| *k == (dims, seed)) {
                return r.clone();
            }
            let r = Arc::new(Rotation::new(dims, seed));
            made.push(((dims, seed), r.clone()));
            r
        })
    }

    pub fn new(dims: usize, seed: u64) -> Rotation {
        assert!(dims > 0, "a rotation needs at least one dimension");
        let window = 1usize << (usize::BITS - 1 - dims.leading_zeros());
        let mut rng = Rng::new(seed ^ (dims as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let signs = (0..ROUNDS)
            .map(|_| {
                (0..dims)
                    .map(|_| if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 })
                    .collect()
            })
            .collect();
        Rotation {
            dims,
            window,
            signs,
        }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Rotates `v` in place. Norms and inner products are preserved (up to rounding).
    pub fn apply(&self, v: &mut [f32]) {
        assert_eq!(
            v.len(),
            self.dims,
            "rotation of a vector of another dimension"
        );
        let scale = 1.0 / (self.window as f32).sqrt();
        for (round, signs) in self.signs.iter().enumerate() {
            for (x, s) in v.iter_mut().zip(signs) {
                *x *= s;
            }
            let w = if round % 2 == 0 {
                &mut v[..self.window]
            } else {
                let start = self.dims - self.window;
                &mut v[start..]
            };
            fwht(w);
            for x in w.iter_mut() {
                *x *= scale;
            }
        }
    }

    /// A rotated copy of `v`.
    pub fn rotated(&self, v: &[f32]) -> Vec<f32> {
        let mut out = v.to_vec();
        self.apply(&mut out);
        out
    }
}

/// In-place unnormalised fast Walsh-Hadamard transform; `v.len()` is a power of two.
fn fwht(v: &mut [f32]) {
    let n = v.len();
    let mut h = 1;
    while h < n {
        for chunk in v.chunks_exact_mut(2 * h) {
            let (a, b) = chunk.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (s, d) = (*x + *y, *x - *y);
                *x = s;
                *y = d;
            }
        }
        h *= 2;
    }
}

/// Bytes of a code's sign bits for `dims` dimensions.
pub fn code_bytes(dims: usize) -> usize {
    dims.div_ceil(8)
}

/// The scalars stored next to a code's bits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Factors {
    /// `|r|²`.
    pub norm_sq: f32,
    /// `sum_i |r_i|` (zero for a zero residual, whose estimate is exact).
    pub sum_abs: f32,
    /// `sum_i s_i c_i` with `c` the rotated centroid: turns the query's sign sum into the
    /// residual query's.
    pub sign_dot_c: f32,
    /// `|r| * sqrt(1 - a²) / a / sqrt(D - 1)`, `a = <x̄, o>`: times `|q|` and epsilon it
    /// bounds the error of the `<r, q>` estimate.
    pub err: f32,
}

impl Factors {
    pub const BYTES: usize = 16;

    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (i, f) in [self.norm_sq, self.sum_abs, self.sign_dot_c, self.err]
            .into_iter()
            .enumerate()
        {
            out[4 * i..4 * i + 4].copy_from_slice(&f.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(b: &[u8]) -> Factors {
        let f = |i: usize| f32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap());
        Factors {
            norm_sq: f(0),
            sum_abs: f(1),
            sign_dot_c: f(2),
            err: f(3),
        }
    }
}

/// Encodes the rotated residual `r` of a vector against the rotated centroid `c`. Writes the
/// sign bits (bit `j` of byte `i` is dimension `8i + j`, set when `r >= 0`) into `bits`.
pub fn encode(r: &[f32], c: &[f32], bits: &mut [u8]) -> Factors {
    let dims = r.len();
    assert_eq!(c.len(), dims);
    assert_eq!(bits.len(), code_bytes(dims));
    bits.fill(0);
    let (mut norm_sq, mut sum_abs, mut sign_dot_c) = (0f64, 0f64, 0f64);
    for (i, (&x, &ci)) in r.iter().zip(c).enumerate() {
        norm_sq += (x as f64) * (x as f64);
        sum_abs += (x as f64).abs();
        if x >= 0.0 {
            bits[i / 8] |= 1 << (i % 8);
            sign_dot_c += ci as f64;
        } else {
            sign_dot_c -= ci as f64;
        }
    }
    let err = if sum_abs > 0.0 && dims > 1 {
        let norm = norm_sq.sqrt();
        let a = (sum_abs / ((dims as f64).sqrt() * norm)).min(1.0);
        norm * (1.0 - a * a).max(0.0).sqrt() / a / ((dims - 1) as f64).sqrt()
    } else {
        0.0
    };
    Factors {
        norm_sq: norm_sq as f32,
        sum_abs: sum_abs as f32,
        sign_dot_c: sign_dot_c as f32,
        err: err as f32,
    }
}

/// Encodes `r` against `c` with `b` bits per dimension (1 or 2) into `bits`
/// (`b * code_bytes(dims)` bytes). One bit is [`encode`]. Two bits give each coordinate one of
/// `±1, ±3` (times a common scale), the largest coordinates getting `±3`, with the split
/// chosen to maximise the cosine between code and residual; they are stored as two sign
/// planes, high then low, with `code = 2·high + low`. The factors keep their meaning with
/// `sum_abs` read as `<code, r>` and `sign_dot_c` as `<code, c>`.
pub fn encode_bits(b: u32, r: &[f32], c: &[f32], bits: &mut [u8]) -> Factors {
    let dims = r.len();
    let nb = code_bytes(dims);
    assert_eq!(bits.len(), b as usize * nb);
    if b == 1 {
        return encode(r, c, bits);
    }
    assert_eq!(b, 2, "codes have 1 or 2 bits per dimension");
    assert_eq!(c.len(), dims);
    let mut order: Vec<usize> = (0..dims).collect();
    order.sort_by(|&i, &j| r[j].abs().total_cmp(&r[i].abs()));
    let total: f64 = r.iter().map(|x| x.abs() as f64).sum();
    // cos(k) ∝ (S + 2 S_k) / sqrt(D + 8k), S_k the sum of the k largest |r_i|.
    let (mut best_k, mut best, mut sk) = (0usize, total / (dims as f64).sqrt(), 0f64);
    for (k, &i) in order.iter().enumerate() {
        sk += r[i].abs() as f64;
        let v = (total + 2.0 * sk) / ((dims + 8 * (k + 1)) as f64).sqrt();
        if v > best {
            best = v;
            best_k = k + 1;
        }
    }
    let mut three = vec![false; dims];
    for &i in &order[..best_k] {
        three[i] = true;
    }
    bits.fill(0);
    let (hi, lo) = bits.split_at_mut(nb);
    let (mut norm_sq, mut code_r, mut code_c) = (0f64, 0f64, 0f64);
    for i in 0..dims {
        let (x, pos) = (r[i] as f64, r[i] >= 0.0);
        norm_sq += x * x;
        let mag = if three[i] { 3.0 } else { 1.0 };
        let v = if pos { mag } else { -mag };
        code_r += v * x;
        code_c += v * c[i] as f64;
        if pos {
            hi[i / 8] |= 1 << (i % 8);
        }
        if three[i] == pos {
            lo[i / 8] |= 1 << (i % 8);
        }
    }
    let code_norm = ((dims + 8 * best_k) as f64).sqrt();
    let err = if code_r > 0.0 && dims > 1 {
        let norm = norm_sq.sqrt();
        let a = (code_r / (code_norm * norm)).min(1.0);
        norm * (1.0 - a * a).max(0.0).sqrt() / a / ((dims - 1) as f64).sqrt()
    } else {
        0.0
    };
    Factors {
        norm_sq: norm_sq as f32,
        sum_abs: code_r as f32,
        sign_dot_c: code_c as f32,
        err: err as f32,
    }
}

/// The code's coordinates (`±1`, or `±1, ±3` for two bits) for the first `dims` dimensions.
pub fn code_values(b: u32, dims: usize, bits: &[u8]) -> Vec<f32> {
    let nb = code_bytes(dims);
    let bit = |plane: &[u8], i: usize| plane[i / 8] >> (i % 8) & 1 == 1;
    (0..dims)
        .map(|i| {
            let h = if bit(&bits[..nb], i) { 1.0 } else { -1.0 };
            if b == 1 {
                h
            } else {
                2.0 * h + if bit(&bits[nb..], i) { 1.0 } else { -1.0 }
            }
        })
        .collect()
}

/// The residual a code stands for: the code scaled to its projection of `r`
/// (`code · <code, r> / |code|²`), an approximation with cosine `a` to the true residual.
pub fn decode(b: u32, dims: usize, bits: &[u8], f: &Factors) -> Vec<f32> {
    let mut v = code_values(b, dims, bits);
    let n2: f32 = v.iter().map(|x| x * x).sum();
    let scale = if n2 > 0.0 { f.sum_abs / n2 } else { 0.0 };
    v.iter_mut().for_each(|x| *x *= scale);
    v
}

/// The rotated query as one 16-entry table per four dimensions: entry `v` of table `k` is
/// `sum_{j<4} (bit j of v ? q : -q)[4k + j]`, so `sum_i s_i q_i` is one lookup per nibble.
#[derive(Clone, Debug)]
pub struct QueryLut {
    table: Vec<f32>,
    /// The query padded with zeros to the code's bits, and the sum of its elements: with a
    /// vector kernel, `sum_i s_i q_i = 2 sum_{bit i set} q_i - sum_i q_i`.
    padded: Vec<f32>,
    total: f32,
}

impl QueryLut {
    pub fn new(q: &[f32]) -> QueryLut {
        let mut padded = q.to_vec();
        padded.resize(8 * code_bytes(q.len()), 0.0);
        let total = padded.iter().map(|&x| x as f64).sum::<f64>() as f32;
        let nibbles = code_bytes(q.len()) * 2;
        let mut table = vec![0f32; nibbles * 16];
        for k in 0..nibbles {
            let qs: [f32; 4] = std::array::from_fn(|j| q.get(4 * k + j).copied().unwrap_or(0.0));
            let t = &mut table[16 * k..16 * k + 16];
            t[0] = -(qs[0] + qs[1] + qs[2] + qs[3]);
            for v in 1..16usize {
                let low = v.trailing_zeros() as usize;
                t[v] = t[v & (v - 1)] + 2.0 * qs[low];
            }
        }
        QueryLut {
            table,
            padded,
            total,
        }
    }

    /// `<code, q>` for a code of `b` bits per dimension (see [`encode_bits`]).
    #[inline]
    pub fn code_dot(&self, b: u32, bits: &[u8]) -> f32 {
        if b == 1 {
            self.sign_dot(bits)
        } else {
            let (hi, lo) = bits.split_at(bits.len() / 2);
            2.0 * self.sign_dot(hi) + self.sign_dot(lo)
        }
    }

    /// `sum_i s_i q_i` for the code `bits`.
    #[inline]
    pub fn sign_dot(&self, bits: &[u8]) -> f32 {
        if vchord_simd::bitsum::vectorized() {
            2.0 * vchord_simd::bitsum::masked_sum(bits, &self.padded) - self.total
        } else {
            self.table_dot(bits)
        }
    }

    /// [`QueryLut::sign_dot`] by table lookups (the portable way).
    #[inline]
    pub fn table_dot(&self, bits: &[u8]) -> f32 {
        // Four independent sums keep the adds from serialising.
        let mut acc = [0f32; 4];
        let mut chunks = bits.chunks_exact(2);
        let mut t = self.table.chunks_exact(64);
        for (pair, tab) in (&mut chunks).zip(&mut t) {
            acc[0] += tab[(pair[0] & 15) as usize];
            acc[1] += tab[16 + (pair[0] >> 4) as usize];
            acc[2] += tab[32 + (pair[1] & 15) as usize];
            acc[3] += tab[48 + (pair[1] >> 4) as usize];
        }
        if let [b] = chunks.remainder() {
            let base = (bits.len() - 1) * 32;
            acc[0] += self.table[base + (b & 15) as usize];
            acc[1] += self.table[base + 16 + (b >> 4) as usize];
        }
        (acc[0] + acc[1]) + (acc[2] + acc[3])
    }
}

/// Codes in one fast-scan block.
pub const BLOCK: usize = 32;

/// Bytes of the transposed codes of one block: 16 per nibble position.
pub fn block_code_bytes(dims: usize) -> usize {
    BLOCK * code_bytes(dims)
}

/// Writes the sign bits of up to 32 codes (`codes[i]` is code `i`, each
/// [`code_bytes`] long; missing codes are zero) in the fast-scan layout: for each nibble
/// position `k` (dimensions `4k..4k+4`), 16 bytes whose low nibbles are those of codes 0..16
/// and whose high nibbles are those of codes 16..32.
pub fn pack_block(codes: &[&[u8]], out: &mut [u8]) {
    assert!(codes.len() <= BLOCK);
    let nb = out.len() / BLOCK;
    assert_eq!(out.len(), BLOCK * nb);
    out.fill(0);
    for (i, c) in codes.iter().enumerate() {
        assert_eq!(c.len(), nb);
        for k in 0..2 * nb {
            let nib = (c[k / 2] >> (4 * (k % 2))) & 15;
            out[16 * k + i % 16] |= nib << (4 * (i / 16));
        }
    }
}

/// Code `i`'s sign bits, back from a block written by [`pack_block`].
pub fn unpack_code(block: &[u8], i: usize, out: &mut [u8]) {
    let nb = out.len();
    assert_eq!(block.len(), BLOCK * nb);
    out.fill(0);
    for k in 0..2 * nb {
        let nib = (block[16 * k + i % 16] >> (4 * (i / 16))) & 15;
        out[k / 2] |= nib << (4 * (k % 2));
    }
}

/// The query's nibble tables ([`QueryLut`]) quantized to bytes for the fast scan: entry
/// `v` of table `k` is `round((t_k[v] - min_k) / delta)`, so
/// `sum_k t_k[v_k] = base + delta * sum_k u_k[v_k] ± slack`, where `slack` is the sum over
/// positions of the largest rounding error in that position's table: a hard bound, which the
/// scan adds to each code's error so lower bounds stay sound.
#[derive(Clone, Debug)]
pub struct FastLut {
    pub table: Vec<u8>,
    pub base: f32,
    pub delta: f32,
    pub slack: f32,
}

impl FastLut {
    pub fn new(lut: &QueryLut) -> FastLut {
        let t = &lut.table;
        let positions = t.len() / 16;
        let mut table = vec![0u8; t.len()];
        let q = vchord_simd::lut::quantize(t, &mut table);
        // The errors were measured in f32: add the most the roundings of `min + delta * byte`
        // and of the difference can hide (a few units in the last place of the largest
        // magnitude involved, |min| + range, per group); then the f32 rounding of a code's
        // sum itself.
        let ulps = (q.abs_mins + positions as f64 * q.range as f64) / (1u64 << 21) as f64;
        let slack = q.err + ulps;
        FastLut {
            table,
            base: q.base as f32,
            delta: q.delta,
            slack: (slack * (1.0 + 1e-4) + 1e-6 * positions as f64 * q.delta as f64) as f32,
        }
    }

    /// `sum_i s_i q_i` (approximately, within `slack`) for each code of a block.
    #[inline]
    pub fn scan(&self, codes: &[u8]) -> [f32; BLOCK] {
        let sums = vchord_simd::fastscan::scan(codes, &self.table);
        sums.map(|s| self.base + self.delta * s as f32)
    }
}

/// How distances are measured in the rotated space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Squared Euclidean distance.
    L2,
    /// Negative inner product (cosine uses it over normalised vectors).
    Dot,
}

/// What the query contributes to the estimates of one list, computed once per list.
#[derive(Clone, Copy, Debug)]
pub struct ListQuery {
    /// L2: `|q - c|²`; Dot: `-<q, c>`.
    pub base: f32,
    /// L2: `|q - c|`; Dot: `|q|`.
    pub norm: f32,
}

/// Estimated distance of the coded vector to the query and the estimate's error scale
/// (multiply by epsilon for a bound). `s_q` is [`QueryLut::sign_dot`] of the code.
#[inline]
pub fn estimate(kind: Kind, f: &Factors, s_q: f32, lq: ListQuery) -> (f32, f32) {
    if f.sum_abs <= 0.0 {
        // A zero residual: the vector is the centroid, the estimate is exact.
        return (lq.base, 0.0);
    }
    let rq = residual_dot(kind, f, s_q);
    match kind {
        Kind::L2 => (f.norm_sq + lq.base - 2.0 * rq, 2.0 * f.err * lq.norm),
        Kind::Dot => (lq.base - rq, f.err * lq.norm),
    }
}

/// The estimated `<r, q side>` (`q - c` for L2, `q` for Dot) of a code whose residual is not
/// zero; its error is within `epsilon * f.err * |q side|` where the bound holds.
#[inline]
fn residual_dot(kind: Kind, f: &Factors, s_q: f32) -> f32 {
    match kind {
        Kind::L2 => f.norm_sq * (s_q - f.sign_dot_c) / f.sum_abs,
        Kind::Dot => f.norm_sq * s_q / f.sum_abs,
    }
}

/// [`estimate`] and its bound at `epsilon`, narrowed by the angle between the residual and the
/// query side (`q - c` for L2, `q` for Dot). The estimate's error is `<x̄, q⊥> / <x̄, ô>`, where
/// `q⊥` is the part of the query side orthogonal to the residual: the usual bound takes
/// `|q⊥| <= |q|`. Where the bound holds, the true cosine lies within it of the estimated one,
/// so `|q⊥| <= |q| sqrt(1 - m²)` with `m` the least `|cos|` in that interval; the bound holds
/// with that factor under the same event, so it is exactly as sure and often much tighter
/// (a near neighbour's residual points where the query's does).
#[inline]
pub fn estimate_bound(
    kind: Kind,
    f: &Factors,
    s_q: f32,
    lq: ListQuery,
    epsilon: f32,
) -> (f32, f32) {
    let (est, err) = estimate(kind, f, s_q, lq);
    let bound = epsilon * err;
    let scale = f.norm_sq.max(0.0).sqrt() * lq.norm;
    if f.sum_abs <= 0.0 || scale.is_nan() || scale <= 0.0 {
        return (est, bound);
    }
    // the least |<r, q side>| within the bound, over |r| |q side|
    let b = epsilon * f.err * lq.norm;
    let m = ((residual_dot(kind, f, s_q).abs() - b) / scale).clamp(0.0, 1.0);
    (est, bound * (1.0 - m * m).sqrt())
}

/// Lower bounds of a fast-scanned block, `key[i] = estimate - epsilon * error - rounding +
/// offset` for each lane: [`estimate`] for the 32 lanes at once, from the block's factor arrays
/// (`[norm_sq, sum_abs, sign_dot_c, err]`) and [`FastLut::scan`]'s sums, with the byte tables'
/// rounding (`slack`, a bound on |fast - exact| of the sum) turned into distance. Also each
/// lane's error at epsilon 1 (0 for a zero residual), for [`group_epsilon`]. Written without
/// branches so that it compiles to vector code.
#[inline]
pub fn block_keys(
    kind: Kind,
    lq: ListQuery,
    sums: &[f32; BLOCK],
    factors: &[[f32; BLOCK]; 4],
    epsilon: f32,
    slack: f32,
    offset: f32,
) -> ([f32; BLOCK], [f32; BLOCK]) {
    let [norm_sq, sum_abs, sign_dot_c, err] = factors;
    let mut keys = [0f32; BLOCK];
    let mut units = [0f32; BLOCK];
    // d estimate / d sum, per unit of norm_sq / sum_abs; the error per unit of err
    let (slope, unit) = match kind {
        Kind::L2 => (2.0, 2.0 * lq.norm),
        Kind::Dot => (1.0, lq.norm),
    };
    let e_scale = unit * epsilon;
    let l2 = kind == Kind::L2;
    for i in 0..BLOCK {
        let coded = sum_abs[i] > 0.0;
        let scale = norm_sq[i] / sum_abs[i];
        let centred = if l2 { sums[i] - sign_dot_c[i] } else { sums[i] };
        let own = if l2 { norm_sq[i] } else { 0.0 };
        let est = own + lq.base - slope * scale * centred;
        let bound = est - e_scale * err[i] - slope * scale * slack;
        // A zero residual: the vector is the centroid, the estimate is exact.
        keys[i] = if coded { bound } else { lq.base } + offset;
        units[i] = if coded { unit * err[i] } else { 0.0 };
    }
    (keys, units)
}

/// The epsilon that makes the bound of a group of `g` codes that are one and the same (the
/// copies of a vector: their bounds fail together) fail no more often than one code's at
/// `epsilon`: the estimate's error is about normal, its tail beyond `e` about `exp(-e²/2)`,
/// so `sqrt(epsilon² + 2 ln g)` divides that chance by `g`, and a failed bound costs no more
/// rows, on average, than one code's.
pub fn group_epsilon(epsilon: f32, g: u32) -> f32 {
    (epsilon * epsilon + 2.0 * (g.max(1) as f32).ln()).sqrt()
}

#[cfg(test)]
mod tests;
