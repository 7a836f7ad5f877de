//! amcostestimate: the planner should take a vchordrq index for `ORDER BY v <op> q LIMIT n`
//! and never for anything else.
use super::*;
use crate::pg::buffer::Rel;

/// disable_cost: what the planner adds for a disabled path.
const DISABLED: f64 = 1.0e10;

#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn amcostestimate(
    root: *mut sys::PlannerInfo,
    path: *mut sys::IndexPath,
    loop_count: f64,
    startup: *mut sys::Cost,
    total: *mut sys::Cost,
    selectivity: *mut sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    unsafe {
        boundary(|| {
            let mut info: sys::VchordPathInfo = std::mem::zeroed();
            let ip: *mut sys::VchordPathInfo = &raw mut info;
            pg_try(|| sys::vchord_shim_path_info(root, path, loop_count, ip));
            *selectivity = 1.0;
            *correlation = 0.0;
            *pages = info.index_pages;
            if !info.has_orderbys || !ENABLE_SCAN.get() {
                // Without ORDER BY distance the index can return nothing useful.
                *startup = DISABLED;
                *total = DISABLED;
                return;
            }
            // The share of the index a scan reads: probes over lists, per level.
            let index = pg_try(|| sys::index_open(info.indexoid, sys::NoLock as c_int));
            let store = Rel::new(index);
            let meta = vchord_ivf::read_meta(&store);
            pg_try(|| sys::index_close(index, sys::NoLock as c_int));
            let fraction = match meta {
                Ok(meta) => {
                    let set = settings(&meta);
                    meta.lists
                        .iter()
                        .zip(&set.probes)
                        .map(|(&l, &p)| p as f64 / l.max(1) as f64)
                        .product::<f64>()
                        .min(1.0)
                }
                Err(_) => 1.0,
            };
            let tuples = info.index_tuples.max(1.0);
            let read = (info.index_pages * fraction).max(1.0);
            // All estimates happen before the first row (startup); each row returned costs a
            // rerank (one page and a distance).
            let start = read * 1.0 + tuples * fraction * 0.0025;
            *startup = start;
            *total = start + tuples * 0.01;
            *pages = read;
        })
    }
}
