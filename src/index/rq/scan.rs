//! Scans: amgettuple (the frame, with ambeginscan, amrescan and amendscan, is
//! `index::scan`).
//!
//! On the first tuple the lists are chosen and every code in them estimated; each amgettuple
//! reranks just enough candidates to know the next row in exact distance order, so LIMIT
//! stops the work and WHERE keeps pulling (until `vchordrq.max_scan_tuples`).
use super::*;
use crate::index::scan::{self, Started};
use vchord_ivf::{CentroidCache, SearchParams};

pub fn gettuple(desc: ScanDesc, st: &mut ScanState<Search, ()>) -> bool {
    let index = desc.index();
    // The executor rechecks a distance threshold (the only qual the index takes).
    let recheck = desc.nkeys() > 0;
    scan::gettuple(
        desc,
        st,
        "vchordrq",
        recheck,
        |store, q, _: &()| {
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
            let meta = vchord_ivf::read_meta(store).or_corrupt(index);
            let mut sweep = vchord_ivf::Sweep::default();
            Box::new(move |store| sweep.next(store, &meta))
        },
    )
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

fn with_centroids<T>(index: Relation, f: impl FnOnce(&mut CentroidCache) -> T) -> T {
    let key = (index.oid(), index.relfilenumber());
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
