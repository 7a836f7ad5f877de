//! ambulkdelete and amvacuumcleanup.
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
            vacuum_cleanup_with(
                info,
                stats,
                // The codes inserted since the build (or the last vacuum) join fast-scan
                // blocks, a page at a time.
                |store| {
                    let meta = vchord_ivf::read_meta(store)?;
                    vchord_ivf::compact(store, &meta).map(|_| ())
                },
                |store| vchord_ivf::count_entries(&store).map(|(_, n)| n),
            )
        })
    }
}
