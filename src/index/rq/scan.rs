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
            let scan = begin_scan(index, nkeys, norderbys);
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
            let Some(st) = state(scan).as_mut() else {
                return;
            };
            st.query = rescan_keys(scan, keys, nkeys, orderbys, norderbys, st.elem);
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
            forward_only(dir, "vchordrq");
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
                require_mvcc(scan, "vchordrq");
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
                    st.fetch = fetch_begin(scan, "vchordrq");
                }
            }
            if st.max >= 0 && st.returned >= st.max {
                return false;
            }
            let search = st.search.as_mut().unwrap();
            let (f, snapshot, elem) = (st.fetch, (*scan).xs_snapshot, st.elem);
            // Only called for an index with rerank_in_table, where `f` was made above.
            let mut fetch = |tid| fetch_key(f, snapshot, elem, tid);
            match search.next(&store, &mut fetch) {
                Some((tid, d)) => {
                    st.returned += 1;
                    emit(scan, tid, vchord_ivf::sql_distance(st.metric, d), false);
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
            if let Some(st) = state(scan).as_mut() {
                fetch_end(std::mem::replace(&mut st.fetch, std::ptr::null_mut()));
            }
            *state(scan) = None;
        })
    }
}
