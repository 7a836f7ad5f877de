//! Building an index: the skeleton of centroid chains, and the end of a parallel build.
use crate::*;

// ---- build -----------------------------------------------------------------------------

/// Writes an empty index's skeleton: the meta page and the centroid chains for `tree`
/// (centroids in the original space; they are rotated here). Lists get their pages on first
/// insert. Returns the leaves in order.
///
/// `rotated`: the centroids are already in the rotated space (a copy of another index's
/// skeleton, see [`skeleton`]). `chains`: the chains of each list (a build gives each of
/// its participants one).
pub fn create<S: Store>(
    s: &S,
    mut meta: Meta,
    tree: &vchord_kmeans::Tree,
    rotated: bool,
    nchains: usize,
) -> (Meta, Router) {
    assert_eq!(s.nblocks(), 0, "create needs an empty relation");
    let nchains = nchains.clamp(1, MAX_CHAINS);
    let rot = meta.rotation();
    meta.lists = tree.levels.iter().map(|l| l.len() as u32).collect();
    let (mblk, g) = s.extend();
    assert_eq!(mblk, 0);
    drop(g); // written last, once everything it points to exists
    let new_chain = |s: &S| -> u32 {
        let (b, mut g) = s.extend();
        page::init(&mut g, KIND_CENTROID);
        b
    };
    meta.root = new_chain(s);
    let levels = tree.levels.len();
    let mut router = Router {
        levels: vec![],
        children: vec![],
    };
    // The chain (and its tail) each node's children are written to: level 0 all goes to the
    // root chain; below, each parent has a chain of its own.
    let mut chains: Vec<u32> = vec![meta.root];
    for l in 0..levels {
        let nodes = &tree.levels[l];
        let leaf = l + 1 == levels;
        let mut tails = chains.clone();
        let mut next_chains = vec![];
        let mut written = vec![];
        let mut children = vec![vec![]; chains.len()];
        for i in 0..nodes.len() {
            let p = if l == 0 {
                0
            } else {
                tree.parents[l - 1][i] as usize
            };
            children[p].push(i);
            let mut c = Centroid {
                addr: Addr::NONE,
                leaf,
                children: INVALID_BLOCK,
                chains: if leaf {
                    vec![Chain::NONE; nchains]
                } else {
                    vec![]
                },
                vector: if rotated {
                    nodes.row(i).to_vec()
                } else {
                    rot.rotated(nodes.row(i))
                },
            };
            if !leaf {
                c.children = new_chain(s);
                next_chains.push(c.children);
            }
            let (addr, t) = write_blob(
                s,
                tails[p],
                KIND_CENTROID,
                &centroid_header(&c),
                Addr::NONE,
                &f32_bytes(&c.vector),
            );
            tails[p] = t;
            c.addr = addr;
            written.push(c);
        }
        router.levels.push(written);
        router.children.push(children);
        chains = next_chains;
    }
    let mut g = s.write_full(0);
    page::init(&mut g, KIND_META);
    page::add(&mut g, &meta.encode()).unwrap();
    drop(g);
    (meta, router)
}

/// The meta page, the centroid tree (rotated) and the chains per list of an index, to create
/// an empty copy.
pub fn skeleton<S: Store>(s: &S) -> Result<(Meta, vchord_kmeans::Tree, usize)> {
    let meta = read_meta(s)?;
    let dims = meta.dims as usize;
    let mut levels = vec![];
    let mut parents = vec![];
    let mut heads = vec![meta.root];
    let mut chains = 1;
    for l in 0..meta.lists.len() {
        let mut m = vchord_kmeans::Matrix::new(dims);
        let mut ps = vec![];
        let mut next = vec![];
        for (p, &h) in heads.iter().enumerate() {
            for c in read_centroids(s, &meta, h)? {
                m.push(&c.vector);
                ps.push(p as u32);
                if c.leaf {
                    chains = chains.max(c.chains.len());
                } else {
                    next.push(c.children);
                }
            }
        }
        if l > 0 {
            parents.push(ps);
        }
        levels.push(m);
        heads = next;
    }
    Ok((meta, vchord_kmeans::Tree { levels, parents }, chains))
}
/// The end of a parallel build, once every participant is done and before anyone else uses
/// the index: each list's chains end in partly filled code pages, one per participant, which
/// every scan of the list would read. Their entries are packed into as few of those pages as
/// hold them, the participants' partial fast-scan blocks merged; an emptied page leaves its code chain and goes to the end of that chain's vector
/// chain, where inserts fill it (an index without vector chains leaves it unused). Returns
/// the code pages saved.
pub fn pack_tails<S: Store>(s: &S, meta: &Meta) -> Result<u64> {
    let mut saved = 0u64;
    for leaf in leaves(s, meta)? {
        s.yield_point();
        // (chain, its code pages in order)
        let mut chains: Vec<(usize, Vec<u32>)> = vec![];
        for (i, ch) in leaf.chains.iter().enumerate() {
            let blocks = chain::blocks(s, ch.head)?;
            if !blocks.is_empty() {
                chains.push((i, blocks));
            }
        }
        if chains.len() < 2 {
            continue;
        }
        let mut entries: Vec<Vec<u8>> = vec![];
        let mut pool: Vec<Vec<u8>> = vec![];
        for (_, blocks) in &chains {
            let p = s.read(*blocks.last().unwrap());
            for (_, t) in page::items(&p) {
                match meta.code_tuple(t) {
                    // each participant's last block is partial: they merge
                    Some(Code::Block(t)) if block::lanes(t) < BLOCK => pool.extend(
                        block::live(t).map(|i| block::entry(meta.dims as usize, meta.bits, t, i)),
                    ),
                    _ => entries.push(t.to_vec()),
                }
            }
        }
        for c in pool.chunks(BLOCK) {
            let refs: Vec<&[u8]> = c.iter().map(|e| e.as_slice()).collect();
            entries.push(block::make(meta.dims as usize, meta.bits, &refs));
        }
        // Refill the tails in order; the ones left over are emptied.
        let mut k = 0;
        let mut used = 0;
        for (_, blocks) in &chains {
            let tail = *blocks.last().unwrap();
            let mut g = s.write_full(tail);
            page::init(&mut g, KIND_CODES);
            while k < entries.len() && page::add(&mut g, &entries[k]).is_some() {
                k += 1;
            }
            if page::count(&g) > 0 {
                used += 1;
            }
        }
        assert_eq!(k, entries.len(), "the entries came from these pages");
        for (i, blocks) in &chains[used..] {
            let tail = *blocks.last().unwrap();
            let prev = blocks.len().checked_sub(2).map(|j| blocks[j]);
            if let Some(prev) = prev {
                let mut g = s.write(prev);
                page::set_next(&mut g, INVALID_BLOCK);
            }
            let mut g = s.write(leaf.addr.blk);
            let t = page::get_mut(&mut g, leaf.addr.off).expect("leaf centroid tuple");
            let mut c = Chain::read(t, *i);
            (c.head, c.tail) = match prev {
                Some(p) => (c.head, p),
                None => (INVALID_BLOCK, INVALID_BLOCK),
            };
            if c.vtail != INVALID_BLOCK {
                // The vector chain's real end (the hint may be behind).
                let end = *chain::blocks(s, c.vtail)?.last().unwrap();
                let mut e = s.write_full(tail);
                page::init(&mut e, KIND_VECTORS);
                drop(e);
                let mut v = s.write(end);
                page::set_next(&mut v, tail);
                drop(v);
                c.vtail = tail;
            }
            c.write(t, *i);
            drop(g);
            bump_generation(s);
            saved += 1;
        }
    }
    Ok(saved)
}

/// Stores the tails of chain `chain` of every leaf, as a build participant that owned it
/// ([`Writer::Owner`]) knows them, into the centroid tuples: one write per centroid page.
pub fn store_tails<S: Store>(s: &S, leaves: &[Centroid], chain: usize) {
    let mut by_blk: std::collections::BTreeMap<u32, Vec<(u16, Chain)>> = Default::default();
    for c in leaves {
        if let Some(ch) = c.chains.get(chain).filter(|ch| ch.head != INVALID_BLOCK) {
            by_blk
                .entry(c.addr.blk)
                .or_default()
                .push((c.addr.off, *ch));
        }
    }
    for (blk, items) in by_blk {
        s.yield_point();
        let mut g = s.write(blk);
        for (off, ch) in items {
            let Some(t) = page::get_mut(&mut g, off) else {
                continue;
            };
            let old = Chain::read(t, chain);
            Chain {
                tail: ch.tail.max(old.tail),
                vtail: ch.vtail.max(old.vtail),
                ..old
            }
            .write(t, chain);
        }
    }
}
