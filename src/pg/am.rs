//! Index access methods: every callback PostgreSQL calls is defined here once, generic over
//! [`IndexAm`], which vchordrq and vchordg implement in safe Rust (`src/index`). Each callback
//! turns its raw arguments into safe handles ([`Relation`], [`ScanDesc`], [`IndexInfo`]) and
//! runs the access method's code inside the error boundary.
use super::buffer;
use super::error::*;
use super::guard::{boundary, pg_try};
use super::memcxt::own;
use super::rel::Relation;
use super::scan::ScanDesc;
use super::sys;
use std::ffi::{CStr, c_char, c_int, c_void};
use vchord_base::page::Addr;

/// What the planner gives a cost estimate: the path's index, its row and page counts, loop
/// count and whether it orders by distance (`vchord_shim_path_info`).
pub type PathInfo = sys::VchordPathInfo;

/// What an access method's cost model gives: startup and total cost, pages read and the
/// selectivity of the index quals.
pub struct Costs {
    pub startup: f64,
    pub total: f64,
    pub pages: f64,
    pub selectivity: f64,
}

/// An access method, in safe Rust.
pub trait IndexAm: 'static {
    /// The access method's name, for messages.
    const NAME: &'static str;
    /// Build phases for `pg_stat_progress_create_index` (number, name).
    const PHASES: &'static [(i64, &'static CStr)];
    /// An `options` example for hints.
    const OPTIONS_EXAMPLE: &'static str;
    /// A scan's state, made by [`IndexAm::begin_scan`], dropped by amendscan or with the
    /// scan's memory context.
    type Scan: 'static;

    /// The reloption kind the access method registered its `options` under.
    fn relopt_kind() -> sys::relopt_kind::Type;
    /// Checks an `options` text (CREATE INDEX, ALTER INDEX): raises on a bad one.
    fn validate_options(text: &str);
    /// ambuild: indexes every row of `heap`; returns (heap tuples, index tuples).
    fn build(heap: Relation, index: Relation, info: IndexInfo) -> (f64, f64);
    /// ambuildempty: the init fork of an unlogged index.
    fn build_empty(index: Relation);
    /// aminsert: `values[i]` is column `i`'s datum, `None` for NULL.
    fn insert(index: Relation, values: &[Option<sys::Datum>], tid: Addr);
    /// ambulkdelete: removes the entries whose heap TID `dead` says is gone; (removed, kept).
    fn bulk_delete(
        store: &buffer::Rel,
        dead: &mut dyn FnMut(Addr) -> bool,
    ) -> vchord_base::Result<(u64, u64)>;
    /// amvacuumcleanup's own work (packing, say).
    fn vacuum_tidy(store: &buffer::Rel) -> vchord_base::Result<()>;
    /// The live entries, for vacuum's statistics when no bulk delete ran.
    fn vacuum_count(store: &buffer::Rel) -> vchord_base::Result<u64>;
    /// Whether the planner may use the access method (its `enable_scan` setting).
    fn enabled() -> bool;
    /// The cost of a path that orders by distance.
    fn costs(info: &PathInfo, index: Relation) -> Costs;
    fn begin_scan(index: Relation) -> Self::Scan;
    /// amrescan, once the keys are in the scan descriptor.
    fn rescan(scan: ScanDesc, state: &mut Self::Scan);
    /// amgettuple (forward): the next row into the scan's result slot, false at the end.
    fn gettuple(scan: ScanDesc, state: &mut Self::Scan) -> bool;
    /// amendscan, before the state is dropped.
    fn end_scan(state: &mut Self::Scan);
}

/// The `IndexInfo` of a build.
#[derive(Clone, Copy)]
pub struct IndexInfo(pub(crate) *mut sys::IndexInfo);

impl IndexInfo {
    /// The parallel workers the planner gave this build (always 0 before PostgreSQL 17).
    pub fn planned_workers(self) -> usize {
        #[cfg(pg_ge17)]
        {
            // SAFETY: reads the build's IndexInfo.
            unsafe { sys::vchord_shim_build_workers(self.0) }.max(0) as usize
        }
        #[cfg(not(pg_ge17))]
        0
    }
}

/// An IndexAmRoutine with what vchord's access methods share (ORDER BY operators, forward
/// scans only, no uniqueness, maintenance_work_mem for builds, parallel bulk delete) and
/// every callback of `A`; `set` adds what differs.
pub fn routine<A: IndexAm>(set: impl FnOnce(&mut sys::IndexAmRoutine)) -> sys::Datum {
    // SAFETY: a zeroed node of the right size in the current memory context.
    let r = unsafe { pg_try(|| sys::palloc0(size_of::<sys::IndexAmRoutine>())) }
        .cast::<sys::IndexAmRoutine>();
    // SAFETY: just allocated, zeroed (every flag false, every callback None).
    let a = unsafe { &mut *r };
    a.type_ = sys::NodeTag::T_IndexAmRoutine;
    a.amsupport = 1;
    a.amcanorderbyop = true;
    a.amoptionalkey = true;
    a.amusemaintenanceworkmem = true;
    a.amparallelvacuumoptions = sys::VACUUM_OPTION_PARALLEL_BULKDEL as u8;
    a.amkeytype = sys::InvalidOid;
    a.ambuild = Some(ambuild::<A>);
    a.ambuildempty = Some(ambuildempty::<A>);
    a.aminsert = Some(aminsert::<A>);
    a.ambulkdelete = Some(ambulkdelete::<A>);
    a.amvacuumcleanup = Some(amvacuumcleanup::<A>);
    a.amcostestimate = Some(amcostestimate::<A>);
    a.amoptions = Some(amoptions::<A>);
    a.ambuildphasename = Some(ambuildphasename::<A>);
    a.amvalidate = Some(amvalidate);
    a.ambeginscan = Some(ambeginscan::<A>);
    a.amrescan = Some(amrescan::<A>);
    a.amgettuple = Some(amgettuple::<A>);
    a.amendscan = Some(amendscan::<A>);
    set(a);
    r as sys::Datum
}

unsafe extern "C-unwind" fn ambuild<A: IndexAm>(
    heap: sys::Relation,
    index: sys::Relation,
    info: *mut sys::IndexInfo,
) -> *mut sys::IndexBuildResult {
    // SAFETY: PostgreSQL passes open relations and the build's IndexInfo.
    unsafe {
        boundary(|| {
            let (heap_tuples, index_tuples) = A::build(
                Relation::from_raw(heap),
                Relation::from_raw(index),
                IndexInfo(info),
            );
            let res = pg_try(|| sys::palloc0(size_of::<sys::IndexBuildResult>()))
                .cast::<sys::IndexBuildResult>();
            (*res).heap_tuples = heap_tuples;
            (*res).index_tuples = index_tuples;
            res
        })
    }
}

unsafe extern "C-unwind" fn ambuildempty<A: IndexAm>(index: sys::Relation) {
    // SAFETY: an open index.
    unsafe { boundary(|| A::build_empty(Relation::from_raw(index))) }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn aminsert<A: IndexAm>(
    index: sys::Relation,
    values: *mut sys::Datum,
    isnull: *mut bool,
    heap_tid: sys::ItemPointer,
    _heap: sys::Relation,
    _check_unique: sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _info: *mut sys::IndexInfo,
) -> bool {
    // SAFETY: `values` and `isnull` hold one entry per key column of the open index.
    unsafe {
        boundary(|| {
            let index = Relation::from_raw(index);
            let n = index.natts();
            let vals: Vec<Option<sys::Datum>> = (0..n)
                .map(|i| (!*isnull.add(i)).then(|| *values.add(i)))
                .collect();
            A::insert(index, &vals, tid_of(&*heap_tid));
            false
        })
    }
}

unsafe extern "C-unwind" fn ambulkdelete<A: IndexAm>(
    info: *mut sys::IndexVacuumInfo,
    stats: *mut sys::IndexBulkDeleteResult,
    callback: sys::IndexBulkDeleteCallback,
    callback_state: *mut c_void,
) -> *mut sys::IndexBulkDeleteResult {
    // SAFETY: PostgreSQL passes the vacuum's info, its statistics (or null) and the callback
    // that says whether a heap TID is dead.
    unsafe {
        boundary(|| {
            let stats = stats_or_new(stats);
            let index = Relation::from_raw((*info).index);
            let store = index.store().for_vacuum();
            let cb = callback.expect("bulk delete without a callback");
            let mut tid: sys::ItemPointerData = std::mem::zeroed();
            let tp: *mut sys::ItemPointerData = &raw mut tid;
            let (removed, kept) = A::bulk_delete(&store, &mut |a| {
                set_tid(&mut *tp, a);
                pg_try(|| cb(tp, callback_state))
            })
            .unwrap_or_else(|e| super::rel::raise_corrupt(index, e));
            (*stats).tuples_removed += removed as f64;
            (*stats).num_index_tuples = kept as f64;
            (*stats).num_pages = vchord_base::Store::nblocks(&store);
            stats
        })
    }
}

unsafe extern "C-unwind" fn amvacuumcleanup<A: IndexAm>(
    info: *mut sys::IndexVacuumInfo,
    stats: *mut sys::IndexBulkDeleteResult,
) -> *mut sys::IndexBulkDeleteResult {
    // SAFETY: as ambulkdelete.
    unsafe {
        boundary(|| {
            if (*info).analyze_only {
                return stats;
            }
            let index = Relation::from_raw((*info).index);
            let store = index.store().for_vacuum();
            let or_raise = |e| -> ! { super::rel::raise_corrupt(index, e) };
            A::vacuum_tidy(&store).unwrap_or_else(|e| or_raise(e));
            let stats = if stats.is_null() {
                let s = stats_or_new(stats);
                (*s).num_index_tuples =
                    A::vacuum_count(&store).unwrap_or_else(|e| or_raise(e)) as f64;
                (*s).estimated_count = false;
                s
            } else {
                stats
            };
            (*stats).num_pages = vchord_base::Store::nblocks(&store);
            stats
        })
    }
}

/// Vacuum statistics: the ones given, or new ones.
fn stats_or_new(stats: *mut sys::IndexBulkDeleteResult) -> *mut sys::IndexBulkDeleteResult {
    if stats.is_null() {
        // SAFETY: a zeroed node in the current memory context.
        unsafe { pg_try(|| sys::palloc0(size_of::<sys::IndexBulkDeleteResult>())) }.cast()
    } else {
        stats
    }
}

/// disable_cost: what the planner adds for a disabled path.
const DISABLED: f64 = 1.0e10;

/// amcostestimate: a path with neither ORDER BY distance nor a distance threshold (which the
/// index cannot serve) or with the access method disabled gets disable_cost; else the access
/// method prices it.
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn amcostestimate<A: IndexAm>(
    root: *mut sys::PlannerInfo,
    path: *mut sys::IndexPath,
    loop_count: f64,
    startup: *mut sys::Cost,
    total: *mut sys::Cost,
    selectivity: *mut sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    // SAFETY: the planner passes its state, the path and where the results go.
    unsafe {
        boundary(|| {
            let mut info: PathInfo = std::mem::zeroed();
            let ip: *mut PathInfo = &raw mut info;
            pg_try(|| sys::vchord_shim_path_info(root, path, loop_count, ip));
            *selectivity = 1.0;
            *correlation = 0.0;
            *pages = info.index_pages;
            if !(info.has_orderbys || info.has_range) || !A::enabled() {
                *startup = DISABLED;
                *total = DISABLED;
                return;
            }
            let c = super::rel::with_planned_index(info.indexoid, |index| A::costs(&info, index));
            *startup = c.startup;
            *total = c.total;
            *pages = c.pages;
            *selectivity = c.selectivity;
        })
    }
}

unsafe extern "C-unwind" fn amoptions<A: IndexAm>(
    reloptions: sys::Datum,
    validate: bool,
) -> *mut sys::bytea {
    // SAFETY: the options datum PostgreSQL passes.
    unsafe { boundary(|| super::reloptions::build::<A>(reloptions, validate)) }
}

unsafe extern "C-unwind" fn ambuildphasename<A: IndexAm>(phase: i64) -> *mut c_char {
    // SAFETY: returns a static string or null.
    unsafe {
        boundary(|| {
            A::PHASES
                .iter()
                .find(|x| x.0 == phase)
                .map_or(std::ptr::null_mut(), |x| x.1.as_ptr() as *mut c_char)
        })
    }
}

/// amvalidate: the opclasses are created by the extension script only, with their operators
/// and support function; there is nothing a user can get wrong.
unsafe extern "C-unwind" fn amvalidate(_opclass: sys::Oid) -> bool {
    // SAFETY: no arguments read.
    unsafe { boundary(|| true) }
}

unsafe extern "C-unwind" fn ambeginscan<A: IndexAm>(
    index: sys::Relation,
    nkeys: c_int,
    norderbys: c_int,
) -> sys::IndexScanDesc {
    // SAFETY: an open index; the state is owned by the scan's memory context (freed with it
    // on an error) and read back only by this access method's callbacks, as `A::Scan`.
    unsafe {
        boundary(|| {
            let index = Relation::from_raw(index);
            let scan = ScanDesc::begin(index, nkeys, norderbys);
            let st: Option<A::Scan> = Some(A::begin_scan(index));
            (*scan.raw()).opaque = own(st).cast();
            scan.raw()
        })
    }
}

/// The state ambeginscan made (`None` once amendscan ran).
///
/// # Safety
/// `scan` was begun by [`ambeginscan::<A>`].
unsafe fn state<'a, A: IndexAm>(scan: sys::IndexScanDesc) -> &'a mut Option<A::Scan> {
    // SAFETY: as the caller promises, opaque holds an Option<A::Scan> that lives as long as
    // the scan.
    unsafe { &mut *((*scan).opaque as *mut Option<A::Scan>) }
}

unsafe extern "C-unwind" fn amrescan<A: IndexAm>(
    scan: sys::IndexScanDesc,
    keys: sys::ScanKey,
    nkeys: c_int,
    orderbys: sys::ScanKey,
    norderbys: c_int,
) {
    // SAFETY: a scan this access method began; the keys are arrays of the given lengths.
    unsafe {
        boundary(|| {
            let desc = ScanDesc::from_raw(scan);
            desc.copy_keys(keys, nkeys, orderbys, norderbys);
            if let Some(st) = state::<A>(scan).as_mut() {
                A::rescan(desc, st);
            }
        })
    }
}

unsafe extern "C-unwind" fn amgettuple<A: IndexAm>(
    scan: sys::IndexScanDesc,
    dir: sys::ScanDirection::Type,
) -> bool {
    // SAFETY: a scan this access method began.
    unsafe {
        boundary(|| {
            if dir != sys::ScanDirection::ForwardScanDirection {
                error(
                    ERRCODE_FEATURE_NOT_SUPPORTED,
                    format!("{} indexes only scan forward", A::NAME),
                );
            }
            match state::<A>(scan).as_mut() {
                Some(st) => A::gettuple(ScanDesc::from_raw(scan), st),
                None => false,
            }
        })
    }
}

unsafe extern "C-unwind" fn amendscan<A: IndexAm>(scan: sys::IndexScanDesc) {
    // SAFETY: a scan this access method began.
    unsafe {
        boundary(|| {
            let st = state::<A>(scan);
            if let Some(s) = st.as_mut() {
                A::end_scan(s);
            }
            *st = None;
        })
    }
}

/// The `options` reloption's validator for access method `A` (see
/// [`super::reloptions::register`]).
pub(crate) unsafe extern "C-unwind" fn validate_options<A: IndexAm>(value: *const c_char) {
    // SAFETY: a NUL-terminated string, or null.
    unsafe {
        boundary(|| {
            if !value.is_null() {
                A::validate_options(&CStr::from_ptr(value).to_string_lossy());
            }
        })
    }
}

/// A heap TID as an address.
pub fn tid_of(p: &sys::ItemPointerData) -> Addr {
    Addr {
        blk: ((p.ip_blkid.bi_hi as u32) << 16) | p.ip_blkid.bi_lo as u32,
        off: p.ip_posid,
    }
}

/// An address as a heap TID.
pub fn set_tid(p: &mut sys::ItemPointerData, a: Addr) {
    p.ip_blkid.bi_hi = (a.blk >> 16) as u16;
    p.ip_blkid.bi_lo = a.blk as u16;
    p.ip_posid = a.off;
}

/// Called by the shim's ProcessUtility hook before `ALTER INDEX ... SET (options = ...)` (or
/// `RESET (options)`) runs, for any relation (see `crate::index::alter_options`).
///
/// # Safety
/// `value` is a NUL-terminated string or null.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vchord_alter_options(oid: sys::Oid, value: *const c_char) {
    // SAFETY: a NUL-terminated string, or null for RESET.
    unsafe {
        boundary(|| {
            let new =
                (!value.is_null()).then(|| CStr::from_ptr(value).to_string_lossy().into_owned());
            crate::index::alter_options(oid, new)
        })
    }
}
