//! Inserting one row: search for its neighbours, link it in both ways.
use crate::*;

// ---- insert ----------------------------------------------------------------------------

/// Appends a vertex tuple to the last vertex page (or a new one).
pub(crate) fn append_vertex<S: Store>(s: &S, meta: &Meta, t: &[u8]) -> Addr {
    let last = s.nblocks() - 1;
    {
        let mut g = s.write(last);
        if page::kind(&g) == KIND_VERTICES
            && page::next(&g) == INVALID_BLOCK
            && page::count(&g) < meta.max_off()
            && page::cost(t.len()) <= page::free_space(&g)
            && let Some(off) = page::add(&mut g, t)
        {
            return Addr { blk: last, off };
        }
    }
    let (b, mut g) = s.extend();
    // has_room, checked before the insert began, leaves a margin of blocks.
    assert!(
        b < meta.block_limit(),
        "vchordg: block {b} is past what an edge can name"
    );
    page::init(&mut g, KIND_VERTICES);
    let off = page::add(&mut g, t).expect("a vertex fits a page");
    Addr { blk: b, off }
}

/// Inserts one row: `v` its elements as f32, `labels` sorted and deduplicated. `meta` is the
/// index's, as just read (its entry is checked again under the meta page's lock when none).
pub fn insert<S: Store>(s: &S, meta: Meta, v: &[f32], tid: Addr, labels: &[i16]) -> Result<Addr> {
    let cx = new_ctx(s, &meta)?;
    let (f, code) = code_of(&meta, &cx.rot, &cx.centre, v);
    let stored = elems_bytes(meta.elem, v);
    let me = cx.point_new(v, labels);
    let x = prepare(meta.metric, &cx.rot, v);
    let entry = if meta.entry.is_none() {
        // The first vertex becomes the entry, under the meta page's lock.
        let mut g = s.write(0);
        let cur = Meta::decode(page::get(&g, 1).unwrap_or(&[]))?;
        if cur.entry.is_none() {
            let t = encode_vertex(&meta, tid, &f, &code, labels, &Edges::default(), &stored);
            let a = append_vertex(s, &meta, &t);
            let t = page::get_mut(&mut g, 1).unwrap();
            t[28..34].copy_from_slice(&a.to_bytes());
            drop(g);
            add_label_entries(s, &meta, labels, a);
            return Ok(a);
        }
        cur.entry
    } else {
        meta.entry
    };
    let meta = Meta {
        entry,
        ..meta.clone()
    };
    // Candidates: an unfiltered search, and one among rows sharing a label (which walks the
    // label edges too).
    let mut found: Vec<Addr> = vec![];
    let ef = meta.ef_construction as usize;
    let mut srch = Search::for_insert(s, &meta, &cx.centre, x.clone(), ef, None)?;
    found.extend(srch.beam(s));
    // The rows a search filtered by the new row's labels reaches (the label walk's).
    let mut label_found: HashSet<Addr> = HashSet::new();
    if !labels.is_empty() {
        let mut srch = Search::for_insert(s, &meta, &cx.centre, x, ef, Some(labels.to_vec()))?;
        let b = srch.beam(s);
        label_found.extend(b.iter().copied());
        found.extend(b);
    }
    found.sort_unstable();
    found.dedup();
    let cands: Vec<(Addr, Point)> = found
        .into_iter()
        .filter_map(|a| cx.point(a).map(|p| (a, p)))
        .collect();
    let others: Vec<Addr> = cands.iter().map(|c| c.0).collect();
    let holders: Vec<(Addr, Vec<i16>)> = cands
        .iter()
        .filter(|c| label_found.contains(&c.0) && overlaps(&c.1.labels, labels))
        .map(|c| (c.0, c.1.labels.clone()))
        .collect();
    let nbs = cx.prune(&me, cands);
    let t = encode_vertex(&meta, tid, &f, &code, labels, &nbs, &stored);
    let a = append_vertex(s, &meta, &t);
    let mut named = false;
    for &u in &nbs.list {
        named |= add_edge(&cx, u, a, &me);
    }
    if !named {
        // Every neighbour pruned the new vertex away (or had no room): it is linked in by
        // another row the search found, so it is reachable.
        let order: Vec<Addr> = nbs.list.iter().chain(&others).copied().collect();
        link_in(&cx, &order, a);
    }
    // Each of its labels' rows must reach it too (a search filtered by the label walks from
    // the label's entry through rows with it): if no row with the label that the search
    // found names it, the first one takes it.
    for &l in labels {
        // Its own neighbours first: one of them names it most often, and the check ends there.
        let mut with_l: Vec<Addr> = holders
            .iter()
            .filter(|h| h.1.binary_search(&l).is_ok())
            .map(|h| h.0)
            .collect();
        with_l.sort_by_key(|a| !nbs.list.contains(a));
        let named = with_l.iter().any(|&u| {
            with_vertex_in(s, &cx.len, &meta, u, |v| v.neighbours().contains(&a)).unwrap_or(false)
        });
        if !named && let Some(&u) = with_l.first() {
            link_label_in(&cx, u, a);
        }
    }
    add_label_entries(s, &meta, labels, a);
    Ok(a)
}

/// Makes the live vertex `u` name `new`: a free label slot, else a free general slot, else in
/// place of its last edge `u -> t`, with `new -> t` added first (splicing, as [`link_in`]).
pub(crate) fn link_label_in<S: Store>(cx: &Ctx<S>, u: Addr, new: Addr) {
    let (m, slots) = (cx.meta.m as usize, cx.meta.label_slots as usize);
    for _ in 0..3 {
        let Some(list) = with_vertex_in(cx.s, &cx.len, cx.meta, u, |v| {
            (!v.deleted()).then(|| Edges::of(v))
        })
        .flatten() else {
            return;
        };
        if list.contains(&new) {
            return;
        }
        let mut next = list.clone();
        if list.list.len() - list.general < slots {
            next.list.push(new);
        } else if list.general < m {
            next.add_general(new, m, false);
        } else {
            // The farthest edge whose splice keeps the labels' walks, else the last one.
            let (lu, ln) = (labels_of(cx, u), labels_of(cx, new));
            let Some(at) = list
                .list
                .iter()
                .rposition(|&t| splice_keeps_labels(&lu, &labels_of(cx, t), &ln))
                .or(list.list.len().checked_sub(1))
            else {
                return;
            };
            let t = list.list[at];
            if t != new {
                add_general_edge(cx, new, t, None);
            }
            next.list[at] = new;
        }
        if write_if_unchanged(cx, u, &list, &next) {
            return;
        }
    }
}

/// Links `new` (a live vertex) from one of `from` (nearest first, live vertices that the
/// entry reaches): the first with a free general slot takes it as an edge; when none has
/// room, the first gives up its farthest general edge `u -> t` for `u -> new`, and `new`
/// takes `new -> t` before that, so what `t` led to stays reachable (splicing). True when
/// some vertex names `new` among its general edges afterwards.
pub(crate) fn link_in<S: Store>(cx: &Ctx<S>, from: &[Addr], new: Addr) -> bool {
    let m = cx.meta.m as usize;
    let mut seen = HashSet::new();
    let me = cx.point(new);
    for &u in from.iter().filter(|&&u| u != new && seen.insert(u)) {
        // Not a row with the same vector: copies are spliced in (below), so no list gathers
        // more copies than a prune keeps.
        let room = with_vertex_in(cx.s, &cx.len, cx.meta, u, |v| {
            (!v.deleted()).then(|| {
                v.general() < m && !me.as_ref().is_some_and(|p| is_copy(p, &cx.point_of(v)))
            })
        })
        .flatten();
        if room == Some(true) && add_general_edge(cx, u, new, None) {
            return true;
        }
    }
    // Splicing: first only where it keeps every label's walk ([`splice_keeps_labels`]),
    // then anywhere (an unfiltered walk must reach `new` whatever it costs a label).
    for keep_labels in [true, false] {
        seen.clear();
        for &u in from.iter().filter(|&&u| u != new && seen.insert(u)) {
            match splice_in(
                cx,
                u,
                new,
                keep_labels,
                from.len() > 1 && u != from[from.len() - 1],
            ) {
                Some(true) => return true,
                Some(false) => {}
                None => break,
            }
        }
    }
    false
}

/// [`link_in`]'s splice at `u`: `u -> t` becomes `u -> new -> t`, for `u`'s farthest general
/// edge, or (a copy of `u`) the farthest to another copy; with `keep_labels` only an edge
/// whose splice keeps every label's walk. True when `u` names `new`, false when this `u`
/// will not do; `None` when `new` is gone. `next_exists`: when `new` has no room for `t`,
/// leave it to the next one.
pub(crate) fn splice_in<S: Store>(
    cx: &Ctx<S>,
    u: Addr,
    new: Addr,
    keep_labels: bool,
    next_exists: bool,
) -> Option<bool> {
    let m = cx.meta.m as usize;
    let me = cx.point(new)?;
    for _ in 0..3 {
        let Some(list) = with_vertex_in(cx.s, &cx.len, cx.meta, u, |v| {
            (!v.deleted()).then(|| Edges::of(v))
        })
        .flatten() else {
            return Some(false);
        };
        if list.list[..list.general].contains(&new) {
            return Some(true);
        }
        if list.general < m {
            if add_general_edge(cx, u, new, Some(&list)) {
                return Some(true);
            }
            continue;
        }
        let Some(pu) = cx.point(u) else {
            return Some(false);
        };
        // A copy of `u` takes the place of another copy, so that a value many rows share
        // does not crowd out `u`'s edges to other rows.
        let keeps =
            |x: &Point| !keep_labels || splice_keeps_labels(&pu.labels, &x.labels, &me.labels);
        let general = &list.list[..list.general];
        let copy_at = is_copy(&me, &pu)
            .then(|| {
                general
                    .iter()
                    .rposition(|&a| cx.point(a).is_some_and(|x| is_copy(&pu, &x) && keeps(&x)))
            })
            .flatten();
        let at = copy_at.or_else(|| {
            general
                .iter()
                .rposition(|&t| cx.point(t).is_some_and(|x| keeps(&x)))
        });
        let Some(at) = at else {
            return Some(false);
        };
        let t = list.list[at];
        let new_room = with_vertex_in(cx.s, &cx.len, cx.meta, new, |v| v.general() < m)?;
        if !new_room && next_exists {
            return Some(false); // `new` could not take `t` without dropping an edge
        }
        add_general_edge(cx, new, t, None);
        if replace_edge(cx, u, at, new, &list) {
            return Some(true);
        }
    }
    Some(false)
}

/// Puts `x` in place of edge `at` of `u`, if `u`'s list is still `expect`.
pub(crate) fn replace_edge<S: Store>(
    cx: &Ctx<S>,
    u: Addr,
    at: usize,
    x: Addr,
    expect: &Edges,
) -> bool {
    if expect.list.contains(&x) {
        return false;
    }
    let mut next = expect.clone();
    next.list[at] = x;
    write_if_unchanged(cx, u, expect, &next)
}

/// Writes `next` as the live vertex `u`'s list if it is still `expect` (lists are read and
/// pruned without a lock, then written under the page's lock only if unchanged meanwhile).
pub(crate) fn write_if_unchanged<S: Store>(
    cx: &Ctx<S>,
    u: Addr,
    expect: &Edges,
    next: &Edges,
) -> bool {
    let mut g = cx.s.write(u.blk);
    let same = page::get(&g, u.off)
        .and_then(|t| Vertex::parse(cx.meta, t))
        .is_some_and(|v| !v.deleted() && Edges::of(&v) == *expect);
    if same {
        put_neighbours(cx.meta, page::get_mut(&mut g, u.off).unwrap(), next);
    }
    same
}

/// True when two points are the same vector (pruning's copies, [`prune::dup_slots`]).
pub(crate) fn is_copy(a: &Point, b: &Point) -> bool {
    f32x::l2sq(&a.x, &b.x) == 0.0
}

/// Whether the edge `u -> t` may become `u -> new -> t` (a splice, or a pruned edge handed to
/// `new`) without cutting a filtered walk. A walk filtered by label `l` takes an edge unless
/// both its ends lack `l`, so `u -> t` serves every label that `u` or `t` has; `u -> new ->
/// t` serves a label that both have, and every label `new` has. So each label that one of
/// `u` and `t` has and the other lacks must be `new`'s.
pub(crate) fn splice_keeps_labels(u: &[i16], t: &[i16], new: &[i16]) -> bool {
    let lacks = |a: &[i16], l: &i16| !a.contains(l) && !new.contains(l);
    !u.iter().any(|l| lacks(t, l)) && !t.iter().any(|l| lacks(u, l))
}

/// The labels of the live vertex `a` (empty when it is gone).
pub(crate) fn labels_of<S: Store>(cx: &Ctx<S>, a: Addr) -> Vec<i16> {
    with_vertex_in(cx.s, &cx.len, cx.meta, a, |v| v.labels()).unwrap_or_default()
}

/// Makes `u -> x` a general edge of the live vertex `u`: into a free general slot, else in
/// place of its farthest general edge (a label edge to `x` becomes general). With `expect`,
/// only when `u`'s list is still that one. True when done (or already so).
pub(crate) fn add_general_edge<S: Store>(
    cx: &Ctx<S>,
    u: Addr,
    x: Addr,
    expect: Option<&Edges>,
) -> bool {
    let mut g = cx.s.write(u.blk);
    let Some(mut next) = page::get(&g, u.off)
        .and_then(|t| Vertex::parse(cx.meta, t))
        .filter(|v| !v.deleted())
        .map(|v| Edges::of(&v))
    else {
        return false;
    };
    if expect.is_some_and(|e| *e != next) {
        return false;
    }
    if next.list[..next.general].contains(&x) {
        return true;
    }
    if let Some(i) = next.list.iter().position(|&y| y == x) {
        next.list.remove(i);
    }
    next.add_general(x, cx.meta.m as usize, true);
    put_neighbours(cx.meta, page::get_mut(&mut g, u.off).unwrap(), &next);
    true
}

/// Adds the edge `u -> new` (pruning `u`'s list when full). Optimistic: the list is read and
/// pruned without a lock, then written only if it did not change meanwhile. True when `u`
/// names `new` among its general edges afterwards (an unfiltered search can reach it).
pub(crate) fn add_edge<S: Store>(cx: &Ctx<S>, u: Addr, new: Addr, new_point: &Point) -> bool {
    for _ in 0..3 {
        let Some((list, pu)) = with_vertex_in(cx.s, &cx.len, cx.meta, u, |v| {
            (!v.deleted()).then(|| (Edges::of(v), cx.point_of(v)))
        })
        .flatten() else {
            return false;
        };
        if list.contains(&new) {
            return list.list[..list.general].contains(&new);
        }
        let mut next = list.clone();
        let labels_room = list.list.len() - list.general < cx.meta.label_slots as usize
            && overlaps(&pu.labels, &new_point.labels);
        let m = cx.meta.m as usize;
        if is_copy(&pu, new_point) && list.general < m {
            // A copy of `u` joins its general edges only while it has fewer copies than
            // pruning keeps, so a later prune of the list never drops a copy (which might
            // be reachable through `u` alone).
            let copies = list.list[..list.general]
                .iter()
                .filter(|&&a| cx.point(a).is_some_and(|p| is_copy(&pu, &p)))
                .count();
            if copies >= prune::dup_slots(m) {
                return false;
            }
        }
        if !next.add_general(new, m, false) {
            if labels_room {
                next.list.push(new);
            } else {
                let mut cands: Vec<(Addr, Point)> = list
                    .list
                    .iter()
                    .filter_map(|&a| cx.point(a).map(|p| (a, p)))
                    .collect();
                cands.push((
                    new,
                    Point {
                        x: new_point.x.clone(),
                        labels: new_point.labels.clone(),
                    },
                ));
                next = cx.prune(&pu, cands);
                // A general edge the prune drops might be the only way to its row: each one
                // goes to `new` (which `u` now names) while `new` has room, else `u` stays as
                // it is and `new` is linked in elsewhere ([`link_in`]).
                // (A label edge it drops goes there too: a filtered walk passes through a row
                // without its label one hop at a time.)
                let dropped: Vec<Addr> = list
                    .list
                    .iter()
                    .enumerate()
                    .filter(|&(i, a)| {
                        *a != new
                            && if i < list.general {
                                !next.list[..next.general].contains(a)
                            } else {
                                !next.list.contains(a)
                            }
                    })
                    .map(|x| *x.1)
                    .collect();
                if !dropped.is_empty() {
                    let room = with_vertex_in(cx.s, &cx.len, cx.meta, new, |v| {
                        m.saturating_sub(v.general())
                    })
                    .unwrap_or(0);
                    // `u -> t` becomes `u -> new -> t`: not where that cuts a label's walk.
                    let keeps = |t: &Addr| {
                        let lt = labels_of(cx, *t);
                        splice_keeps_labels(&pu.labels, &lt, &new_point.labels)
                    };
                    if !next.list[..next.general].contains(&new)
                        || dropped.len() > room
                        || !dropped.iter().all(keeps)
                    {
                        return false;
                    }
                    for t in dropped {
                        add_general_edge(cx, new, t, None);
                    }
                }
            }
        }
        if next == list {
            return false;
        }
        if write_if_unchanged(cx, u, &list, &next) {
            return next.list[..next.general].contains(&new);
        }
    }
    false
}
