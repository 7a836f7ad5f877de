//! An index scan's descriptor as a safe handle, and reading keys back from the table
//! (`rerank_in_table`).
use super::am::set_tid;
use super::error::*;
use super::guard::pg_try;
use super::rel::Relation;
use super::sys;
use std::ffi::c_int;
use vchord_base::page::Addr;

/// An index scan PostgreSQL began with one of our access methods (see [`super::am`]); valid
/// for the callback that was given it.
#[derive(Clone, Copy)]
pub struct ScanDesc(sys::IndexScanDesc);

/// A scan key: the column it is on (from 1) and its argument (`None`: NULL).
pub struct ScanKey {
    pub attno: i16,
    pub argument: Option<sys::Datum>,
}

impl ScanDesc {
    /// # Safety
    /// `scan` is a live scan descriptor.
    pub(crate) unsafe fn from_raw(scan: sys::IndexScanDesc) -> ScanDesc {
        ScanDesc(scan)
    }

    pub(crate) fn raw(self) -> sys::IndexScanDesc {
        self.0
    }

    /// RelationGetIndexScan plus room for the ORDER BY values.
    pub(crate) fn begin(index: Relation, nkeys: c_int, norderbys: c_int) -> ScanDesc {
        let rel = index.raw();
        // SAFETY: an open index; the arrays are palloc'd in the scan's memory context.
        unsafe {
            let scan = pg_try(|| sys::RelationGetIndexScan(rel, nkeys, norderbys));
            let n = norderbys.max(1) as usize;
            (*scan).xs_orderbyvals = pg_try(|| sys::palloc0(n * size_of::<sys::Datum>())).cast();
            (*scan).xs_orderbynulls = pg_try(|| sys::palloc0(n * size_of::<bool>())).cast();
            ScanDesc(scan)
        }
    }

    /// amrescan's copying of the keys into the scan.
    ///
    /// # Safety
    /// `keys` and `orderbys` hold `nkeys` and `norderbys` keys (or are null).
    pub(crate) unsafe fn copy_keys(
        self,
        keys: sys::ScanKey,
        nkeys: c_int,
        orderbys: sys::ScanKey,
        norderbys: c_int,
    ) {
        // SAFETY: the descriptor's arrays were sized for these counts by ambeginscan.
        unsafe {
            if !keys.is_null() && nkeys > 0 {
                std::ptr::copy(keys, (*self.0).keyData, nkeys as usize);
            }
            if !orderbys.is_null() && norderbys > 0 {
                std::ptr::copy(orderbys, (*self.0).orderByData, norderbys as usize);
            }
        }
    }

    pub fn index(self) -> Relation {
        // SAFETY: a scan's index is open while it runs.
        unsafe { Relation::from_raw((*self.0).indexRelation) }
    }

    /// The ORDER BY query: `None` without ORDER BY, `Some(None)` for a NULL query.
    pub fn order_by(self) -> Option<Option<sys::Datum>> {
        // SAFETY: the first ORDER BY key, copied in by amrescan.
        unsafe {
            if (*self.0).numberOfOrderBys <= 0 {
                return None;
            }
            let key = &*(*self.0).orderByData;
            Some((key.sk_flags & sys::SK_ISNULL as c_int == 0).then_some(key.sk_argument))
        }
    }

    /// The number of WHERE keys.
    pub fn nkeys(self) -> usize {
        // SAFETY: a live scan descriptor.
        unsafe { (*self.0).numberOfKeys.max(0) as usize }
    }

    /// The scan's WHERE keys.
    pub fn keys(self) -> Vec<ScanKey> {
        // SAFETY: numberOfKeys keys, copied in by amrescan.
        let keys = unsafe {
            let n = (*self.0).numberOfKeys.max(0) as usize;
            if n == 0 {
                return vec![];
            }
            std::slice::from_raw_parts((*self.0).keyData, n)
        };
        keys.iter()
            .map(|k| ScanKey {
                attno: k.sk_attno,
                argument: (k.sk_flags & sys::SK_ISNULL as c_int == 0).then_some(k.sk_argument),
            })
            .collect()
    }

    /// Refuses a scan under a snapshot that is not MVCC.
    pub fn require_mvcc(self, am: &str) {
        // SAFETY: the scan's snapshot.
        if !unsafe { sys::vchord_shim_is_mvcc((*self.0).xs_snapshot) } {
            Error::new(
                ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("{am} indexes support only MVCC snapshots"),
            )
            .raise();
        }
    }

    /// Fills the scan's result slot: heap TID and ORDER BY value (`None`: NULL).
    pub fn emit(self, tid: Addr, distance: Option<f64>, recheck: bool) {
        // SAFETY: the result fields; the ORDER BY arrays were allocated by `begin`.
        unsafe {
            set_tid(&mut (*self.0).xs_heaptid, tid);
            (*self.0).xs_recheck = recheck;
            (*self.0).xs_recheckorderby = false;
            *(*self.0).xs_orderbyvals = distance.map_or(0, super::fmgr::datum_f64);
            *(*self.0).xs_orderbynulls = distance.is_none();
        }
    }

    /// Starts reading keys back from the scan's table (rerank_in_table).
    pub fn fetch(self, am: &str) -> Fetch {
        // SAFETY: the scan's relations; the fetch lives in the scan's memory context and
        // resource owner.
        unsafe {
            let heap = (*self.0).heapRelation;
            if heap.is_null() {
                error(
                    ERRCODE_FEATURE_NOT_SUPPORTED,
                    format!("a {am} index with rerank_in_table needs the table to scan"),
                );
            }
            let index = (*self.0).indexRelation;
            Fetch {
                raw: pg_try(|| sys::vchord_shim_fetch_begin(heap, index)),
                snapshot: (*self.0).xs_snapshot,
            }
        }
    }
}

/// Reads rows' keys from a scan's table under the scan's snapshot; end it with
/// [`Fetch::end`] (an error frees it with the resource owner and memory context).
pub struct Fetch {
    raw: *mut sys::VchordFetch,
    snapshot: sys::Snapshot,
}

impl Fetch {
    /// The key of the version of `tid` visible to the scan's snapshot, handed to `f`; `None`
    /// when no version is visible (or its key is NULL).
    pub fn key<R>(&self, tid: Addr, f: impl FnOnce(sys::Datum) -> R) -> Option<R> {
        let (raw, snapshot) = (self.raw, self.snapshot);
        // SAFETY: a live fetch; the datum is valid until the next fetch.
        unsafe {
            let mut t: sys::ItemPointerData = std::mem::zeroed();
            set_tid(&mut t, tid);
            let mut key: sys::Datum = 0;
            let mut isnull = false;
            let found =
                pg_try(|| sys::vchord_shim_fetch_key(raw, &mut t, snapshot, &mut key, &mut isnull));
            (found && !isnull).then(|| f(key))
        }
    }

    pub fn end(self) {
        let raw = self.raw;
        // SAFETY: made by `ScanDesc::fetch`, ended once (this consumes it).
        unsafe { pg_try(|| sys::vchord_shim_fetch_end(raw)) };
    }
}
