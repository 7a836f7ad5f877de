//! aminsert: a real graph insert (search, prune, reverse edges), see `vchord_graph::insert`.
use super::*;
use crate::pg::memcxt::TempContext;

pub fn insert(index: Relation, values: &[Option<sys::Datum>], tid: Addr) {
    let Some(d) = values[0] else {
        return;
    };
    let ld = values.get(1).copied().flatten();
    let store = index.store();
    let meta = vchord_graph::read_meta(&store).or_corrupt(index);
    let cxt = TempContext::new(c"vchordg insert");
    let (v, labels) = cxt.run(|| {
        (
            read_key(meta.elem, d).0,
            ld.map(read_labels).unwrap_or_default(),
        )
    });
    check_dims(meta.dims, v.len());
    check_finite(&v);
    if !vchord_graph::has_room(&store, &meta) {
        super::build::too_large(index);
    }
    vchord_graph::insert(&store, meta, &v, tid, &labels).or_corrupt(index);
}
