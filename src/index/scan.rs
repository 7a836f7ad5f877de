//! What vchordrq's and vchordg's scans share: the per-scan state, ambeginscan, amrescan,
//! amendscan and amgettuple's frame. Nothing is searched until the first tuple is asked for;
//! each amgettuple then pulls one row from the access method's streaming search.
use super::*;
use crate::pg::buffer::Rel;
use crate::pg::memcxt::own;
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
    /// returned, in no order, with a NULL distance, as a sequential scan sorts them).
    pub query: Option<Vec<f32>>,
    pub sweep: Option<RowSweep>,
    pub search: Option<T>,
    /// Strict order: a row nearer than the last one returned is dropped.
    pub strict: bool,
    pub last: f32,
    pub returned: i64,
    pub max: i64,
    /// With rerank_in_table: reads keys back from the table (made on first use, ended in
    /// amendscan; an abort frees it with the resource owner and memory context).
    pub fetch: *mut sys::VchordFetch,
    pub extra: X,
}

/// The scan's state; `None` once amendscan has run.
pub fn state<T: 'static, X: 'static>(
    scan: sys::IndexScanDesc,
) -> &'static mut Option<ScanState<T, X>> {
    unsafe { &mut *((*scan).opaque as *mut Option<ScanState<T, X>>) }
}

/// ambeginscan.
pub fn begin<T: 'static, X: Default + 'static>(
    index: sys::Relation,
    nkeys: c_int,
    norderbys: c_int,
) -> sys::IndexScanDesc {
    let scan = begin_scan(index, nkeys, norderbys);
    let (elem, metric) = opclass_of(index);
    // Freed by amendscan, or with the scan's memory context on an error.
    let st: Option<ScanState<T, X>> = Some(ScanState {
        elem,
        metric,
        query: None,
        sweep: None,
        search: None,
        strict: true,
        last: f32::NEG_INFINITY,
        returned: 0,
        max: -1,
        fetch: std::ptr::null_mut(),
        extra: X::default(),
    });
    unsafe { (*scan).opaque = own(st).cast() };
    scan
}

/// amrescan: the new keys, and a fresh start on the next amgettuple.
pub fn rescan<T: 'static, X: 'static>(
    scan: sys::IndexScanDesc,
    keys: sys::ScanKey,
    nkeys: c_int,
    orderbys: sys::ScanKey,
    norderbys: c_int,
) -> Option<&'static mut ScanState<T, X>> {
    let st = state::<T, X>(scan).as_mut()?;
    st.query = rescan_keys(scan, keys, nkeys, orderbys, norderbys, st.elem);
    st.sweep = None;
    st.search = None;
    st.returned = 0;
    st.last = f32::NEG_INFINITY;
    Some(st)
}

/// amendscan.
pub fn end<T: 'static, X: 'static>(scan: sys::IndexScanDesc) {
    if let Some(st) = state::<T, X>(scan).as_mut() {
        fetch_end(std::mem::replace(&mut st.fetch, std::ptr::null_mut()));
    }
    *state::<T, X>(scan) = None;
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
pub fn gettuple<T: Stream + 'static, X: 'static>(
    scan: sys::IndexScanDesc,
    dir: sys::ScanDirection::Type,
    am: &str,
    recheck: bool,
    start: impl FnOnce(&Rel, &[f32], &X) -> Started<T>,
    sweep: impl FnOnce(&Rel, &X) -> RowSweep,
) -> bool {
    forward_only(dir, am);
    let store = unsafe { Rel::new((*scan).indexRelation) };
    let Some(st) = state::<T, X>(scan).as_mut() else {
        return false;
    };
    let Some(q) = st.query.as_ref() else {
        // A NULL query, or no ORDER BY at all (a plan with only a label qual: the planner is
        // told such a path costs too much, but PostgreSQL 18 counts `enable_seqscan = off`
        // as a disabled node rather than as a cost, and may take it): every row, the
        // executor rechecking the quals.
        if st.sweep.is_none() {
            require_mvcc(scan, am);
            count_scan(scan);
            st.sweep = Some(sweep(&store, &st.extra));
        }
        return match (st.sweep.as_mut().unwrap())(&store) {
            Some(tid) => {
                st.returned += 1;
                emit(scan, tid, None, recheck);
                true
            }
            None => false,
        };
    };
    if st.search.is_none() {
        require_mvcc(scan, am);
        count_scan(scan);
        let s = start(&store, q, &st.extra);
        st.max = s.max;
        st.strict = s.strict;
        st.search = Some(s.search);
        if s.in_table && st.fetch.is_null() {
            st.fetch = fetch_begin(scan, am);
        }
    }
    let search = st.search.as_mut().unwrap();
    let (f, snapshot, elem) = (st.fetch, unsafe { (*scan).xs_snapshot }, st.elem);
    // Only called for an index with rerank_in_table, where `f` was made above.
    let mut fetch = |tid| fetch_key(f, snapshot, elem, tid);
    loop {
        if st.max >= 0 && st.returned >= st.max {
            return false;
        }
        let next = search
            .next_row(&store, &mut fetch)
            .or_corrupt(unsafe { (*scan).indexRelation });
        match next {
            Some((tid, d)) => {
                if st.strict && d < st.last {
                    // Nearer than a row already returned (found late, past its error bound
                    // or in a list probed later): PostgreSQL trusts the index's order, so it
                    // is dropped.
                    crate::pg::guard::check_for_interrupts();
                    continue;
                }
                st.last = d;
                st.returned += 1;
                emit(
                    scan,
                    tid,
                    Some(vchord_base::sql_distance(st.metric, d)),
                    recheck,
                );
                return true;
            }
            None => return false,
        }
    }
}

/// Counts the scan in the index's statistics (`pg_stat_user_indexes.idx_scan`), once per
/// (re)scan as PostgreSQL's own access methods do.
fn count_scan(scan: sys::IndexScanDesc) {
    unsafe { sys::vchord_shim_count_scan((*scan).indexRelation) };
}
