//! `vector` (f32) and `halfvec` (f16), laid out as pgvector does: varlena header, int16 dim,
//! int16 unused (0), then the elements. The formats and checks live in `vchord-vector`, the
//! kernels in `vchord-simd`; this module binds them to fmgr.
//!
//! Each SQL function is written once, generic over the element type, and exported twice by
//! [`both!`] as `vchord_vector_<name>` and `vchord_halfvec_<name>`.
mod agg;
mod bit;
mod cast;
mod io;
mod ops;

use crate::pg::error::*;
use crate::pg::fmgr;
use crate::pg::sys::Datum;
use half::f16;
use vchord_simd::{f16x, f32x};
/// An element type: `f32` for `vector`, `f16` for `halfvec` (plain numbers, read in place
/// from a value's memory).
pub trait Element: vchord_vector::Element + crate::pg::varlena::Plain {}
impl<T: vchord_vector::Element + crate::pg::varlena::Plain> Element for T {}

/// Element types with their distance kernels.
pub trait Elem: Element {
    fn dot(a: &[Self], b: &[Self]) -> f32;
    fn l2sq(a: &[Self], b: &[Self]) -> f32;
    fn l1(a: &[Self], b: &[Self]) -> f32;
    fn cos_parts(a: &[Self], b: &[Self]) -> (f32, f32, f32);
}

impl Elem for f32 {
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        f32x::dot(a, b)
    }
    fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        f32x::l2sq(a, b)
    }
    fn l1(a: &[f32], b: &[f32]) -> f32 {
        f32x::l1(a, b)
    }
    fn cos_parts(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
        f32x::cos_parts(a, b)
    }
}

impl Elem for f16 {
    fn dot(a: &[f16], b: &[f16]) -> f32 {
        f16x::dot(a, b)
    }
    fn l2sq(a: &[f16], b: &[f16]) -> f32 {
        f16x::l2sq(a, b)
    }
    fn l1(a: &[f16], b: &[f16]) -> f32 {
        f16x::l1(a, b)
    }
    fn cos_parts(a: &[f16], b: &[f16]) -> (f32, f32, f32) {
        f16x::cos_parts(a, b)
    }
}

/// Raises a value error as an ERROR with its SQLSTATE.
#[track_caller]
pub fn raise(e: vchord_vector::Error) -> ! {
    use vchord_vector::Error as E;
    let (code, detail) = match &e {
        E::Syntax { detail, .. } => (ERRCODE_INVALID_TEXT_REPRESENTATION, Some(*detail)),
        E::OutOfRange(_) => (ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, None),
        E::Data(_) => (ERRCODE_DATA_EXCEPTION, None),
        E::Limit(_) => (ERRCODE_PROGRAM_LIMIT_EXCEEDED, None),
        E::Binary(_) => (ERRCODE_INVALID_BINARY_REPRESENTATION, None),
        E::Param(_) => (ERRCODE_INVALID_PARAMETER_VALUE, None),
    };
    let mut err = Error::new(code, e.to_string());
    if let Some(d) = detail {
        err = err.detail(d);
    }
    err.raise()
}

/// Unwraps a value result, raising its error.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}
impl<T> OrRaise<T> for vchord_vector::Result<T> {
    #[track_caller]
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| raise(e))
    }
}

const HEADER: usize = 4; // int16 dim, int16 unused, after the varlena header

/// The elements of a `vector`/`halfvec` Datum (detoasted; valid for the current call).
pub fn read<E: Element>(d: Datum) -> &'static [E] {
    let (_, bytes) = fmgr::detoast(d);
    let corrupt = || -> ! {
        error(
            ERRCODE_DATA_CORRUPTED,
            format!("invalid {} value: corrupted header", E::TYPE_NAME),
        )
    };
    if bytes.len() < HEADER {
        corrupt();
    }
    let dim = u16::from_ne_bytes([bytes[0], bytes[1]]) as usize;
    let payload = &bytes[HEADER..];
    if payload.len() != dim * E::SIZE {
        corrupt();
    }
    crate::pg::varlena::as_elements::<E>(payload).unwrap_or_else(|| {
        error(
            ERRCODE_DATA_CORRUPTED,
            format!("misaligned {} value", E::TYPE_NAME),
        )
    })
}

/// A new `vector`/`halfvec` Datum holding `v` (palloc'd in the current memory context).
pub fn write<E: Element>(v: &[E]) -> Datum {
    vchord_vector::check_dims::<E>(v.len()).or_raise();
    let (ptr, data) = fmgr::new_varlena(HEADER + v.len() * E::SIZE);
    data[0..2].copy_from_slice(&(v.len() as u16).to_ne_bytes());
    // The varlena is palloc'd (MAXALIGN), so the elements at offset 8 are aligned for E.
    crate::pg::varlena::as_elements_mut::<E>(&mut data[HEADER..])
        .expect("palloc returned misaligned memory")
        .copy_from_slice(v);
    ptr as Datum
}

/// Exports a generic SQL function for both types: `both!(dims => dims_fn)` defines
/// `vchord_vector_dims` (calling `dims_fn::<f32>`) and `vchord_halfvec_dims` (`f16`).
#[macro_export]
macro_rules! both {
    ($($suffix:ident => $f:ident),* $(,)?) => {
        ::paste::paste! { $(
            $crate::pg_fn!([<vchord_vector_ $suffix>], |fc| $f::<f32>(fc));
            $crate::pg_fn!([<vchord_halfvec_ $suffix>], |fc| $f::<::half::f16>(fc));
        )* }
    };
}

/// Typmod of the call's third argument (input functions and casts), -1 if absent.
fn typmod_arg(fc: fmgr::Fc, n: usize) -> i32 {
    if fc.nargs() > n && !fc.is_null(n) {
        fc.i32(n)
    } else {
        -1
    }
}
