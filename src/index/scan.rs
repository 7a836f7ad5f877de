//! What vchordrq's and vchordg's scans share: the per-scan state, ambeginscan, amrescan,
//! amendscan and amgettuple's frame. Nothing is searched until the first tuple is asked for;
//! each amgettuple then pulls one row from the access method's streaming search.
use super::*;
use crate::pg::buffer::Rel;
use crate::pg::scan::{Fetch, ScanDesc};
use vchord_base::Store;

/// A streaming search: the next row (heap TID, internal distance), with `fetch` reading a
/// row's key from the table for an index that reranks from it.
pub trait Stream {
    fn next_row<S: Store>(
        &mut self,
        s: &S,
        fetch: &mut dyn FnMut(Addr) -> Option<Vec<u8>>,
    ) -> Result<Option<(Addr, f32)>, Corrupt>;
}

impl Stream for vchord_ivf::Search {
    fn next_row<S: Store>(
        &mut self,
        s: &S,
        fetch: &mut dyn FnMut(Addr) -> Option<Vec<u8>>,
    ) -> Result<Option<(Addr, f32)>, Corrupt> {
        self.next(s, fetch)
    }
}

impl Stream for vchord_graph::Search {
    fn next_row<S: Store>(
        &mut self,
        s: &S,
        fetch: &mut dyn FnMut(Addr) -> Option<Vec<u8>>,
    ) -> Result<Option<(Addr, f32)>, Corrupt> {
        Ok(self.next(s, fetch))
    }
}

/// A scan's walk over every row, in no order, for a NULL query.
pub type RowSweep = Box<dyn FnMut(&Rel) -> Option<Addr>>;

/// A scan's state: `T` is the search, `X` what one access method keeps besides.
pub struct ScanState<T, X> {
    /// The opclass's element type and metric, looked up once per scan.
    pub elem: Elem,
    pub metric: Metric,
    /// The query of the current rescan (`None`: NULL or no ORDER BY; then every row is
    /// returned, in no order, with a NULL distance, as a sequential scan sorts them). Without
    /// ORDER BY, a distance threshold's centre.
    pub query: Option<Vec<f32>>,
    /// A distance threshold on the query (`v <<->> sphere(query, r)`): the scan ends at the
    /// first row at `r` or farther (SQL distance). The least radius of those around the query.
    pub radius: Option<f64>,
    /// A threshold that nothing meets (a NULL sphere, centre or radius, a NaN radius): no rows.
    pub nothing: bool,
    pub sweep: Option<RowSweep>,
    pub search: Option<T>,
    /// Strict order: a row nearer than the last one returned is dropped.
    pub strict: bool,
    pub last: f32,
    pub returned: i64,
    pub max: i64,
    /// With rerank_in_table: reads keys back from the table (made on first use, ended in
    /// amendscan; an abort frees it with the resource owner and memory context).
    pub fetch: Option<Fetch>,
    pub extra: X,
}

/// ambeginscan's state.
pub fn begin<T, X: Default>(index: Relation) -> ScanState<T, X> {
    let (elem, metric) = opclass_of(index);
    ScanState {
        elem,
        metric,
        query: None,
        radius: None,
        nothing: false,
        sweep: None,
        search: None,
        strict: true,
        last: f32::NEG_INFINITY,
        returned: 0,
        max: -1,
        fetch: None,
        extra: X::default(),
    }
}

/// amrescan: the new query and distance thresholds, and a fresh start on the next
/// amgettuple.
pub fn rescan<T, X>(scan: ScanDesc, st: &mut ScanState<T, X>) {
    let order = scan.order_by();
    st.query = order.flatten().map(|d| read_key(st.elem, d).0);
    // The keys on the vector column are distance thresholds (the opclasses' one search
    // operator, `<<op>>` with a sphere); the executor rechecks every one of them.
    let mut spheres = vec![];
    st.nothing = false;
    for k in scan.keys().into_iter().filter(|k| k.attno == 1) {
        match k.argument.and_then(crate::pg::fmgr::sphere_parts) {
            // (no distance is below a NaN radius)
            Some((centre, r)) if !r.is_nan() => spheres.push((read_key(st.elem, centre).0, r)),
            _ => st.nothing = true,
        }
    }
    if order.is_none() && st.query.is_none() {
        // No ORDER BY: the search goes out from the (first) sphere's centre.
        st.query = spheres.first().map(|s| s.0.clone());
    }
    // Only a sphere around the query itself bounds the stream (rows come nearest first);
    // another one is the executor's filter alone.
    st.radius = st.query.as_ref().and_then(|q| {
        spheres
            .iter()
            .filter(|s| s.0 == *q)
            .map(|s| s.1)
            .min_by(f64::total_cmp)
    });
    st.sweep = None;
    st.search = None;
    st.returned = 0;
    st.last = f32::NEG_INFINITY;
}

/// amendscan.
pub fn end<T, X>(st: &mut ScanState<T, X>) {
    if let Some(f) = st.fetch.take() {
        f.end();
    }
}

/// What a search's start gives: the search, max_scan_tuples, whether it reranks with
/// vectors from the table, and whether its order is strict.
pub struct Started<T> {
    pub search: T,
    pub max: i64,
    pub in_table: bool,
    pub strict: bool,
}

/// amgettuple's frame: on the first call `start(store, query, extra)` makes the search; then
/// one row is pulled and handed to the executor (with `recheck` for its quals). A NULL query
/// walks every row instead (`sweep(store, extra)`).
pub fn gettuple<T: Stream, X>(
    scan: ScanDesc,
    st: &mut ScanState<T, X>,
    am: &str,
    recheck: bool,
    start: impl FnOnce(&Rel, &[f32], &X) -> Started<T>,
    sweep: impl FnOnce(&Rel, &X) -> RowSweep,
) -> bool {
    if st.nothing {
        return false;
    }
    let index = scan.index();
    let store = index.store();
    let Some(q) = st.query.as_ref() else {
        // A NULL query, or no ORDER BY at all (a plan with only a label qual: the planner is
        // told such a path costs too much, but PostgreSQL 18 counts `enable_seqscan = off`
        // as a disabled node rather than as a cost, and may take it): every row, the
        // executor rechecking the quals.
        if st.sweep.is_none() {
            scan.require_mvcc(am);
            index.count_scan();
            st.sweep = Some(sweep(&store, &st.extra));
        }
        return match (st.sweep.as_mut().unwrap())(&store) {
            Some(tid) => {
                st.returned += 1;
                scan.emit(tid, None, recheck);
                true
            }
            None => false,
        };
    };
    if st.search.is_none() {
        scan.require_mvcc(am);
        // Counted once per (re)scan, as PostgreSQL's own access methods do.
        index.count_scan();
        let s = start(&store, q, &st.extra);
        st.max = s.max;
        st.strict = s.strict;
        st.search = Some(s.search);
        if s.in_table && st.fetch.is_none() {
            st.fetch = Some(scan.fetch(am));
        }
    }
    let search = st.search.as_mut().unwrap();
    let (f, elem) = (st.fetch.as_ref(), st.elem);
    // Only called for an index with rerank_in_table, where the fetch was made above.
    let mut fetch = |tid| f.and_then(|f| f.key(tid, |d| key_bytes(elem, d)));
    loop {
        if st.max >= 0 && st.returned >= st.max {
            return false;
        }
        let next = search.next_row(&store, &mut fetch).or_corrupt(index);
        match next {
            Some((tid, d)) => {
                if st.strict && d < st.last {
                    // Nearer than a row already returned (found late, past its error bound
                    // or in a list probed later): PostgreSQL trusts the index's order, so it
                    // is dropped.
                    crate::pg::guard::check_for_interrupts();
                    continue;
                }
                let distance = vchord_base::sql_distance(st.metric, d);
                if st
                    .radius
                    .is_some_and(|r| distance >= r || distance.is_nan())
                {
                    // At the threshold or past it (or NaN): so is every row after it.
                    st.nothing = true;
                    return false;
                }
                st.last = d;
                st.returned += 1;
                scan.emit(tid, Some(distance), recheck);
                return true;
            }
            None => return false,
        }
    }
}
