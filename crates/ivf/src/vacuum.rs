//! Vacuum: removing dead codes with their vectors, packing code pages into fast-scan blocks.
use crate::*;

// ---- vacuum and verification -----------------------------------------------------------

/// Every leaf centroid, walking the tree.
pub fn leaves<S: Store>(s: &S, meta: &Meta) -> Result<Vec<Centroid>> {
    let mut out = vec![];
    let mut stack = vec![meta.root];
    while let Some(head) = stack.pop() {
        for c in read_centroids(s, meta, head)? {
            if c.leaf {
                out.push(c);
            } else {
                stack.push(c.children);
            }
        }
    }
    Ok(out)
}

/// Removes the entries whose heap TID `dead` says is gone, with their vectors, packs each
/// page it changes ([`repack`]) and points each chain's tail hints back at the room it made,
/// for inserts to fill ([`fill`]). Returns (removed, kept).
pub fn bulk_delete<S: Store>(
    s: &S,
    meta: &Meta,
    dead: &mut dyn FnMut(Addr) -> bool,
) -> Result<(u64, u64)> {
    let (mut removed, mut kept) = (0u64, 0u64);
    for leaf in leaves(s, meta)? {
        for (chain, ch) in leaf.chains.iter().enumerate() {
            // The first code page and the lowest-numbered vector page that lose entries:
            // where this chain's inserts look for room next. (A vector page can belong to
            // another chain of the list, whose codes `pack_tails` merged into this one: as
            // good a start, inserts then fill and extend that vector chain.)
            let (mut code_room, mut vector_room) = (None, None::<u32>);
            let mut blk = ch.head;
            let mut walk = chain::Walk::new(s, blk);
            while walk.to(blk)? {
                s.yield_point();
                let mut vecs = vec![];
                let mut g = s.write(blk);
                // (The page is only borrowed mutably, which logs it, when a code goes.)
                let (offs, lanes) = dead_codes(meta, &g, dead, &mut vecs, &mut kept);
                if !offs.is_empty() || !lanes.is_empty() {
                    removed += (offs.len() + lanes.len()) as u64;
                    for (off, i) in lanes {
                        block::kill(page::get_mut(&mut g, off).unwrap(), i);
                    }
                    page::remove(&mut g, &offs);
                    repack(meta, &mut g);
                    code_room.get_or_insert(blk);
                }
                let next = page::next(&g);
                drop(g);
                // The vectors go after their codes: a scan that already holds a code finds
                // the vector gone and skips it.
                if let Some(b) = remove_vectors(s, vecs) {
                    vector_room = Some(vector_room.map_or(b, |r| r.min(b)));
                }
                blk = next;
            }
            if code_room.is_some() || vector_room.is_some() {
                rewind_tails(s, leaf.addr, chain, code_room, vector_room);
            }
        }
    }
    Ok((removed, kept))
}

/// The codes of a code page whose heap TID `dead` says is gone: single entries' offsets and
/// blocks' (offset, lane); their vectors' addresses go to `vecs`, the live codes are counted
/// in `kept`.
pub(crate) fn dead_codes(
    meta: &Meta,
    p: &page::Page,
    dead: &mut dyn FnMut(Addr) -> bool,
    vecs: &mut Vec<Addr>,
    kept: &mut u64,
) -> (Vec<u16>, Vec<(u16, usize)>) {
    let mut offs = vec![];
    let mut lanes = vec![];
    for (off, t) in page::items(p) {
        match meta.code_tuple(t) {
            Some(Code::One(t)) => {
                if dead(entry::tid(t)) {
                    offs.push(off);
                    vecs.push(entry::vector(t));
                } else {
                    *kept += 1;
                }
            }
            Some(Code::Block(t)) => {
                for i in block::live(t) {
                    if dead(block::tid(t, i)) {
                        lanes.push((off, i));
                        vecs.push(block::vector(t, i));
                    } else {
                        *kept += 1;
                    }
                }
            }
            None => {}
        }
    }
    (offs, lanes)
}

/// Removes the vectors (every segment) at `vecs`, a page at a time; returns the lowest
/// page that lost one.
pub(crate) fn remove_vectors<S: Store>(s: &S, vecs: Vec<Addr>) -> Option<u32> {
    let mut by_blk: std::collections::BTreeMap<u32, Vec<u16>> = Default::default();
    for v in vecs.into_iter().filter(|&v| v != Addr::NONE) {
        for a in blob_addrs(s, v, 0) {
            by_blk.entry(a.blk).or_default().push(a.off);
        }
    }
    let lowest = by_blk.keys().next().copied();
    for (b, offs) in by_blk {
        let mut g = s.write(b);
        page::remove(&mut g, &offs);
    }
    lowest
}

/// Packs a code page's codes into fast-scan blocks, in place: the single entries (inserts
/// append them) and the live lanes of blocks with dead ones go into full blocks, the rest
/// stay single entries (or one partial block where they would not fit); sound blocks are
/// kept as they are. The page changes at once under its lock, so a concurrent scan sees every
/// code exactly once, before or after. Returns whether the page changed.
pub fn repack(meta: &Meta, p: &mut page::Page) -> bool {
    if meta.block_len().is_none() {
        return false;
    }
    let dims = meta.dims as usize;
    let mut keep: Vec<Vec<u8>> = vec![];
    let mut pool: Vec<Vec<u8>> = vec![];
    let mut holes = false;
    for (_, t) in page::items(p) {
        match meta.code_tuple(t) {
            Some(Code::One(t)) => pool.push(t.to_vec()),
            Some(Code::Block(t)) => {
                let live: Vec<usize> = block::live(t).collect();
                if live.len() == BLOCK {
                    keep.push(t.to_vec());
                } else {
                    holes = true;
                    pool.extend(
                        live.into_iter()
                            .map(|i| block::entry(dims, meta.bits, t, i)),
                    );
                }
            }
            None => keep.push(t.to_vec()), // not ours to judge: verify reports it
        }
    }
    if !holes && pool.len() < BLOCK {
        return false;
    }
    let mut out = keep;
    let mut chunks = pool.chunks_exact(BLOCK);
    for c in &mut chunks {
        let refs: Vec<&[u8]> = c.iter().map(|e| e.as_slice()).collect();
        out.push(block::make(dims, meta.bits, &refs));
    }
    let rest = chunks.remainder();
    let cost = |ts: &[Vec<u8>]| ts.iter().map(|t| page::cost(t.len())).sum::<usize>();
    if cost(&out) + cost(rest) <= page::CAPACITY {
        out.extend(rest.iter().cloned());
    } else if !rest.is_empty() {
        let refs: Vec<&[u8]> = rest.iter().map(|e| e.as_slice()).collect();
        out.push(block::make(dims, meta.bits, &refs));
    }
    if cost(&out) > page::CAPACITY {
        return false; // the page stays as it is (dead lanes are skipped by scans)
    }
    page::clear(p);
    for t in &out {
        page::add(p, t).expect("checked to fit");
    }
    true
}

/// Vacuum's packing pass over every code page ([`repack`]): the codes inserts appended since
/// the build join fast-scan blocks. Returns the pages changed.
pub fn compact<S: Store>(s: &S, meta: &Meta) -> Result<u64> {
    let mut changed = 0;
    if meta.block_len().is_none() {
        return Ok(0);
    }
    for head in leaves(s, meta)?.iter().flat_map(|l| l.code_heads()) {
        for blk in chain::blocks(s, head)? {
            s.yield_point();
            if !wants_repack(meta, &s.read(blk)) {
                continue;
            }
            let mut g = s.write(blk);
            if repack(meta, &mut g) {
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// Whether [`repack`] would change the page (checked under a share lock first).
pub(crate) fn wants_repack(meta: &Meta, p: &page::Page) -> bool {
    let mut singles = 0;
    for (_, t) in page::items(p) {
        match meta.code_tuple(t) {
            Some(Code::One(_)) => singles += 1,
            Some(Code::Block(t)) if block::live(t).count() < BLOCK => return true,
            _ => {}
        }
    }
    singles >= BLOCK
}

/// The number of lists and live entries, walking every list's code chain (vacuum's
/// statistics).
pub fn count_entries<S: Store>(s: &S) -> Result<(u64, u64)> {
    let meta = read_meta(s)?;
    let leaves = leaves(s, &meta)?;
    let mut n = 0u64;
    for head in leaves.iter().flat_map(|l| l.code_heads()) {
        let mut blk = head;
        let mut walk = chain::Walk::new(s, head);
        while walk.to(blk)? {
            s.yield_point();
            let p = s.read(blk);
            for (_, t) in page::items(&p) {
                n += match meta.code_tuple(t) {
                    Some(Code::One(_)) => 1,
                    Some(Code::Block(t)) => block::live(t).count() as u64,
                    None => 0,
                };
            }
            blk = page::next(&p);
        }
    }
    Ok((leaves.len() as u64, n))
}
