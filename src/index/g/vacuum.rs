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
            bulk_delete_with(info, stats, callback, callback_state, |store, dead| {
                vchord_graph::bulk_delete(&store, dead)
            })
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
