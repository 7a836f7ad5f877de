//! Scans: ambeginscan, amrescan, amgettuple, amendscan.
//!
//! Nothing is searched until the first tuple is asked for. Then the lists are chosen and
//! every code in them estimated; each amgettuple reranks just enough candidates to know the
//! next row in exact distance order, so LIMIT stops the work and WHERE keeps pulling (until
//! `vchordrq.max_scan_tuples`).
use super::*;
use crate::pg::buffer::Rel;
use crate::pg::memcxt::own;
use vchord_ivf::{Query, Search, SearchParams};

struct State {
    /// The opclass's element type and metric, looked up once per scan.
    elem: Elem,
    metric: Metric,
    /// The query of the current rescan (`None`: NULL, which matches nothing).
    query: Option<Vec<f32>>,
    search: Option<Search>,
    returned: i64,
    max: i64,
    /// With rerank_in_table: reads keys back from the table (made on first use, ended in
    /// amendscan; an abort frees it with the resource owner and memory context).
    fetch: *mut sys::VchordFetch,
}

/// The scan's state; `None` once amendscan has run.
fn state(scan: sys::IndexScanDesc) -> &'static mut Option<State> {
    unsafe { &mut *((*scan).opaque as *mut Option<State>) }
}

pub unsafe extern "C-unwind" fn ambeginscan(
    index: sys::Relation,
    nkeys: c_int,
    norderbys: c_int,
) -> sys::IndexScanDesc {
    unsafe {
        boundary(|| {
            let scan = pg_try(|| sys::RelationGetIndexScan(index, nkeys, norderbys));
            let (elem, metric) = opclass_of(index);
            // Freed by amendscan, or with the scan's memory context on an error.
            (*scan).opaque = own(Some(State {
                elem,
                metric,
                query: None,
                search: None,
                returned: 0,
                max: -1,
                fetch: std::ptr::null_mut(),
            }))
            .cast();
            let n = norderbys.max(1) as usize;
            (*scan).xs_orderbyvals = pg_try(|| sys::palloc0(n * size_of::<sys::Datum>())).cast();
            (*scan).xs_orderbynulls = pg_try(|| sys::palloc0(n * size_of::<bool>())).cast();
            scan
        })
    }
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
            if !keys.is_null() && nkeys > 0 {
                std::ptr::copy(keys, (*scan).keyData, nkeys as usize);
            }
            if !orderbys.is_null() && norderbys > 0 {
                std::ptr::copy(orderbys, (*scan).orderByData, norderbys as usize);
            }
            let Some(st) = state(scan).as_mut() else {
                return;
            };
            st.query = if (*scan).numberOfOrderBys > 0 {
                let key = &*(*scan).orderByData;
                if key.sk_flags & sys::SK_ISNULL as c_int != 0 {
                    None
                } else {
                    Some(read_key(st.elem, key.sk_argument).0)
                }
            } else {
                None
            };
            st.search = None;
            st.returned = 0;
        })
    }
}

pub unsafe extern "C-unwind" fn amgettuple(
    scan: sys::IndexScanDesc,
    dir: sys::ScanDirection::Type,
) -> bool {
    unsafe {
        boundary(|| {
            if dir != sys::ScanDirection::ForwardScanDirection {
                error(
                    ERRCODE_FEATURE_NOT_SUPPORTED,
                    "vchordrq indexes only scan forward",
                );
            }
            let index = (*scan).indexRelation;
            let store = Rel::new(index);
            let Some(st) = state(scan).as_mut() else {
                return false;
            };
            let Some(q) = st.query.as_ref() else {
                // NULL query, or a scan without ORDER BY: vchordrq has nothing to return.
                return false;
            };
            if st.search.is_none() {
                if !sys::vchord_shim_is_mvcc((*scan).xs_snapshot) {
                    Error::new(
                        ERRCODE_FEATURE_NOT_SUPPORTED,
                        "vchordrq indexes support only MVCC snapshots",
                    )
                    .raise();
                }
                let meta = vchord_ivf::read_meta(&store).or_corrupt(index);
                check_dims(meta.dims, q.len());
                let set = settings(&meta);
                st.max = set.max_scan_tuples;
                let query = Query::new(&meta, q);
                let p = SearchParams {
                    probes: set.probes,
                    epsilon: set.epsilon,
                };
                st.search = Some(Search::start(&store, &meta, query, &p).or_corrupt(index));
                if meta.rerank_in_table && st.fetch.is_null() {
                    let heap = (*scan).heapRelation;
                    if heap.is_null() {
                        error(
                            ERRCODE_FEATURE_NOT_SUPPORTED,
                            "a vchordrq index with rerank_in_table needs the table to scan",
                        );
                    }
                    st.fetch = pg_try(|| sys::vchord_shim_fetch_begin(heap, index));
                }
            }
            if st.max >= 0 && st.returned >= st.max {
                return false;
            }
            let search = st.search.as_mut().unwrap();
            let (f, snapshot, elem) = (st.fetch, (*scan).xs_snapshot, st.elem);
            // Only called for an index with rerank_in_table, where `f` was made above.
            let mut fetch = |tid: vchord_ivf::page::Addr| -> Option<Vec<u8>> {
                let mut t: sys::ItemPointerData = std::mem::zeroed();
                set_tid(&mut t, tid);
                let mut key: sys::Datum = std::mem::zeroed();
                let mut isnull = false;
                let found = pg_try(|| {
                    sys::vchord_shim_fetch_key(f, &mut t, snapshot, &mut key, &mut isnull)
                });
                (found && !isnull).then(|| key_bytes(elem, key))
            };
            match search.next(&store, &mut fetch) {
                Some((tid, d)) => {
                    st.returned += 1;
                    set_tid(&mut (*scan).xs_heaptid, tid);
                    (*scan).xs_recheck = false;
                    (*scan).xs_recheckorderby = false;
                    *(*scan).xs_orderbyvals =
                        crate::pg::fmgr::datum_f64(vchord_ivf::sql_distance(st.metric, d));
                    *(*scan).xs_orderbynulls = false;
                    true
                }
                None => false,
            }
        })
    }
}

pub unsafe extern "C-unwind" fn amendscan(scan: sys::IndexScanDesc) {
    unsafe {
        boundary(|| {
            if let Some(st) = state(scan).as_mut()
                && !st.fetch.is_null()
            {
                let f = std::mem::replace(&mut st.fetch, std::ptr::null_mut());
                pg_try(|| sys::vchord_shim_fetch_end(f));
            }
            *state(scan) = None;
        })
    }
}
