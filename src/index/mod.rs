//! Index access methods. `rq` is vchordrq (IVF + RaBitQ); the plumbing shared by access
//! methods (opclass info, reading key datums, TIDs, errors) lives here.
pub mod g;
pub mod rq;
pub mod scan;

use crate::pg::error::*;
use crate::pg::rel::{self, Relation, raise_corrupt};
use crate::pg::sys;
use half::f16;
use std::ffi::CStr;
use vchord_base::info::json_str;
use vchord_base::page::Addr;
use vchord_base::{Corrupt, Elem, Metric};

pub use crate::pg::am::{Costs, IndexAm, IndexInfo, PathInfo};
pub use crate::pg::build::{Row, block_signals, maintenance_work_mem};
pub use crate::pg::guard::progress;

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
pub fn opclass_of(index: Relation) -> (Elem, Metric) {
    let code = index.support(1);
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
        Elem::F32 => crate::pg::varlena::le_bytes(crate::types::read::<f32>(d)),
        Elem::F16 => crate::pg::varlena::le_bytes(crate::types::read::<f16>(d)),
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
pub fn check_row_dims(want: u32, got: usize, t: Addr) {
    if want as usize != got {
        Error::new(
            ERRCODE_DATA_EXCEPTION,
            format!("expected {want} dimensions, not {got}"),
        )
        .detail(format!("The row at ctid ({},{}) has {got} dimensions.", t.blk, t.off))
        .hint("Every row of an indexed column must have the same dimensions; declare it as vector(n).")
        .raise();
    }
}

pub trait OrCorrupt<T> {
    fn or_corrupt(self, rel: Relation) -> T;
}
impl<T> OrCorrupt<T> for vchord_base::Result<T> {
    fn or_corrupt(self, rel: Relation) -> T {
        self.unwrap_or_else(|e| raise_corrupt(rel, e))
    }
}

// ---- options -----------------------------------------------------------------------------

/// Called by the shim's ProcessUtility hook (through `crate::pg::am`) before `ALTER INDEX
/// ... SET (options = ...)` (or `RESET (options)`) runs, for any relation: when it is a
/// vchordrq or vchordg index and the new text changes its build options, a WARNING says they
/// take effect at its next REINDEX (the `[search]` defaults take effect for new scans at
/// once). The ALTER itself validates the text afterwards, as always.
pub fn alter_options(oid: sys::Oid, new: Option<String>) {
    let Some(rel) = rel::open_index(oid) else {
        return;
    };
    let (am, old, name) = (rel.am(), rel.options_text(), rel.name());
    rel.close();
    let changed = if am == rel::am_oid(c"vchordrq", true) {
        build_changed(old, new, |o: &mut vchord_ivf::options::Options| {
            o.search = Default::default()
        })
    } else if am == rel::am_oid(c"vchordg", true) {
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
pub fn index_options<O: AmOptions>(index: Relation) -> O {
    index
        .options_text()
        .map_or_else(O::default, |t| parse_options(&t))
}

// ---- functions shared by the access methods ----------------------------------------------

/// Opens `oid` as an index of access method `am` (AccessShareLock), or raises a clear error.
pub fn open_index(oid: sys::Oid, am: &CStr) -> Relation {
    let rel = rel::open_index(oid).unwrap_or_else(|| rel::no_such_index(oid));
    if rel.am() != rel::am_oid(am, false) {
        let name = rel.name();
        rel.close();
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
pub fn open_vchord_index(oid: sys::Oid) -> (Relation, bool) {
    let rel = rel::open_index(oid).unwrap_or_else(|| rel::no_such_index(oid));
    let am = rel.am();
    if am == rel::am_oid(c"vchordrq", true) {
        return (rel, false);
    }
    if am == rel::am_oid(c"vchordg", true) {
        return (rel, true);
    }
    let name = rel.name();
    rel.close();
    Error::new(
        ERRCODE_WRONG_OBJECT_TYPE,
        format!("\"{name}\" is not a vchordrq or vchordg index"),
    )
    .raise()
}

/// Reads every page of index `oid` (of access method `am`) into shared buffers.
pub fn prewarm(oid: sys::Oid, am: &CStr) -> sys::Datum {
    let rel = open_index(oid, am);
    let store = rel.store();
    use vchord_base::Store;
    let n = store.nblocks();
    for blk in 0..n {
        drop(store.read(blk));
        if blk % 256 == 0 {
            crate::pg::check_for_interrupts();
        }
    }
    rel.close();
    crate::pg::fmgr::text_datum(&format!("prewarmed {n} pages"))
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
    let workers = workers.unwrap_or_else(crate::pg::build::max_parallel_maintenance_workers);
    (1 + workers).min(cores())
}

/// The store of an index that ambuild is to fill (it must have no pages yet): a build store
/// (no WAL per change), so the build ends with [`crate::pg::buffer::Rel::log_all`].
pub fn new_index_store(index: Relation) -> crate::pg::buffer::Rel {
    use vchord_base::Store;
    let store = index.store().for_build();
    if store.nblocks() != 0 {
        error(
            ERRCODE_INTERNAL_ERROR,
            format!("index \"{}\" already contains data", index.name()),
        );
    }
    store
}

// vchord_index_info(regclass) -> jsonb: the access method, on-disk format (the one recorded and
// the one this vchord reads), options, size and build parameters of a vchord index. Works on
// an index of an unreadable format too (to say what it is).
crate::pg_fn!(vchord_index_info, |fc| {
    let (rel, graph) = open_vchord_index(fc.datum(0) as sys::Oid);
    let (name, options) = (rel.name(), rel.options_text());
    let store = rel.store();
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
    rel.close();
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
    crate::pg::fmgr::jsonb_datum(&format!("{{{}}}", body.join(", ")))
});
