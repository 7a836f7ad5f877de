//! The one reloption of vchord's access methods, `options`: a TOML text, registered per
//! access method with its validator, stored in `rd_options` as [`RelOptions`].
use super::am::{IndexAm, validate_options};
use super::error::*;
use super::guard::pg_try;
use super::rel::RelOptions;
use super::sys;
use std::ffi::{CStr, c_char, c_int};

/// Registers the reloption kind of access method `A` and its `options` string (described by
/// `what`), checked by `A::validate_options`. Returns the kind.
pub fn register<A: IndexAm>(what: &'static CStr) -> sys::relopt_kind::Type {
    // SAFETY: called from _PG_init; the strings are static, the validator a Rust callback.
    unsafe {
        let kind = pg_try(|| sys::add_reloption_kind());
        pg_try(|| {
            sys::add_string_reloption(
                kind,
                c"options".as_ptr(),
                what.as_ptr(),
                std::ptr::null(),
                Some(validate_options::<A>),
                sys::AccessExclusiveLock as c_int,
            )
        });
        kind
    }
}

/// amoptions: parses `reloptions` into a [`RelOptions`]. A parameter of another name
/// (pgvector's `lists = 100`, `m = 16`) is refused with a hint that shows the `options` form
/// (`example`).
pub fn build<A: IndexAm>(reloptions: sys::Datum, validate: bool) -> *mut sys::bytea {
    if validate {
        let mut buf = [0 as c_char; 64];
        let p = buf.as_mut_ptr();
        // SAFETY: reads the reloptions array into a buffer of the given size.
        let unknown =
            unsafe { pg_try(|| sys::vchord_shim_unknown_reloption(reloptions, p, buf.len())) };
        if unknown {
            // SAFETY: the shim wrote a NUL-terminated name within the buffer.
            let name = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
            Error::new(
                ERRCODE_INVALID_PARAMETER_VALUE,
                format!("unrecognized parameter \"{name}\" for a {} index", A::NAME),
            )
            .hint(format!(
                "{} takes its settings as TOML in one parameter, e.g. WITH ({}).",
                A::NAME,
                A::OPTIONS_EXAMPLE
            ))
            .raise();
        }
    }
    let tab = [sys::relopt_parse_elt {
        optname: c"options".as_ptr(),
        opttype: sys::relopt_type::RELOPT_TYPE_STRING,
        offset: std::mem::offset_of!(RelOptions, options) as c_int,
        #[cfg(pg_ge18)]
        isset_offset: 0,
    }];
    let p = tab.as_ptr();
    let kind = A::relopt_kind();
    // SAFETY: one string option at its offset in a RelOptions-sized result.
    unsafe {
        pg_try(|| sys::build_reloptions(reloptions, validate, kind, size_of::<RelOptions>(), p, 1))
            as *mut sys::bytea
    }
}
