//! Scans: ambeginscan, amrescan, amgettuple, amendscan.
//!
//! Nothing is searched until the first tuple is asked for. A `labels && array` qual becomes
//! the search's label filter (the executor rechecks every qual, so several of them are fine).
use super::*;
use crate::pg::buffer::Rel;
use crate::pg::memcxt::own;
use vchord_graph::{Query, Search, SearchParams};

struct State {
    elem: Elem,
    metric: Metric,
    query: Option<Vec<f32>>,
    /// The label filter of the current rescan; `Some(empty)` matches nothing (a NULL array).
    filter: Option<Vec<i16>>,
    search: Option<Search>,
    returned: i64,
    max: i64,
    fetch: *mut sys::VchordFetch,
}

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
            (*scan).opaque = own(Some(State {
                elem,
                metric,
                query: None,
                filter: None,
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
            st.filter = None;
            for i in 0..(*scan).numberOfKeys.max(0) as usize {
                let k = &*(*scan).keyData.add(i);
                if k.sk_attno != 2 {
                    continue;
                }
                st.filter = Some(if k.sk_flags & sys::SK_ISNULL as c_int != 0 {
                    vec![]
                } else {
                    read_filter(k.sk_argument)
                });
                break;
            }
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
            forward_only(dir, "vchordg");
            let index = (*scan).indexRelation;
            let store = Rel::new(index);
            let Some(st) = state(scan).as_mut() else {
                return false;
            };
            let Some(q) = st.query.as_ref() else {
                return false;
            };
            if st.filter.as_ref().is_some_and(|f| f.is_empty()) {
                return false; // labels && NULL, or an empty array: nothing overlaps
            }
            if st.search.is_none() {
                require_mvcc(scan, "vchordg");
                let meta = vchord_graph::read_meta(&store).or_corrupt(index);
                check_dims(meta.dims, q.len());
                let set = settings(&meta);
                st.max = set.max_scan_tuples;
                let centre = vchord_graph::read_centre(&store, &meta).or_corrupt(index);
                let query = Query::with(meta.metric, &meta.rotation(), q);
                let p = SearchParams {
                    ef: set.ef,
                    epsilon: set.epsilon,
                    filter: st.filter.clone(),
                };
                st.search =
                    Some(Search::start(&store, &meta, &centre, query, &p).or_corrupt(index));
                if meta.rerank_in_table && st.fetch.is_null() {
                    st.fetch = fetch_begin(scan, "vchordg");
                }
            }
            if st.max >= 0 && st.returned >= st.max {
                return false;
            }
            let search = st.search.as_mut().unwrap();
            let (f, snapshot, elem) = (st.fetch, (*scan).xs_snapshot, st.elem);
            let mut fetch = |tid| fetch_key(f, snapshot, elem, tid);
            match search.next(&store, &mut fetch) {
                Some((tid, d)) => {
                    st.returned += 1;
                    let recheck = (*scan).numberOfKeys > 0;
                    emit(scan, tid, vchord_ivf::sql_distance(st.metric, d), recheck);
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
