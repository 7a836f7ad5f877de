//! Relations as safe handles: an index or table PostgreSQL hands a callback, or one opened
//! here, with what the access methods ask of it.
use super::buffer;
use super::error::*;
use super::guard::pg_try;
use super::sys;
use std::ffi::{CStr, c_char, c_int};

/// An open relation. Made from a callback's argument (valid until the callback returns) or by
/// [`open_index`] (valid until [`Relation::close`]); PostgreSQL keeps it open and locked.
#[derive(Clone, Copy)]
pub struct Relation(sys::Relation);

/// `rd_options` of a vchord index: the varlena header and the offset of the TOML string.
#[repr(C)]
pub(crate) struct RelOptions {
    pub(crate) vl_len_: i32,
    pub(crate) options: c_int,
}

impl Relation {
    /// # Safety
    /// `rel` is an open relation that stays open while the handle is used.
    pub unsafe fn from_raw(rel: sys::Relation) -> Relation {
        debug_assert!(!rel.is_null());
        Relation(rel)
    }

    pub fn raw(self) -> sys::Relation {
        self.0
    }

    pub fn oid(self) -> sys::Oid {
        // SAFETY: an open relation's descriptor.
        unsafe { (*self.0).rd_id }
    }

    /// The access method (pg_class.relam).
    pub fn am(self) -> sys::Oid {
        // SAFETY: an open relation has its pg_class row.
        unsafe { (*(*self.0).rd_rel).relam }
    }

    pub fn name(self) -> String {
        let rel = self.0;
        // SAFETY: the name lives in the relation's pg_class row.
        unsafe { CStr::from_ptr(sys::vchord_shim_relname(rel)) }
            .to_string_lossy()
            .into_owned()
    }

    /// The relation's file number (changes with REINDEX, TRUNCATE).
    pub fn relfilenumber(self) -> sys::Oid {
        // SAFETY: reads the open relation's locator.
        unsafe { sys::vchord_shim_relfilenumber(self.0) }
    }

    /// The index's key columns.
    pub fn natts(self) -> usize {
        // SAFETY: reads the open index's descriptor.
        unsafe { sys::vchord_shim_index_natts(self.0) }.max(0) as usize
    }

    /// What support function 1 of column `att` (from 1) returns.
    pub fn support(self, att: i32) -> i32 {
        let rel = self.0;
        // SAFETY: an open index; the call may raise an ERROR, which pg_try carries.
        unsafe { pg_try(|| sys::vchord_shim_index_support_att(rel, att)) }
    }

    /// The first column's typmod (its dimensions, or -1).
    pub fn typmod(self) -> i32 {
        // SAFETY: reads the open index's descriptor.
        unsafe { sys::vchord_shim_index_typmod(self.0) }
    }

    /// A table's row count as a build should plan for it: pg_class.reltuples, or the
    /// planner's estimate for a table never vacuumed or analyzed.
    pub fn reltuples(self) -> f64 {
        let rel = self.0;
        // SAFETY: an open table; may raise an ERROR, carried by pg_try.
        unsafe { pg_try(|| sys::vchord_shim_reltuples(rel)) }.max(0.0)
    }

    /// Counts a scan in the index's statistics (`pg_stat_user_indexes.idx_scan`).
    pub fn count_scan(self) {
        // SAFETY: an open index; only bumps a counter.
        unsafe { sys::vchord_shim_count_scan(self.0) };
    }

    /// The `options` reloption's text, if one was given.
    pub fn options_text(self) -> Option<String> {
        // SAFETY: rd_options of a vchord index is a RelOptions built by `build_reloptions`
        // (see `super::reloptions`), its string at the recorded offset, NUL-terminated.
        unsafe {
            let raw = (*self.0).rd_options as *const RelOptions;
            if raw.is_null() || (*raw).options == 0 {
                return None;
            }
            let s = CStr::from_ptr((raw as *const c_char).add((*raw).options as usize));
            Some(s.to_string_lossy().into_owned())
        }
    }

    /// The relation's main fork as a page store.
    pub fn store(self) -> buffer::Rel {
        // SAFETY: the relation is open while the handle is used.
        unsafe { buffer::Rel::new(self.0) }
    }

    /// The init fork of an unlogged index as a page store (ambuildempty).
    pub fn init_fork(self) -> buffer::Rel {
        // SAFETY: as `store`.
        unsafe { buffer::Rel::init_fork(self.0) }
    }

    /// Closes an index opened by [`open_index`].
    pub fn close(self) {
        let rel = self.0;
        // SAFETY: opened by `open_index` with this lock.
        unsafe { pg_try(|| sys::index_close(rel, sys::AccessShareLock as c_int)) };
    }
}

/// Opens index `oid` (AccessShareLock); `None` when there is no relation of that OID. Not an
/// index raises an error.
pub fn open_index(oid: sys::Oid) -> Option<Relation> {
    // SAFETY: a catalog lookup; errors are carried by pg_try.
    let rel = unsafe { pg_try(|| sys::vchord_shim_try_index_open(oid)) };
    (!rel.is_null()).then_some(Relation(rel))
}

/// The OID of access method `name` (`InvalidOid` when `missing_ok` and there is none).
pub fn am_oid(name: &CStr, missing_ok: bool) -> sys::Oid {
    // SAFETY: a catalog lookup; errors are carried by pg_try.
    unsafe { pg_try(|| sys::get_index_am_oid(name.as_ptr(), missing_ok)) }
}

/// Opens index `oid` with no lock for the planner, which holds one (amcostestimate), runs `f`
/// and closes it.
pub fn with_planned_index<R>(oid: sys::Oid, f: impl FnOnce(Relation) -> R) -> R {
    // SAFETY: the planner holds a lock on an index it plans with.
    let rel = unsafe { pg_try(|| sys::index_open(oid, sys::NoLock as c_int)) };
    let r = f(Relation(rel));
    // SAFETY: opened above with NoLock.
    unsafe { pg_try(|| sys::index_close(rel, sys::NoLock as c_int)) };
    r
}

/// Raises 42704 for an OID that names no relation.
pub fn no_such_index(oid: sys::Oid) -> ! {
    Error::new(
        ERRCODE_UNDEFINED_OBJECT,
        format!("index with OID {oid} does not exist"),
    )
    .raise()
}

/// Raises index corruption (XX002) naming the index; an index of an on-disk format this
/// vchord does not read (built by another version) is 55000 instead, saying to REINDEX.
pub fn raise_corrupt(rel: Relation, e: vchord_base::Corrupt) -> ! {
    if let Some(found) = e.format {
        let name = rel.name();
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
        format!("index \"{}\" is corrupted: {}", rel.name(), e.message),
    )
    .hint("REINDEX the index.")
    .raise()
}
