//! amcostestimate: the planner should take a vchordrq index for `ORDER BY v <op> q LIMIT n`
//! or a distance threshold (`v <<op>> sphere(q, r)`) and never for anything else.
use super::*;

pub fn costs(info: &PathInfo, index: Relation) -> Costs {
    // What a scan reads: the codes of the probed lists (probes over lists, per level, of the
    // index's code bytes; the vectors kept beside them are read only for reranks, below).
    // Counting the vectors' pages too priced a 784-d index 18x over and lost it to a
    // sequential scan whose detoasting the planner does not see.
    let (fraction, share) = match vchord_ivf::read_meta(&index.store()) {
        Ok(meta) => {
            let set = settings(index, &meta);
            let fraction = meta
                .lists
                .iter()
                .zip(&set.probes)
                .map(|(&l, &p)| p as f64 / l.max(1) as f64)
                .product::<f64>()
                .min(1.0);
            (fraction, meta.code_share())
        }
        Err(_) => (1.0, 1.0),
    };
    let tuples = info.index_tuples.max(1.0);
    let read = (info.index_pages * share * fraction).max(1.0);
    // All estimates happen before the first row (startup); each row returned costs a rerank
    // (one page and a distance).
    let start = read * 1.0 + tuples * fraction * 0.0025;
    // A distance threshold ends the scan where it is met: the rows returned are its share.
    let sel = info.selectivity.clamp(1e-4, 1.0);
    Costs {
        startup: start,
        total: start + tuples * sel * 0.01,
        pages: read,
        selectivity: info.selectivity,
    }
}
