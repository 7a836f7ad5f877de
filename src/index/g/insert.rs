//! aminsert: a real graph insert (search, prune, reverse edges), see `vchord_graph::insert`.
use super::*;
use crate::pg::buffer::Rel;
use crate::pg::memcxt::TempContext;

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
            let labelled = sys::vchord_shim_index_natts(index) == 2;
            let d = *values;
            let ld = (labelled && !*isnull.add(1)).then(|| *values.add(1));
            let store = Rel::new(index);
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
            vchord_graph::insert(&store, meta, &v, tid_of(&*heap_tid), &labels).or_corrupt(index);
            false
        })
    }
}
