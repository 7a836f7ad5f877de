//! fmgr helpers: the entry-point macro, argument access, varlena values.
use super::guard::pg_try;
use super::sys::{self, Datum, FunctionCallInfo};

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
            #[unsafe(no_mangle)]
            pub extern "C" fn [<pg_finfo_ $name>]() -> *const $crate::pg::sys::Pg_finfo_record {
                static V1: $crate::pg::sys::Pg_finfo_record =
                    $crate::pg::sys::Pg_finfo_record { api_version: 1 };
                &V1
            }
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C-unwind" fn $name(
            fcinfo: $crate::pg::sys::FunctionCallInfo,
        ) -> $crate::pg::sys::Datum {
            // The body is a closure defined outside `unsafe`, so it is checked as safe code.
            #[allow(unused_variables)]
            let body = move |$fc: $crate::pg::fmgr::Fc| -> $crate::pg::sys::Datum { $body };
            unsafe { $crate::pg::guard::boundary(|| body($crate::pg::fmgr::Fc::new(fcinfo))) }
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
        unsafe { (*self.0).nargs as usize }
    }
    fn arg(self, n: usize) -> &'static sys::NullableDatum {
        assert!(
            n < self.nargs(),
            "argument {n} requested from a call with {}",
            self.nargs()
        );
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
        unsafe { (*self.0).isnull = true };
        0
    }
    /// True when the call is made by an aggregate (AggCheckCallContext), so a transition
    /// state may be updated in place.
    pub fn in_aggregate(self) -> bool {
        let fcinfo = self.0;
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
