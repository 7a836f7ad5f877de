//! pgvector's distances over `bit` (hamming, jaccard), for the self-contained mode; in pgvector
//! mode pgvector's own functions serve.
use super::OrRaise;
use crate::pg::error::{ERRCODE_DATA_CORRUPTED, error};
use crate::pg::fmgr::{self, datum_f64};
use crate::pg::sys::Datum;
use vchord_vector::{self as v, Bits};

/// A `bit` Datum (varbit: int32 bit length, then the bits), detoasted.
fn bits(d: Datum) -> Bits<'static> {
    let (_, data) = fmgr::detoast(d);
    if data.len() < 4 {
        error(ERRCODE_DATA_CORRUPTED, "corrupted bit value");
    }
    let len = i32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
    Bits {
        len: usize::try_from(len)
            .unwrap_or_else(|_| error(ERRCODE_DATA_CORRUPTED, "corrupted bit value")),
        bytes: &data[4..],
    }
}

crate::pg_fn!(vchord_bit_hamming_distance, |fc| {
    let d = v::hamming_distance(bits(fc.datum(0)), bits(fc.datum(1))).or_raise();
    datum_f64(d as f64)
});

crate::pg_fn!(vchord_bit_jaccard_distance, |fc| {
    datum_f64(v::jaccard_distance(bits(fc.datum(0)), bits(fc.datum(1))).or_raise())
});
