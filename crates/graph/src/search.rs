//! The streaming beam search. The walk scores vertices by their RaBitQ codes only; the
//! matching vertices it scores wait in a pool ordered by lower bound (`estimate - epsilon *
//! error`) and are reranked exactly in that order; a reranked row is emitted once no pooled
//! lower bound can beat it. When the pool runs dry the beam widens (`ef` doubles) and the
//! walk goes on from where it stopped, so LIMIT needs no `k` and WHERE filters keep pulling.
//! Rows found after a widening may be nearer than rows already returned (as with pgvector's
//! iterative scans): the order is exact within each round.
//!
//! With a label filter the walk starts at the filter's label entries and walks the rows
//! sharing a label with the filter (pruning keeps edges among them); only once that walk is
//! exhausted does it also pass through other rows, one hop deep from a matching one, so every
//! matching row the graph reaches that way is still returned.
use crate::{
    KIND_VERTICES, Length, Meta, Metric, Query, Result, Store, Vertex, label_entries,
    with_vertex_in,
};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use vchord_base::page;
use vchord_base::page::Addr;
use vchord_rabitq::{Kind, ListQuery, QueryLut};
use vchord_simd::f32x;

/// A multiplicative hasher for addresses (the visited set is hot).
#[derive(Default)]
pub struct AddrHasher(u64);
impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0.rotate_left(32) ^ i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u16(&mut self, i: u16) {
        self.0 = (self.0.rotate_left(16) ^ i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
type Visited = HashSet<Addr, BuildHasherDefault<AddrHasher>>;

#[derive(Clone, Copy, Debug)]
struct Node {
    key: f32,
    addr: Addr,
    tid: Addr,
    matching: bool,
}
impl PartialEq for Node {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Node {}
impl PartialOrd for Node {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Node {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key.total_cmp(&o.key).then(self.addr.cmp(&o.addr))
    }
}

#[derive(Clone, Debug)]
pub struct SearchParams {
    pub ef: usize,
    pub epsilon: f32,
    /// Sorted labels: only rows sharing one are returned.
    pub filter: Option<Vec<i16>>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub expanded: u64,
    pub scored: u64,
    pub reranked: u64,
    /// Vertex pages the walk read to score (each page once per expansion).
    pub pages: u64,
}

/// A vertex as scored, before it joins the walk.
struct Scored {
    addr: Addr,
    est: f32,
    /// The estimate's bound at the search's epsilon.
    err: f32,
    tid: Addr,
    deleted: bool,
    matching: bool,
}

pub struct Search {
    meta: Meta,
    lut: QueryLut,
    kind: Kind,
    lq: ListQuery,
    offset: f32,
    /// The exact query for rerank; `None` for an insert's candidate search.
    query: Option<Query>,
    filter: Option<Vec<i16>>,
    ef: usize,
    epsilon: f32,
    visited: Visited,
    cands: BinaryHeap<Reverse<Node>>,
    /// Vertices scored while the beam was full and nearer than them.
    parked: Vec<Node>,
    /// Rows whose exact distance was computed (when they were expanded or reranked): each
    /// joins `results` once.
    exact: Visited,
    /// Rows outside the filter that a matching row names: walked (one hop deep) only once
    /// the walk among the filter's own rows is exhausted.
    detour: BinaryHeap<Reverse<Node>>,
    detoured: bool,
    /// The vertex pages were swept for what the walk never scored.
    swept: bool,
    beam: BinaryHeap<Node>,
    pool: BinaryHeap<Reverse<Node>>,
    results: BinaryHeap<Reverse<Node>>,
    converged: bool,
    len: Length,
    scratch: vchord_base::Scratch,
    pub stats: Stats,
}

impl Search {
    fn new(
        meta: &Meta,
        centre: &[f32],
        rotated: &[f32],
        query: Option<Query>,
        p: &SearchParams,
    ) -> Search {
        let kind = meta.metric.kind();
        let lq = match kind {
            Kind::L2 => {
                let d = f32x::l2sq(rotated, centre);
                ListQuery {
                    base: d,
                    norm: d.sqrt(),
                }
            }
            Kind::Dot => ListQuery {
                base: -f32x::dot(rotated, centre),
                norm: f32x::dot(rotated, rotated).sqrt(),
            },
        };
        // Vertices store no `<code, centre>` (see [`Vertex::factors`]): for L2 the table is
        // of the query's residual to the centre, which folds that term into the sum.
        let lut = match kind {
            Kind::L2 => {
                let r: Vec<f32> = rotated.iter().zip(centre).map(|(q, c)| q - c).collect();
                QueryLut::new(&r)
            }
            Kind::Dot => QueryLut::new(rotated),
        };
        Search {
            meta: meta.clone(),
            lut,
            kind,
            lq,
            offset: if meta.metric == Metric::Cos { 1.0 } else { 0.0 },
            query,
            filter: p.filter.clone(),
            ef: p.ef.max(1),
            epsilon: p.epsilon,
            // about the vertices a search of this beam scores, so the set rarely grows
            visited: Visited::with_capacity_and_hasher(p.ef.max(1) * 32, Default::default()),
            cands: BinaryHeap::new(),
            parked: Vec::new(),
            exact: Visited::default(),
            detour: BinaryHeap::new(),
            detoured: false,
            swept: false,
            beam: BinaryHeap::new(),
            pool: BinaryHeap::new(),
            results: BinaryHeap::new(),
            converged: false,
            len: Length::default(),
            scratch: vchord_base::Scratch::default(),
            stats: Stats::default(),
        }
    }

    fn enter<S: Store>(&mut self, s: &S) -> Result<()> {
        let entries = match &self.filter {
            None => vec![self.meta.entry],
            Some(f) => label_entries(s, &self.meta, f)?,
        };
        let mut fresh: Vec<Addr> = entries
            .into_iter()
            .filter(|&e| !e.is_none() && self.visited.insert(e))
            .collect();
        self.score_all(s, &mut fresh, true);
        Ok(())
    }

    /// A scan's search. `centre` is the index's (see [`crate::read_centre`]).
    pub fn start<S: Store>(
        s: &S,
        meta: &Meta,
        centre: &[f32],
        query: Query,
        p: &SearchParams,
    ) -> Result<Search> {
        let rotated = query.rotated.clone();
        let mut srch = Search::new(meta, centre, &rotated, Some(query), p);
        srch.enter(s)?;
        Ok(srch)
    }

    /// An insert's candidate search for the prepared vector `x`.
    pub fn for_insert<S: Store>(
        s: &S,
        meta: &Meta,
        centre: &[f32],
        x: Vec<f32>,
        ef: usize,
        filter: Option<Vec<i16>>,
    ) -> Result<Search> {
        let p = SearchParams {
            ef,
            epsilon: 0.0,
            filter,
        };
        let mut srch = Search::new(meta, centre, &x, None, &p);
        srch.enter(s)?;
        Ok(srch)
    }

    /// Scores the vertices at `addrs` (which it sorts, dropping any past the relation): each
    /// page among them is read once ([`Store::read_items`], which may fetch a few ahead), and
    /// every vertex on it is scored from that one read.
    fn score_all<S: Store>(&mut self, s: &S, addrs: &mut Vec<Addr>, from_matching: bool) {
        addrs.retain(|a| !a.is_none() && self.len.covers(s, a.blk));
        addrs.sort_unstable();
        let mut found: Vec<Scored> = Vec::with_capacity(addrs.len());
        let (meta, lut, kind, lq, offset, epsilon) = (
            &self.meta,
            &self.lut,
            self.kind,
            self.lq,
            self.offset,
            self.epsilon,
        );
        let filter = self.filter.as_deref();
        let mut pages = 0;
        s.read_items(addrs, meta.scored_prefix(), &mut |group, p| {
            pages += 1;
            if page::kind(p) != KIND_VERTICES {
                return;
            }
            for &a in group {
                let Some(v) = page::get(p, a.off).and_then(|t| Vertex::parse(meta, t)) else {
                    continue;
                };
                let matching = filter.is_none_or(|f| v.has_label_in(f));
                let f = v.factors();
                let dot = lut.code_dot(meta.bits, v.code());
                let (est, err) = vchord_rabitq::estimate_bound(kind, &f, dot, lq, epsilon);
                found.push(Scored {
                    addr: a,
                    est: est + offset,
                    err,
                    tid: v.tid(),
                    deleted: v.deleted(),
                    matching,
                });
            }
        });
        self.stats.pages += pages;
        for x in found {
            self.admit(x, from_matching);
        }
    }

    fn admit(&mut self, x: Scored, from_matching: bool) {
        let Scored {
            addr: a,
            est,
            err,
            tid,
            deleted,
            matching,
        } = x;
        self.stats.scored += 1;
        let node = Node {
            key: est,
            addr: a,
            tid,
            matching,
        };
        if matching || (from_matching && self.detoured) {
            // Nodes compare by estimate, then address: a total order, so a run of equal
            // estimates (duplicated vectors) is cut at the beam like any other, not expanded
            // whole.
            if self.beam.len() >= self.ef && node > *self.beam.peek().unwrap() {
                // Never expanded this round (the beam's worst only improves): parked, out of
                // the heap, until the beam widens.
                self.parked.push(node);
            } else {
                self.cands.push(Reverse(node));
            }
        } else if from_matching {
            self.detour.push(Reverse(node));
        }
        if matching && !deleted {
            if self.beam.len() < self.ef || node < *self.beam.peek().unwrap() {
                self.beam.push(node);
                if self.beam.len() > self.ef {
                    self.beam.pop();
                }
            }
            if self.query.is_some() {
                self.pool.push(Reverse(Node {
                    key: est - err,
                    ..node
                }));
            }
        }
    }

    /// Walks until the nearest unexpanded vertex is farther than the beam's worst.
    fn converge<S: Store>(&mut self, s: &S) {
        while let Some(Reverse(top)) = self.cands.peek().copied() {
            if self.beam.len() >= self.ef && top > *self.beam.peek().unwrap() {
                break;
            }
            self.cands.pop();
            self.stats.expanded += 1;
            let filtered = self.filter.is_some();
            // With vectors kept, an expanded row's exact distance comes from the page in hand,
            // and its rerank read is saved.
            let exact =
                top.matching && !self.meta.rerank_in_table && !self.exact.contains(&top.addr);
            let (query, scratch, elem) = (self.query.as_ref(), &mut self.scratch, self.meta.elem);
            let Some((nbs, d)) = with_vertex_in(s, &self.len, &self.meta, top.addr, |v| {
                let d = query
                    .filter(|_| exact && v.tid() == top.tid && !v.deleted())
                    .map(|q| q.exact_with(elem, v.vector(), scratch));
                (v.walk(filtered), d)
            }) else {
                continue;
            };
            if let Some(d) = d {
                self.results.push(Reverse(Node { key: d, ..top }));
                self.exact.insert(top.addr);
            }
            let mut fresh: Vec<Addr> = nbs
                .into_iter()
                .filter(|&n| self.visited.insert(n))
                .collect();
            self.score_all(s, &mut fresh, top.matching);
        }
        self.converged = true;
    }

    /// Scores every vertex not yet visited, from a read of every vertex page; the live
    /// matching ones join the rerank pool.
    fn sweep<S: Store>(&mut self, s: &S) {
        let n = s.nblocks();
        for blk in 1..n {
            s.yield_point();
            let p = s.read(blk);
            if page::kind(&p) != KIND_VERTICES {
                continue;
            }
            let mut found = vec![];
            for (off, t) in page::items(&p) {
                let a = Addr { blk, off };
                if !self.visited.insert(a) {
                    continue;
                }
                let Some(v) = Vertex::parse(&self.meta, t) else {
                    continue;
                };
                if v.deleted() || !self.filter.as_deref().is_none_or(|f| v.has_label_in(f)) {
                    continue;
                }
                let f = v.factors();
                let dot = self.lut.code_dot(self.meta.bits, v.code());
                let (est, err) =
                    vchord_rabitq::estimate_bound(self.kind, &f, dot, self.lq, self.epsilon);
                found.push(Node {
                    key: est + self.offset - err,
                    addr: a,
                    tid: v.tid(),
                    matching: true,
                });
            }
            drop(p);
            self.stats.pages += 1;
            self.stats.scored += found.len() as u64;
            self.pool.extend(found.into_iter().map(Reverse));
        }
    }

    /// The beam after convergence: the best `ef` live matching vertices by estimate.
    pub fn beam<S: Store>(&mut self, s: &S) -> Vec<Addr> {
        self.converge(s);
        let mut b: Vec<Node> = self.beam.iter().copied().collect();
        b.sort();
        b.into_iter().map(|n| n.addr).collect()
    }

    /// The next row (heap TID, internal distance), or `None` when the graph is exhausted.
    /// With rerank_in_table, `fetch(tid)` gives the row's vector bytes from the table, or
    /// `None` when no version is visible (the row is skipped).
    pub fn next<S: Store>(
        &mut self,
        s: &S,
        fetch: &mut dyn FnMut(Addr) -> Option<Vec<u8>>,
    ) -> Option<(Addr, f32)> {
        let bytes = self.meta.dims as usize * self.meta.elem.size();
        loop {
            if !self.converged {
                self.converge(s);
            }
            if let Some(Reverse(best)) = self.results.peek() {
                let bound = self.pool.peek().map_or(f32::INFINITY, |c| c.0.key);
                if best.key <= bound {
                    let r = self.results.pop().unwrap().0;
                    return Some((r.tid, r.key));
                }
            }
            if let Some(Reverse(c)) = self.pool.pop() {
                if !self.exact.insert(c.addr) {
                    continue; // its exact distance came with its expansion
                }
                self.stats.reranked += 1;
                let (q, elem) = (
                    self.query.as_ref().expect("a scan's search has its query"),
                    self.meta.elem,
                );
                // The distance is computed on the page (no copy of a kept vector).
                let scratch = &mut self.scratch;
                let d = if self.meta.rerank_in_table {
                    fetch(c.tid)
                        .filter(|v| v.len() == bytes)
                        .map(|v| q.exact_with(elem, &v, scratch))
                } else {
                    with_vertex_in(s, &self.len, &self.meta, c.addr, |v| {
                        (v.tid() == c.tid && !v.deleted())
                            .then(|| q.exact_with(elem, v.vector(), scratch))
                    })
                    .flatten()
                };
                if let Some(d) = d {
                    self.results.push(Reverse(Node { key: d, ..c }));
                }
                continue;
            }
            if self.cands.is_empty() && self.parked.is_empty() {
                if self.detoured || self.detour.is_empty() {
                    if self.swept || self.query.is_none() {
                        return None;
                    }
                    // The walk is exhausted: every vertex it never scored (one the graph
                    // does not reach from the entries, a matching row more than a hop past
                    // other rows, or one linked in by a concurrent insert after it passed)
                    // joins the pool from a sweep of the vertex pages, so a scan that keeps
                    // pulling returns every live matching row.
                    self.swept = true;
                    self.sweep(s);
                    continue;
                }
                // The filter's rows reachable among themselves are done: walk on through
                // the other rows their edges name.
                self.detoured = true;
                self.cands.extend(std::mem::take(&mut self.detour));
                self.converged = false;
                continue;
            }
            self.ef = self.ef.saturating_mul(2);
            self.cands.extend(self.parked.drain(..).map(Reverse));
            self.converged = false;
        }
    }
}

/// Every live vertex's row (with a filter, those sharing a label with it), in no order: a
/// scan whose query is NULL.
#[derive(Default)]
pub struct Sweep(vchord_base::PageSweep);

impl Sweep {
    pub fn next<S: Store>(&mut self, s: &S, meta: &Meta, filter: Option<&[i16]>) -> Option<Addr> {
        self.0.next(s, KIND_VERTICES, &mut |p, out| {
            for (_, t) in page::items(p) {
                if let Some(v) = Vertex::parse(meta, t)
                    && !v.deleted()
                    && filter.is_none_or(|f| v.has_label_in(f))
                {
                    out.push(v.tid());
                }
            }
        })
    }
}
