//! ambulkdelete (flag, repair, remove; see `vchord_graph::bulk_delete`) and amvacuumcleanup.
use super::*;
use crate::pg::buffer::Rel;
use vchord_ivf::Store;

pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut sys::IndexVacuumInfo,
    stats: *mut sys::IndexBulkDeleteResult,
    callback: sys::IndexBulkDeleteCallback,
    callback_state: *mut c_void,
) -> *mut sys::IndexBulkDeleteResult {
    unsafe {
        boundary(|| {
            let stats = stats_or_new(stats);
            let index = (*info).index;
            let store = Rel::new(index).for_vacuum();
            let cb = callback.expect("bulk delete without a callback");
            let mut tid: sys::ItemPointerData = std::mem::zeroed();
            let tp: *mut sys::ItemPointerData = &raw mut tid;
            let (removed, kept) = vchord_graph::bulk_delete(&store, &mut |a| {
                set_tid(&mut *tp, a);
                pg_try(|| cb(tp, callback_state))
            })
            .or_corrupt(index);
            (*stats).tuples_removed += removed as f64;
            (*stats).num_index_tuples = kept as f64;
            (*stats).num_pages = store.nblocks();
            stats
        })
    }
}

pub unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut sys::IndexVacuumInfo,
    stats: *mut sys::IndexBulkDeleteResult,
) -> *mut sys::IndexBulkDeleteResult {
    unsafe {
        boundary(|| {
            if (*info).analyze_only {
                return stats;
            }
            let index = (*info).index;
            let store = Rel::new(index);
            let stats = if stats.is_null() {
                let s = stats_or_new(stats);
                (*s).num_index_tuples =
                    vchord_graph::count_vertices(&store).or_corrupt(index) as f64;
                s
            } else {
                stats
            };
            (*stats).num_pages = store.nblocks();
            stats
        })
    }
}
