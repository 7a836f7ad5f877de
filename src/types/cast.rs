//! Casts: typmod coercion, arrays (integer, real, double precision, numeric) to vector/halfvec,
//! vector/halfvec to real[], and vector <-> halfvec.
use super::{Element, OrRaise, read, typmod_arg, write};
use crate::both;
use crate::pg::error::*;
use crate::pg::fmgr::{self, Fc, datum_f32_arg};
use crate::pg::sys::{self, Datum};
use crate::pg_fn;
use half::f16;
use vchord_vector as v;

both! {
    typmod_cast => typmod_cast,
    from_array => from_array,
    to_float4_array => to_float4_array,
}
pg_fn!(vchord_vector_to_halfvec, |fc| convert::<f32, f16>(fc));
pg_fn!(vchord_halfvec_to_vector, |fc| convert::<f16, f32>(fc));

/// `type(type, int4, bool)`: enforces the column's dimensions.
fn typmod_cast<E: Element>(fc: Fc) -> Datum {
    let x = read::<E>(fc.datum(0));
    v::check_typmod::<E>(x.len(), typmod_arg(fc, 1)).or_raise();
    fc.datum(0)
}

fn convert<A: Element, B: Element>(fc: Fc) -> Datum {
    let x = read::<A>(fc.datum(0));
    let out: Vec<B> = x
        .iter()
        .map(|e| B::from_f32(e.to_f32()))
        .collect::<v::Result<_>>()
        .or_raise();
    v::check_typmod::<B>(out.len(), typmod_arg(fc, 1)).or_raise();
    write(&out)
}

/// `array_to_type(anyarray, int4, bool)` for integer[], real[], double precision[], numeric[].
fn from_array<E: Element>(fc: Fc) -> Datum {
    let mut elemtype = sys::InvalidOid;
    let (elems, nulls) = fmgr::array_elements(fc.datum(0), |ndim, t| {
        if ndim > 1 {
            error(ERRCODE_DATA_EXCEPTION, "array must be 1-D");
        }
        elemtype = t;
        // (The alignment constants are `char` in C: u8 or i8 as the headers say.)
        #[allow(clippy::unnecessary_cast)]
        match t {
            sys::INT4OID => (4, true, sys::TYPALIGN_INT as _),
            sys::FLOAT4OID => (4, true, sys::TYPALIGN_INT as _),
            sys::FLOAT8OID => (8, true, sys::TYPALIGN_DOUBLE as _),
            sys::NUMERICOID => (-1, false, sys::TYPALIGN_INT as _),
            other => error(
                ERRCODE_DATA_EXCEPTION,
                format!(
                    "unsupported array element type {other}: expected integer, real, double precision or numeric"
                ),
            ),
        }
    });
    let n = elems.len();
    if nulls.iter().any(|&x| x) {
        error(
            ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "array must not contain nulls",
        );
    }
    v::check_dims::<E>(n).or_raise();
    let values = elems.iter().map(|&d| match elemtype {
        sys::INT4OID => d as i32 as f64,
        sys::FLOAT4OID => datum_f32_arg(d) as f64,
        sys::FLOAT8OID => f64::from_bits(d as u64),
        _ => fmgr::numeric_to_f32(d) as f64,
    });
    let out = v::from_f64s::<E>(values).or_raise();
    v::check_typmod::<E>(out.len(), typmod_arg(fc, 1)).or_raise();
    write(&out)
}

/// `type_to_float4(type, int4, bool) -> real[]`
fn to_float4_array<E: Element>(fc: Fc) -> Datum {
    let x = read::<E>(fc.datum(0));
    let datums: Vec<Datum> = x.iter().map(|e| e.to_f32().to_bits() as Datum).collect();
    fmgr::array_datum(&datums, sys::FLOAT4OID, 4, true)
}
