//! Scans: amrescan's label filter and amgettuple (the frame, with ambeginscan and amendscan,
//! is `index::scan`).
//!
//! A `labels && array` qual becomes the search's label filter (the executor rechecks every
//! qual, so several of them are fine).
use super::*;
use crate::index::scan::{self, Started};
use vchord_graph::{Query, SearchParams};

/// The label filter of the current rescan; `Some(empty)` matches nothing (a NULL array).
pub type Filter = Option<Vec<i16>>;

pub fn rescan(desc: ScanDesc, st: &mut ScanState<Search, Filter>) {
    scan::rescan(desc, st);
    st.extra = desc
        .keys()
        .into_iter()
        .find(|k| k.attno == 2)
        .map(|k| k.argument.map(read_filter).unwrap_or_default());
}

pub fn gettuple(desc: ScanDesc, st: &mut ScanState<Search, Filter>) -> bool {
    if st.extra.as_ref().is_some_and(|f| f.is_empty()) {
        return false; // labels && NULL, or an empty array: nothing overlaps
    }
    let index = desc.index();
    let recheck = desc.nkeys() > 0;
    scan::gettuple(
        desc,
        st,
        "vchordg",
        recheck,
        |store, q, filter: &Filter| {
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
            let meta = vchord_graph::read_meta(store).or_corrupt(index);
            let (mut sweep, filter) = (vchord_graph::Sweep::default(), filter.clone());
            Box::new(move |store| sweep.next(store, &meta, filter.as_deref()))
        },
    )
}
