//! fmgr helpers: the entry-point macro, argument access, varlena values.
use super::guard::pg_try;
use super::sys::{self, Datum, FunctionCallInfo};
use std::ffi::CStr;

/// Defines a V1 SQL-callable function: `pg_finfo_<name>` plus the `extern "C-unwind"` entry
/// point, whose body runs inside the error boundary.
///
/// ```ignore
/// pg_fn!(vchord_vector_dims, |fc| { ...; datum });
/// ```
/// Exported names carry the `vchord_` prefix: PostgreSQL loads libraries with RTLD_GLOBAL, and
/// another extension's same-named symbol (pgvector's `vector_in`, say) must never interpose.
#[macro_export]
macro_rules! pg_fn {
    ($name:ident, |$fc:ident| $body:expr) => {
        ::paste::paste! {
            #[allow(unsafe_code)]
            #[unsafe(no_mangle)]
            pub extern "C" fn [<pg_finfo_ $name>]() -> *const $crate::pg::sys::Pg_finfo_record {
                static V1: $crate::pg::sys::Pg_finfo_record =
                    $crate::pg::sys::Pg_finfo_record { api_version: 1 };
                &V1
            }

            // The body is a function of its own, outside the `unsafe` entry point, so it is
            // checked as safe code (and under the calling module's `deny(unsafe_code)`).
            #[allow(unused_variables)]
            fn [<$name _body>]($fc: $crate::pg::fmgr::Fc) -> $crate::pg::sys::Datum {
                $body
            }

            /// # Safety
            /// Called by fmgr with this call's FunctionCallInfo.
            #[allow(unsafe_code)]
            #[unsafe(no_mangle)]
            pub unsafe extern "C-unwind" fn $name(
                fcinfo: $crate::pg::sys::FunctionCallInfo,
            ) -> $crate::pg::sys::Datum {
                // SAFETY: fmgr passes this call's FunctionCallInfo.
                unsafe {
                    $crate::pg::guard::boundary(|| {
                        [<$name _body>]($crate::pg::fmgr::Fc::new(fcinfo))
                    })
                }
            }
        }
    };
}

/// The call's `FunctionCallInfo`, with the PG_GETARG_* / PG_RETURN_* macros as methods.
#[derive(Clone, Copy)]
pub struct Fc(FunctionCallInfo);

impl Fc {
    /// # Safety
    /// `fcinfo` is the pointer fmgr passed to this call.
    pub unsafe fn new(fcinfo: FunctionCallInfo) -> Fc {
        Fc(fcinfo)
    }
    pub fn raw(self) -> FunctionCallInfo {
        self.0
    }
    pub fn nargs(self) -> usize {
        // SAFETY: fmgr's FunctionCallInfo for this call.
        unsafe { (*self.0).nargs as usize }
    }
    fn arg(self, n: usize) -> &'static sys::NullableDatum {
        assert!(
            n < self.nargs(),
            "argument {n} requested from a call with {}",
            self.nargs()
        );
        // SAFETY: `n` is checked against nargs: the args array holds that many entries.
        unsafe { &(*self.0).args.as_slice(n + 1)[n] }
    }
    /// PG_ARGISNULL(n)
    pub fn is_null(self, n: usize) -> bool {
        self.arg(n).isnull
    }
    /// PG_GETARG_DATUM(n)
    pub fn datum(self, n: usize) -> Datum {
        self.arg(n).value
    }
    pub fn i32(self, n: usize) -> i32 {
        self.datum(n) as i32
    }
    pub fn bool(self, n: usize) -> bool {
        self.datum(n) != 0
    }
    pub fn f64(self, n: usize) -> f64 {
        f64::from_bits(self.datum(n) as u64)
    }
    /// PG_RETURN_NULL()
    pub fn return_null(self) -> Datum {
        // SAFETY: fmgr's FunctionCallInfo for this call.
        unsafe { (*self.0).isnull = true };
        0
    }
    /// True when the call is made by an aggregate (AggCheckCallContext), so a transition
    /// state may be updated in place.
    pub fn in_aggregate(self) -> bool {
        let fcinfo = self.0;
        // SAFETY: fmgr's FunctionCallInfo; the call only inspects the calling context.
        unsafe { pg_try(|| sys::AggCheckCallContext(fcinfo, std::ptr::null_mut())) != 0 }
    }
}

pub fn datum_f64(v: f64) -> Datum {
    v.to_bits() as Datum
}
pub fn datum_f32(v: f32) -> Datum {
    v.to_bits() as Datum
}
pub fn datum_bool(v: bool) -> Datum {
    v as Datum
}
pub fn datum_i32(v: i32) -> Datum {
    v as u32 as Datum
}
pub fn datum_f32_arg(d: Datum) -> f32 {
    f32::from_bits(d as u32)
}

/// PG_DETOAST_DATUM: a 4-byte-header, uncompressed, in-memory copy when needed (so the data
/// is aligned as the type's typalign says). Returns the pointer and the payload.
pub fn detoast(d: Datum) -> (*mut sys::varlena, &'static [u8]) {
    // SAFETY: a datum of a varlena type (as the caller's SQL signature says); the detoasted copy
    // holds `len` bytes from `data`.
    unsafe {
        let v = pg_try(|| sys::pg_detoast_datum(d as *mut sys::varlena));
        let mut len = 0usize;
        let data = sys::vchord_shim_varlena_data(v, &mut len);
        (v, std::slice::from_raw_parts(data as *const u8, len))
    }
}

/// A new varlena of `payload` bytes (zeroed), palloc'd in the current memory context.
/// Returns the pointer (the Datum) and the payload to fill.
pub fn new_varlena(payload: usize) -> (*mut sys::varlena, &'static mut [u8]) {
    let total = sys::VARHDRSZ + payload;
    if total > 0x3FFF_FFFF {
        super::error::error(
            super::error::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("value of {total} bytes is too large"),
        );
    }
    // SAFETY: a fresh allocation of `total` bytes; its payload follows the 4-byte header.
    unsafe {
        let p = pg_try(|| sys::palloc0(total)) as *mut sys::varlena;
        sys::vchord_shim_set_varsize(p, total);
        let data = (p as *mut u8).add(sys::VARHDRSZ);
        (p, std::slice::from_raw_parts_mut(data, payload))
    }
}

/// A `text` Datum holding `s`.
pub fn text_datum(s: &str) -> Datum {
    let (p, data) = new_varlena(s.len());
    data.copy_from_slice(s.as_bytes());
    p as Datum
}

/// A `bytea` Datum holding `bytes`.
pub fn bytea_datum(bytes: &[u8]) -> Datum {
    let (p, data) = new_varlena(bytes.len());
    data.copy_from_slice(bytes);
    p as Datum
}

/// An array Datum of `datums` of element type `elemtype` (construct_array).
pub fn array_datum(datums: &[Datum], elemtype: sys::Oid, len: i32, byval: bool) -> Datum {
    let p = datums.as_ptr();
    let n = datums.len() as i32;
    // SAFETY: `datums` holds `n` elements of the given type, copied by construct_array.
    unsafe {
        pg_try(|| {
            sys::construct_array(
                p as *mut Datum,
                n,
                elemtype,
                len,
                byval,
                sys::TYPALIGN_INT as _,
            )
        }) as Datum
    }
}

/// A `text[]` Datum holding `items`.
pub fn text_array(items: &[String]) -> Datum {
    let datums: Vec<Datum> = items.iter().map(|s| text_datum(s)).collect();
    array_datum(&datums, sys::TEXTOID, -1, false)
}

/// A `jsonb` Datum parsed from `json` (jsonb_in).
pub fn jsonb_datum(json: &str) -> Datum {
    let text = std::ffi::CString::new(json.replace('\0', "?")).unwrap_or_default();
    let p = text.as_ptr();
    // SAFETY: a NUL-terminated string; jsonb_in copies what it keeps.
    unsafe { pg_try(|| sys::vchord_shim_jsonb_in(p)) }
}

/// The elements of a `smallint[]` datum, NULLs left out, into `buf`: how many there are, or
/// -1 when more than `buf` holds.
pub fn int2_array(d: Datum, buf: &mut [i16]) -> i32 {
    let (p, cap) = (
        buf.as_mut_ptr(),
        buf.len().min(i32::MAX as usize) as std::ffi::c_int,
    );
    // SAFETY: the shim writes at most `cap` elements into `buf`.
    unsafe { pg_try(|| sys::vchord_shim_labels(d, p, cap)) }
}

impl Fc {
    /// A `cstring` argument (valid for the call).
    pub fn cstring(self, n: usize) -> &'static CStr {
        // SAFETY: the SQL signature says argument n is a cstring.
        unsafe { CStr::from_ptr(self.datum(n) as *const std::ffi::c_char) }
    }

    /// An `internal` argument that is a message buffer (a type's recv function): the rest of
    /// its bytes, consumed.
    pub fn message_rest(self, n: usize) -> &'static [u8] {
        let buf = self.datum(n) as *mut sys::StringInfoData;
        // SAFETY: fmgr passes a StringInfo whose data holds len bytes; we consume cursor..len.
        unsafe {
            let b = &mut *buf;
            let s = std::slice::from_raw_parts(
                (b.data as *const u8).add(b.cursor as usize),
                (b.len - b.cursor).max(0) as usize,
            );
            b.cursor = b.len;
            s
        }
    }

    /// A `cstring[]` argument of type modifiers, as integers (ArrayGetIntegerTypmods).
    pub fn typmods(self, n: usize) -> Vec<i32> {
        let arr = self.datum(n) as *mut sys::ArrayType;
        let mut len = 0;
        // SAFETY: the SQL signature says argument n is a cstring[]; the call returns `len`
        // integers.
        unsafe {
            let mods = pg_try(|| sys::ArrayGetIntegerTypmods(arr, &raw mut len));
            std::slice::from_raw_parts(mods, len.max(0) as usize).to_vec()
        }
    }
}

/// A `cstring` Datum holding `s` (palloc'd).
pub fn cstring_datum(s: &str) -> Datum {
    // SAFETY: room for the text and its terminating NUL.
    unsafe {
        let p = pg_try(|| sys::palloc(s.len() + 1)) as *mut u8;
        std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
        *p.add(s.len()) = 0;
        p as Datum
    }
}

/// A `numeric` Datum as real (numeric_float4).
pub fn numeric_to_f32(d: Datum) -> f32 {
    // SAFETY: the caller's datum is a numeric (its array's element type).
    let f = unsafe {
        pg_try(|| sys::DirectFunctionCall1Coll(Some(sys::numeric_float4), sys::InvalidOid, d))
    };
    datum_f32_arg(f)
}

/// The elements and null flags of an array Datum (deconstruct_array); `layout` gets the
/// array's dimensions and element type and gives the element's length, by-value flag and
/// alignment (or raises for a type it does not take).
pub fn array_elements(
    d: Datum,
    layout: impl FnOnce(i32, sys::Oid) -> (i16, bool, std::ffi::c_char),
) -> (Vec<Datum>, Vec<bool>) {
    let (arr, _) = detoast(d);
    let arr = arr as *mut sys::ArrayType;
    // SAFETY: a detoasted array's header.
    let (ndim, elemtype) = unsafe { ((*arr).ndim, (*arr).elemtype) };
    let (len, byval, align) = layout(ndim, elemtype);
    let mut elems: *mut Datum = std::ptr::null_mut();
    let mut nulls: *mut bool = std::ptr::null_mut();
    let mut n = 0;
    // SAFETY: deconstruct_array returns n datums and n null flags (palloc'd).
    unsafe {
        pg_try(|| {
            sys::deconstruct_array(
                arr,
                elemtype,
                len as i32,
                byval,
                align,
                &raw mut elems,
                &raw mut nulls,
                &raw mut n,
            )
        });
        let n = n.max(0) as usize;
        if n == 0 {
            return (vec![], vec![]);
        }
        (
            std::slice::from_raw_parts(elems, n).to_vec(),
            std::slice::from_raw_parts(nulls, n).to_vec(),
        )
    }
}

/// ArrayType header for one dimension: vl_len_, ndim, dataoffset, elemtype, dims[1], lbound[1].
const ARRAY_HEADER: usize = 24;

/// The elements of a one-dimensional float8[] without nulls, to update in place (an
/// aggregate's own state); `None` for any other array.
pub fn float8_array_mut(d: Datum) -> Option<&'static mut [f64]> {
    let (ptr, _) = detoast(d);
    let arr = ptr as *mut sys::ArrayType;
    // SAFETY: a detoasted array: the header fields are in place, and a 1-D float8 array
    // without a null bitmap holds dims[0] doubles right after the 24-byte header (8-aligned,
    // as palloc'd memory is MAXALIGNed).
    unsafe {
        if (*arr).ndim != 1 || (*arr).dataoffset != 0 || (*arr).elemtype != sys::FLOAT8OID {
            return None;
        }
        let n = *(arr as *const i32).add(4);
        Some(std::slice::from_raw_parts_mut(
            (arr as *mut u8).add(ARRAY_HEADER) as *mut f64,
            n.max(0) as usize,
        ))
    }
}

/// A new float8[] of `n` zeros, and its elements to fill.
pub fn new_float8_array(n: usize) -> (Datum, &'static mut [f64]) {
    let (ptr, payload) = new_varlena(ARRAY_HEADER - 4 + n * 8);
    payload[0..4].copy_from_slice(&1i32.to_ne_bytes()); // ndim
    payload[4..8].copy_from_slice(&0i32.to_ne_bytes()); // dataoffset: no null bitmap
    payload[8..12].copy_from_slice(&sys::FLOAT8OID.to_ne_bytes());
    payload[12..16].copy_from_slice(&(n as i32).to_ne_bytes()); // dims[0]
    payload[16..20].copy_from_slice(&1i32.to_ne_bytes()); // lbound[0]
    // SAFETY: the payload after the header holds n f64s, 8-aligned (palloc + 24).
    let data = unsafe {
        std::slice::from_raw_parts_mut((ptr as *mut u8).add(ARRAY_HEADER) as *mut f64, n)
    };
    (ptr as Datum, data)
}

/// A `sphere_vector`/`sphere_halfvec` Datum's centre (a vector Datum, valid while the sphere
/// is) and radius; `None` where either is NULL.
pub fn sphere_parts(d: Datum) -> Option<(Datum, f64)> {
    let (mut centre, mut radius): (Datum, f64) = (0, 0.0);
    // SAFETY: the caller's datum is a composite of (vector or halfvec, real), the type the
    // SQL script gives the operators' right argument and the opclasses' search operator.
    let found = unsafe { pg_try(|| sys::vchord_shim_sphere(d, &mut centre, &mut radius)) };
    found.then_some((centre, radius))
}
