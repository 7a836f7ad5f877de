//! Fast-scan blocks: up to 32 codes of one list in one tuple, laid out for the byte-table
//! scan ([`vchord_rabitq::FastLut`]). A code page holds single entries (one code each, as an
//! insert appends them) and blocks (as a build writes them, and as vacuum packs the single
//! entries of a page); their lengths tell them apart.
//!
//! A block: lanes used (u16) and 6 bytes reserved; 32 heap TIDs; 32 vector addresses; the
//! factors as four arrays of 32 f32 (`|r|²`, `sum|r_i|`, `<s, c>`, error); the sign bits
//! transposed ([`vchord_rabitq::pack_block`]), one such plane per code bit (a 2-bit index's
//! high plane, then its low one, as [`vchord_rabitq::encode_bits`] orders them). A lane whose
//! row is gone has no TID.
use crate::page::Addr;
use vchord_rabitq::{BLOCK, Factors, block_code_bytes, code_bytes};

const FIXED: usize = 8;
const TIDS: usize = FIXED;
const VECS: usize = TIDS + 6 * BLOCK;
const FACTORS: usize = VECS + 6 * BLOCK;
const CODES: usize = FACTORS + Factors::BYTES * BLOCK;

/// A block's length for `dims` dimensions and `bits` bits per dimension.
pub fn len(dims: usize, bits: u32) -> usize {
    CODES + bits as usize * block_code_bytes(dims)
}

/// Lanes in use (dead ones included).
#[inline]
pub fn lanes(t: &[u8]) -> usize {
    (u16::from_le_bytes([t[0], t[1]]) as usize).min(BLOCK)
}

#[inline]
pub fn tid(t: &[u8], i: usize) -> Addr {
    Addr::from_bytes(&t[TIDS + 6 * i..TIDS + 6 * i + 6])
}

#[inline]
pub fn vector(t: &[u8], i: usize) -> Addr {
    Addr::from_bytes(&t[VECS + 6 * i..VECS + 6 * i + 6])
}

pub fn factors(t: &[u8], i: usize) -> Factors {
    let f = |a: usize| {
        let at = FACTORS + 4 * (BLOCK * a + i);
        f32::from_le_bytes(t[at..at + 4].try_into().unwrap())
    };
    Factors {
        norm_sq: f(0),
        sum_abs: f(1),
        sign_dot_c: f(2),
        err: f(3),
    }
}

/// The factors of every lane as four arrays (`|r|²`, `sum|r_i|`, `<s, c>`, error).
#[inline]
pub fn factor_arrays(t: &[u8]) -> [[f32; BLOCK]; 4] {
    std::array::from_fn(|a| {
        let b = &t[FACTORS + 4 * BLOCK * a..FACTORS + 4 * BLOCK * (a + 1)];
        std::array::from_fn(|i| f32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap()))
    })
}

/// The transposed sign bits, every plane.
#[inline]
pub fn codes(t: &[u8]) -> &[u8] {
    &t[CODES..]
}

/// Marks lane `i` dead: its row is gone.
pub fn kill(t: &mut [u8], i: usize) {
    t[TIDS + 6 * i..TIDS + 6 * i + 6].copy_from_slice(&Addr::NONE.to_bytes());
    t[VECS + 6 * i..VECS + 6 * i + 6].copy_from_slice(&Addr::NONE.to_bytes());
}

/// Live lanes (those with a row).
#[inline]
pub fn live(t: &[u8]) -> impl Iterator<Item = usize> + '_ {
    (0..lanes(t)).filter(move |&i| tid(t, i) != Addr::NONE)
}

/// A block of up to 32 single entries (`entries[i]` is lane `i`; see [`crate::entry`]).
pub fn make(dims: usize, bits: u32, entries: &[&[u8]]) -> Vec<u8> {
    assert!(!entries.is_empty() && entries.len() <= BLOCK);
    let (nb, pb) = (code_bytes(dims), block_code_bytes(dims));
    let mut t = vec![0u8; len(dims, bits)];
    t[0..2].copy_from_slice(&(entries.len() as u16).to_le_bytes());
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.len(), crate::ENTRY_HEADER + bits as usize * nb);
        t[TIDS + 6 * i..TIDS + 6 * i + 6].copy_from_slice(&e[crate::entry::TID]);
        t[VECS + 6 * i..VECS + 6 * i + 6].copy_from_slice(&e[crate::entry::VECTOR]);
        for a in 0..4 {
            let at = FACTORS + 4 * (BLOCK * a + i);
            let from = crate::entry::FACTORS.start + 4 * a;
            t[at..at + 4].copy_from_slice(&e[from..from + 4]);
        }
    }
    for plane in 0..bits as usize {
        let at = crate::ENTRY_HEADER + plane * nb;
        let bits: Vec<&[u8]> = entries.iter().map(|e| &e[at..at + nb]).collect();
        vchord_rabitq::pack_block(&bits, &mut t[CODES + plane * pb..CODES + (plane + 1) * pb]);
    }
    t
}

/// Lane `i` as a single entry.
pub fn entry(dims: usize, bits: u32, t: &[u8], i: usize) -> Vec<u8> {
    let (nb, pb) = (code_bytes(dims), block_code_bytes(dims));
    let mut e = vec![0u8; crate::ENTRY_HEADER + bits as usize * nb];
    crate::entry::put_header(&mut e, tid(t, i), vector(t, i), &factors(t, i));
    for plane in 0..bits as usize {
        let at = crate::ENTRY_HEADER + plane * nb;
        vchord_rabitq::unpack_code(
            &codes(t)[plane * pb..(plane + 1) * pb],
            i,
            &mut e[at..at + nb],
        );
    }
    e
}
