//! aminsert: route the row to its list (nearest centroid, level by level) and append it.
use super::*;
use crate::pg::memcxt::TempContext;
use vchord_ivf::Writer;

pub fn insert(index: Relation, values: &[Option<sys::Datum>], tid: Addr) {
    let Some(d) = values[0] else {
        return;
    };
    let store = index.store();
    let meta = vchord_ivf::read_meta(&store).or_corrupt(index);
    let cxt = TempContext::new(c"vchordrq insert");
    let (v, bytes) = cxt.run(|| read_key(meta.elem, d));
    check_dims(meta.dims, v.len());
    let x = vchord_ivf::prepare(&meta, &meta.rotation(), &v);
    let mut leaf = vchord_ivf::route(&store, &meta, &x).or_corrupt(index);
    let chain = vchord_ivf::chain_for(&leaf, tid);
    vchord_ivf::insert(
        &store,
        &meta,
        &mut leaf,
        chain,
        Writer::Shared,
        &x,
        &bytes,
        tid,
    );
}
