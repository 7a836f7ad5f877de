//! `avg` and `sum`. avg's transition state is a float8[] `[n, s_1, ..., s_d]` (so parallel
//! aggregation can combine partial states); `sum` uses the type's `+`.
use super::{Element, OrRaise, read, write};
use crate::both;
use crate::pg::error::*;
use crate::pg::fmgr::{self, Fc, new_float8_array};
use crate::pg::sys::Datum;
use vchord_vector as v;

both! {
    accum => accum,
    avg => avg,
}
crate::pg_fn!(vchord_vector_combine, |fc| combine(fc));

/// The elements of avg's state (mutable: in an aggregate the state belongs to the aggregate
/// and may be updated in place).
fn state(d: Datum) -> &'static mut [f64] {
    fmgr::float8_array_mut(d).unwrap_or_else(|| {
        error(
            ERRCODE_DATA_EXCEPTION,
            "invalid aggregate state: expected a float8[] without nulls",
        )
    })
}

/// The state to update: in place inside an aggregate, else a copy.
fn writable(fc: Fc, d: Datum, s: &'static mut [f64]) -> (Datum, &'static mut [f64]) {
    if fc.in_aggregate() {
        (d, s)
    } else {
        let (nd, ns) = new_float8_array(s.len());
        ns.copy_from_slice(s);
        (nd, ns)
    }
}

fn check_state_dims(have: usize, want: usize) {
    if have != want {
        v::check_typmod::<f32>(want, have as i32).or_raise();
    }
}

/// `type_accum(float8[], type) -> float8[]`
fn accum<E: Element>(fc: Fc) -> Datum {
    let x = read::<E>(fc.datum(1));
    let s = state(fc.datum(0));
    let (d, s) = if s.len() <= 1 || s[0] == 0.0 {
        let (d, s) = new_float8_array(x.len() + 1);
        (d, s)
    } else {
        check_state_dims(s.len() - 1, x.len());
        writable(fc, fc.datum(0), s)
    };
    s[0] += 1.0;
    for (acc, e) in s[1..].iter_mut().zip(x) {
        *acc += e.to_f32() as f64;
    }
    d
}

/// `vector_combine(float8[], float8[]) -> float8[]` (both types' states have the same form).
fn combine(fc: Fc) -> Datum {
    let (a, b) = (state(fc.datum(0)), state(fc.datum(1)));
    let empty = |s: &[f64]| s.len() <= 1 || s[0] == 0.0;
    if empty(b) {
        return fc.datum(0);
    }
    if empty(a) {
        let (d, s) = new_float8_array(b.len());
        s.copy_from_slice(b);
        return d;
    }
    check_state_dims(a.len() - 1, b.len() - 1);
    let (d, s) = writable(fc, fc.datum(0), a);
    for (x, y) in s.iter_mut().zip(b.iter()) {
        *x += y;
    }
    d
}

/// `type_avg(float8[]) -> type`, NULL when no rows were aggregated.
fn avg<E: Element>(fc: Fc) -> Datum {
    let s = state(fc.datum(0));
    if s.len() <= 1 || s[0] == 0.0 {
        return fc.return_null();
    }
    let n = s[0];
    write(&v::from_f64s::<E>(s[1..].iter().map(|x| x / n)).or_raise())
}
