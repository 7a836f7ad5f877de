//! vchordrq: the handler, options and settings. The callbacks live one group per file, as in
//! contrib/bloom: build (ambuild, ambuildempty), insert, scan, vacuum, cost.
mod build;
mod cost;
mod insert;
mod scan;
mod vacuum;

use super::*;
use crate::pg::guc::{self, Guc};
use crate::pg::{boundary, pg_try};
use std::ffi::{CStr, c_char, c_int, c_void};
use vchord_ivf::options::{self, Options};

// ---- settings --------------------------------------------------------------------------

static PROBES: Guc<*mut c_char> = Guc::new(std::ptr::null_mut());
static EPSILON: Guc<f64> = Guc::new(1.9);
static MAX_SCAN_TUPLES: Guc<c_int> = Guc::new(-1);
static ENABLE_SCAN: Guc<bool> = Guc::new(true);
static STRICT_ORDER: Guc<bool> = Guc::new(true);

unsafe extern "C-unwind" fn check_probes(
    newval: *mut *mut c_char,
    _extra: *mut *mut c_void,
    _source: sys::GucSource::Type,
) -> bool {
    unsafe {
        boundary(|| {
            let v = if (*newval).is_null() {
                String::new()
            } else {
                CStr::from_ptr(*newval).to_string_lossy().into_owned()
            };
            match options::parse_probes(&v) {
                Ok(_) => true,
                Err(e) => {
                    guc::check_detail(&e);
                    false
                }
            }
        })
    }
}

pub fn init() {
    guc::define_string(
        c"vchordrq.probes",
        c"Lists to probe per level, e.g. '10' or '8,64'; empty: the index's default.",
        &PROBES,
        c"",
        Some(check_probes),
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
    let kind = register_options(c"vchordrq options, in TOML", validate_options::<Options>);
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
fn current_search(index: sys::Relation, meta: &vchord_ivf::Meta) -> vchord_ivf::Meta {
    let o: Options = index_options(index);
    vchord_ivf::Meta {
        probes: o.search.probes,
        epsilon: o.search.epsilon.map(|e| e as f32),
        max_scan_tuples: o.search.max_scan_tuples.map(|m| m as i32),
        ..meta.clone()
    }
}

/// Search settings for a scan of `index`: set GUCs win over the index's `[search]` defaults.
pub fn settings(index: sys::Relation, meta: &vchord_ivf::Meta) -> Settings {
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

// ---- options ---------------------------------------------------------------------------

unsafe extern "C-unwind" fn amoptions(reloptions: sys::Datum, validate: bool) -> *mut sys::bytea {
    unsafe {
        boundary(|| build_options::<Options>(reloptions, validate, RELOPT_KIND.with(|k| k.get())))
    }
}

pub const PHASE_SAMPLE: i64 = 2;
pub const PHASE_KMEANS: i64 = 3;
pub const PHASE_INSERT: i64 = 4;

unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut c_char {
    let names = [
        (PHASE_SAMPLE, c"sampling rows"),
        (PHASE_KMEANS, c"clustering (k-means)"),
        (PHASE_INSERT, c"inserting rows"),
    ];
    unsafe { boundary(|| phase_name(phase, &names)) }
}

// ---- handler ---------------------------------------------------------------------------

crate::pg_fn!(vchord_rq_amhandler, |fc| {
    am_routine(|a| {
        a.amstrategies = 1;
        a.ambuild = Some(build::ambuild);
        a.ambuildempty = Some(build::ambuildempty);
        a.aminsert = Some(insert::aminsert);
        a.ambulkdelete = Some(vacuum::ambulkdelete);
        a.amvacuumcleanup = Some(vacuum::amvacuumcleanup);
        a.amcostestimate = Some(cost::amcostestimate);
        a.amoptions = Some(amoptions);
        a.ambuildphasename = Some(ambuildphasename);
        a.amvalidate = Some(amvalidate);
        a.ambeginscan = Some(scan::ambeginscan);
        a.amrescan = Some(scan::amrescan);
        a.amgettuple = Some(scan::amgettuple);
        a.amendscan = Some(scan::amendscan);
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
    let store = unsafe { crate::pg::buffer::Rel::new(rel) };
    let (problems, _) = vchord_ivf::verify(&store);
    close_index(rel);
    crate::pg::fmgr::text_array(&problems)
});
