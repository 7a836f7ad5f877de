//! Input and output: text, binary (send/recv) and the `(n)` type modifier.
use super::{Element, OrRaise, read, typmod_arg, write};
use crate::both;
use crate::pg::fmgr::{Fc, bytea_datum, datum_i32};
use crate::pg::{pg_try, sys};
use std::ffi::CStr;
use vchord_vector as v;

both! {
    in => input,
    out => output,
    typmod_in => typmod_in,
    recv => recv,
    send => send,
}

/// `type_in(cstring, oid, int4)`
fn input<E: Element>(fc: Fc) -> sys::Datum {
    let text = unsafe { CStr::from_ptr(fc.datum(0) as *const std::ffi::c_char) };
    let text = String::from_utf8_lossy(text.to_bytes());
    let value = v::parse::<E>(&text).or_raise();
    v::check_typmod::<E>(value.len(), typmod_arg(fc, 2)).or_raise();
    write(&value)
}

/// `type_out(type) -> cstring`
fn output<E: Element>(fc: Fc) -> sys::Datum {
    let s = v::format(read::<E>(fc.datum(0)));
    let p = unsafe { pg_try(|| sys::palloc(s.len() + 1)) } as *mut u8;
    // SAFETY: p has room for the text and its terminating NUL.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
        *p.add(s.len()) = 0;
    }
    p as sys::Datum
}

/// `type_typmod_in(cstring[]) -> int4`
fn typmod_in<E: Element>(fc: Fc) -> sys::Datum {
    let arr = fc.datum(0) as *mut sys::ArrayType;
    let mut n = 0;
    let mods = unsafe { pg_try(|| sys::ArrayGetIntegerTypmods(arr, &raw mut n)) };
    // SAFETY: ArrayGetIntegerTypmods returns n integers.
    let mods = unsafe { std::slice::from_raw_parts(mods, n.max(0) as usize) };
    datum_i32(v::typmod_in::<E>(mods).or_raise())
}

/// `type_recv(internal, oid, int4)`: consumes the rest of the message buffer.
fn recv<E: Element>(fc: Fc) -> sys::Datum {
    let buf = fc.datum(0) as *mut sys::StringInfoData;
    // SAFETY: fmgr passes a StringInfo whose data holds len bytes; we consume cursor..len.
    let bytes = unsafe {
        let b = &mut *buf;
        let s = std::slice::from_raw_parts(
            (b.data as *const u8).add(b.cursor as usize),
            (b.len - b.cursor) as usize,
        );
        b.cursor = b.len;
        s
    };
    let value = v::decode::<E>(bytes).or_raise();
    v::check_typmod::<E>(value.len(), typmod_arg(fc, 2)).or_raise();
    write(&value)
}

/// `type_send(type) -> bytea`
fn send<E: Element>(fc: Fc) -> sys::Datum {
    bytea_datum(&v::encode(read::<E>(fc.datum(0))))
}
