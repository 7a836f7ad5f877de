//! vchordg: the handler, options and settings. The callbacks live one group per file, as for
//! vchordrq: build (ambuild, ambuildempty), insert, scan, vacuum, cost.
mod build;
mod cost;
mod insert;
mod scan;
mod vacuum;

use super::*;
use crate::pg::guc::{self, Guc};
use crate::pg::{boundary, pg_try};
use std::ffi::{CStr, c_char, c_int, c_void};
use vchord_graph::options::Options;

// ---- settings --------------------------------------------------------------------------

static EF_SEARCH: Guc<c_int> = Guc::new(64);
static MAX_SCAN_TUPLES: Guc<c_int> = Guc::new(-1);
static ENABLE_SCAN: Guc<bool> = Guc::new(true);
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
    let kind = register_options(c"vchordg options, in TOML", validate_options);
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
}

pub fn settings(meta: &vchord_graph::Meta) -> Settings {
    let ef = if guc::is_set(c"vchordg.ef_search") {
        EF_SEARCH.get() as usize
    } else {
        meta.ef_search
            .map_or(EF_SEARCH.get() as usize, |e| e as usize)
    };
    let max_scan_tuples = if guc::is_set(c"vchordg.max_scan_tuples") {
        MAX_SCAN_TUPLES.get() as i64
    } else {
        meta.max_scan_tuples
            .map_or(MAX_SCAN_TUPLES.get() as i64, |m| m as i64)
    };
    Settings {
        ef,
        epsilon: meta.epsilon.unwrap_or(EPSILON),
        max_scan_tuples,
    }
}

// ---- options ---------------------------------------------------------------------------

unsafe extern "C-unwind" fn validate_options(value: *const c_char) {
    unsafe {
        boundary(|| {
            if !value.is_null() {
                parse_options(&CStr::from_ptr(value).to_string_lossy());
            }
        })
    }
}

fn parse_options(text: &str) -> Options {
    Options::parse(text).unwrap_or_else(|e| {
        Error::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("invalid vchordg options: {e}"),
        )
        .hint(
            "See the README for the option keys, e.g. options = $$m = 32\nef_construction = 64$$.",
        )
        .raise()
    })
}

pub fn options_of(index: sys::Relation) -> Options {
    options_text(index).map_or_else(Options::default, |t| parse_options(&t))
}

unsafe extern "C-unwind" fn amoptions(reloptions: sys::Datum, validate: bool) -> *mut sys::bytea {
    unsafe { boundary(|| build_options(reloptions, validate, RELOPT_KIND.with(|k| k.get()))) }
}

unsafe extern "C-unwind" fn amvalidate(_opclass: sys::Oid) -> bool {
    // The opclasses are created by the extension script only.
    unsafe { boundary(|| true) }
}

pub const PHASE_LOAD: i64 = 2;
pub const PHASE_GRAPH: i64 = 3;
pub const PHASE_WRITE: i64 = 4;
pub const PHASE_INSERT: i64 = 5;

unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut c_char {
    unsafe {
        boundary(|| {
            let name: &'static CStr = match phase {
                PHASE_LOAD => c"loading rows",
                PHASE_GRAPH => c"building graph",
                PHASE_WRITE => c"writing index",
                PHASE_INSERT => c"inserting rows",
                _ => return std::ptr::null_mut(),
            };
            name.as_ptr() as *mut c_char
        })
    }
}

/// Support function 1 of the label opclass: marks the column as labels.
pub const LABELS_CODE: i32 = 100;

/// Checks the index's columns: a vector first, optionally labels second. Returns whether
/// there is a label column.
pub fn columns(index: sys::Relation) -> bool {
    let natts = unsafe { sys::vchord_shim_index_natts(index) };
    let first = unsafe { pg_try(|| sys::vchord_shim_index_support_att(index, 1)) };
    if first == LABELS_CODE {
        error(
            ERRCODE_FEATURE_NOT_SUPPORTED,
            "the first column of a vchordg index must be the vector; labels come second",
        );
    }
    match natts {
        1 => false,
        2 => {
            if unsafe { pg_try(|| sys::vchord_shim_index_support_att(index, 2)) } != LABELS_CODE {
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
    let mut buf = vec![0i16; max];
    let n = unsafe { pg_try(|| sys::vchord_shim_labels(d, buf.as_mut_ptr(), max as c_int)) };
    if n < 0 {
        Error::new(
            ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("{what} at most {max} labels"),
        )
        .raise();
    }
    buf.truncate(n as usize);
    buf.sort_unstable();
    buf.dedup();
    buf
}

// ---- handler ---------------------------------------------------------------------------

crate::pg_fn!(vchord_g_amhandler, |fc| {
    am_routine(|a| {
        a.amstrategies = 2;
        a.amcanmulticol = true;
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
    let store = unsafe { crate::pg::buffer::Rel::new(rel) };
    let (problems, _, _) = vchord_graph::verify(&store);
    close_index(rel);
    crate::pg::fmgr::text_array(&problems)
});
