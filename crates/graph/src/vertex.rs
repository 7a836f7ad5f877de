//! Vertex tuples: code, labels, flags, neighbour lists, the vector.
use crate::*;

// ---- vertices --------------------------------------------------------------------------

pub(crate) const V_FLAGS: usize = 6;
pub(crate) const V_FACTORS: usize = 7;
pub(crate) const V_CODE: usize = V_FACTORS + 10;
/// In the flags byte: the row is deleted; the low bits count the labels.
pub(crate) const F_DELETED: u8 = 0x80;
pub(crate) const EDGE: usize = 4;
pub(crate) const NO_EDGE: u32 = u32::MAX;

/// The address in an edge other than [`NO_EDGE`] (see [`Meta::edge`]).
pub(crate) fn unpack_edge(e: u32, off_bits: u32) -> Addr {
    Addr {
        blk: e >> off_bits,
        off: (e & ((1 << off_bits) - 1)) as u16,
    }
}

/// A vertex tuple, decoded: heap TID; a byte with the deleted flag and the label count;
/// RaBitQ factors (`|r|²` and `<code, r>` as f32, the error bound over `|r|` as f16 rounded
/// up) and code; labels (i16); `m` general edge slots, then `label_slots` label edge slots
/// (4 bytes each, see [`Meta::edge`]; each kind packed from its first slot, the rest
/// [`NO_EDGE`]); the vector (when kept).
pub struct Vertex<'a> {
    pub(crate) t: &'a [u8],
    pub(crate) code_len: usize,
    pub(crate) m: usize,
    pub(crate) slots: usize,
    pub(crate) off_bits: u32,
}

impl<'a> Vertex<'a> {
    /// `None` when `t` is not a well-formed vertex of this index.
    pub fn parse(meta: &Meta, t: &'a [u8]) -> Option<Vertex<'a>> {
        if t.len() < V_CODE {
            return None;
        }
        let v = Vertex {
            t,
            code_len: meta.code_len(),
            m: meta.m as usize,
            slots: meta.slots(),
            off_bits: meta.off_bits,
        };
        (t.len() == meta.vertex_len(v.nlabels())).then_some(v)
    }
    pub fn tid(&self) -> Addr {
        Addr::from_bytes(&self.t[0..6])
    }
    pub fn deleted(&self) -> bool {
        self.t[V_FLAGS] & F_DELETED != 0
    }
    pub(crate) fn nlabels(&self) -> usize {
        (self.t[V_FLAGS] & !F_DELETED) as usize
    }
    pub(crate) fn slot(&self, i: usize) -> u32 {
        let at = self.neigh_at() + EDGE * i;
        u32::from_le_bytes(self.t[at..at + EDGE].try_into().unwrap())
    }
    /// How many slots from `from` (up to `to`) hold edges.
    pub(crate) fn filled(&self, from: usize, to: usize) -> usize {
        (from..to).take_while(|&i| self.slot(i) != NO_EDGE).count()
    }
    /// How many general edges the vertex has.
    pub fn general(&self) -> usize {
        self.filled(0, self.m)
    }
    pub fn factors(&self) -> Factors {
        let f = |i: usize| f32::from_le_bytes(self.t[i..i + 4].try_into().unwrap());
        let norm_sq = f(V_FACTORS);
        let ratio = half::f16::from_le_bytes([self.t[V_FACTORS + 8], self.t[V_FACTORS + 9]]);
        Factors {
            norm_sq,
            sum_abs: f(V_FACTORS + 4),
            // Codes are of residuals to the index's one centre, and a search's table is
            // built on the query's residual to it (L2), so this term is already in the sum.
            sign_dot_c: 0.0,
            err: ratio.to_f32() * norm_sq.max(0.0).sqrt(),
        }
    }
    pub fn code(&self) -> &'a [u8] {
        &self.t[V_CODE..V_CODE + self.code_len]
    }
    pub(crate) fn labels_at(&self) -> usize {
        V_CODE + self.code_len
    }
    pub(crate) fn neigh_at(&self) -> usize {
        self.labels_at() + 2 * self.nlabels()
    }
    pub fn labels(&self) -> Vec<i16> {
        self.t[self.labels_at()..self.neigh_at()]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect()
    }
    /// Whether the vertex carries one of the sorted `labels` (without decoding its own).
    pub fn has_label_in(&self, labels: &[i16]) -> bool {
        self.t[self.labels_at()..self.neigh_at()]
            .chunks_exact(2)
            .any(|c| {
                labels
                    .binary_search(&i16::from_le_bytes([c[0], c[1]]))
                    .is_ok()
            })
    }
    pub(crate) fn edges_in(&self, from: usize, to: usize, out: &mut Vec<Addr>) {
        for i in from..to {
            let e = self.slot(i);
            if e == NO_EDGE {
                break;
            }
            out.push(unpack_edge(e, self.off_bits));
        }
    }
    /// Every neighbour, general edges first.
    pub fn neighbours(&self) -> Vec<Addr> {
        let mut out = Vec::with_capacity(self.slots);
        self.edges_in(0, self.m, &mut out);
        self.edges_in(self.m, self.slots, &mut out);
        out
    }
    /// The neighbours a search walks: with a label filter all, else the general edges.
    pub fn walk(&self, filtered: bool) -> Vec<Addr> {
        let mut out = Vec::with_capacity(self.slots);
        self.edges_in(0, self.m, &mut out);
        if filtered {
            self.edges_in(self.m, self.slots, &mut out);
        }
        out
    }
    /// The kept vector's bytes (empty with rerank_in_table).
    pub fn vector(&self) -> &'a [u8] {
        &self.t[self.neigh_at() + EDGE * self.slots..]
    }
}

/// The stored factors: the error bound over `|r|` rounded up to an f16 (a bound that
/// is a little loose, never tight).
pub(crate) fn factor_bytes(f: &Factors) -> [u8; 10] {
    let mut out = [0u8; 10];
    out[0..4].copy_from_slice(&f.norm_sq.to_le_bytes());
    out[4..8].copy_from_slice(&f.sum_abs.to_le_bytes());
    let norm = (f.norm_sq as f64).max(0.0).sqrt();
    let ratio = if norm > 0.0 { f.err as f64 / norm } else { 0.0 };
    let mut h = half::f16::from_f64(ratio);
    if (h.to_f64()) < ratio && h.is_finite() {
        h = half::f16::from_bits(h.to_bits() + 1);
    }
    out[8..10].copy_from_slice(&h.to_le_bytes());
    out
}

/// Writes `e` into the edge slots `slots` (from the vertex's first slot).
pub(crate) fn put_edges(meta: &Meta, slots: &mut [u8], e: &Edges) {
    let (general, labelled) = e.list.split_at(e.general.min(e.list.len()));
    debug_assert!(general.len() <= meta.m as usize);
    debug_assert!(labelled.len() <= meta.label_slots as usize);
    let m = meta.m as usize;
    for (i, slot) in slots.chunks_exact_mut(EDGE).enumerate() {
        let a = if i < m {
            general.get(i)
        } else {
            labelled.get(i - m)
        };
        let edge = a.map_or(NO_EDGE, |&a| meta.edge(a));
        slot.copy_from_slice(&edge.to_le_bytes());
    }
}

pub(crate) fn encode_vertex(
    meta: &Meta,
    tid: Addr,
    f: &Factors,
    code: &[u8],
    labels: &[i16],
    neighbours: &Edges,
    vector: &[u8],
) -> Vec<u8> {
    let mut t = Vec::with_capacity(meta.vertex_len(labels.len()));
    t.extend_from_slice(&tid.to_bytes());
    t.push(labels.len() as u8);
    t.extend_from_slice(&factor_bytes(f));
    t.extend_from_slice(code);
    for l in labels {
        t.extend_from_slice(&l.to_le_bytes());
    }
    let at = t.len();
    t.resize(at + EDGE * meta.slots(), 0);
    put_edges(meta, &mut t[at..], neighbours);
    t.extend_from_slice(&vector[..meta.vector_len()]);
    debug_assert_eq!(t.len(), meta.vertex_len(labels.len()));
    t
}

/// A vertex's out-edges: `list[..general]` form the graph every search walks (at most `m`);
/// the rest (at most `label_slots`) join rows sharing a label, for filtered searches.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Edges {
    pub list: Vec<Addr>,
    pub general: usize,
}

impl Edges {
    pub(crate) fn of(v: &Vertex) -> Edges {
        Edges {
            list: v.neighbours(),
            general: v.general(),
        }
    }
    /// All general (a list that fits the general slots).
    pub(crate) fn general(list: Vec<Addr>) -> Edges {
        let general = list.len();
        Edges { list, general }
    }
    pub(crate) fn contains(&self, a: &Addr) -> bool {
        self.list.contains(a)
    }
    /// Adds `a` as a general edge, or (`replace`) in place of the last general edge when the
    /// general slots are full. False when it could not.
    pub(crate) fn add_general(&mut self, a: Addr, m: usize, replace: bool) -> bool {
        if self.general < m {
            self.list.insert(self.general, a);
            self.general += 1;
            true
        } else if replace && self.general > 0 {
            self.list[self.general - 1] = a;
            true
        } else {
            false
        }
    }
}

/// Replaces the neighbour list of the vertex tuple `t` (in place).
pub(crate) fn put_neighbours(meta: &Meta, t: &mut [u8], e: &Edges) {
    let nl = (t[V_FLAGS] & !F_DELETED) as usize;
    let at = V_CODE + meta.code_len() + 2 * nl;
    put_edges(meta, &mut t[at..at + EDGE * meta.slots()], e);
}

/// Reads the vertex at `a` and gives it to `f`; `None` when it is gone or not a vertex. The
/// relation's length is kept in `len` across calls (a search or an insert reads hundreds of
/// vertices).
pub fn with_vertex_in<S: Store, T>(
    s: &S,
    len: &Length,
    meta: &Meta,
    a: Addr,
    f: impl FnOnce(&Vertex) -> T,
) -> Option<T> {
    if a.is_none() || !len.covers(s, a.blk) {
        return None;
    }
    let p = s.read(a.blk);
    if page::kind(&p) != KIND_VERTICES {
        return None;
    }
    let v = Vertex::parse(meta, page::get(&p, a.off)?)?;
    Some(f(&v))
}
