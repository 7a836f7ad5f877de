//! The structural check behind `vchordg_verify`, reachability included.
use crate::*;

// ---- verification ----------------------------------------------------------------------

/// Walks the whole index; returns every structural problem found (empty when sound), the
/// number of live vertices and how many of them the entry reaches.
pub fn verify<S: Store>(s: &S) -> (Vec<String>, u64, u64) {
    let mut problems = vec![];
    let meta = match read_meta(s) {
        Ok(m) => m,
        Err(e) => return (vec![e.message], 0, 0),
    };
    if let Err(e) = read_centre(s, &meta) {
        problems.push(e.message);
    }
    let n = s.nblocks();
    let mut live: LiveGraph = HashMap::new();
    for b in 1..n {
        let p = s.read(b);
        if !page::is_valid(&p) {
            problems.push(format!("block {b} has a bad page header"));
            continue;
        }
        if page::kind(&p) != KIND_VERTICES {
            if ![KIND_CENTRE, KIND_LABELS].contains(&page::kind(&p)) {
                problems.push(format!("block {b} has unknown kind {}", page::kind(&p)));
            }
            continue;
        }
        for (off, t) in page::items(&p) {
            let Some(v) = Vertex::parse(&meta, t) else {
                problems.push(format!("vertex ({b},{off}) is malformed"));
                continue;
            };
            if off > meta.max_off() || b >= meta.block_limit() {
                problems.push(format!("vertex ({b},{off}) cannot be named by an edge"));
            }
            let f = v.factors();
            if ![f.norm_sq, f.sum_abs, f.sign_dot_c, f.err]
                .iter()
                .all(|x| x.is_finite())
            {
                problems.push(format!("vertex ({b},{off}) has non-finite factors"));
            }
            let ls = v.labels();
            if ls.windows(2).any(|w| w[0] >= w[1]) {
                problems.push(format!("vertex ({b},{off}) has unsorted labels"));
            }
            for nb in v.neighbours() {
                if nb.is_none() || nb.blk >= n || nb == (Addr { blk: b, off }) {
                    problems.push(format!("vertex ({b},{off}) has a bad neighbour {nb:?}"));
                }
            }
            if !v.deleted() {
                // Reachability is the unfiltered search's: over the general edges.
                live.insert(Addr { blk: b, off }, (v.walk(false), ls, v.walk(true)));
            }
        }
    }
    if !meta.entry.is_none() && !live.contains_key(&meta.entry) {
        problems.push(format!("the entry {:?} is not a live vertex", meta.entry));
    }
    if meta.entry.is_none() && !live.is_empty() {
        problems.push("the index has vertices but no entry".into());
    }
    let mut label_starts: BTreeMap<i16, Addr> = BTreeMap::new();
    match label_directory(s, &meta) {
        Ok(dir) => {
            let mut seen = HashSet::new();
            for (l, e, _) in dir {
                if !seen.insert(l) {
                    problems.push(format!("label {l} has two entries"));
                }
                if e.is_none() {
                    continue;
                }
                match live.get(&e) {
                    Some((_, ls, _)) if ls.binary_search(&l).is_ok() => {
                        label_starts.insert(l, e);
                    }
                    _ => problems.push(format!(
                        "label {l}'s entry {e:?} is not a live vertex with it"
                    )),
                }
            }
        }
        Err(e) => problems.push(e.message),
    }
    // Reachability from the entry, through live vertices, over general edges (an unfiltered
    // search's walk).
    let reached = reach(&live, &[meta.entry]);
    let unreached: Vec<Addr> = live
        .keys()
        .copied()
        .filter(|a| !reached.contains(a))
        .collect();
    if !unreached.is_empty() {
        problems.push(format!(
            "{} of {} live vertices are unreachable from the entry: {}",
            unreached.len(),
            live.len(),
            sample_addrs(unreached)
        ));
    }
    // Each label's rows from its entry, as a search filtered by that label walks: over all
    // edges, through rows with the label, and one hop at a time through rows without it.
    let mut with_label: BTreeMap<i16, Vec<Addr>> = BTreeMap::new();
    for (a, (_, ls, _)) in &live {
        for &l in ls {
            with_label.entry(l).or_default().push(*a);
        }
    }
    for (l, rows) in with_label {
        let Some(&e) = label_starts.get(&l) else {
            problems.push(format!("label {l} has {} rows but no entry", rows.len()));
            continue;
        };
        let seen = label_reach(&live, l, e);
        let lost: Vec<Addr> = rows.into_iter().filter(|a| !seen.contains(a)).collect();
        if !lost.is_empty() {
            problems.push(format!(
                "label {l}: {} rows are unreachable from its entry: {}",
                lost.len(),
                sample_addrs(lost)
            ));
        }
    }
    (problems, live.len() as u64, reached.len() as u64)
}

/// The first few of `v`, sorted, for a problem's text.
pub(crate) fn sample_addrs(mut v: Vec<Addr>) -> String {
    v.sort_unstable();
    let mut s: Vec<String> = v
        .iter()
        .take(8)
        .map(|a| format!("({},{})", a.blk, a.off))
        .collect();
    if v.len() > 8 {
        s.push("...".into());
    }
    s.join(" ")
}
