//! Index access methods. `rq` is vchordrq (IVF + RaBitQ); the plumbing shared by access
//! methods (opclass info, reading key datums, TIDs, errors) lives here.
pub mod g;
pub mod rq;
pub mod scan;

use crate::pg::error::*;
use crate::pg::pg_try;
use crate::pg::sys;
use half::f16;
use std::ffi::{CStr, c_char, c_int};
use vchord_base::info::json_str;
use vchord_base::page::Addr;
use vchord_base::{Corrupt, Elem, Metric};

/// What an opclass's support function 1 returns: element type and metric, packed.
pub fn opclass_code(elem: Elem, metric: Metric) -> i32 {
    (match elem {
        Elem::F32 => 0,
        Elem::F16 => 16,
    }) + match metric {
        Metric::L2 => 0,
        Metric::Ip => 1,
        Metric::Cos => 2,
        Metric::L1 => 3,
    }
}

/// The element type and metric of an index's first column, from its opclass.
pub fn opclass_of(index: sys::Relation) -> (Elem, Metric) {
    let code = unsafe { crate::pg::pg_try(|| sys::vchord_shim_index_support(index)) };
    let elem = if code & 16 != 0 { Elem::F16 } else { Elem::F32 };
    let metric = match code & 15 {
        0 => Metric::L2,
        1 => Metric::Ip,
        2 => Metric::Cos,
        3 => Metric::L1,
        _ => error(
            ERRCODE_INTERNAL_ERROR,
            format!("unknown operator class code {code}"),
        ),
    };
    (elem, metric)
}

/// A key datum's elements as f32 (exact for halfvec) and as stored bytes.
pub fn read_key(elem: Elem, d: sys::Datum) -> (Vec<f32>, Vec<u8>) {
    let bytes = key_bytes(elem, d);
    let floats = match elem {
        Elem::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        Elem::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes(c.try_into().unwrap()).to_f32())
            .collect(),
    };
    (floats, bytes)
}

/// Calls `f` with the key's elements as f32: the datum's own memory for a vector (no copy), a
/// decoded copy for a halfvec. For scans that need only the floats once (a build's sample).
pub fn with_key_floats<R>(elem: Elem, d: sys::Datum, f: impl FnOnce(&[f32]) -> R) -> R {
    match elem {
        Elem::F32 => f(crate::types::read::<f32>(d)),
        Elem::F16 => {
            let v: Vec<f32> = crate::types::read::<f16>(d)
                .iter()
                .map(|x| x.to_f32())
                .collect();
            f(&v)
        }
    }
}

/// The key's elements as the index stores them (little-endian, in the column's element type):
/// all a rerank needs.
pub fn key_bytes(elem: Elem, d: sys::Datum) -> Vec<u8> {
    match elem {
        Elem::F32 => le_bytes(crate::types::read::<f32>(d), f32::to_le_bytes),
        Elem::F16 => le_bytes(crate::types::read::<f16>(d), f16::to_le_bytes),
    }
}

/// The elements' little-endian bytes: one copy of their memory where the CPU is little-endian
/// (a rerank from the table reads a whole vector per candidate; element by element, a 784-d
/// vector took longer to copy than to compare).
fn le_bytes<T: Copy, const N: usize>(v: &[T], each: fn(T) -> [u8; N]) -> Vec<u8> {
    debug_assert_eq!(std::mem::size_of::<T>(), N);
    #[cfg(target_endian = "little")]
    {
        let _ = each;
        // SAFETY: `v` is `len * N` initialised bytes of plain numbers (f32 or f16, no padding),
        // and on a little-endian CPU their memory is their little-endian encoding.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
            .to_vec()
    }
    #[cfg(not(target_endian = "little"))]
    {
        v.iter().flat_map(|&x| each(x)).collect()
    }
}

pub fn check_dims(want: u32, got: usize) {
    if want as usize != got {
        Error::new(
            ERRCODE_DATA_EXCEPTION,
            format!("expected {want} dimensions, not {got}"),
        )
        .raise();
    }
}

/// [`check_dims`] for a row a build reads: the error names the row's heap TID.
pub fn check_row_dims(want: u32, got: usize, tid: *const sys::ItemPointerData) {
    if want as usize != got {
        let t = tid_of(unsafe { &*tid });
        Error::new(
            ERRCODE_DATA_EXCEPTION,
            format!("expected {want} dimensions, not {got}"),
        )
        .detail(format!("The row at ctid ({},{}) has {got} dimensions.", t.blk, t.off))
        .hint("Every row of an indexed column must have the same dimensions; declare it as vector(n).")
        .raise();
    }
}

pub fn tid_of(p: &sys::ItemPointerData) -> Addr {
    Addr {
        blk: ((p.ip_blkid.bi_hi as u32) << 16) | p.ip_blkid.bi_lo as u32,
        off: p.ip_posid,
    }
}

pub fn set_tid(p: &mut sys::ItemPointerData, a: Addr) {
    p.ip_blkid.bi_hi = (a.blk >> 16) as u16;
    p.ip_blkid.bi_lo = a.blk as u16;
    p.ip_posid = a.off;
}

pub fn relname(rel: sys::Relation) -> String {
    unsafe {
        std::ffi::CStr::from_ptr(sys::vchord_shim_relname(rel))
            .to_string_lossy()
            .into_owned()
    }
}

/// Raises index corruption (XX002) naming the index; an index of an on-disk format this
/// vchord does not read (built by another version) is 55000 instead, saying to REINDEX.
pub fn raise_corrupt(rel: sys::Relation, e: Corrupt) -> ! {
    if let Some(found) = e.format {
        let name = relname(rel);
        Error::new(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "index \"{name}\" has on-disk format version {found}, which this version of vchord does not read"
            ),
        )
        .hint(format!(
            "REINDEX INDEX {name} rebuilds it in the current format; vchord_index_info('{name}') shows the index's format."
        ))
        .raise()
    }
    Error::new(
        ERRCODE_INDEX_CORRUPTED,
        format!("index \"{}\" is corrupted: {}", relname(rel), e.message),
    )
    .hint("REINDEX the index.")
    .raise()
}

pub trait OrCorrupt<T> {
    fn or_corrupt(self, rel: sys::Relation) -> T;
}
impl<T> OrCorrupt<T> for vchord_base::Result<T> {
    fn or_corrupt(self, rel: sys::Relation) -> T {
        self.unwrap_or_else(|e| raise_corrupt(rel, e))
    }
}

/// palloc0'd node of `size` bytes (makeNode without the tag).
pub fn palloc0<T>() -> *mut T {
    unsafe { crate::pg::pg_try(|| sys::palloc0(size_of::<T>())) as *mut T }
}

// ---- options -----------------------------------------------------------------------------

/// rd_options of a vchord index: the varlena header and the offset of the TOML string.
#[repr(C)]
struct RelOptions {
    vl_len_: i32,
    options: c_int,
}

/// amoptions for an access method whose one reloption, `options`, is registered in `kind`.
/// A parameter of another name (pgvector's `lists = 100`, `m = 16`) is refused with a hint
/// that shows the `options` form.
pub fn build_options<O: AmOptions>(
    reloptions: sys::Datum,
    validate: bool,
    kind: sys::relopt_kind::Type,
) -> *mut sys::bytea {
    if validate {
        let mut buf = [0 as c_char; 64];
        let unknown = unsafe {
            pg_try(|| sys::vchord_shim_unknown_reloption(reloptions, buf.as_mut_ptr(), buf.len()))
        };
        if unknown {
            let name = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
            Error::new(
                ERRCODE_INVALID_PARAMETER_VALUE,
                format!("unrecognized parameter \"{name}\" for a {} index", O::AM),
            )
            .hint(format!(
                "{} takes its settings as TOML in one parameter, e.g. WITH ({}).",
                O::AM,
                O::EXAMPLE
            ))
            .raise();
        }
    }
    let tab = [sys::relopt_parse_elt {
        optname: c"options".as_ptr(),
        opttype: sys::relopt_type::RELOPT_TYPE_STRING,
        offset: std::mem::offset_of!(RelOptions, options) as c_int,
        #[cfg(pg_ge18)]
        isset_offset: 0,
    }];
    let p = tab.as_ptr();
    unsafe {
        pg_try(|| sys::build_reloptions(reloptions, validate, kind, size_of::<RelOptions>(), p, 1))
            as *mut sys::bytea
    }
}

/// Called by the shim's ProcessUtility hook before `ALTER INDEX ... SET (options = ...)` (or
/// `RESET (options)`) runs, for any relation: when it is a vchordrq or vchordg index and the
/// new text changes its build options, a WARNING says they take effect at its next REINDEX
/// (the `[search]` defaults take effect for new scans at once). The ALTER itself validates
/// the text afterwards, as always.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vchord_alter_options(oid: sys::Oid, value: *const c_char) {
    unsafe { crate::pg::boundary(|| alter_options(oid, value)) }
}

fn alter_options(oid: sys::Oid, value: *const c_char) {
    let rel = unsafe { pg_try(|| sys::vchord_shim_try_index_open(oid)) };
    if rel.is_null() {
        return;
    }
    let am = unsafe { (*(*rel).rd_rel).relam };
    let (old, name) = (options_text(rel), relname(rel));
    close_index(rel);
    let am_oid = |n: &CStr| unsafe { pg_try(|| sys::get_index_am_oid(n.as_ptr(), true)) };
    let new = (!value.is_null()).then(|| {
        unsafe { CStr::from_ptr(value) }
            .to_string_lossy()
            .into_owned()
    });
    let changed = if am == am_oid(c"vchordrq") {
        build_changed(old, new, |o: &mut vchord_ivf::options::Options| {
            o.search = Default::default()
        })
    } else if am == am_oid(c"vchordg") {
        build_changed(old, new, |o: &mut vchord_graph::options::Options| {
            o.search = Default::default()
        })
    } else {
        return;
    };
    if changed {
        crate::pg::guard::report(
            sys::WARNING,
            &format!(
                "the new build options of index \"{name}\" take effect at its next REINDEX; until then it keeps the lists, codes and graph it was built with (its [search] defaults change at once)"
            ),
        );
    }
}

/// Whether options `new` differ from `old` outside `[search]` (`clear` empties it); a text
/// that does not parse changes nothing here (the ALTER refuses it itself).
fn build_changed<O: AmOptions + PartialEq>(
    old: Option<String>,
    new: Option<String>,
    clear: fn(&mut O),
) -> bool {
    let parse = |t: Option<String>| t.map_or_else(|| Ok(O::default()), |t| O::parse(&t));
    match (parse(old), parse(new)) {
        (Ok(mut a), Ok(mut b)) => {
            clear(&mut a);
            clear(&mut b);
            a != b
        }
        _ => false,
    }
}

/// An access method's typed options (TOML in `WITH (options = ...)`).
pub trait AmOptions: Default + Sized {
    /// The access method, for messages.
    const AM: &'static str;
    /// An example for the error's hint.
    const EXAMPLE: &'static str;
    fn parse(text: &str) -> Result<Self, String>;
}

impl AmOptions for vchord_ivf::options::Options {
    const AM: &'static str = "vchordrq";
    const EXAMPLE: &'static str = "options = $$[build.internal]\nlists = [1000]$$";
    fn parse(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

impl AmOptions for vchord_graph::options::Options {
    const AM: &'static str = "vchordg";
    const EXAMPLE: &'static str = "options = $$m = 32\nef_construction = 64$$";
    fn parse(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

/// Parses options, or raises 22023 naming the key at fault.
pub fn parse_options<O: AmOptions>(text: &str) -> O {
    O::parse(text).unwrap_or_else(|e| {
        Error::new(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("invalid {} options: {e}", O::AM),
        )
        .hint(format!(
            "See the README for the option keys, e.g. {}.",
            O::EXAMPLE
        ))
        .raise()
    })
}

/// The options of an index (defaults when none were given).
pub fn index_options<O: AmOptions>(index: sys::Relation) -> O {
    options_text(index).map_or_else(O::default, |t| parse_options(&t))
}

/// The `options` reloption's validator: a bad value fails CREATE INDEX / ALTER INDEX.
pub unsafe extern "C-unwind" fn validate_options<O: AmOptions>(value: *const c_char) {
    unsafe {
        crate::pg::boundary(|| {
            if !value.is_null() {
                parse_options::<O>(&CStr::from_ptr(value).to_string_lossy());
            }
        })
    }
}

/// amvalidate: the opclasses are created by the extension script only, with their operators
/// and support function; there is nothing a user can get wrong.
pub unsafe extern "C-unwind" fn amvalidate(_opclass: sys::Oid) -> bool {
    unsafe { crate::pg::boundary(|| true) }
}

/// The `options` text of an index, if one was given.
pub fn options_text(index: sys::Relation) -> Option<String> {
    unsafe {
        let raw = (*index).rd_options as *const RelOptions;
        if raw.is_null() || (*raw).options == 0 {
            return None;
        }
        let s = CStr::from_ptr((raw as *const c_char).add((*raw).options as usize));
        Some(s.to_string_lossy().into_owned())
    }
}

/// Registers the reloption kind of an access method and its `options` string, checked by
/// `validate`.
pub fn register_options(
    what: &'static CStr,
    validate: unsafe extern "C-unwind" fn(*const c_char),
) -> sys::relopt_kind::Type {
    unsafe {
        let kind = pg_try(|| sys::add_reloption_kind());
        pg_try(|| {
            sys::add_string_reloption(
                kind as u32,
                c"options".as_ptr(),
                what.as_ptr(),
                std::ptr::null(),
                Some(validate),
                sys::AccessExclusiveLock as c_int,
            )
        });
        kind
    }
}

// ---- functions shared by the access methods ----------------------------------------------

/// Opens `oid` as an index of access method `am` (AccessShareLock), or raises a clear error.
pub fn open_index(oid: sys::Oid, am: &CStr) -> sys::Relation {
    let rel = open_relation(oid);
    let ours = unsafe {
        let want = pg_try(|| sys::get_index_am_oid(am.as_ptr(), false));
        (*(*rel).rd_rel).relam == want
    };
    if !ours {
        let name = relname(rel);
        close_index(rel);
        Error::new(
            ERRCODE_WRONG_OBJECT_TYPE,
            format!("\"{name}\" is not a {} index", am.to_string_lossy()),
        )
        .raise();
    }
    rel
}

/// Opens `oid` (AccessShareLock) as an index of vchordrq or vchordg, or raises a clear error;
/// true with it when it is vchordg's.
pub fn open_vchord_index(oid: sys::Oid) -> (sys::Relation, bool) {
    let rel = open_relation(oid);
    let am = unsafe { (*(*rel).rd_rel).relam };
    let am_oid = |n: &CStr| unsafe { pg_try(|| sys::get_index_am_oid(n.as_ptr(), true)) };
    if am == am_oid(c"vchordrq") {
        return (rel, false);
    }
    if am == am_oid(c"vchordg") {
        return (rel, true);
    }
    let name = relname(rel);
    close_index(rel);
    Error::new(
        ERRCODE_WRONG_OBJECT_TYPE,
        format!("\"{name}\" is not a vchordrq or vchordg index"),
    )
    .raise()
}

/// Opens relation `oid` (AccessShareLock), or raises 42704 when there is none.
fn open_relation(oid: sys::Oid) -> sys::Relation {
    let rel = unsafe { pg_try(|| sys::vchord_shim_try_index_open(oid)) };
    if rel.is_null() {
        Error::new(
            ERRCODE_UNDEFINED_OBJECT,
            format!("index with OID {oid} does not exist"),
        )
        .raise();
    }
    rel
}

pub fn close_index(rel: sys::Relation) {
    unsafe { pg_try(|| sys::index_close(rel, sys::AccessShareLock as c_int)) };
}

/// Reads every page of index `oid` (of access method `am`) into shared buffers.
pub fn prewarm(oid: sys::Oid, am: &CStr) -> sys::Datum {
    let rel = open_index(oid, am);
    let store = unsafe { crate::pg::buffer::Rel::new(rel) };
    use vchord_base::Store;
    let n = store.nblocks();
    for blk in 0..n {
        drop(store.read(blk));
        if blk % 256 == 0 {
            crate::pg::check_for_interrupts();
        }
    }
    close_index(rel);
    crate::pg::fmgr::text_datum(&format!("prewarmed {n} pages"))
}

// ---- scans ---------------------------------------------------------------------------------

/// Refuses a scan under a snapshot that is not MVCC (`am` names the access method).
pub fn require_mvcc(scan: sys::IndexScanDesc, am: &str) {
    if !unsafe { sys::vchord_shim_is_mvcc((*scan).xs_snapshot) } {
        Error::new(
            ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("{am} indexes support only MVCC snapshots"),
        )
        .raise();
    }
}

/// Starts reading keys back from the scan's table (rerank_in_table).
pub fn fetch_begin(scan: sys::IndexScanDesc, am: &str) -> *mut sys::VchordFetch {
    unsafe {
        let heap = (*scan).heapRelation;
        if heap.is_null() {
            error(
                ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("a {am} index with rerank_in_table needs the table to scan"),
            );
        }
        let index = (*scan).indexRelation;
        pg_try(|| sys::vchord_shim_fetch_begin(heap, index))
    }
}

/// The key bytes of the version of `tid` visible to `snapshot`; `None` when none is.
pub fn fetch_key(
    f: *mut sys::VchordFetch,
    snapshot: sys::Snapshot,
    elem: Elem,
    tid: Addr,
) -> Option<Vec<u8>> {
    unsafe {
        let mut t: sys::ItemPointerData = std::mem::zeroed();
        set_tid(&mut t, tid);
        let mut key: sys::Datum = std::mem::zeroed();
        let mut isnull = false;
        let found =
            pg_try(|| sys::vchord_shim_fetch_key(f, &mut t, snapshot, &mut key, &mut isnull));
        (found && !isnull).then(|| key_bytes(elem, key))
    }
}

/// Ends a fetch begun by [`fetch_begin`] (null: nothing to do).
pub fn fetch_end(f: *mut sys::VchordFetch) {
    if !f.is_null() {
        unsafe { pg_try(|| sys::vchord_shim_fetch_end(f)) };
    }
}

/// Fills the scan's result slot: heap TID and ORDER BY value (`None`: NULL, for a NULL query).
pub fn emit(scan: sys::IndexScanDesc, tid: Addr, distance: Option<f64>, recheck: bool) {
    unsafe {
        set_tid(&mut (*scan).xs_heaptid, tid);
        (*scan).xs_recheck = recheck;
        (*scan).xs_recheckorderby = false;
        *(*scan).xs_orderbyvals = distance.map_or(0, crate::pg::fmgr::datum_f64);
        *(*scan).xs_orderbynulls = distance.is_none();
    }
}

/// RelationGetIndexScan plus room for the ORDER BY values.
pub fn begin_scan(index: sys::Relation, nkeys: c_int, norderbys: c_int) -> sys::IndexScanDesc {
    unsafe {
        let scan = pg_try(|| sys::RelationGetIndexScan(index, nkeys, norderbys));
        let n = norderbys.max(1) as usize;
        (*scan).xs_orderbyvals = pg_try(|| sys::palloc0(n * size_of::<sys::Datum>())).cast();
        (*scan).xs_orderbynulls = pg_try(|| sys::palloc0(n * size_of::<bool>())).cast();
        scan
    }
}

/// amrescan's copying of the keys into the scan; returns the ORDER BY query (`None`: no
/// ORDER BY, or a NULL query).
pub fn rescan_keys(
    scan: sys::IndexScanDesc,
    keys: sys::ScanKey,
    nkeys: c_int,
    orderbys: sys::ScanKey,
    norderbys: c_int,
    elem: Elem,
) -> Option<Vec<f32>> {
    unsafe {
        if !keys.is_null() && nkeys > 0 {
            std::ptr::copy(keys, (*scan).keyData, nkeys as usize);
        }
        if !orderbys.is_null() && norderbys > 0 {
            std::ptr::copy(orderbys, (*scan).orderByData, norderbys as usize);
        }
        if (*scan).numberOfOrderBys > 0 {
            let key = &*(*scan).orderByData;
            if key.sk_flags & sys::SK_ISNULL as c_int != 0 {
                None
            } else {
                Some(read_key(elem, key.sk_argument).0)
            }
        } else {
            None
        }
    }
}

pub fn forward_only(dir: sys::ScanDirection::Type, am: &str) {
    if dir != sys::ScanDirection::ForwardScanDirection {
        error(
            ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("{am} indexes only scan forward"),
        );
    }
}

/// Signals belong to the backend's own thread: build threads block them all.
pub fn block_signals() {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// The cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Threads of a build's in-memory phases for an option value. 0 follows PostgreSQL's own
/// budget for the build, as a parallel B-tree or HNSW build does: one thread for the leader
/// and one for each parallel worker it was given (`workers`; builds that PostgreSQL does not
/// plan workers for pass max_parallel_maintenance_workers), at most the machine's cores. So
/// `max_parallel_maintenance_workers = 0` keeps a build on one core.
pub fn build_threads(opt: u32, workers: Option<usize>) -> usize {
    if opt > 0 {
        return opt as usize;
    }
    let workers = workers.unwrap_or_else(|| {
        unsafe { sys::vchord_shim_max_parallel_maintenance_workers() }.max(0) as usize
    });
    (1 + workers).min(cores())
}

/// The store of an index that ambuild is to fill (it must have no pages yet): a build store
/// (no WAL per change), so the build ends with [`log_built_index`].
pub fn new_index_store(index: sys::Relation) -> crate::pg::buffer::Rel {
    use vchord_base::Store;
    let store = unsafe { crate::pg::buffer::Rel::new(index) }.for_build();
    if store.nblocks() != 0 {
        error(
            ERRCODE_INTERNAL_ERROR,
            format!("index \"{}\" already contains data", relname(index)),
        );
    }
    store
}

/// WAL-logs a finished build's pages (see [`crate::pg::buffer::Rel::for_build`]).
pub fn log_built_index(index: sys::Relation) {
    unsafe { crate::pg::buffer::Rel::new(index) }.log_all();
}

/// The table's row count as the build should plan for it: pg_class.reltuples, or the
/// planner's size estimate for a table never vacuumed or analyzed.
pub fn table_rows(heap: sys::Relation) -> f64 {
    unsafe { pg_try(|| sys::vchord_shim_reltuples(heap)) }.max(0.0)
}

/// What ambuild returns.
pub fn build_result(heap_tuples: f64, index_tuples: f64) -> *mut sys::IndexBuildResult {
    let res = palloc0::<sys::IndexBuildResult>();
    unsafe {
        (*res).heap_tuples = heap_tuples;
        (*res).index_tuples = index_tuples;
    }
    res
}

pub fn progress(param: u32, value: i64) {
    unsafe { pg_try(|| sys::vchord_shim_progress(param as c_int, value)) };
}

/// An IndexAmRoutine with what vchord's access methods share (ORDER BY operators, forward
/// scans only, no uniqueness, maintenance_work_mem for builds, parallel bulk delete); `set`
/// adds the callbacks and what differs.
pub fn am_routine(set: impl FnOnce(&mut sys::IndexAmRoutine)) -> sys::Datum {
    let r = palloc0::<sys::IndexAmRoutine>();
    let a = unsafe { &mut *r };
    a.type_ = sys::NodeTag::T_IndexAmRoutine;
    a.amsupport = 1;
    a.amcanorderbyop = true;
    a.amoptionalkey = true;
    a.amusemaintenanceworkmem = true;
    a.amparallelvacuumoptions = sys::VACUUM_OPTION_PARALLEL_BULKDEL as u8;
    a.amkeytype = sys::InvalidOid;
    // Everything else (flags false, callbacks None) is palloc0's zero.
    set(a);
    r as sys::Datum
}

/// Vacuum statistics: the ones given, or new ones.
pub fn stats_or_new(stats: *mut sys::IndexBulkDeleteResult) -> *mut sys::IndexBulkDeleteResult {
    if stats.is_null() {
        palloc0::<sys::IndexBulkDeleteResult>()
    } else {
        stats
    }
}

/// disable_cost: what the planner adds for a disabled path.
const DISABLED: f64 = 1.0e10;

/// What an access method's cost model gives: startup and total cost, pages read and the
/// selectivity of the index quals.
pub struct Costs {
    pub startup: f64,
    pub total: f64,
    pub pages: f64,
    pub selectivity: f64,
}

/// Defines `amcostestimate` for an access method: `estimate_costs` with its `enabled` flag and
/// cost `model`.
#[macro_export]
macro_rules! am_costestimate {
    ($enabled:expr, $model:expr) => {
        #[allow(clippy::too_many_arguments)]
        pub unsafe extern "C-unwind" fn amcostestimate(
            root: *mut sys::PlannerInfo,
            path: *mut sys::IndexPath,
            loop_count: f64,
            startup: *mut sys::Cost,
            total: *mut sys::Cost,
            selectivity: *mut sys::Selectivity,
            correlation: *mut f64,
            pages: *mut f64,
        ) {
            let out = (startup, total, selectivity, correlation, pages);
            let model: fn(&sys::VchordPathInfo, sys::Relation) -> $crate::index::Costs = $model;
            unsafe {
                $crate::pg::boundary(|| {
                    $crate::index::estimate_costs(root, path, loop_count, out, $enabled, model)
                })
            }
        }
    };
}

/// amcostestimate's frame: a path without ORDER BY distance (which the index cannot serve)
/// or with the access method disabled gets disable_cost; else `model` prices it.
#[allow(clippy::too_many_arguments)]
pub fn estimate_costs(
    root: *mut sys::PlannerInfo,
    path: *mut sys::IndexPath,
    loop_count: f64,
    out: (
        *mut sys::Cost,
        *mut sys::Cost,
        *mut sys::Selectivity,
        *mut f64,
        *mut f64,
    ),
    enabled: bool,
    model: impl FnOnce(&sys::VchordPathInfo, sys::Relation) -> Costs,
) {
    let (startup, total, selectivity, correlation, pages) = out;
    unsafe {
        let mut info: sys::VchordPathInfo = std::mem::zeroed();
        let ip: *mut sys::VchordPathInfo = &raw mut info;
        pg_try(|| sys::vchord_shim_path_info(root, path, loop_count, ip));
        *selectivity = 1.0;
        *correlation = 0.0;
        *pages = info.index_pages;
        if !info.has_orderbys || !enabled {
            *startup = DISABLED;
            *total = DISABLED;
            return;
        }
        let index = pg_try(|| sys::index_open(info.indexoid, sys::NoLock as c_int));
        let c = model(&info, index);
        pg_try(|| sys::index_close(index, sys::NoLock as c_int));
        *startup = c.startup;
        *total = c.total;
        *pages = c.pages;
        *selectivity = c.selectivity;
    }
}

/// ambulkdelete's frame: `delete(store, dead)` removes the entries whose heap TID `dead` says
/// is gone and returns (removed, kept); the statistics are filled in here.
pub fn bulk_delete_with(
    info: *mut sys::IndexVacuumInfo,
    stats: *mut sys::IndexBulkDeleteResult,
    callback: sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
    delete: impl FnOnce(
        crate::pg::buffer::Rel,
        &mut dyn FnMut(Addr) -> bool,
    ) -> vchord_base::Result<(u64, u64)>,
) -> *mut sys::IndexBulkDeleteResult {
    use vchord_base::Store;
    unsafe {
        let stats = stats_or_new(stats);
        let index = (*info).index;
        let store = crate::pg::buffer::Rel::new(index).for_vacuum();
        let cb = callback.expect("bulk delete without a callback");
        let mut tid: sys::ItemPointerData = std::mem::zeroed();
        let tp: *mut sys::ItemPointerData = &raw mut tid;
        let (removed, kept) = delete(store, &mut |a| {
            set_tid(&mut *tp, a);
            pg_try(|| cb(tp, callback_state))
        })
        .or_corrupt(index);
        (*stats).tuples_removed += removed as f64;
        (*stats).num_index_tuples = kept as f64;
        (*stats).num_pages = store.nblocks();
        stats
    }
}

/// amvacuumcleanup's frame: when no bulk delete ran (nothing to remove), `count(store)` gives
/// the entries for the statistics.
pub fn vacuum_cleanup_with(
    info: *mut sys::IndexVacuumInfo,
    stats: *mut sys::IndexBulkDeleteResult,
    tidy: impl FnOnce(&crate::pg::buffer::Rel) -> vchord_base::Result<()>,
    count: impl FnOnce(crate::pg::buffer::Rel) -> vchord_base::Result<u64>,
) -> *mut sys::IndexBulkDeleteResult {
    use vchord_base::Store;
    unsafe {
        if (*info).analyze_only {
            return stats;
        }
        let index = (*info).index;
        let store = crate::pg::buffer::Rel::new(index).for_vacuum();
        tidy(&store).or_corrupt(index);
        let stats = if stats.is_null() {
            let s = stats_or_new(stats);
            (*s).num_index_tuples = count(store).or_corrupt(index) as f64;
            (*s).estimated_count = false;
            s
        } else {
            stats
        };
        (*stats).num_pages = store.nblocks();
        stats
    }
}

/// ambuildphasename over a table of (phase, name); null for an unknown phase.
pub fn phase_name(phase: i64, names: &[(i64, &'static CStr)]) -> *mut c_char {
    names
        .iter()
        .find(|x| x.0 == phase)
        .map_or(std::ptr::null_mut(), |x| x.1.as_ptr() as *mut c_char)
}

// vchord_index_info(regclass) -> jsonb: the access method, on-disk format (the one recorded and
// the one this vchord reads), options, size and build parameters of a vchord index. Works on
// an index of an unreadable format too (to say what it is).
crate::pg_fn!(vchord_index_info, |fc| {
    let (rel, graph) = open_vchord_index(fc.datum(0) as sys::Oid);
    let (name, options) = (relname(rel), options_text(rel));
    let store = unsafe { crate::pg::buffer::Rel::new(rel) };
    let nblocks = vchord_base::Store::nblocks(&store);
    let mut fields: Vec<(&str, String)> = vec![("index", json_str(&name))];
    let (reads, meta) = if graph {
        fields.push(("access_method", json_str("vchordg")));
        let d = vchord_graph::read_meta(&store).map(|m| vchord_graph::describe(&m));
        (vchord_graph::FORMAT_VERSION, d)
    } else {
        fields.push(("access_method", json_str("vchordrq")));
        let d = vchord_ivf::read_meta(&store).map(|m| vchord_ivf::describe(&m));
        (vchord_ivf::FORMAT_VERSION, d)
    };
    let found = vchord_base::info::format_version(&store);
    close_index(rel);
    fields.push((
        "format_version",
        found.map_or("null".into(), |v| v.to_string()),
    ));
    fields.push(("format_version_read", reads.to_string()));
    fields.push((
        "options",
        options.as_deref().map_or("null".into(), json_str),
    ));
    fields.push(("pages", nblocks.to_string()));
    fields.push(("bytes", (nblocks as u64 * sys::BLCKSZ as u64).to_string()));
    match meta {
        Ok(d) => {
            fields.push(("usable", "true".into()));
            fields.extend(d);
        }
        Err(e) => {
            fields.push(("usable", "false".into()));
            fields.push(("problem", json_str(&e.message)));
        }
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {v}", json_str(k)))
        .collect();
    let text = std::ffi::CString::new(format!("{{{}}}", body.join(", "))).unwrap_or_default();
    unsafe { pg_try(|| sys::vchord_shim_jsonb_in(text.as_ptr())) }
});
