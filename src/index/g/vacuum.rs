//! ambulkdelete (flag, repair, remove; see `vchord_graph::bulk_delete`) and amvacuumcleanup.
use super::*;

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
            vacuum_cleanup_with(
                info,
                stats,
                |_| Ok(()),
                |store| vchord_graph::count_vertices(&store),
            )
        })
    }
}
