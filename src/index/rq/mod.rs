//! vchordrq: the handler, options and settings. The callbacks live one group per file, as in
//! contrib/bloom: build (ambuild, ambuildempty), insert, scan, vacuum, cost.
mod build;
mod cost;
mod insert;
mod scan;
mod vacuum;

use super::*;
use crate::index::scan::ScanState;
use crate::pg::buffer::Rel;
use crate::pg::guc::{self, Guc};
use crate::pg::scan::ScanDesc;
use std::ffi::{c_char, c_int};
use vchord_ivf::Search;
use vchord_ivf::options::{self, Options};

#[cfg(pg_ge17)]
pub(crate) use build::parallel_worker;

// ---- settings --------------------------------------------------------------------------

static PROBES: Guc<*mut c_char> = Guc::new(std::ptr::null_mut());
static EPSILON: Guc<f64> = Guc::new(1.9);
static MAX_SCAN_TUPLES: Guc<c_int> = Guc::new(-1);
static ENABLE_SCAN: Guc<bool> = Guc::new(true);
static STRICT_ORDER: Guc<bool> = Guc::new(true);

/// `vchordrq.probes` takes what `parse_probes` reads.
struct Probes;
impl guc::StringCheck for Probes {
    fn check(value: &str) -> Result<(), String> {
        options::parse_probes(value).map(|_| ())
    }
}

pub fn init() {
    guc::define_string::<Probes>(
        c"vchordrq.probes",
        c"Lists to probe per level, e.g. '10' or '8,64'; empty: the index's default.",
        &PROBES,
        c"",
    );
    guc::define_real(
        c"vchordrq.epsilon",
        c"Width of the RaBitQ error bound used to skip reranking (larger: exacter, slower).",
        &EPSILON,
        0.0,
        4.0,
    );
    guc::define_int(
        c"vchordrq.max_scan_tuples",
        c"Rows one scan returns at most (-1: no limit).",
        &MAX_SCAN_TUPLES,
        -1,
        c_int::MAX,
    );
    guc::define_bool(
        c"vchordrq.enable_scan",
        c"Lets the planner use vchordrq indexes.",
        &ENABLE_SCAN,
    );
    guc::define_bool(
        c"vchordrq.strict_order",
        c"Scans never return a row nearer than one already returned (off: such rows are returned too).",
        &STRICT_ORDER,
    );
    let kind = crate::pg::reloptions::register::<Rq>(c"vchordrq options, in TOML");
    RELOPT_KIND.with(|k| k.set(kind));
}

thread_local! {
    static RELOPT_KIND: std::cell::Cell<sys::relopt_kind::Type> = const { std::cell::Cell::new(0) };
}

/// Search settings for a scan: set GUCs win over the index's stored defaults.
pub struct Settings {
    pub probes: Vec<u32>,
    pub epsilon: f32,
    pub max_scan_tuples: i64,
    pub strict_order: bool,
}

/// `meta` with the index's `[search]` defaults as its options say now, so that `ALTER INDEX
/// ... SET (options = ...)` changes them for new scans at once (the meta page keeps the copy
/// made at build time).
fn current_search(index: Relation, meta: &vchord_ivf::Meta) -> vchord_ivf::Meta {
    let o: Options = index_options(index);
    vchord_ivf::Meta {
        probes: o.search.probes,
        epsilon: o.search.epsilon.map(|e| e as f32),
        max_scan_tuples: o.search.max_scan_tuples.map(|m| m as i32),
        ..meta.clone()
    }
}

/// Search settings for a scan of `index`: set GUCs win over the index's `[search]` defaults.
pub fn settings(index: Relation, meta: &vchord_ivf::Meta) -> Settings {
    let meta = &current_search(index, meta);
    let probes = options::parse_probes(&PROBES.string()).unwrap_or_default();
    let epsilon = guc::set_or(c"vchordrq.epsilon", EPSILON.get() as f32, meta.epsilon);
    let max_scan_tuples = guc::set_or(
        c"vchordrq.max_scan_tuples",
        MAX_SCAN_TUPLES.get() as i64,
        meta.max_scan_tuples.map(i64::from),
    );
    Settings {
        probes: options::resolve_probes(&probes, &meta.probes, &meta.lists),
        epsilon,
        max_scan_tuples,
        strict_order: STRICT_ORDER.get(),
    }
}

// ---- the access method -------------------------------------------------------------------

pub const PHASE_SAMPLE: i64 = 2;
pub const PHASE_KMEANS: i64 = 3;
pub const PHASE_INSERT: i64 = 4;

/// vchordrq, as `crate::pg::am` calls it.
pub struct Rq;

impl IndexAm for Rq {
    const NAME: &'static str = "vchordrq";
    const PHASES: &'static [(i64, &'static std::ffi::CStr)] = &[
        (PHASE_SAMPLE, c"sampling rows"),
        (PHASE_KMEANS, c"clustering (k-means)"),
        (PHASE_INSERT, c"inserting rows"),
    ];
    const OPTIONS_EXAMPLE: &'static str = <Options as AmOptions>::EXAMPLE;
    type Scan = ScanState<Search, ()>;

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
        vacuum::bulk_delete(store, dead)
    }
    fn vacuum_tidy(store: &Rel) -> vchord_base::Result<()> {
        vacuum::tidy(store)
    }
    fn vacuum_count(store: &Rel) -> vchord_base::Result<u64> {
        vchord_ivf::count_entries(store).map(|(_, n)| n)
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
    fn rescan(scan: ScanDesc, st: &mut Self::Scan) {
        crate::index::scan::rescan(scan, st)
    }
    fn gettuple(scan: ScanDesc, st: &mut Self::Scan) -> bool {
        scan::gettuple(scan, st)
    }
    fn end_scan(st: &mut Self::Scan) {
        crate::index::scan::end(st)
    }
}

// ---- handler ---------------------------------------------------------------------------

crate::pg_fn!(vchord_rq_amhandler, |fc| {
    crate::pg::am::routine::<Rq>(|a| {
        // 1: the distance (ORDER BY); 2: a distance threshold (`v <<op>> sphere(q, r)`).
        a.amstrategies = 2;
        // The planner gives builds workers (see build.rs).
        #[cfg(pg_ge17)]
        {
            a.amcanbuildparallel = true;
        }
    })
});

macro_rules! support {
    ($($name:ident => $elem:ident, $metric:ident;)*) => {
        $( crate::pg_fn!($name, |fc| {
            crate::pg::fmgr::datum_i32(opclass_code(Elem::$elem, Metric::$metric))
        }); )*
    };
}
support! {
    vchord_rq_support_vector_l2 => F32, L2;
    vchord_rq_support_vector_ip => F32, Ip;
    vchord_rq_support_vector_cosine => F32, Cos;
    vchord_rq_support_halfvec_l2 => F16, L2;
    vchord_rq_support_halfvec_ip => F16, Ip;
    vchord_rq_support_halfvec_cosine => F16, Cos;
    vchord_rq_support_vector_l1 => F32, L1;
    vchord_rq_support_halfvec_l1 => F16, L1;
}

// ---- functions -------------------------------------------------------------------------

// vchordrq_prewarm(regclass) -> text: reads every page into shared buffers.
crate::pg_fn!(vchord_rq_prewarm, |fc| {
    prewarm(fc.datum(0) as sys::Oid, c"vchordrq")
});

// vchordrq_verify(regclass) -> text[]: every structural problem found (empty when sound).
crate::pg_fn!(vchord_rq_verify, |fc| {
    let rel = open_index(fc.datum(0) as sys::Oid, c"vchordrq");
    let (problems, _) = vchord_ivf::verify(&rel.store());
    rel.close();
    crate::pg::fmgr::text_array(&problems)
});
