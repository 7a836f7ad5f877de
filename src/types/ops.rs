//! Operators and functions: distances, element-wise arithmetic, comparisons, utilities.
use super::{Elem, Element, OrRaise, read, write};
use crate::both;
use crate::pg::fmgr::{Fc, datum_bool, datum_f64, datum_i32, new_varlena};
use crate::pg::sys::Datum;
use std::cmp::Ordering;
use vchord_vector as v;

both! {
    l2_distance => l2_distance,
    inner_product => inner_product,
    negative_inner_product => negative_inner_product,
    cosine_distance => cosine_distance,
    l1_distance => l1_distance,
    sphere_l2 => sphere_l2,
    sphere_ip => sphere_ip,
    sphere_cosine => sphere_cosine,
    sphere_l1 => sphere_l1,
    add => add,
    sub => sub,
    mul => mul,
    concat => concat,
    lt => lt,
    le => le,
    eq => eq,
    ne => ne,
    ge => ge,
    gt => gt,
    cmp => cmp,
    dims => dims,
    norm => norm,
    l2_normalize => l2_normalize,
    subvector => subvector,
    binary_quantize => binary_quantize,
}

/// Both operands, with equal dimensions.
fn pair<E: Element>(fc: Fc) -> (&'static [E], &'static [E]) {
    let (a, b) = (read::<E>(fc.datum(0)), read::<E>(fc.datum(1)));
    v::check_same_dims::<E>(a.len(), b.len()).or_raise();
    (a, b)
}

fn l2_distance<E: Elem>(fc: Fc) -> Datum {
    let (a, b) = pair::<E>(fc);
    datum_f64((E::l2sq(a, b) as f64).sqrt())
}

fn inner_product<E: Elem>(fc: Fc) -> Datum {
    let (a, b) = pair::<E>(fc);
    datum_f64(E::dot(a, b) as f64)
}

fn negative_inner_product<E: Elem>(fc: Fc) -> Datum {
    let (a, b) = pair::<E>(fc);
    datum_f64(-(E::dot(a, b) as f64))
}

fn cosine_distance<E: Elem>(fc: Fc) -> Datum {
    let (a, b) = pair::<E>(fc);
    datum_f64(vchord_simd::cosine_from_parts(E::cos_parts(a, b)))
}

fn l1_distance<E: Elem>(fc: Fc) -> Datum {
    let (a, b) = pair::<E>(fc);
    datum_f64(E::l1(a, b) as f64)
}

/// `v <<op>> sphere(centre, radius)`: whether `v <op> centre < radius` (NULL where the
/// centre or the radius is NULL), what an index's distance threshold returns.
fn within<E: Element>(fc: Fc, dist: impl FnOnce(&[E], &[E]) -> f64) -> Datum {
    let Some((centre, radius)) = crate::pg::fmgr::sphere_parts(fc.datum(1)) else {
        return fc.return_null();
    };
    let (a, c) = (read::<E>(fc.datum(0)), read::<E>(centre));
    v::check_same_dims::<E>(a.len(), c.len()).or_raise();
    datum_bool(dist(a, c) < radius)
}

fn sphere_l2<E: Elem>(fc: Fc) -> Datum {
    within::<E>(fc, |a, c| (E::l2sq(a, c) as f64).sqrt())
}

fn sphere_ip<E: Elem>(fc: Fc) -> Datum {
    within::<E>(fc, |a, c| -(E::dot(a, c) as f64))
}

fn sphere_cosine<E: Elem>(fc: Fc) -> Datum {
    within::<E>(fc, |a, c| {
        vchord_simd::cosine_from_parts(E::cos_parts(a, c))
    })
}

fn sphere_l1<E: Elem>(fc: Fc) -> Datum {
    within::<E>(fc, |a, c| E::l1(a, c) as f64)
}

fn add<E: Element>(fc: Fc) -> Datum {
    write(&v::add(read::<E>(fc.datum(0)), read::<E>(fc.datum(1))).or_raise())
}

fn sub<E: Element>(fc: Fc) -> Datum {
    write(&v::sub(read::<E>(fc.datum(0)), read::<E>(fc.datum(1))).or_raise())
}

fn mul<E: Element>(fc: Fc) -> Datum {
    write(&v::mul(read::<E>(fc.datum(0)), read::<E>(fc.datum(1))).or_raise())
}

fn concat<E: Element>(fc: Fc) -> Datum {
    write(&v::concat(read::<E>(fc.datum(0)), read::<E>(fc.datum(1))).or_raise())
}

fn order<E: Element>(fc: Fc) -> Ordering {
    v::compare(read::<E>(fc.datum(0)), read::<E>(fc.datum(1)))
}

fn lt<E: Element>(fc: Fc) -> Datum {
    datum_bool(order::<E>(fc).is_lt())
}
fn le<E: Element>(fc: Fc) -> Datum {
    datum_bool(order::<E>(fc).is_le())
}
fn eq<E: Element>(fc: Fc) -> Datum {
    datum_bool(order::<E>(fc).is_eq())
}
fn ne<E: Element>(fc: Fc) -> Datum {
    datum_bool(order::<E>(fc).is_ne())
}
fn ge<E: Element>(fc: Fc) -> Datum {
    datum_bool(order::<E>(fc).is_ge())
}
fn gt<E: Element>(fc: Fc) -> Datum {
    datum_bool(order::<E>(fc).is_gt())
}
fn cmp<E: Element>(fc: Fc) -> Datum {
    datum_i32(order::<E>(fc) as i32)
}

fn dims<E: Element>(fc: Fc) -> Datum {
    datum_i32(read::<E>(fc.datum(0)).len() as i32)
}

fn norm<E: Element>(fc: Fc) -> Datum {
    datum_f64(v::norm(read::<E>(fc.datum(0))))
}

fn l2_normalize<E: Element>(fc: Fc) -> Datum {
    write(&v::l2_normalize(read::<E>(fc.datum(0))).or_raise())
}

fn subvector<E: Element>(fc: Fc) -> Datum {
    write(&v::subvector(read::<E>(fc.datum(0)), fc.i32(1), fc.i32(2)).or_raise())
}

/// `binary_quantize(v) -> bit`: bit i is 1 where element i is positive.
fn binary_quantize<E: Element>(fc: Fc) -> Datum {
    let x = read::<E>(fc.datum(0));
    let bits = v::binary_quantize(x);
    // varbit: int32 bit length, then the bits, most significant first
    let (ptr, data) = new_varlena(4 + bits.len());
    data[..4].copy_from_slice(&(x.len() as i32).to_ne_bytes());
    data[4..].copy_from_slice(&bits);
    ptr as Datum
}
