//! Index access methods. `rq` is vchordrq (IVF + RaBitQ); the plumbing shared by access
//! methods (opclass info, reading key datums, TIDs, errors) lives here.
pub mod rq;

use crate::pg::error::*;
use crate::pg::sys;
use half::f16;
use vchord_ivf::page::Addr;
use vchord_ivf::{Corrupt, Elem, Metric};

/// What an opclass's support function 1 returns: element type and metric, packed.
pub fn opclass_code(elem: Elem, metric: Metric) -> i32 {
    (match elem {
        Elem::F32 => 0,
        Elem::F16 => 16,
    }) + match metric {
        Metric::L2 => 0,
        Metric::Ip => 1,
        Metric::Cos => 2,
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

/// The key's elements as the index stores them (little-endian, in the column's element type):
/// all a rerank needs.
pub fn key_bytes(elem: Elem, d: sys::Datum) -> Vec<u8> {
    match elem {
        Elem::F32 => crate::types::read::<f32>(d)
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        Elem::F16 => crate::types::read::<f16>(d)
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
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

/// Raises index corruption (XX002) naming the index.
pub fn raise_corrupt(rel: sys::Relation, e: Corrupt) -> ! {
    Error::new(
        ERRCODE_INDEX_CORRUPTED,
        format!("index \"{}\" is corrupted: {}", relname(rel), e.0),
    )
    .hint("REINDEX the index.")
    .raise()
}

pub trait OrCorrupt<T> {
    fn or_corrupt(self, rel: sys::Relation) -> T;
}
impl<T> OrCorrupt<T> for vchord_ivf::Result<T> {
    fn or_corrupt(self, rel: sys::Relation) -> T {
        self.unwrap_or_else(|e| raise_corrupt(rel, e))
    }
}

/// palloc0'd node of `size` bytes (makeNode without the tag).
pub fn palloc0<T>() -> *mut T {
    unsafe { crate::pg::pg_try(|| sys::palloc0(size_of::<T>())) as *mut T }
}
