//! The centre chain and the label directory (where filtered walks start).
use crate::*;

// ---- centre and labels -----------------------------------------------------------------

pub(crate) fn new_page<S: Store>(s: &S, kind: u32) -> u32 {
    let (b, mut g) = s.extend();
    page::init(&mut g, kind);
    b
}

/// Appends `data` to the chain whose last page is at or after `tail`.
pub(crate) fn append<S: Store>(s: &S, tail: u32, kind: u32, data: &[u8]) -> Addr {
    vchord_base::append(s, tail, kind, data).0
}

pub(crate) fn write_centre<S: Store>(s: &S, centre: &[f32]) -> u32 {
    let head = new_page(s, KIND_CENTRE);
    let bytes = f32_bytes(centre);
    for chunk in bytes.chunks(page::MAX_ITEM / 4 * 4) {
        append(s, head, KIND_CENTRE, chunk);
    }
    head
}

pub fn read_centre<S: Store>(s: &S, meta: &Meta) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(meta.dims as usize * 4);
    let mut blk = meta.centre;
    let mut walk = chain::Walk::new(s, blk);
    while walk.to(blk)? {
        let p = s.read(blk);
        if page::kind(&p) != KIND_CENTRE {
            return corrupt(format!("block {blk} is not a centre page"));
        }
        for (_, t) in page::items(&p) {
            out.extend_from_slice(t);
        }
        blk = page::next(&p);
    }
    if out.len() != meta.dims as usize * 4 {
        return corrupt("the centre has the wrong length");
    }
    Ok(f32s(&out))
}

/// The `(label, entry, where the pair is stored)` tuples of label page `blk`.
pub(crate) fn label_pairs(blk: u32, p: &page::Page, out: &mut Vec<(i16, Addr, Addr)>) {
    for (off, t) in page::items(p) {
        if t.len() == 8 {
            out.push((
                i16::from_le_bytes([t[0], t[1]]),
                Addr::from_bytes(&t[2..8]),
                Addr { blk, off },
            ));
        }
    }
}

/// Every `(label, entry, where the pair is stored)` of the label chain from `blk` on.
pub(crate) fn label_chain<S: Store>(
    s: &S,
    mut blk: u32,
    out: &mut Vec<(i16, Addr, Addr)>,
) -> Result<()> {
    let mut walk = chain::Walk::new(s, blk);
    while walk.to(blk)? {
        let p = s.read(blk);
        if page::kind(&p) != KIND_LABELS {
            return corrupt(format!("block {blk} is not a label page"));
        }
        label_pairs(blk, &p, out);
        blk = page::next(&p);
    }
    Ok(())
}

/// The vertices of `graph` that a walk filtered by label `l` reaches from `entry`: over all
/// edges, through rows with the label, and one hop at a time through rows without it (a
/// filtered search's walk).
pub(crate) fn label_reach(graph: &LiveGraph, l: i16, entry: Addr) -> HashSet<Addr> {
    let has = |a: &Addr| graph.get(a).is_some_and(|x| x.1.binary_search(&l).is_ok());
    let mut seen: HashSet<Addr> = HashSet::new();
    if !graph.contains_key(&entry) {
        return seen;
    }
    let mut stack = vec![entry];
    seen.insert(entry);
    while let Some(a) = stack.pop() {
        let matching = has(&a);
        for &n in &graph[&a].2 {
            if (has(&n) || (matching && graph.contains_key(&n))) && seen.insert(n) {
                stack.push(n);
            }
        }
    }
    seen
}

pub(crate) fn label_directory<S: Store>(s: &S, meta: &Meta) -> Result<Vec<(i16, Addr, Addr)>> {
    let mut out = vec![];
    label_chain(s, meta.labels, &mut out)?;
    Ok(out)
}

/// The entry vertices of `labels` (those that have one).
pub fn label_entries<S: Store>(s: &S, meta: &Meta, labels: &[i16]) -> Result<Vec<Addr>> {
    Ok(label_directory(s, meta)?
        .into_iter()
        .filter(|(l, e, _)| labels.binary_search(l).is_ok() && !e.is_none())
        .map(|x| x.1)
        .collect())
}

pub(crate) fn label_tuple(l: i16, a: Addr) -> Vec<u8> {
    let mut t = l.to_le_bytes().to_vec();
    t.extend_from_slice(&a.to_bytes());
    t
}

/// Gives each of `labels` that has no entry (or a cleared one) the entry `a`. Writers hold
/// the chain head's lock throughout, so two inserts cannot both add a label.
pub(crate) fn add_label_entries<S: Store>(s: &S, meta: &Meta, labels: &[i16], a: Addr) {
    if labels.is_empty() {
        return;
    }
    let mut head = s.write(meta.labels);
    // The head's pairs from the guard (a read lock on it now would wait on ourselves).
    let mut dir = vec![];
    label_pairs(meta.labels, &head, &mut dir);
    if label_chain(s, page::next(&head), &mut dir).is_err() {
        return; // a broken chain: verify reports it; the row stays reachable from the entry
    }
    for &l in labels {
        match dir.iter().find(|x| x.0 == l) {
            Some((_, e, _)) if !e.is_none() => {}
            Some((_, _, at)) => {
                if at.blk == meta.labels {
                    if let Some(t) = page::get_mut(&mut head, at.off) {
                        t[2..8].copy_from_slice(&a.to_bytes());
                    }
                } else {
                    let mut g = s.write(at.blk);
                    if let Some(t) = page::get_mut(&mut g, at.off) {
                        t[2..8].copy_from_slice(&a.to_bytes());
                    }
                }
            }
            None => {
                let t = label_tuple(l, a);
                if page::next(&head) == INVALID_BLOCK && page::cost(8) <= page::free_space(&head) {
                    page::add(&mut head, &t);
                } else {
                    let next = page::next(&head);
                    if next == INVALID_BLOCK {
                        let (nb, mut ng) = s.extend();
                        page::init(&mut ng, KIND_LABELS);
                        page::add(&mut ng, &t);
                        drop(ng);
                        page::set_next(&mut head, nb);
                    } else {
                        append(s, next, KIND_LABELS, &t);
                    }
                }
            }
        }
    }
}
