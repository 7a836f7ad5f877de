//! Scans: ambeginscan, amrescan, amgettuple, amendscan (the frame is `index::scan`).
//!
//! A `labels && array` qual becomes the search's label filter (the executor rechecks every
//! qual, so several of them are fine).
use super::*;
use crate::index::scan::{self, Started};
use vchord_graph::{Query, Search, SearchParams};

/// The label filter of the current rescan; `Some(empty)` matches nothing (a NULL array).
type Filter = Option<Vec<i16>>;

pub unsafe extern "C-unwind" fn ambeginscan(
    index: sys::Relation,
    nkeys: c_int,
    norderbys: c_int,
) -> sys::IndexScanDesc {
    unsafe { boundary(|| scan::begin::<Search, Filter>(index, nkeys, norderbys)) }
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
            let Some(st) = scan::rescan::<Search, Filter>(scan, keys, nkeys, orderbys, norderbys)
            else {
                return;
            };
            let keys =
                std::slice::from_raw_parts((*scan).keyData, (*scan).numberOfKeys.max(0) as usize);
            st.extra = keys.iter().find(|k| k.sk_attno == 2).map(|k| {
                if k.sk_flags & sys::SK_ISNULL as c_int != 0 {
                    vec![]
                } else {
                    read_filter(k.sk_argument)
                }
            });
        })
    }
}

pub unsafe extern "C-unwind" fn amgettuple(
    scan: sys::IndexScanDesc,
    dir: sys::ScanDirection::Type,
) -> bool {
    unsafe {
        boundary(|| {
            if scan::state::<Search, Filter>(scan)
                .as_ref()
                .is_some_and(|st| st.extra.as_ref().is_some_and(|f| f.is_empty()))
            {
                return false; // labels && NULL, or an empty array: nothing overlaps
            }
            let recheck = (*scan).numberOfKeys > 0;
            scan::gettuple(
                scan,
                dir,
                "vchordg",
                recheck,
                |store, q, filter: &Filter| {
                    let index = store.raw();
                    let meta = vchord_graph::read_meta(store).or_corrupt(index);
                    check_dims(meta.dims, q.len());
                    let set = settings(index, &meta);
                    let centre = vchord_graph::read_centre(store, &meta).or_corrupt(index);
                    let query = Query::with(meta.metric, &meta.rotation(), q);
                    let p = SearchParams {
                        ef: set.ef,
                        epsilon: set.epsilon,
                        filter: filter.clone(),
                    };
                    let search = Search::start(store, &meta, &centre, query, &p).or_corrupt(index);
                    Started {
                        search,
                        max: set.max_scan_tuples,
                        in_table: meta.rerank_in_table,
                        strict: set.strict_order,
                    }
                },
                |store, filter: &Filter| {
                    let index = store.raw();
                    let meta = vchord_graph::read_meta(store).or_corrupt(index);
                    let (mut sweep, filter) = (vchord_graph::Sweep::default(), filter.clone());
                    Box::new(move |store| sweep.next(store, &meta, filter.as_deref()))
                },
            )
        })
    }
}

pub unsafe extern "C-unwind" fn amendscan(scan: sys::IndexScanDesc) {
    unsafe { boundary(|| scan::end::<Search, Filter>(scan)) }
}
