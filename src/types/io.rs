//! Input and output: text, binary (send/recv) and the `(n)` type modifier.
use super::{Element, OrRaise, read, typmod_arg, write};
use crate::both;
use crate::pg::fmgr::{Fc, bytea_datum, cstring_datum, datum_i32};
use crate::pg::sys;
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
    let text = String::from_utf8_lossy(fc.cstring(0).to_bytes());
    let value = v::parse::<E>(&text).or_raise();
    v::check_typmod::<E>(value.len(), typmod_arg(fc, 2)).or_raise();
    write(&value)
}

/// `type_out(type) -> cstring`
fn output<E: Element>(fc: Fc) -> sys::Datum {
    cstring_datum(&v::format(read::<E>(fc.datum(0))))
}

/// `type_typmod_in(cstring[]) -> int4`
fn typmod_in<E: Element>(fc: Fc) -> sys::Datum {
    datum_i32(v::typmod_in::<E>(&fc.typmods(0)).or_raise())
}

/// `type_recv(internal, oid, int4)`: consumes the rest of the message buffer.
fn recv<E: Element>(fc: Fc) -> sys::Datum {
    let value = v::decode::<E>(fc.message_rest(0)).or_raise();
    v::check_typmod::<E>(value.len(), typmod_arg(fc, 2)).or_raise();
    write(&value)
}

/// `type_send(type) -> bytea`
fn send<E: Element>(fc: Fc) -> sys::Datum {
    bytea_datum(&v::encode(read::<E>(fc.datum(0))))
}
