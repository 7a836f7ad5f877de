//! ambulkdelete and amvacuumcleanup.
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
                let meta = vchord_ivf::read_meta(&store)?;
                vchord_ivf::bulk_delete(&store, &meta, dead)
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
                // No bulk delete ran (nothing to remove): count the entries for the stats.
                let s = stats_or_new(stats);
                let (_, n) = vchord_ivf::count_entries(&store).or_corrupt(index);
                (*s).num_index_tuples = n as f64;
                (*s).estimated_count = false;
                s
            } else {
                stats
            };
            (*stats).num_pages = store.nblocks();
            stats
        })
    }
}
