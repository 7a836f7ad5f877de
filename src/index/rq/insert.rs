//! aminsert: route the row to its list (nearest centroid, level by level) and append it.
use super::*;
use crate::pg::buffer::Rel;
use crate::pg::memcxt::TempContext;
use vchord_ivf::Writer;

#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn aminsert(
    index: sys::Relation,
    values: *mut sys::Datum,
    isnull: *mut bool,
    heap_tid: sys::ItemPointer,
    _heap: sys::Relation,
    _check_unique: sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _info: *mut sys::IndexInfo,
) -> bool {
    unsafe {
        boundary(|| {
            if *isnull {
                return false;
            }
            let d = *values;
            let tid = tid_of(&*heap_tid);
            let store = Rel::new(index);
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
            false
        })
    }
}
