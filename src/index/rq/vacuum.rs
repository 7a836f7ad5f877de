//! ambulkdelete and amvacuumcleanup (their frames are `crate::pg::am`'s).
use super::*;

pub fn bulk_delete(
    store: &Rel,
    dead: &mut dyn FnMut(Addr) -> bool,
) -> vchord_base::Result<(u64, u64)> {
    let meta = vchord_ivf::read_meta(store)?;
    vchord_ivf::bulk_delete(store, &meta, dead)
}

/// The codes inserted since the build (or the last vacuum) join fast-scan blocks, a page at
/// a time.
pub fn tidy(store: &Rel) -> vchord_base::Result<()> {
    let meta = vchord_ivf::read_meta(store)?;
    vchord_ivf::compact(store, &meta).map(|_| ())
}
