//! amcostestimate: the planner should take a vchordg index for `ORDER BY v <op> q LIMIT n` or
//! a distance threshold (`v <<op>> sphere(q, r)`), with or without a label filter, and never
//! for anything else.
use super::*;

pub fn costs(info: &PathInfo, index: Relation) -> Costs {
    let (ef, m) = match vchord_graph::read_meta(&index.store()) {
        Ok(meta) => (settings(index, &meta).ef as f64, meta.m as f64),
        Err(_) => (64.0, 32.0),
    };
    let tuples = info.index_tuples.max(1.0);
    // A search expands about ef vertices and scores their neighbours, each a page visit and a
    // code estimate. A label filter starts at the label's entry points and walks its
    // subgraph, which pruning keeps connected, so it costs about the same (measured on
    // Fashion-MNIST: 0.60 ms a query at 10 % selectivity, 0.60 unfiltered).
    let sel = info.selectivity.clamp(1e-4, 1.0);
    let scored = (ef * m).min(tuples);
    let read = (scored / 8.0).min(info.index_pages).max(1.0);
    let start = read * 0.5 + scored * 0.0025;
    Costs {
        startup: start,
        total: start + tuples * sel * 0.01,
        pages: read,
        selectivity: info.selectivity,
    }
}
