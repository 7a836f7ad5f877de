//! Scans: ambeginscan, amrescan, amgettuple, amendscan (the frame is `index::scan`).
//!
//! On the first tuple the lists are chosen and every code in them estimated; each amgettuple
//! reranks just enough candidates to know the next row in exact distance order, so LIMIT
//! stops the work and WHERE keeps pulling (until `vchordrq.max_scan_tuples`).
use super::*;
use crate::index::scan::{self, Started};
use vchord_ivf::{Query, Search, SearchParams};

pub unsafe extern "C-unwind" fn ambeginscan(
    index: sys::Relation,
    nkeys: c_int,
    norderbys: c_int,
) -> sys::IndexScanDesc {
    unsafe { boundary(|| scan::begin::<Search, ()>(index, nkeys, norderbys)) }
}

pub unsafe extern "C-unwind" fn amrescan(
    scan: sys::IndexScanDesc,
    keys: sys::ScanKey,
    nkeys: c_int,
    orderbys: sys::ScanKey,
    norderbys: c_int,
) {
    unsafe {
        boundary(|| {
            scan::rescan::<Search, ()>(scan, keys, nkeys, orderbys, norderbys);
        })
    }
}

pub unsafe extern "C-unwind" fn amgettuple(
    scan: sys::IndexScanDesc,
    dir: sys::ScanDirection::Type,
) -> bool {
    unsafe {
        boundary(|| {
            scan::gettuple(scan, dir, "vchordrq", false, |store, q, _: &()| {
                let index = store.raw();
                let meta = vchord_ivf::read_meta(store).or_corrupt(index);
                check_dims(meta.dims, q.len());
                let set = settings(&meta);
                let p = SearchParams {
                    probes: set.probes,
                    epsilon: set.epsilon,
                };
                let search =
                    Search::start(store, &meta, Query::new(&meta, q), &p).or_corrupt(index);
                Started {
                    search,
                    max: set.max_scan_tuples,
                    in_table: meta.rerank_in_table,
                }
            })
        })
    }
}

pub unsafe extern "C-unwind" fn amendscan(scan: sys::IndexScanDesc) {
    unsafe { boundary(|| scan::end::<Search, ()>(scan)) }
}
