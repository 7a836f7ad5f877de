//! Vacuum: flag dead vertices, repair the lists that pointed at them, reconnect, remove.
use crate::*;

// ---- vacuum ----------------------------------------------------------------------------

pub(crate) fn vertex_blocks<S: Store>(s: &S) -> impl Iterator<Item = u32> + '_ {
    (1..s.nblocks()).filter(move |&b| page::kind(&s.read(b)) == KIND_VERTICES)
}

/// Removes the vertices whose heap TID `dead` says is gone: they are flagged, the lists
/// that point at them are repaired (their neighbours take their place, pruned), the entry
/// points move off them, then they are removed. Returns (removed, kept).
pub fn bulk_delete<S: Store>(s: &S, dead: &mut dyn FnMut(Addr) -> bool) -> Result<(u64, u64)> {
    let meta = read_meta(s)?;
    let cx = new_ctx(s, &meta)?;
    // 1. Flag.
    let mut gone: HashMap<Addr, Vec<Addr>> = HashMap::new();
    let mut kept = 0u64;
    let blocks: Vec<u32> = vertex_blocks(s).collect();
    for &b in &blocks {
        s.yield_point();
        let mut g = s.write(b);
        let mut flag = vec![];
        for (off, t) in page::items(&g) {
            let Some(v) = Vertex::parse(&meta, t) else {
                continue;
            };
            if v.deleted() || dead(v.tid()) {
                gone.insert(Addr { blk: b, off }, v.neighbours());
                if !v.deleted() {
                    flag.push(off);
                }
            } else {
                kept += 1;
            }
        }
        if !flag.is_empty() {
            for off in flag {
                page::get_mut(&mut g, off).unwrap()[V_FLAGS] |= F_DELETED;
            }
        }
    }
    if gone.is_empty() {
        return Ok((0, kept));
    }
    // 2. Repair every list that names a flagged (or vanished) vertex.
    let mut some_live: Option<Addr> = None;
    let mut label_live: BTreeMap<i16, Addr> = BTreeMap::new();
    for &b in &blocks {
        s.yield_point();
        let offs: Vec<u16> = page::items(&s.read(b)).map(|x| x.0).collect();
        for off in offs {
            let a = Addr { blk: b, off };
            if gone.contains_key(&a) {
                continue;
            }
            repair(&cx, a, &gone, &mut some_live, &mut label_live);
        }
    }
    // 3. Entry points off the flagged vertices.
    let mut entry = meta.entry;
    if gone.contains_key(&meta.entry) {
        entry = gone[&meta.entry]
            .iter()
            .copied()
            .find(|a| !gone.contains_key(a) && cx.point(*a).is_some())
            .or(some_live)
            .unwrap_or(Addr::NONE);
        set_entry(s, entry);
    }
    // 4. Every live vertex the entry no longer reaches without the flagged ones is linked in
    // again.
    reconnect(&cx, &blocks, &gone, entry);
    // 5. Label entry points off them.
    for (l, e, at) in label_directory(s, &meta)? {
        if gone.contains_key(&e) {
            let alt = label_live.get(&l).copied().unwrap_or(Addr::NONE);
            let mut g = s.write(at.blk);
            // Only if it still names the flagged vertex (an insert may have set it meanwhile).
            if page::get(&g, at.off).is_some_and(|t| Addr::from_bytes(&t[2..8]) == e) {
                page::get_mut(&mut g, at.off).unwrap()[2..8].copy_from_slice(&alt.to_bytes());
            }
        }
    }
    // 5b. Every label's rows its entry no longer reaches without them are linked in again.
    reconnect_labels(&cx, &blocks, &gone);
    // 6. Remove the flagged vertices.
    let mut by_blk: BTreeMap<u32, Vec<u16>> = BTreeMap::new();
    for a in gone.keys() {
        by_blk.entry(a.blk).or_default().push(a.off);
    }
    for (b, offs) in by_blk {
        s.yield_point();
        let mut g = s.write(b);
        page::remove(&mut g, &offs);
    }
    Ok((gone.len() as u64, kept))
}

/// Links in again every live vertex that `entry` does not reach over the general edges of
/// live vertices (those not in `gone`), nearest reachable rows first ([`link_in`]).
pub(crate) fn reconnect<S: Store>(
    cx: &Ctx<S>,
    blocks: &[u32],
    gone: &HashMap<Addr, Vec<Addr>>,
    entry: Addr,
) {
    if entry.is_none() {
        return;
    }
    for _round in 0..4 {
        let graph = live_graph(cx.s, cx.meta, blocks, &|a| gone.contains_key(&a));
        let mut reached = reach(&graph, &[entry]);
        let lost: Vec<Addr> = graph
            .keys()
            .copied()
            .filter(|a| !reached.contains(a))
            .collect();
        if lost.is_empty() {
            return;
        }
        for a in lost {
            cx.s.yield_point();
            if reached.contains(&a) {
                continue;
            }
            let Some(near) = nearest_to(cx, a, entry, None) else {
                continue;
            };
            let mut from: Vec<Addr> = graph[&a]
                .0
                .iter()
                .copied()
                .chain(near)
                .filter(|u| reached.contains(u))
                .collect();
            from.push(entry);
            if link_in(cx, &from, a) {
                for x in reach(&graph, &[a]) {
                    reached.insert(x);
                }
            }
        }
    }
}

/// Live vertices with their general edges, labels and every edge.
pub(crate) type LiveGraph = HashMap<Addr, (Vec<Addr>, Vec<i16>, Vec<Addr>)>;

/// The vertices nearest the live vertex `a` that a search from `entry` (filtered by
/// `filter`) finds, nearest first (none when the search fails); `None` when `a` is gone.
pub(crate) fn nearest_to<S: Store>(
    cx: &Ctx<S>,
    a: Addr,
    entry: Addr,
    filter: Option<Vec<i16>>,
) -> Option<Vec<Addr>> {
    let p = cx.point(a)?;
    // The point is in the search's prepared space in-table, else in the original one.
    let x = if cx.meta.rerank_in_table {
        p.x
    } else {
        prepare(cx.meta.metric, &cx.rot, &p.x)
    };
    let ef = (cx.meta.ef_construction as usize).min(64);
    let meta = Meta {
        entry,
        ..cx.meta.clone()
    };
    Some(
        Search::for_insert(cx.s, &meta, &cx.centre, x, ef, filter)
            .map(|mut srch| srch.beam(cx.s))
            .unwrap_or_default(),
    )
}

/// Links in again, per label, every live row with the label that a walk filtered by it
/// ([`label_reach`]) no longer reaches from the label's entry without the vertices in `gone`:
/// from the nearest row with the label that the walk reaches, found by a search filtered by
/// the label, else from the entry ([`link_label_in`]).
pub(crate) fn reconnect_labels<S: Store>(
    cx: &Ctx<S>,
    blocks: &[u32],
    gone: &HashMap<Addr, Vec<Addr>>,
) {
    for _round in 0..4 {
        let Ok(dir) = label_directory(cx.s, cx.meta) else {
            return;
        };
        let graph = live_graph(cx.s, cx.meta, blocks, &|a| gone.contains_key(&a));
        let mut linked = false;
        for (l, e, _) in dir {
            if !graph.contains_key(&e) {
                continue;
            }
            let mut reached = label_reach(&graph, l, e);
            let lost: Vec<Addr> = graph
                .iter()
                .filter(|(a, x)| x.1.binary_search(&l).is_ok() && !reached.contains(a))
                .map(|x| *x.0)
                .collect();
            for a in lost {
                cx.s.yield_point();
                if reached.contains(&a) {
                    continue;
                }
                let Some(from) = nearest_to(cx, a, e, Some(vec![l])) else {
                    continue;
                };
                let has_l = |u: &Addr| graph.get(u).is_some_and(|x| x.1.binary_search(&l).is_ok());
                let u = from
                    .into_iter()
                    .find(|u| *u != a && reached.contains(u) && has_l(u))
                    .unwrap_or(e);
                link_label_in(cx, u, a);
                linked = true;
                reached.extend(label_reach(&graph, l, a));
            }
        }
        if !linked {
            return;
        }
    }
}

/// The live vertices (not flagged, not `skip`) with their general edges and labels.
pub(crate) fn live_graph<S: Store>(
    s: &S,
    meta: &Meta,
    blocks: &[u32],
    skip: &dyn Fn(Addr) -> bool,
) -> LiveGraph {
    let mut out = HashMap::new();
    for &b in blocks {
        s.yield_point();
        let p = s.read(b);
        if page::kind(&p) != KIND_VERTICES {
            continue;
        }
        for (off, t) in page::items(&p) {
            let a = Addr { blk: b, off };
            if skip(a) {
                continue;
            }
            if let Some(v) = Vertex::parse(meta, t).filter(|v| !v.deleted()) {
                out.insert(a, (v.walk(false), v.labels(), v.walk(true)));
            }
        }
    }
    out
}

/// The vertices of `graph` reachable from `from` over general edges.
pub(crate) fn reach(graph: &LiveGraph, from: &[Addr]) -> HashSet<Addr> {
    let mut reached = HashSet::new();
    let mut stack = from.to_vec();
    while let Some(a) = stack.pop() {
        let Some((nbs, _, _)) = graph.get(&a) else {
            continue;
        };
        if reached.insert(a) {
            stack.extend(nbs.iter().copied());
        }
    }
    reached
}

pub(crate) fn repair<S: Store>(
    cx: &Ctx<S>,
    a: Addr,
    gone: &HashMap<Addr, Vec<Addr>>,
    some_live: &mut Option<Addr>,
    label_live: &mut BTreeMap<i16, Addr>,
) {
    for _ in 0..3 {
        let Some((list, labels)) = with_vertex_in(cx.s, &cx.len, cx.meta, a, |v| {
            (!v.deleted()).then(|| (Edges::of(v), v.labels()))
        })
        .flatten() else {
            return;
        };
        some_live.get_or_insert(a);
        for l in &labels {
            label_live.entry(*l).or_insert(a);
        }
        if !list.list.iter().any(|n| gone.contains_key(n)) {
            return;
        }
        let mut set: Vec<Addr> = vec![];
        for n in &list.list {
            match gone.get(n) {
                None => set.push(*n),
                Some(nn) => set.extend(nn.iter().filter(|x| !gone.contains_key(x) && **x != a)),
            }
        }
        set.sort_unstable();
        set.dedup();
        let next = if set.len() <= cx.meta.m as usize {
            Edges::general(set)
        } else {
            let Some(pa) = cx.point(a) else {
                return;
            };
            let cands: Vec<(Addr, Point)> = set
                .into_iter()
                .filter_map(|x| cx.point(x).map(|p| (x, p)))
                .collect();
            cx.prune(&pa, cands)
        };
        if write_if_unchanged(cx, a, &list, &next) {
            return;
        }
    }
}

/// The number of live vertices (vacuum's statistics).
pub fn count_vertices<S: Store>(s: &S) -> Result<u64> {
    let meta = read_meta(s)?;
    let mut n = 0;
    for b in vertex_blocks(s) {
        s.yield_point();
        let p = s.read(b);
        n += page::items(&p)
            .filter(|(_, t)| Vertex::parse(&meta, t).is_some_and(|v| !v.deleted()))
            .count() as u64;
    }
    Ok(n)
}
