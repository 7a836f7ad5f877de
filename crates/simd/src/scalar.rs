//! Sequential references in f64, for tests and as the benchmark's "scalar" column.
use half::f16;

pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}
pub fn l2sq(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum()
}
pub fn l1(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum()
}
pub fn widen(v: &[f16]) -> Vec<f32> {
    v.iter().map(|x| x.to_f32()).collect()
}

/// Fast-scan reference: `codes` holds, for each nibble position, 16 bytes whose low nibbles
/// are codes 0..16 and high nibbles codes 16..32; `lut` one 16-entry table per position.
pub fn fastscan(codes: &[u8], lut: &[u8]) -> [u32; 32] {
    let mut out = [0u32; 32];
    for (c, t) in codes.chunks_exact(16).zip(lut.chunks_exact(16)) {
        for i in 0..16 {
            out[i] += t[(c[i] & 15) as usize] as u32;
            out[i + 16] += t[(c[i] >> 4) as usize] as u32;
        }
    }
    out
}

/// `sum` of `q[8k + j]` over the set bits `j` of each byte `k` of `bits`, in f64.
pub fn masked_sum(bits: &[u8], q: &[f32]) -> f64 {
    let mut s = 0f64;
    for (k, &b) in bits.iter().enumerate() {
        for j in 0..8 {
            if b >> j & 1 == 1 {
                s += q[8 * k + j] as f64;
            }
        }
    }
    s
}
