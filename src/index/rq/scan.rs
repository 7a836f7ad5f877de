//! Scans: ambeginscan, amrescan, amgettuple, amendscan (the frame is `index::scan`).
//!
//! On the first tuple the lists are chosen and every code in them estimated; each amgettuple
//! reranks just enough candidates to know the next row in exact distance order, so LIMIT
//! stops the work and WHERE keeps pulling (until `vchordrq.max_scan_tuples`).
use super::*;
use crate::index::scan::{self, Started};
use vchord_ivf::{CentroidCache, Search, SearchParams};

pub unsafe extern "C-unwind" fn ambeginscan(
    index: sys::Relation,
    nkeys: c_int,
    norderbys: c_int,
) -> sys::IndexScanDesc {
    unsafe { boundary(|| scan::begin::<Search, ()>(index, nkeys, norderbys)) }
}

pub unsafe extern "C-unwind" fn amrescan(
    scan: sys::IndexScanDesc,
    keys: sys::ScanKey,
    nkeys: c_int,
    orderbys: sys::ScanKey,
    norderbys: c_int,
) {
    unsafe {
        boundary(|| {
            scan::rescan::<Search, ()>(scan, keys, nkeys, orderbys, norderbys);
        })
    }
}

pub unsafe extern "C-unwind" fn amgettuple(
    scan: sys::IndexScanDesc,
    dir: sys::ScanDirection::Type,
) -> bool {
    unsafe {
        boundary(|| {
            scan::gettuple(
                scan,
                dir,
                "vchordrq",
                false,
                |store, q, _: &()| {
                    let index = store.raw();
                    let meta = vchord_ivf::read_meta(store).or_corrupt(index);
                    check_dims(meta.dims, q.len());
                    let set = settings(index, &meta);
                    let p = SearchParams {
                        probes: set.probes,
                        epsilon: set.epsilon,
                    };
                    let search = with_centroids(index, |cache| {
                        Search::start(store, &meta, meta.query(q), &p, cache)
                    })
                    .or_corrupt(index);
                    Started {
                        search,
                        max: set.max_scan_tuples,
                        in_table: meta.rerank_in_table,
                        strict: set.strict_order,
                    }
                },
                |store, _: &()| {
                    let index = store.raw();
                    let meta = vchord_ivf::read_meta(store).or_corrupt(index);
                    let mut sweep = vchord_ivf::Sweep::default();
                    Box::new(move |store| sweep.next(store, &meta))
                },
            )
        })
    }
}

pub unsafe extern "C-unwind" fn amendscan(scan: sys::IndexScanDesc) {
    unsafe { boundary(|| scan::end::<Search, ()>(scan)) }
}

/// Centroid copies, per index, kept by this backend across scans (`vchord_ivf::CentroidCache`
/// checks the meta page's root and generation; the key adds the index's file number, so a
/// rebuilt index starts afresh). At most `CACHED` indexes are kept...
struct Cached {
    key: (sys::Oid, sys::Oid),
    cache: CentroidCache,
}

const CACHED: usize = 8;
/// ... and at most this much memory (an index whose centroids alone take more reads them on
/// every scan, as without a cache).
const CACHED_BYTES: usize = 64 << 20;

thread_local! {
    static CENTROIDS: std::cell::RefCell<Vec<Cached>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn with_centroids<T>(index: sys::Relation, f: impl FnOnce(&mut CentroidCache) -> T) -> T {
    let key = unsafe { ((*index).rd_id, sys::vchord_shim_relfilenumber(index)) };
    // Taken out while in use: an ERROR unwinding through `f` drops it, never leaves it
    // half-filled.
    let mut entry = CENTROIDS
        .with_borrow_mut(|all| match all.iter().position(|c| c.key.0 == key.0) {
            Some(i) => Some(all.remove(i)).filter(|c| c.key == key),
            None => None,
        })
        .unwrap_or(Cached {
            key,
            cache: CentroidCache::default(),
        });
    let out = f(&mut entry.cache);
    let bytes = entry.cache.bytes();
    if bytes <= CACHED_BYTES {
        CENTROIDS.with_borrow_mut(|all| {
            // the least recently used go first
            while all.len() >= CACHED
                || bytes + all.iter().map(|c| c.cache.bytes()).sum::<usize>() > CACHED_BYTES
            {
                all.remove(0);
            }
            all.push(entry);
        });
    }
    out
}
