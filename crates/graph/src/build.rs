//! The in-memory build: a Vamana graph grown by batched insertion (each batch searches the
//! graph as it stood, in parallel, then its edges and the reverse edges go in), with robust
//! pruning that keeps label subgraphs connected. Distances are exact, over the rows' own
//! vectors (rotation preserves them, so the graph suits the rotated codes the search walks).
use crate::Metric;
use crate::prune::{overlaps, robust_prune};
use std::collections::{BTreeMap, BinaryHeap};
use vchord_simd::f32x;

/// The rows to index: `vectors` holds `n` rows of `dims` elements, `labels[i]` sorted.
pub struct Data<'a> {
    pub dims: usize,
    pub metric: Metric,
    pub vectors: &'a [f32],
    pub labels: &'a [Vec<i16>],
}

#[derive(Clone, Copy)]
pub struct Params {
    pub m: usize,
    /// Extra slots for edges among rows sharing a label (see [`crate::Meta::label_slots`]).
    pub label_slots: usize,
    pub ef_construction: usize,
    pub alpha: f32,
    pub threads: usize,
    /// Run first on each worker thread (the server blocks signals there).
    pub on_thread: Option<fn()>,
}

pub struct Graph {
    /// Each row's neighbours: general edges first, then label edges.
    pub neighbours: Vec<Vec<u32>>,
    /// How many of each row's neighbours are general edges.
    pub general: Vec<u16>,
    /// The start of unfiltered searches: the row nearest the mean.
    pub entry: Option<u32>,
    /// Per label, the start of searches filtered on it: the labelled row nearest their mean.
    pub label_entries: BTreeMap<i16, u32>,
}

impl Graph {
    /// The order to lay vertices out on pages: breadth first from the entry over general
    /// edges, so that a vertex's neighbours tend to share pages (a search scores every new
    /// neighbour of the vertex it expands, reading each page among them once): on GloVe-50 a
    /// search read 10 % fewer pages than with vertices in row order. Rows the walk does not
    /// reach start walks of their own, in row order.
    pub fn layout(&self) -> Vec<u32> {
        let n = self.neighbours.len();
        let mut seen = vec![false; n];
        let mut order = Vec::with_capacity(n);
        let starts = self.entry.into_iter().chain(0..n as u32);
        for start in starts {
            if seen[start as usize] {
                continue;
            }
            seen[start as usize] = true;
            order.push(start);
            let mut head = order.len() - 1;
            while head < order.len() {
                let u = order[head] as usize;
                head += 1;
                for &v in &self.neighbours[u][..self.general[u] as usize] {
                    if !seen[v as usize] {
                        seen[v as usize] = true;
                        order.push(v);
                    }
                }
            }
        }
        order
    }
}

impl Data<'_> {
    pub fn len(&self) -> usize {
        self.vectors.len() / self.dims.max(1)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn row(&self, i: u32) -> &[f32] {
        &self.vectors[i as usize * self.dims..(i as usize + 1) * self.dims]
    }
}

struct Dist<'a> {
    d: &'a Data<'a>,
    /// Cosine: 1 / |row| (0 for a zero row).
    inv: Vec<f32>,
}

impl Dist<'_> {
    /// The search distance between rows (smaller is nearer).
    fn search(&self, a: u32, b: u32) -> f32 {
        self.to(
            a,
            self.d.row(b),
            self.inv.get(b as usize).copied().unwrap_or(1.0),
        )
    }
    fn to(&self, a: u32, v: &[f32], inv_v: f32) -> f32 {
        let x = self.d.row(a);
        match self.d.metric {
            // (vchordg has no L1 class; were it given L1, it would build as for L2)
            Metric::L2 | Metric::L1 => f32x::l2sq(x, v),
            Metric::Ip => -f32x::dot(x, v),
            Metric::Cos => 1.0 - f32x::dot(x, v) * self.inv[a as usize] * inv_v,
        }
    }
    /// The pruning distance: squared L2 (between unit vectors for cosine).
    fn prune(&self, a: u32, b: u32) -> f32 {
        match self.d.metric {
            Metric::L2 | Metric::L1 | Metric::Ip => f32x::l2sq(self.d.row(a), self.d.row(b)),
            Metric::Cos => 2.0 * self.search(a, b),
        }
    }
}

/// Marks of visited rows, reset in O(1) per search by an epoch.
struct Visited {
    mark: Vec<u32>,
    epoch: u32,
}

impl Visited {
    fn new(n: usize) -> Visited {
        Visited {
            mark: vec![0; n],
            epoch: 0,
        }
    }
    fn reset(&mut self) {
        self.epoch += 1;
        if self.epoch == u32::MAX {
            self.mark.fill(0);
            self.epoch = 1;
        }
    }
    fn insert(&mut self, i: u32) -> bool {
        let m = &mut self.mark[i as usize];
        if *m == self.epoch {
            false
        } else {
            *m = self.epoch;
            true
        }
    }
}

#[derive(PartialEq)]
struct Near(f32, u32);
impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Near {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
    }
}

/// Beam search for row `q` from `starts`; with `filter`, only rows with a label in it are
/// walked, over all edges, else the general edges. Returns the `ef` nearest rows found,
/// nearest first, without `q`.
fn search(
    dist: &Dist,
    g: &Graph,
    q: u32,
    starts: &[u32],
    ef: usize,
    filter: Option<&[i16]>,
    vis: &mut Visited,
) -> Vec<(u32, f32)> {
    vis.reset();
    vis.insert(q);
    let mut cands: BinaryHeap<std::cmp::Reverse<Near>> = BinaryHeap::new();
    let mut beam: BinaryHeap<Near> = BinaryHeap::new();
    for &s in starts {
        if vis.insert(s) {
            let d = dist.search(q, s);
            cands.push(std::cmp::Reverse(Near(d, s)));
            beam.push(Near(d, s));
        }
    }
    while let Some(std::cmp::Reverse(Near(d, v))) = cands.pop() {
        if beam.len() >= ef && d > beam.peek().unwrap().0 {
            break;
        }
        let all = &g.neighbours[v as usize];
        let walk = if filter.is_some() {
            &all[..]
        } else {
            &all[..g.general[v as usize] as usize]
        };
        for &u in walk {
            if !vis.insert(u) {
                continue;
            }
            if let Some(f) = filter
                && !overlaps(&dist.d.labels[u as usize], f)
            {
                continue;
            }
            let du = dist.search(q, u);
            if beam.len() < ef || du < beam.peek().unwrap().0 {
                cands.push(std::cmp::Reverse(Near(du, u)));
                beam.push(Near(du, u));
                if beam.len() > ef {
                    beam.pop();
                }
            }
        }
    }
    let mut out: Vec<(u32, f32)> = beam.into_iter().map(|Near(d, v)| (v, d)).collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    out
}

fn prune_for(dist: &Dist, p: u32, cands: Vec<u32>, prm: &Params) -> (Vec<u32>, u16) {
    let mut c: Vec<(u32, f32)> = cands
        .into_iter()
        .filter(|&u| u != p)
        .map(|u| (u, dist.prune(p, u)))
        .collect();
    c.sort_by_key(|x| x.0);
    c.dedup_by_key(|x| x.0);
    let labels = dist.d.labels;
    let (list, general) = robust_prune(
        &labels[p as usize],
        &mut c,
        prm.alpha,
        prm.m,
        prm.label_slots,
        &mut |a, b| dist.prune(a, b),
        &|k| &labels[k as usize],
    );
    (list, general as u16)
}

/// The row nearest the mean of `rows`.
fn medoid(dist: &Dist, rows: &[u32]) -> u32 {
    let d = dist.d;
    let mut mean = vec![0f32; d.dims];
    for &r in rows {
        let inv = if d.metric == Metric::Cos {
            dist.inv[r as usize]
        } else {
            1.0
        };
        for (m, x) in mean.iter_mut().zip(d.row(r)) {
            *m += x * inv;
        }
    }
    let norm = f32x::dot(&mean, &mean).sqrt();
    // Inner product has no medoid; the direction of the mean serves, as for cosine.
    let inv_mean = match d.metric {
        Metric::L2 | Metric::L1 => 1.0,
        _ if norm > 0.0 => 1.0 / norm,
        _ => 0.0,
    };
    *rows
        .iter()
        .min_by(|&&a, &&b| {
            let (da, db) = (dist.to(a, &mean, inv_mean), dist.to(b, &mean, inv_mean));
            da.total_cmp(&db).then(a.cmp(&b))
        })
        .unwrap()
}

/// Builds the graph. `tick(done)` runs on the calling thread between batches (progress,
/// cancellation).
pub fn build(d: &Data, prm: &Params, tick: &mut dyn FnMut(usize)) -> Graph {
    let n = d.len();
    let inv = match d.metric {
        Metric::Cos | Metric::Ip => (0..n as u32)
            .map(|i| {
                let r = d.row(i);
                let nn = f32x::dot(r, r).sqrt();
                if nn > 0.0 { 1.0 / nn } else { 0.0 }
            })
            .collect(),
        Metric::L2 | Metric::L1 => vec![],
    };
    // Ip's medoid uses cosine directions; `inv` is only read for Cos in distances.
    let dist = Dist { d, inv };
    let mut g = Graph {
        neighbours: vec![vec![]; n],
        general: vec![0; n],
        entry: None,
        label_entries: BTreeMap::new(),
    };
    if n == 0 {
        return g;
    }
    let all: Vec<u32> = (0..n as u32).collect();
    let entry = medoid(&dist, &all);
    g.entry = Some(entry);
    let mut by_label: BTreeMap<i16, Vec<u32>> = BTreeMap::new();
    for (i, ls) in d.labels.iter().enumerate() {
        for &l in ls {
            by_label.entry(l).or_default().push(i as u32);
        }
    }
    for (l, rows) in &by_label {
        g.label_entries.insert(*l, medoid(&dist, rows));
    }
    // Entries first, so every later search has somewhere to start.
    let mut first: Vec<u32> = vec![entry];
    first.extend(g.label_entries.values().copied());
    first.sort_unstable();
    first.dedup();
    first.retain(|&x| x != entry);
    first.insert(0, entry);
    let mut is_first = vec![false; n];
    for &f in &first {
        is_first[f as usize] = true;
    }
    let order: Vec<u32> = first
        .iter()
        .copied()
        .chain((0..n as u32).filter(|&i| !is_first[i as usize]))
        .collect();
    let mut inserted = vec![false; n];
    inserted[entry as usize] = true;
    let mut pos = 1;
    let threads = prm.threads.max(1);
    let mut visited: Vec<Visited> = (0..threads).map(|_| Visited::new(n)).collect();
    while pos < n {
        let batch = (pos / 16).clamp(1, 1024).min(n - pos);
        let rows = &order[pos..pos + batch];
        // 1. Each row of the batch searches the graph as it stands.
        let found: Vec<(Vec<u32>, u16)> = {
            let g = &g;
            let inserted = &inserted;
            let work = |p: u32, vis: &mut Visited| -> (Vec<u32>, u16) {
                let mut cands: Vec<u32> =
                    search(&dist, g, p, &[entry], prm.ef_construction, None, vis)
                        .into_iter()
                        .map(|x| x.0)
                        .collect();
                let ls = &d.labels[p as usize];
                if !ls.is_empty() {
                    let starts: Vec<u32> = ls
                        .iter()
                        .filter_map(|l| g.label_entries.get(l))
                        .copied()
                        .filter(|&s| inserted[s as usize] && s != p)
                        .collect();
                    if !starts.is_empty() {
                        cands.extend(
                            search(&dist, g, p, &starts, prm.ef_construction, Some(ls), vis)
                                .into_iter()
                                .map(|x| x.0),
                        );
                        cands.extend(starts);
                    }
                }
                prune_for(&dist, p, cands, prm)
            };
            parallel(rows, &mut visited, prm.on_thread, &work)
        };
        for (&p, (nbs, general)) in rows.iter().zip(found) {
            g.neighbours[p as usize] = nbs;
            g.general[p as usize] = general;
            inserted[p as usize] = true;
        }
        // 2. Reverse edges, grouped by the row that receives them.
        let mut incoming: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for &p in rows {
            for &u in &g.neighbours[p as usize] {
                incoming.entry(u).or_default().push(p);
            }
        }
        let targets: Vec<u32> = incoming.keys().copied().collect();
        let updated: Vec<(Vec<u32>, u16)> = {
            let g = &g;
            let incoming = &incoming;
            let work = |u: u32, _: &mut Visited| -> (Vec<u32>, u16) {
                let old = &g.neighbours[u as usize];
                let general = g.general[u as usize] as usize;
                let new: Vec<u32> = incoming[&u]
                    .iter()
                    .copied()
                    .filter(|p| !old.contains(p))
                    .collect();
                if general + new.len() <= prm.m {
                    // Room among the general edges: the new ones join them.
                    let mut c = old[..general].to_vec();
                    c.extend(&new);
                    c.extend(&old[general..]);
                    (c, (general + new.len()) as u16)
                } else {
                    let mut c = old.clone();
                    c.extend(new);
                    prune_for(&dist, u, c, prm)
                }
            };
            parallel(&targets, &mut visited, prm.on_thread, &work)
        };
        for (u, (nbs, general)) in targets.into_iter().zip(updated) {
            g.neighbours[u as usize] = nbs;
            g.general[u as usize] = general;
        }
        pos += batch;
        tick(pos);
    }
    connect(&dist, &mut g, entry, prm);
    connect_labels(&dist, &mut g, prm);
    g
}

/// Pruning can leave rows that the entry cannot reach over general edges (a value many rows
/// share is the common case). Each such row `v`, in turn, is linked from a reachable row:
/// the nearest with a free general slot among its own neighbours and what a search for it
/// from the entry finds, which takes it as a new edge; when none has room, the nearest gives
/// up its farthest general edge `u -> t` for `u -> v`, and `v` takes `v -> t`, so whatever
/// `t` led to stays reachable. Rounds repeat until every row is reached.
fn connect(dist: &Dist, g: &mut Graph, entry: u32, prm: &Params) {
    let n = g.neighbours.len();
    let m = prm.m;
    let mut vis = Visited::new(n);
    for _round in 0..8 {
        let mut reached = vec![false; n];
        let walk = |from: u32, reached: &mut Vec<bool>, g: &Graph| {
            let mut stack = vec![from];
            while let Some(v) = stack.pop() {
                if !reached[v as usize] {
                    reached[v as usize] = true;
                    let k = g.general[v as usize] as usize;
                    stack.extend(g.neighbours[v as usize][..k].iter().copied());
                }
            }
        };
        walk(entry, &mut reached, g);
        if reached.iter().all(|&r| r) {
            return;
        }
        for v in 0..n as u32 {
            if reached[v as usize] {
                continue;
            }
            let mut from: Vec<u32> = g.neighbours[v as usize]
                .iter()
                .copied()
                .filter(|&u| reached[u as usize])
                .collect();
            from.extend(
                search(
                    dist,
                    g,
                    v,
                    &[entry],
                    prm.ef_construction.min(64),
                    None,
                    &mut vis,
                )
                .into_iter()
                .map(|x| x.0)
                .filter(|&u| reached[u as usize]),
            );
            from.push(entry);
            let u = from
                .iter()
                .copied()
                .find(|&u| (g.general[u as usize] as usize) < m)
                .unwrap_or(from[0]);
            link(g, u, v, m);
            walk(v, &mut reached, g);
        }
    }
}

/// Each label's rows reachable from its entry as a search filtered by it walks: over all
/// edges, through rows with the label, and one hop at a time through rows without it.
fn label_reach(g: &Graph, labels: &[Vec<i16>], l: i16, from: u32, seen: &mut [bool]) {
    let has = |v: u32| labels[v as usize].binary_search(&l).is_ok();
    if seen[from as usize] {
        return;
    }
    seen[from as usize] = true;
    let mut stack = vec![from];
    while let Some(a) = stack.pop() {
        let matching = has(a);
        for &n in &g.neighbours[a as usize] {
            if (matching || has(n)) && !seen[n as usize] {
                seen[n as usize] = true;
                stack.push(n);
            }
        }
    }
}

/// Every row with a label is linked from the nearest row with it that the label's entry
/// reaches (a label edge, or a general one, or by splicing, as [`connect`] does), until a
/// search filtered by the label reaches all of its rows.
fn connect_labels(dist: &Dist, g: &mut Graph, prm: &Params) {
    let labels = dist.d.labels;
    let n = g.neighbours.len();
    let entries: Vec<(i16, u32)> = g.label_entries.iter().map(|(&l, &e)| (l, e)).collect();
    for (l, e) in entries {
        let rows: Vec<u32> = (0..n as u32)
            .filter(|&v| labels[v as usize].binary_search(&l).is_ok())
            .collect();
        for _round in 0..4 {
            let mut seen = vec![false; n];
            label_reach(g, labels, l, e, &mut seen);
            if rows.iter().all(|&v| seen[v as usize]) {
                break;
            }
            for &v in &rows {
                if seen[v as usize] {
                    continue;
                }
                let u = rows
                    .iter()
                    .copied()
                    .filter(|&u| seen[u as usize])
                    .min_by(|&a, &b| dist.prune(v, a).total_cmp(&dist.prune(v, b)))
                    .unwrap_or(e);
                link_label(g, u, v, prm.m, prm.label_slots);
                label_reach(g, labels, l, v, &mut seen);
            }
        }
    }
}

/// Makes `u` name `v`: a free label slot, else a free general slot, else in place of `u`'s
/// last edge `t`, with `v` taking `v -> t` (a free slot, else in place of its own last).
fn link_label(g: &mut Graph, u: u32, v: u32, m: usize, slots: usize) {
    fn add(g: &mut Graph, u: u32, v: u32, m: usize, slots: usize) -> Option<u32> {
        let k = g.general[u as usize] as usize;
        let list = &mut g.neighbours[u as usize];
        if list.contains(&v) {
            return None;
        }
        if list.len() - k < slots {
            list.push(v);
        } else if k < m {
            list.insert(k, v);
            g.general[u as usize] += 1;
        } else if let Some(t) = list.last_mut() {
            return Some(std::mem::replace(t, v));
        }
        None
    }
    if let Some(t) = add(g, u, v, m, slots)
        && t != v
        && add(g, v, t, m, slots).is_some()
    {
        // `v`'s own last edge gave way to `t`; rounds link in whatever that strands.
    }
}

/// Makes `u -> v` a general edge of `u`: into a free slot, or in place of `u`'s farthest
/// general edge `u -> t`, with `v -> t` added so `t` stays reachable through `v`.
fn link(g: &mut Graph, u: u32, v: u32, m: usize) {
    let k = g.general[u as usize] as usize;
    let list = &mut g.neighbours[u as usize];
    if list[..k].contains(&v) {
        return;
    }
    if let Some(i) = list[k..].iter().position(|&w| w == v) {
        list.remove(k + i); // a label edge to v becomes general
    }
    if k < m {
        list.insert(k, v);
        g.general[u as usize] += 1;
        return;
    }
    let t = std::mem::replace(&mut list[k - 1], v);
    let kv = g.general[v as usize] as usize;
    let vl = &mut g.neighbours[v as usize];
    if t == v || vl[..kv].contains(&t) {
        return;
    }
    if let Some(i) = vl[kv..].iter().position(|&w| w == t) {
        vl.remove(kv + i);
    }
    if kv < m {
        vl.insert(kv, t);
        g.general[v as usize] += 1;
    } else {
        vl[kv - 1] = t;
    }
}

/// `work` over `items` on up to `visited.len()` threads (one `Visited` each), results in order.
fn parallel<T: Send>(
    items: &[u32],
    visited: &mut [Visited],
    on_thread: Option<fn()>,
    work: &(dyn Fn(u32, &mut Visited) -> T + Sync),
) -> Vec<T> {
    let threads = visited.len().min(items.len().div_ceil(8)).max(1);
    if threads == 1 {
        let vis = &mut visited[0];
        return items.iter().map(|&p| work(p, vis)).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|sc| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .zip(visited.iter_mut())
            .map(|(part, vis)| {
                sc.spawn(move || {
                    if let Some(f) = on_thread {
                        f();
                    }
                    part.iter().map(|&p| work(p, vis)).collect::<Vec<T>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a build thread panicked"))
            .collect()
    })
}
