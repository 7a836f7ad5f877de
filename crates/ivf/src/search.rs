//! The streaming search: probed lists in distance order, estimates with error bounds, reranks,
//! rows out in exact order.
use crate::*;

/// A block's `<code, q>` for every lane and the bound on their rounding: one fast scan per
/// plane, the high plane counting twice (`code = 2·high + low`).
#[inline]
pub(crate) fn block_sums(fast: &FastLut, meta: &Meta, codes: &[u8]) -> ([f32; BLOCK], f32) {
    if meta.bits == 1 {
        return (fast.scan(codes), fast.slack);
    }
    let (hi, lo) = codes.split_at(codes.len() / 2);
    let (h, l) = (fast.scan(hi), fast.scan(lo));
    (std::array::from_fn(|i| 2.0 * h[i] + l[i]), 3.0 * fast.slack)
}
// ---- search ----------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
pub(crate) struct Cand {
    pub(crate) key: f32,
    pub(crate) tid: Addr,
    pub(crate) vec: Addr,
}
impl PartialEq for Cand {
    fn eq(&self, o: &Self) -> bool {
        self.key.total_cmp(&o.key) == Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    /// Reversed: `BinaryHeap` is a max-heap and we want the smallest key on top.
    fn cmp(&self, o: &Self) -> Ordering {
        o.key
            .total_cmp(&self.key)
            .then_with(|| o.tid.cmp(&self.tid))
    }
}

/// An f32 as a u32 of the same order (`f32::total_cmp`'s).
#[inline]
pub(crate) fn key_bits(k: f32) -> u32 {
    let b = k.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// The inverse of [`key_bits`].
#[inline]
pub(crate) fn key_of(b: u32) -> f32 {
    f32::from_bits(if b & 0x8000_0000 != 0 {
        b & 0x7FFF_FFFF
    } else {
        !b
    })
}

/// Search settings.
#[derive(Clone, Debug)]
pub struct SearchParams {
    pub probes: Vec<u32>,
    pub epsilon: f32,
}

/// Counters a scan reports (EXPLAIN-style observability and tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Times the search went on to more lists.
    pub widenings: u64,
    pub lists: u64,
    pub codes: u64,
    pub reranked: u64,
    pub pages: u64,
}

/// A backend's copy of an index's centroid chains, read once and kept (the server keeps it
/// with the relation, which drops it when the index is rebuilt). It is dropped when the meta
/// page's root or generation differs from the one it was read under.
#[derive(Default)]
pub struct CentroidCache {
    pub(crate) key: Option<(u32, u32, u32)>,
    pub(crate) chains: std::collections::HashMap<u32, Vec<Centroid>>,
}

impl CentroidCache {
    pub(crate) fn check(&mut self, meta: &Meta) {
        let key = Some((meta.root, meta.generation, meta.dims));
        if self.key != key {
            self.chains.clear();
            self.key = key;
        }
    }

    pub(crate) fn load<S: Store>(&mut self, s: &S, meta: &Meta, head: u32) -> Result<()> {
        if let std::collections::hash_map::Entry::Vacant(e) = self.chains.entry(head) {
            e.insert(read_centroids(s, meta, head)?);
        }
        Ok(())
    }

    /// Roughly the memory it holds.
    pub fn bytes(&self) -> usize {
        self.chains
            .values()
            .flatten()
            .map(|c| 4 * c.vector.len() + CHAIN_BYTES * c.chains.len() + 96)
            .sum()
    }

    pub(crate) fn get(&self, head: u32) -> &[Centroid] {
        self.chains.get(&head).map_or(&[], |c| c.as_slice())
    }
}

/// A streaming search: candidates come out in exact-distance order, each emitted once no
/// remaining candidate's lower bound can beat it. When the probed lists are used up and rows
/// are still wanted, the search goes on to the next-nearest lists (as many again as it has
/// probed, up to all of them): rows found then may be nearer than rows already returned.
pub struct Search {
    pub(crate) query: Query,
    pub(crate) meta: Meta,
    pub(crate) epsilon: f32,
    pub(crate) lut: QueryLut,
    pub(crate) fast: Option<FastLut>,
    pub(crate) scratch: Scratch,
    /// Every candidate, by position.
    pub(crate) candidates: Vec<Cand>,
    /// (lower bound, position) of the candidates not reranked yet, smallest first.
    pub(crate) order: BinaryHeap<Reverse<u64>>,
    /// The next of them, taken out of `order` in order and their vectors' pages asked for
    /// ([`Store::prefetch`]) ahead of their reranks; they come before anything in `order`.
    pub(crate) ahead: std::collections::VecDeque<u64>,
    pub(crate) results: BinaryHeap<Cand>,
    /// The relation's length when the scan started: any row this scan may see was written
    /// below it (its snapshot was taken before).
    pub(crate) nblocks: u32,
    /// The lists probed so far.
    pub(crate) probed: Vec<Addr>,
    /// Once the first widening has read every leaf: those not probed, farthest first.
    pub(crate) rest: Option<Vec<(f32, Centroid)>>,
    pub stats: Stats,
}

impl Search {
    /// Chooses the lists and computes every estimate (the work a scan does on its first
    /// tuple).
    pub fn start<S: Store>(
        s: &S,
        meta: &Meta,
        query: Query,
        p: &SearchParams,
        cache: &mut CentroidCache,
    ) -> Result<Search> {
        let metric = meta.metric;
        let q = &query.rotated;
        cache.check(meta);
        // Per level: score the nodes of the chains in hand, keep the `probes` nearest, and
        // go on to their children's chains. Only the chosen lists are copied.
        let mut heads = vec![meta.root];
        let mut kept_leaves: Vec<Centroid> = vec![];
        for level in 0..meta.lists.len() {
            for &h in &heads {
                cache.load(s, meta, h)?;
            }
            let probes = p.probes.get(level).copied().unwrap_or(1);
            let nodes: Vec<&Centroid> = heads
                .iter()
                .flat_map(|h| cache.get(*h))
                .chain(kept_leaves.iter())
                .collect();
            let vs: Vec<&[f32]> = nodes.iter().map(|c| &c.vector[..]).collect();
            let mut scored: Vec<(f32, &Centroid)> =
                route_dists(metric, q, &vs).into_iter().zip(nodes).collect();
            let keep = (probes as usize).max(1).min(scored.len());
            if keep < scored.len() {
                scored.select_nth_unstable_by(keep - 1, |a, b| a.0.total_cmp(&b.0));
                scored.truncate(keep);
            }
            let last = level + 1 == meta.lists.len();
            let (leaves, inner): (Vec<_>, Vec<_>) = scored.into_iter().partition(|x| x.1.leaf);
            let leaves: Vec<Centroid> = leaves.into_iter().map(|x| x.1.clone()).collect();
            heads = if last {
                vec![]
            } else {
                inner.iter().map(|x| x.1.children).collect()
            };
            kept_leaves = leaves;
        }
        // The copy's chain heads are current: a chain created (or dropped) since it was made
        // bumped the generation, and the meta page was read after this scan's snapshot was
        // taken, so a row this scan may see was indexed under the generation it checked.
        let lut = QueryLut::new(q);
        let fast = meta.block_len().map(|_| FastLut::new(&lut));
        let mut srch = Search {
            query,
            meta: meta.clone(),
            epsilon: p.epsilon,
            lut,
            fast,
            order: BinaryHeap::new(),
            ahead: std::collections::VecDeque::new(),
            candidates: Vec::new(),
            results: BinaryHeap::new(),
            scratch: Scratch::default(),
            nblocks: s.nblocks(),
            probed: Vec::new(),
            rest: None,
            stats: Stats::default(),
        };
        srch.scan_lists(s, &kept_leaves)?;
        Ok(srch)
    }

    /// Estimates every code of the leaves `lists` (the candidates join the rerank order).
    pub(crate) fn scan_lists<S: Store>(&mut self, s: &S, lists: &[Centroid]) -> Result<()> {
        let (meta, query, p_epsilon) = (&self.meta, &self.query, self.epsilon);
        let q = &query.rotated;
        let (lut, fast) = (&self.lut, &self.fast);
        let kind = meta.metric.kind();
        let offset = if meta.metric == Metric::Cos { 1.0 } else { 0.0 };
        let stats = &mut self.stats;
        let candidates = &mut self.candidates;
        let first_new = candidates.len();
        let nblocks = self.nblocks;
        // Every probed list's query terms, and its chains' first pages in probe order.
        let mut starts = vec![];
        let mut lqs = vec![];
        // (`lists` are never probed twice: a widening takes them from those not probed.)
        for leaf in lists.iter().filter(|c| c.leaf) {
            self.probed.push(leaf.addr);
            stats.lists += 1;
            lqs.push(match kind {
                Kind::L2 if meta.residual => {
                    let d = f32x::l2sq(q, &leaf.vector);
                    ListQuery {
                        base: d,
                        norm: d.sqrt(),
                    }
                }
                Kind::L2 => ListQuery {
                    base: query.norm * query.norm,
                    norm: query.norm,
                },
                Kind::Dot => ListQuery {
                    base: if meta.residual {
                        -f32x::dot(q, &leaf.vector)
                    } else {
                        0.0
                    },
                    norm: query.norm,
                },
            });
            starts.extend(leaf.code_heads().map(|h| (h, lqs.len() - 1)));
        }
        // The pages are read one ahead: the next page is locked and its memory asked for
        // (`prefetch`) before this one is worked on, so their latency overlaps. Reads from
        // storage are asked for earlier still (`Store::prefetch`, up to `io_depth`): the page
        // after the one read ahead where it does not follow it on disk, and the first pages of
        // the next chains.
        let depth = s.io_depth();
        let fetch = |blk: u32| {
            let pg = s.read(blk);
            vchord_simd::prefetch(&pg[..]);
            if depth > 0 {
                // (a chain's next block right after this one is read ahead by the kernel
                // anyway, and asking costs a buffer lookup where everything is cached)
                let next = page::next(&pg);
                if next != INVALID_BLOCK && next < nblocks && next != blk + 1 {
                    s.prefetch(next);
                }
            }
            pg
        };
        let mut hinted = 0;
        let mut hint_heads = |upto: usize| {
            while hinted < starts.len().min(upto) {
                if starts[hinted].0 < nblocks {
                    s.prefetch(starts[hinted].0);
                }
                hinted += 1;
            }
        };
        if depth > 0 {
            hint_heads(depth);
        }
        // Each new candidate's error at epsilon 1, for [`widen_copies`].
        let mut units: Vec<f32> = Vec::new();
        let mut chain = 0;
        let mut hops = 0;
        // Where each list's candidates begin (the copies of a vector share a list, so copies
        // are looked for list by list: small tables, in cache).
        let mut bounds: Vec<usize> = vec![];
        let mut last_list = usize::MAX;
        let mut ahead = starts.first().map(|&(h, _)| fetch(h));
        while let Some(pg) = ahead.take() {
            let lq = lqs[starts[chain].1];
            if starts[chain].1 != last_list {
                last_list = starts[chain].1;
                bounds.push(candidates.len() - first_new);
            }
            hops += 1;
            stats.pages += 1;
            if !page::is_valid(&pg) || page::kind(&pg) != KIND_CODES {
                return corrupt("a chain holds a page that is not a code page".to_string());
            }
            let next = page::next(&pg);
            if next != INVALID_BLOCK && hops <= nblocks {
                ahead = Some(fetch(next));
            } else if chain + 1 < starts.len() {
                chain += 1;
                hops = 0;
                if depth > 0 {
                    hint_heads(chain + depth);
                }
                ahead = Some(fetch(starts[chain].0));
            }
            for (_, t) in page::items(&pg) {
                match (meta.code_tuple(t), fast) {
                    (Some(Code::One(t)), _) => {
                        let f = entry::factors(t);
                        let s_q = lut.code_dot(meta.bits, &t[ENTRY_HEADER..]);
                        let (est, err) = vchord_rabitq::estimate(kind, &f, s_q, lq);
                        candidates.push(Cand {
                            key: est + offset - p_epsilon * err,
                            tid: entry::tid(t),
                            vec: entry::vector(t),
                        });
                        units.push(err);
                    }
                    (Some(Code::Block(t)), Some(fast)) => {
                        let (sums, slack) = block_sums(fast, meta, block::codes(t));
                        let (keys, errs) = vchord_rabitq::block_keys(
                            kind,
                            lq,
                            &sums,
                            &block::factor_arrays(t),
                            p_epsilon,
                            slack,
                            offset,
                        );
                        for i in 0..block::lanes(t) {
                            let tid = block::tid(t, i);
                            if tid != Addr::NONE {
                                candidates.push(Cand {
                                    key: keys[i],
                                    tid,
                                    vec: block::vector(t, i),
                                });
                                units.push(errs[i]);
                            }
                        }
                    }
                    _ => {
                        return corrupt("a code has a bad length".to_string());
                    }
                }
            }
        }
        stats.codes = candidates.len() as u64;
        bounds.push(candidates.len() - first_new);
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            widen_copies(
                &mut candidates[first_new + a..first_new + b],
                &units[a..b],
                p_epsilon,
            );
        }
        if meta.metric == Metric::L1 {
            // The keys are squared L2 lower bounds; as |x|_1 >= |x|_2, their roots bound the
            // L1 distance from below.
            for c in &mut candidates[first_new..] {
                c.key = c.key.max(0.0).sqrt();
            }
        }
        // The heap orders packed (key, position) words: a cheaper compare than `Cand`'s,
        // and ties go by position, so the order is deterministic.
        let heap: Vec<Reverse<u64>> = candidates[first_new..]
            .iter()
            .enumerate()
            .map(|(i, c)| Reverse((key_bits(c.key) as u64) << 32 | (first_new + i) as u64))
            .collect();
        if self.order.is_empty() {
            self.order = BinaryHeap::from(heap);
        } else {
            self.order.append(&mut BinaryHeap::from(heap));
        }
        Ok(())
    }

    /// Probes the next-nearest lists not probed yet, as many as were probed before (at least
    /// one). False when every list has been probed.
    pub(crate) fn widen<S: Store>(&mut self, s: &S) -> Result<bool> {
        if self.rest.is_none() {
            let all = leaves(s, &self.meta)?;
            let q = &self.query.rotated;
            let probed: std::collections::HashSet<Addr> = self.probed.iter().copied().collect();
            let mut rest: Vec<(f32, Centroid)> = all
                .into_iter()
                .filter(|c| !probed.contains(&c.addr))
                .map(|c| (route_dist(self.meta.metric, q, &c.vector), c))
                .collect();
            rest.sort_by(|a, b| b.0.total_cmp(&a.0));
            self.rest = Some(rest);
        }
        let rest = self.rest.as_mut().unwrap();
        if rest.is_empty() {
            return Ok(false);
        }
        let n = self.probed.len().max(1).min(rest.len());
        let next: Vec<Centroid> = rest.drain(rest.len() - n..).rev().map(|x| x.1).collect();
        self.stats.widenings += 1;
        self.scan_lists(s, &next)?;
        Ok(true)
    }

    /// The next row (heap TID and internal distance), or `None` when the probed lists are
    /// exhausted. With `rerank_in_table`, `fetch(tid)` gives the row's vector (its elements'
    /// bytes) from the table, or `None` when no version of the row is visible: it is skipped,
    /// as the executor would skip it.
    pub fn next<S: Store>(
        &mut self,
        s: &S,
        fetch: &mut dyn FnMut(Addr) -> Option<Vec<u8>>,
    ) -> Result<Option<(Addr, f32)>> {
        let in_table = self.meta.rerank_in_table;
        // Reranks read vectors from the index: up to `io_depth` of the next candidates'
        // pages are asked for ahead, so their reads from storage overlap.
        let depth = if in_table { 0 } else { s.io_depth() };
        loop {
            if self.order.is_empty()
                && self.ahead.is_empty()
                && self.results.is_empty()
                && !self.widen(s)?
            {
                return Ok(None);
            }
            if let Some(best) = self.results.peek() {
                let bound = self
                    .ahead
                    .front()
                    .or_else(|| self.order.peek().map(|c| &c.0))
                    .map_or(f32::INFINITY, |c| key_of((c >> 32) as u32));
                if best.key <= bound {
                    let r = self.results.pop().unwrap();
                    return Ok(Some((r.tid, r.key)));
                }
            }
            while self.ahead.len() < depth {
                let Some(c) = self.order.pop() else { break };
                let a = self.candidates[c.0 as u32 as usize].vec;
                if a.blk < self.nblocks {
                    s.prefetch(a.blk);
                }
                self.ahead.push_back(c.0);
            }
            // Rerank the next candidates, a few at once when their vectors are in the index:
            // their pages are located and their vectors' memory asked for first, so the
            // reads overlap. Reranking a candidate early is sound: a result still waits until
            // no candidate left can beat it.
            let mut take = || {
                self.ahead
                    .pop_front()
                    .or_else(|| self.order.pop().map(|c| c.0))
            };
            let Some(first) = take() else {
                continue; // results wait for nothing now (emitted above) or the lists widen
            };
            let mut batch = [first as u32 as usize; RERANK_BATCH];
            let mut n = 1;
            while !in_table && n < RERANK_BATCH {
                match take() {
                    Some(c) => {
                        batch[n] = c as u32 as usize;
                        n += 1;
                    }
                    None => break,
                }
            }
            if n > 1 {
                for &i in &batch[..n] {
                    let a = self.candidates[i].vec;
                    if a.blk < self.nblocks {
                        let pg = s.read(a.blk);
                        if let Some(t) = page::get(&pg, a.off) {
                            vchord_simd::prefetch(t);
                        }
                    }
                }
            }
            for &i in &batch[..n] {
                let c = self.candidates[i];
                self.stats.reranked += 1;
                let d = if in_table {
                    match fetch(c.tid) {
                        Some(v) if v.len() == self.meta.dims as usize * self.meta.elem.size() => {
                            self.query.exact_with(self.meta.elem, &v, &mut self.scratch)
                        }
                        _ => continue, // not visible to this scan
                    }
                } else {
                    // Gone (vacuumed) or reused: skip it.
                    match self.rerank_from_index(s, c) {
                        Some(d) => d,
                        None => continue,
                    }
                };
                self.results.push(Cand {
                    key: d,
                    tid: c.tid,
                    vec: c.vec,
                });
            }
        }
    }

    /// The exact distance to candidate `c`'s vector in the index; `None` when the vector is
    /// gone or belongs to another row now. A vector in one piece is read in place, on its page.
    pub(crate) fn rerank_from_index<S: Store>(&mut self, s: &S, c: Cand) -> Option<f32> {
        let (elem, bytes) = (
            self.meta.elem,
            self.meta.dims as usize * self.meta.elem.size(),
        );
        if c.vec.blk >= self.nblocks {
            return None;
        }
        {
            let pg = s.read(c.vec.blk);
            let (_, owner, next, part) = blob_parts(page::get(&pg, c.vec.off)?, 0)?;
            if owner != c.tid {
                return None;
            }
            if next.is_none() {
                return (part.len() == bytes)
                    .then(|| self.query.exact_with(elem, part, &mut self.scratch));
            }
        }
        let (_, v) = read_blob_below(s, self.nblocks, c.vec, 0, Some(c.tid), bytes)?;
        Some(self.query.exact_with(elem, &v, &mut self.scratch))
    }
}

/// Candidates reranked at once when vectors are read from the index.
pub(crate) const RERANK_BATCH: usize = 4;

/// Widens the bounds of the codes that are one and the same, among the candidates of one list
/// (the scan calls it list by list: the copies of a vector share a list and a code, and a
/// list's tables stay in cache where a whole scan's did not). Copies' estimates err together:
/// where the bound fails it fails for every copy, and a strict-order scan drops them all (they
/// come after a farther row). A group of `g` equal codes gets
/// [`vchord_rabitq::group_epsilon`]'s bound instead, which fails about `g` times less often, so
/// a failed bound costs no more rows, on average, than one code's. Equal codes have equal keys
/// and errors (near-copies, a few units in the last place apart); both are grouped at 32 units
/// in the last place, so two different rows whose keys and errors both come that close are
/// widened too, which costs a rerank at most. `units[i]` is `cands[i]`'s error at epsilon 1 (0
/// where the estimate is exact).
pub(crate) fn widen_copies(cands: &mut [Cand], units: &[f32], epsilon: f32) {
    if cands.len() < 2 {
        return;
    }
    // Open addressing over the high bits of key and error together (two different rows
    // rarely agree in both; raw bits, as nearby floats of one sign have nearby bits; the top
    // bit set, as 0 is an empty slot). A first pass only asks whether any code comes twice
    // (most lists hold no copies); the counts follow when one does.
    let cap = (2 * cands.len()).next_power_of_two();
    let shift = 64 - cap.trailing_zeros();
    let key = |c: &Cand, u: f32| {
        (u > 0.0 && c.key.is_finite())
            .then(|| ((c.key.to_bits() >> 5) as u64) << 32 | (u.to_bits() >> 5) as u64 | 1 << 63)
    };
    // The slot of `k`, and whether it held `k` already (else it does now).
    let place = |slots: &mut [u64], k: u64| -> (usize, bool) {
        let mut i = (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize;
        loop {
            if slots[i] == k {
                return (i, true);
            }
            if slots[i] == 0 {
                slots[i] = k;
                return (i, false);
            }
            i = (i + 1) & (cap - 1);
        }
    };
    // The first pass over 32-bit fingerprints of the same (a smaller table); a match there
    // is checked exactly by the passes below.
    let mut prints = vec![0u32; cap];
    let pshift = 32 - cap.trailing_zeros();
    let mut twice = false;
    for (c, &u) in cands.iter().zip(units) {
        let f = ((c.key.to_bits() >> 5) ^ (u.to_bits() >> 5).rotate_left(13)) | 1;
        let mut i = (f.wrapping_mul(0x9E37_79B1) >> pshift) as usize;
        while prints[i] != 0 && prints[i] != f {
            i = (i + 1) & (cap - 1);
        }
        twice |= prints[i] == f;
        prints[i] = f;
    }
    if !twice {
        return;
    }
    let mut slots = vec![0u64; cap];
    let mut counts = vec![0u32; cap];
    for (c, &u) in cands.iter().zip(units) {
        if let Some(k) = key(c, u) {
            counts[place(&mut slots, k).0] += 1;
        }
    }
    for (c, &u) in cands.iter_mut().zip(units) {
        if let Some(k) = key(c, u) {
            let g = counts[place(&mut slots, k).0];
            if g > 1 {
                c.key -= (vchord_rabitq::group_epsilon(epsilon, g) - epsilon) * u;
            }
        }
    }
}
/// Every row of the index (the heap TID of each code), in no order.
#[derive(Default)]
pub struct Sweep(PageSweep);

impl Sweep {
    pub fn next<S: Store>(&mut self, s: &S, meta: &Meta) -> Option<Addr> {
        self.0.next(s, KIND_CODES, &mut |p, out| {
            for (_, t) in page::items(p) {
                match meta.code_tuple(t) {
                    Some(Code::One(t)) => out.push(entry::tid(t)),
                    Some(Code::Block(t)) => out.extend(
                        (0..block::lanes(t))
                            .map(|i| block::tid(t, i))
                            .filter(|&a| a != Addr::NONE),
                    ),
                    None => {}
                }
            }
        })
    }
}
