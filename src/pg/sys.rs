//! The generated bindings, plus the few macros bindgen cannot translate, redone in Rust.
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    improper_ctypes,
    unsafe_op_in_unsafe_fn,
    unnecessary_transmutes,
    clippy::all
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

pub const InvalidOid: Oid = 0;

/// MAXALIGN(len)
#[inline]
pub const fn maxalign(len: usize) -> usize {
    let a = MAXIMUM_ALIGNOF as usize;
    (len + a - 1) & !(a - 1)
}

/// VARHDRSZ
pub const VARHDRSZ: usize = 4;
