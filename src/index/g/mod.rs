//! vchordg: the handler, options and settings. The callbacks live one group per file, as for
//! vchordrq: build (ambuild, ambuildempty), insert, scan, vacuum, cost.
mod build;
mod cost;
mod insert;
mod scan;

use super::*;
use crate::index::scan::ScanState;
use crate::pg::buffer::Rel;
use crate::pg::guc::{self, Guc};
use crate::pg::scan::ScanDesc;
use std::ffi::c_int;
use vchord_graph::Search;
use vchord_graph::options::Options;

// ---- settings --------------------------------------------------------------------------

static EF_SEARCH: Guc<c_int> = Guc::new(64);
static MAX_SCAN_TUPLES: Guc<c_int> = Guc::new(-1);
static ENABLE_SCAN: Guc<bool> = Guc::new(true);
static STRICT_ORDER: Guc<bool> = Guc::new(true);
const EPSILON: f32 = 1.9;

pub fn init() {
    guc::define_int(
        c"vchordg.ef_search",
        c"Candidates the graph search keeps (larger: exacter, slower); the index's default when unset.",
        &EF_SEARCH,
        1,
        vchord_graph::options::MAX_EF as c_int,
    );
    guc::define_int(
        c"vchordg.max_scan_tuples",
        c"Rows one scan returns at most (-1: no limit).",
        &MAX_SCAN_TUPLES,
        -1,
        c_int::MAX,
    );
    guc::define_bool(
        c"vchordg.enable_scan",
        c"Lets the planner use vchordg indexes.",
        &ENABLE_SCAN,
    );
    guc::define_bool(
        c"vchordg.strict_order",
        c"Scans never return a row nearer than one already returned (off: such rows are returned too).",
        &STRICT_ORDER,
    );
    let kind = crate::pg::reloptions::register::<G>(c"vchordg options, in TOML");
    RELOPT_KIND.with(|k| k.set(kind));
}

thread_local! {
    static RELOPT_KIND: std::cell::Cell<sys::relopt_kind::Type> = const { std::cell::Cell::new(0) };
}

/// Search settings for a scan: set GUCs win over the index's stored defaults.
pub struct Settings {
    pub ef: usize,
    pub epsilon: f32,
    pub max_scan_tuples: i64,
    pub strict_order: bool,
}

/// `meta` with the index's `[search]` defaults as its options say now (see vchordrq's).
fn current_search(index: Relation, meta: &vchord_graph::Meta) -> vchord_graph::Meta {
    let o: Options = index_options(index);
    vchord_graph::Meta {
        ef_search: o.search.ef_search,
        epsilon: o.search.epsilon.map(|e| e as f32),
        max_scan_tuples: o.search.max_scan_tuples.map(|m| m as i32),
        ..meta.clone()
    }
}

/// Search settings for a scan of `index`: set GUCs win over the index's `[search]` defaults.
pub fn settings(index: Relation, meta: &vchord_graph::Meta) -> Settings {
    let meta = &current_search(index, meta);
    let ef = guc::set_or(
        c"vchordg.ef_search",
        EF_SEARCH.get() as usize,
        meta.ef_search.map(|e| e as usize),
    );
    let max_scan_tuples = guc::set_or(
        c"vchordg.max_scan_tuples",
        MAX_SCAN_TUPLES.get() as i64,
        meta.max_scan_tuples.map(i64::from),
    );
    Settings {
        ef,
        epsilon: meta.epsilon.unwrap_or(EPSILON),
        max_scan_tuples,
        strict_order: STRICT_ORDER.get(),
    }
}

// ---- the access method -------------------------------------------------------------------

pub const PHASE_LOAD: i64 = 2;
pub const PHASE_GRAPH: i64 = 3;
pub const PHASE_WRITE: i64 = 4;
pub const PHASE_INSERT: i64 = 5;

/// vchordg, as `crate::pg::am` calls it.
pub struct G;

impl IndexAm for G {
    const NAME: &'static str = "vchordg";
    const PHASES: &'static [(i64, &'static std::ffi::CStr)] = &[
        (PHASE_LOAD, c"loading rows"),
        (PHASE_GRAPH, c"building graph"),
        (PHASE_WRITE, c"writing index"),
        (PHASE_INSERT, c"inserting rows"),
    ];
    const OPTIONS_EXAMPLE: &'static str = <Options as AmOptions>::EXAMPLE;
    type Scan = ScanState<Search, scan::Filter>;

    fn relopt_kind() -> sys::relopt_kind::Type {
        RELOPT_KIND.with(|k| k.get())
    }
    fn validate_options(text: &str) {
        parse_options::<Options>(text);
    }
    fn build(heap: Relation, index: Relation, info: IndexInfo) -> (f64, f64) {
        build::build(heap, index, info)
    }
    fn build_empty(index: Relation) {
        build::build_empty(index)
    }
    fn insert(index: Relation, values: &[Option<sys::Datum>], tid: Addr) {
        insert::insert(index, values, tid)
    }
    fn bulk_delete(
        store: &Rel,
        dead: &mut dyn FnMut(Addr) -> bool,
    ) -> vchord_base::Result<(u64, u64)> {
        vchord_graph::bulk_delete(store, dead)
    }
    fn vacuum_tidy(_store: &Rel) -> vchord_base::Result<()> {
        Ok(())
    }
    fn vacuum_count(store: &Rel) -> vchord_base::Result<u64> {
        vchord_graph::count_vertices(store)
    }
    fn enabled() -> bool {
        ENABLE_SCAN.get()
    }
    fn costs(info: &PathInfo, index: Relation) -> Costs {
        cost::costs(info, index)
    }
    fn begin_scan(index: Relation) -> Self::Scan {
        crate::index::scan::begin(index)
    }
    fn rescan(desc: ScanDesc, st: &mut Self::Scan) {
        scan::rescan(desc, st)
    }
    fn gettuple(desc: ScanDesc, st: &mut Self::Scan) -> bool {
        scan::gettuple(desc, st)
    }
    fn end_scan(st: &mut Self::Scan) {
        crate::index::scan::end(st)
    }
}

/// Distances over NaN or infinite elements mean nothing; the types never hold them, but a
/// vector made by a C function might.
pub fn check_finite(v: &[f32]) {
    if v.iter().any(|x| !x.is_finite()) {
        error(
            ERRCODE_DATA_EXCEPTION,
            "vchordg cannot index NaN or infinite elements",
        );
    }
}

/// Support function 1 of the label opclass: marks the column as labels.
pub const LABELS_CODE: i32 = 100;

/// Checks the index's columns: a vector first, optionally labels second. Returns whether
/// there is a label column.
pub fn columns(index: Relation) -> bool {
    let natts = index.natts();
    let first = index.support(1);
    if first == LABELS_CODE {
        error(
            ERRCODE_FEATURE_NOT_SUPPORTED,
            "the first column of a vchordg index must be the vector; labels come second",
        );
    }
    match natts {
        1 => false,
        2 => {
            if index.support(2) != LABELS_CODE {
                error(
                    ERRCODE_FEATURE_NOT_SUPPORTED,
                    "the second column of a vchordg index must be smallint[] labels",
                );
            }
            true
        }
        _ => error(
            ERRCODE_FEATURE_NOT_SUPPORTED,
            "a vchordg index has a vector column and at most one label column",
        ),
    }
}

/// A row's labels from a smallint[] datum: sorted, deduplicated, NULL elements left out.
pub fn read_labels(d: sys::Datum) -> Vec<i16> {
    labels_at_most(d, vchord_graph::MAX_LABELS, "a row of a vchordg index has")
}

/// A filter's labels.
pub fn read_filter(d: sys::Datum) -> Vec<i16> {
    labels_at_most(d, 1 << 16, "a vchordg label filter has")
}

fn labels_at_most(d: sys::Datum, max: usize, what: &str) -> Vec<i16> {
    // Most arrays are short: try a small buffer first.
    let read = |cap: usize| {
        let mut buf = vec![0i16; cap];
        let n = crate::pg::fmgr::int2_array(d, &mut buf);
        (buf, n)
    };
    // Distinct labels count: an array may repeat one (at most 2^16 elements are read).
    let (mut buf, mut n) = read(64);
    if n < 0 {
        (buf, n) = read(1 << 16);
    }
    buf.truncate(n.max(0) as usize);
    buf.sort_unstable();
    buf.dedup();
    if n < 0 || buf.len() > max {
        Error::new(
            ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("{what} at most {max} distinct labels"),
        )
        .raise();
    }
    buf
}

// ---- handler ---------------------------------------------------------------------------

crate::pg_fn!(vchord_g_amhandler, |fc| {
    crate::pg::am::routine::<G>(|a| {
        // 1: the distance (ORDER BY); 2: a distance threshold on the vector column
        // (`v <<op>> sphere(q, r)`) or a label overlap on the labels column (`l && array`).
        a.amstrategies = 2;
        a.amcanmulticol = true;
    })
});

crate::pg_fn!(vchord_g_support_labels, |fc| {
    crate::pg::fmgr::datum_i32(LABELS_CODE)
});

// ---- functions -------------------------------------------------------------------------

crate::pg_fn!(vchord_g_prewarm, |fc| {
    prewarm(fc.datum(0) as sys::Oid, c"vchordg")
});

// vchordg_verify(regclass) -> text[]: every structural problem found (empty when sound).
crate::pg_fn!(vchord_g_verify, |fc| {
    let rel = open_index(fc.datum(0) as sys::Oid, c"vchordg");
    let (problems, _, _) = vchord_graph::verify(&rel.store());
    rel.close();
    crate::pg::fmgr::text_array(&problems)
});
