//! vchordg's index logic over a [`Store`] of pages: a single-layer Vamana graph whose
//! vertices carry a RaBitQ code (walked by the search), the row's labels, fixed-capacity
//! neighbour lists and, unless the table is used for rerank, the row's vector. No PostgreSQL
//! symbols: the server implements [`Store`] with shared buffers and GenericXLog.
//!
//! Layout (little-endian, PostgreSQL-standard pages, see [`vchord_ivf::page`]):
//! * block 0, the meta page: one [`Meta`] tuple (dimensions, metric, parameters, the entry
//!   vertex, the heads of the centre and label chains).
//! * the centre chain: the rotated mean of the rows, codes are of `x - centre`.
//! * the label chain: `(label, entry vertex)` pairs, where filtered searches start.
//! * vertex pages: one tuple per row (see [`Vertex`]); a vertex is only ever rewritten in
//!   place (same length), so its address stays its name. Vacuum flags dead vertices, repairs
//!   the lists that point at them, then removes them; line pointers are never reused.
pub mod build;
pub mod options;
pub mod prune;
mod search;

pub use search::{Search, SearchParams, Stats, Sweep};
pub use vchord_ivf::{Corrupt, Elem, MemStore, Metric, Query, Result, Store, sql_distance};

use prune::{overlaps, robust_prune};
use std::collections::{BTreeMap, HashMap, HashSet};
use vchord_ivf::page::{self, Addr, INVALID_BLOCK};
use vchord_ivf::{corrupt, f32_bytes, f32s};
use vchord_rabitq::{Factors, Rotation};
use vchord_simd::f32x;

pub const MAGIC: u32 = 0x4743_4356; // "VCCG" little-endian
pub const FORMAT_VERSION: u32 = 3;
pub const ROTATION_SEED: u64 = 0x7663_686F_7264_6721; // "vchordg!"

pub const KIND_META: u32 = 11;
pub const KIND_CENTRE: u32 = 12;
pub const KIND_LABELS: u32 = 13;
pub const KIND_VERTICES: u32 = 14;

/// Labels one row may carry.
pub const MAX_LABELS: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub dims: u32,
    pub metric: Metric,
    pub elem: Elem,
    pub bits: u32,
    pub rerank_in_table: bool,
    pub m: u32,
    /// Extra neighbour slots for edges among rows sharing a label (an index with a label
    /// column: `m / 2` rounded up; else 0). Only filtered searches walk them.
    pub label_slots: u32,
    pub ef_construction: u32,
    pub alpha: f32,
    /// Where unfiltered searches start; none while the index is empty.
    pub entry: Addr,
    pub centre: u32,
    pub labels: u32,
    pub ef_search: Option<u32>,
    pub epsilon: Option<f32>,
    pub max_scan_tuples: Option<i32>,
    /// Low bits of a 4-byte edge that hold the offset (see [`Meta::edge`]); set by
    /// [`write`] from the parameters above, which fix how many vertices a page can hold.
    pub off_bits: u32,
}

const META_BYTES: usize = 64;

impl Meta {
    fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; META_BYTES];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[8..12].copy_from_slice(&self.dims.to_le_bytes());
        b[12] = self.metric.code();
        b[13] = self.elem as u8;
        b[14] = self.bits as u8;
        b[15] = self.rerank_in_table as u8;
        b[16..20].copy_from_slice(&self.m.to_le_bytes());
        b[20..24].copy_from_slice(&self.ef_construction.to_le_bytes());
        b[24..28].copy_from_slice(&self.alpha.to_le_bytes());
        b[28..34].copy_from_slice(&self.entry.to_bytes());
        b[36..40].copy_from_slice(&self.centre.to_le_bytes());
        b[40..44].copy_from_slice(&self.labels.to_le_bytes());
        b[44..48].copy_from_slice(&self.ef_search.unwrap_or(0).to_le_bytes());
        b[48..52].copy_from_slice(&self.epsilon.unwrap_or(f32::NAN).to_le_bytes());
        b[52..56].copy_from_slice(&self.max_scan_tuples.unwrap_or(i32::MIN).to_le_bytes());
        b[56..60].copy_from_slice(&self.label_slots.to_le_bytes());
        b[60] = self.off_bits as u8;
        b
    }

    fn decode(b: &[u8]) -> Result<Meta> {
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        if b.len() < META_BYTES || u32_at(0) != MAGIC {
            return corrupt("the meta page is not a vchordg meta page");
        }
        let version = u32_at(4);
        if version != FORMAT_VERSION {
            return vchord_ivf::info::format_mismatch(version, FORMAT_VERSION);
        }
        let eps = f32::from_le_bytes(b[48..52].try_into().unwrap());
        let mst = u32_at(52) as i32;
        let m = Meta {
            dims: u32_at(8),
            metric: Metric::from_code(b[12]).ok_or(Corrupt::new("unknown metric"))?,
            elem: if b[13] == 0 { Elem::F32 } else { Elem::F16 },
            bits: b[14] as u32,
            rerank_in_table: b[15] != 0,
            m: u32_at(16),
            label_slots: u32_at(56),
            ef_construction: u32_at(20),
            alpha: f32::from_le_bytes(b[24..28].try_into().unwrap()),
            entry: Addr::from_bytes(&b[28..34]),
            centre: u32_at(36),
            labels: u32_at(40),
            ef_search: Some(u32_at(44)).filter(|&e| e > 0),
            epsilon: (!eps.is_nan()).then_some(eps),
            max_scan_tuples: (mst != i32::MIN).then_some(mst),
            off_bits: b[60] as u32,
        };
        if !(1..=2).contains(&m.bits)
            || !(1..=16).contains(&m.off_bits)
            || m.m == 0
            || m.m > options::MAX_M
            || m.label_slots > m.m
            || m.dims == 0
        {
            return corrupt("the meta page has impossible parameters");
        }
        Ok(m)
    }

    pub fn rotation(&self) -> std::sync::Arc<Rotation> {
        Rotation::shared(self.dims as usize, ROTATION_SEED)
    }

    fn code_len(&self) -> usize {
        self.bits as usize * vchord_rabitq::code_bytes(self.dims as usize)
    }

    fn vector_len(&self) -> usize {
        if self.rerank_in_table {
            0
        } else {
            self.dims as usize * self.elem.size()
        }
    }

    /// Neighbour slots of a vertex: `m` for the graph every search walks, then the label
    /// edges.
    pub fn slots(&self) -> usize {
        (self.m + self.label_slots) as usize
    }

    /// Bytes of a vertex with `labels` labels.
    /// The leading bytes of a vertex that scoring it reads (tid, flags, factors, code).
    pub fn scored_prefix(&self) -> usize {
        V_CODE + self.code_len()
    }
    pub fn vertex_len(&self, labels: usize) -> usize {
        V_CODE + self.code_len() + 2 * labels + EDGE * self.slots() + self.vector_len()
    }

    /// The offset bits of an edge for these parameters: enough for the most vertices a page
    /// can hold (those with no labels).
    pub fn fitted_off_bits(&self) -> u32 {
        let most = (page::PAGE_SIZE - 32) / page::cost(self.vertex_len(0));
        (usize::BITS - most.leading_zeros()).max(1)
    }

    /// The highest offset an edge can name.
    pub fn max_off(&self) -> u16 {
        ((1u32 << self.off_bits) - 1).min(u16::MAX as u32) as u16
    }

    /// Blocks an edge can name: `0..block_limit()` (an index of 512 GiB when a page holds
    /// up to 63 vertices, more with fewer).
    pub fn block_limit(&self) -> u32 {
        // The last block is left out: its edge at the highest offset would be NO_EDGE.
        u32::MAX >> self.off_bits
    }

    /// An edge: the address packed into 4 bytes, block in the high bits.
    pub fn edge(&self, a: Addr) -> u32 {
        if a.is_none() {
            return NO_EDGE;
        }
        debug_assert!(a.blk < self.block_limit() && a.off <= self.max_off());
        (a.blk << self.off_bits) | a.off as u32
    }

    pub fn edge_addr(&self, e: u32) -> Addr {
        if e == NO_EDGE {
            return Addr::NONE;
        }
        unpack_edge(e, self.off_bits)
    }

    /// Whether a vertex with the most labels fits a page with these parameters.
    pub fn fits(&self) -> bool {
        self.vertex_len(MAX_LABELS) <= page::MAX_ITEM
    }
}

/// The build parameters `vchord_index_info` shows, as JSON members.
pub fn describe(m: &Meta) -> Vec<(&'static str, String)> {
    use vchord_ivf::info::{elem_name, json_str};
    vec![
        ("dims", m.dims.to_string()),
        ("metric", json_str(m.metric.name())),
        ("type", json_str(elem_name(m.elem))),
        ("m", m.m.to_string()),
        ("ef_construction", m.ef_construction.to_string()),
        ("alpha", m.alpha.to_string()),
        ("label_slots", m.label_slots.to_string()),
        ("bits", m.bits.to_string()),
        ("rerank_in_table", m.rerank_in_table.to_string()),
    ]
}

pub fn read_meta<S: Store>(s: &S) -> Result<Meta> {
    if s.nblocks() == 0 {
        return corrupt("the index has no meta page");
    }
    let p = s.read(0);
    if !page::is_valid(&p) || page::kind(&p) != KIND_META {
        return corrupt("block 0 is not a vchordg meta page");
    }
    match page::get(&p, 1) {
        Some(t) => Meta::decode(t),
        None => corrupt("the meta page is empty"),
    }
}

/// Rewrites the entry vertex in the meta page.
fn set_entry<S: Store>(s: &S, entry: Addr) {
    let mut g = s.write(0);
    if let Some(t) = page::get_mut(&mut g, 1) {
        t[28..34].copy_from_slice(&entry.to_bytes());
    }
}

// ---- vertices --------------------------------------------------------------------------

const V_FLAGS: usize = 6;
const V_FACTORS: usize = 7;
const V_CODE: usize = V_FACTORS + 10;
/// In the flags byte: the row is deleted; the low bits count the labels.
const F_DELETED: u8 = 0x80;
const EDGE: usize = 4;
const NO_EDGE: u32 = u32::MAX;

/// The address in an edge other than [`NO_EDGE`] (see [`Meta::edge`]).
fn unpack_edge(e: u32, off_bits: u32) -> Addr {
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
    t: &'a [u8],
    code_len: usize,
    m: usize,
    slots: usize,
    off_bits: u32,
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
    fn nlabels(&self) -> usize {
        (self.t[V_FLAGS] & !F_DELETED) as usize
    }
    fn slot(&self, i: usize) -> u32 {
        let at = self.neigh_at() + EDGE * i;
        u32::from_le_bytes(self.t[at..at + EDGE].try_into().unwrap())
    }
    /// How many slots from `from` (up to `to`) hold edges.
    fn filled(&self, from: usize, to: usize) -> usize {
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
    fn labels_at(&self) -> usize {
        V_CODE + self.code_len
    }
    fn neigh_at(&self) -> usize {
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
    fn edges_in(&self, from: usize, to: usize, out: &mut Vec<Addr>) {
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
fn factor_bytes(f: &Factors) -> [u8; 10] {
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
fn put_edges(meta: &Meta, slots: &mut [u8], e: &Edges) {
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

fn encode_vertex(
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
    fn of(v: &Vertex) -> Edges {
        Edges {
            list: v.neighbours(),
            general: v.general(),
        }
    }
    /// All general (a list that fits the general slots).
    fn general(list: Vec<Addr>) -> Edges {
        let general = list.len();
        Edges { list, general }
    }
    fn contains(&self, a: &Addr) -> bool {
        self.list.contains(a)
    }
    /// Adds `a` as a general edge, or (`replace`) in place of the last general edge when the
    /// general slots are full. False when it could not.
    fn add_general(&mut self, a: Addr, m: usize, replace: bool) -> bool {
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
fn put_neighbours(meta: &Meta, t: &mut [u8], e: &Edges) {
    let nl = (t[V_FLAGS] & !F_DELETED) as usize;
    let at = V_CODE + meta.code_len() + 2 * nl;
    put_edges(meta, &mut t[at..at + EDGE * meta.slots()], e);
}

/// The relation's length as last read: a block below it exists (an index is never truncated
/// under a reader), so only a block past it costs a new look (in PostgreSQL an `lseek`).
#[derive(Default)]
pub struct Length(std::cell::Cell<u32>);

impl Length {
    /// The length as last read (0 before the first look).
    pub fn known(&self) -> u32 {
        self.0.get()
    }

    /// Whether block `blk` exists, looking again only when it is past the length last read
    /// (a chain may reach a block appended since).
    pub fn covers<S: Store>(&self, s: &S, blk: u32) -> bool {
        if blk < self.0.get() {
            return true;
        }
        let n = s.nblocks();
        self.0.set(n);
        blk < n
    }
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

// ---- vectors in the index's space ------------------------------------------------------

/// Prepares a row's vector for the index: unit length for cosine, then rotated.
pub fn prepare(metric: Metric, rot: &Rotation, v: &[f32]) -> Vec<f32> {
    let mut x = v.to_vec();
    if metric == Metric::Cos {
        vchord_kmeans::normalize(&mut x);
    }
    rot.apply(&mut x);
    x
}

pub fn elems_to_f32(elem: Elem, b: &[u8]) -> Vec<f32> {
    match elem {
        Elem::F32 => f32s(b),
        Elem::F16 => b
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    }
}

/// What an insert or a vacuum prunes with: a vertex's vector in the rotated space (exact when
/// the index keeps vectors, else the code's approximation), and its labels.
#[derive(Clone)]
struct Point {
    x: Vec<f32>,
    labels: Vec<i16>,
}

struct Ctx<'a, S: Store> {
    s: &'a S,
    meta: &'a Meta,
    rot: std::sync::Arc<Rotation>,
    centre: Vec<f32>,
    /// An insert or vacuum reads hundreds of vertices (candidates, their lists to prune).
    len: Length,
}

impl<S: Store> Ctx<'_, S> {
    fn point_of(&self, v: &Vertex) -> Point {
        let x = if self.meta.rerank_in_table {
            let r = vchord_rabitq::decode(
                self.meta.bits,
                self.meta.dims as usize,
                v.code(),
                &v.factors(),
            );
            r.iter().zip(&self.centre).map(|(a, b)| a + b).collect()
        } else {
            self.unrotated(&elems_to_f32(self.meta.elem, v.vector()))
        };
        Point {
            x,
            labels: v.labels(),
        }
    }

    /// With vectors kept, pruning works in the original space (the rotation preserves
    /// distances, so it is skipped): unit length for cosine.
    fn unrotated(&self, v: &[f32]) -> Vec<f32> {
        let mut x = v.to_vec();
        if self.meta.metric == Metric::Cos {
            vchord_kmeans::normalize(&mut x);
        }
        x
    }

    /// A new row's point, in the space [`Ctx::point_of`] uses for this index.
    fn point_new(&self, v: &[f32], labels: &[i16]) -> Point {
        Point {
            x: if self.meta.rerank_in_table {
                prepare(self.meta.metric, &self.rot, v)
            } else {
                self.unrotated(v)
            },
            labels: labels.to_vec(),
        }
    }

    fn point(&self, a: Addr) -> Option<Point> {
        with_vertex_in(self.s, &self.len, self.meta, a, |v| {
            (!v.deleted()).then(|| self.point_of(v))
        })
        .flatten()
    }

    /// Robust prune of `cands` for a vertex at `p` (prepared vector, labels).
    fn prune(&self, p: &Point, cands: Vec<(Addr, Point)>) -> Edges {
        let mut keyed: Vec<(usize, f32)> = cands
            .iter()
            .enumerate()
            .map(|(i, (_, c))| (i, f32x::l2sq(&p.x, &c.x)))
            .collect();
        let chosen = robust_prune(
            &p.labels,
            &mut keyed,
            self.meta.alpha,
            self.meta.m as usize,
            self.meta.label_slots as usize,
            &mut |a, b| f32x::l2sq(&cands[a].1.x, &cands[b].1.x),
            &|k| &cands[k].1.labels,
        );
        Edges {
            list: chosen.0.into_iter().map(|i| cands[i].0).collect(),
            general: chosen.1,
        }
    }
}

fn new_ctx<'a, S: Store>(s: &'a S, meta: &'a Meta) -> Result<Ctx<'a, S>> {
    Ok(Ctx {
        s,
        meta,
        rot: meta.rotation(),
        centre: read_centre(s, meta)?,
        len: Length::default(),
    })
}

// ---- centre and labels -----------------------------------------------------------------

fn new_page<S: Store>(s: &S, kind: u32) -> u32 {
    let (b, mut g) = s.extend();
    page::init(&mut g, kind);
    b
}

/// Appends `data` to the chain whose last page is at or after `tail`.
fn append<S: Store>(s: &S, tail: u32, kind: u32, data: &[u8]) -> Addr {
    vchord_ivf::append(s, tail, kind, data).0
}

fn write_centre<S: Store>(s: &S, centre: &[f32]) -> u32 {
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
    let mut hops = 0;
    let len = Length::default();
    while blk != INVALID_BLOCK {
        hops += 1;
        if !len.covers(s, blk) || hops > len.known() {
            return corrupt("the centre chain is broken");
        }
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
fn label_pairs(blk: u32, p: &page::Page, out: &mut Vec<(i16, Addr, Addr)>) {
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
fn label_chain<S: Store>(s: &S, mut blk: u32, out: &mut Vec<(i16, Addr, Addr)>) -> Result<()> {
    let mut hops = 0;
    let len = Length::default();
    while blk != INVALID_BLOCK {
        hops += 1;
        if !len.covers(s, blk) || hops > len.known() {
            return corrupt("the label chain is broken");
        }
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
fn label_reach(graph: &LiveGraph, l: i16, entry: Addr) -> HashSet<Addr> {
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

fn label_directory<S: Store>(s: &S, meta: &Meta) -> Result<Vec<(i16, Addr, Addr)>> {
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

fn label_tuple(l: i16, a: Addr) -> Vec<u8> {
    let mut t = l.to_le_bytes().to_vec();
    t.extend_from_slice(&a.to_bytes());
    t
}

/// Gives each of `labels` that has no entry (or a cleared one) the entry `a`. Writers hold
/// the chain head's lock throughout, so two inserts cannot both add a label.
fn add_label_entries<S: Store>(s: &S, meta: &Meta, labels: &[i16], a: Addr) {
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

// ---- build -----------------------------------------------------------------------------

/// One row of a build: its heap TID, its vector's elements as f32 (exact for halfvec) and its
/// sorted, deduplicated labels.
pub struct Rows {
    pub dims: usize,
    pub tids: Vec<Addr>,
    pub vectors: Vec<f32>,
    pub labels: Vec<Vec<i16>>,
}

impl Rows {
    pub fn new(dims: usize) -> Rows {
        Rows {
            dims,
            tids: vec![],
            vectors: vec![],
            labels: vec![],
        }
    }
    pub fn len(&self) -> usize {
        self.tids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tids.is_empty()
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dims..(i + 1) * self.dims]
    }
    /// Bytes a row takes in memory during a build with out-degree `m`.
    pub fn bytes_per_row(dims: usize, m: usize) -> usize {
        dims * 4 + 6 + 24 + m * 4 * 2
    }
}

/// The rotated mean of the rows (unit rows for cosine): codes are of `x - centre`.
pub fn centre_of(metric: Metric, rot: &Rotation, rows: &Rows) -> Vec<f32> {
    let mut c = vec![0f64; rows.dims];
    for i in 0..rows.len() {
        let mut x = rows.row(i).to_vec();
        if metric == Metric::Cos {
            vchord_kmeans::normalize(&mut x);
        }
        for (a, b) in c.iter_mut().zip(&x) {
            *a += *b as f64;
        }
    }
    let n = rows.len().max(1) as f64;
    let mean: Vec<f32> = c.iter().map(|x| (x / n) as f32).collect();
    rot.rotated(&mean)
}

/// The stored form of a row's vector.
pub fn elems_bytes(elem: Elem, v: &[f32]) -> Vec<u8> {
    match elem {
        Elem::F32 => f32_bytes(v),
        Elem::F16 => v
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect(),
    }
}

fn code_of(meta: &Meta, rot: &Rotation, centre: &[f32], v: &[f32]) -> (Factors, Vec<u8>) {
    let x = prepare(meta.metric, rot, v);
    let r: Vec<f32> = x.iter().zip(centre).map(|(a, b)| a - b).collect();
    let mut code = vec![0u8; meta.code_len()];
    let f = vchord_rabitq::encode_bits(meta.bits, &r, centre, &mut code);
    (f, code)
}

/// Writes an index: the meta page, the centre, the labels and every vertex of `graph` (built
/// over `rows`). `meta.entry`, `centre` and `labels` are filled in here.
pub fn write<S: Store>(
    s: &S,
    mut meta: Meta,
    rows: &Rows,
    graph: &build::Graph,
    tick: &mut dyn FnMut(usize),
) -> std::result::Result<Meta, TooLarge> {
    assert_eq!(s.nblocks(), 0, "write needs an empty relation");
    meta.off_bits = meta.fitted_off_bits();
    let rot = meta.rotation();
    let centre = centre_of(meta.metric, &rot, rows);
    let (mblk, g) = s.extend();
    assert_eq!(mblk, 0);
    drop(g);
    meta.centre = write_centre(s, &centre);
    meta.labels = new_page(s, KIND_LABELS);
    // Addresses first: vertices fill pages in layout order, as a scratch page shows.
    let order = graph.layout();
    let mut addrs = vec![Addr::NONE; rows.len()];
    let mut scratch: page::Page = [0; page::PAGE_SIZE];
    let mut blk = s.nblocks();
    page::init(&mut scratch, KIND_VERTICES);
    let mut pages: Vec<usize> = vec![]; // vertices per page
    let mut on_page = 0;
    for &i in &order {
        let i = i as usize;
        let len = meta.vertex_len(rows.labels[i].len());
        let fits = page::count(&scratch) < meta.max_off();
        let off = match page::add(&mut scratch, &vec![0u8; len]).filter(|_| fits) {
            Some(o) => o,
            None => {
                pages.push(on_page);
                on_page = 0;
                blk += 1;
                page::init(&mut scratch, KIND_VERTICES);
                page::add(&mut scratch, &vec![0u8; len]).expect("a vertex fits a page")
            }
        };
        on_page += 1;
        addrs[i] = Addr { blk, off };
    }
    if on_page > 0 {
        pages.push(on_page);
    }
    if blk >= meta.block_limit() {
        return Err(TooLarge);
    }
    let mut at = 0;
    for count in pages {
        let (b, mut g) = s.extend();
        page::init(&mut g, KIND_VERTICES);
        for &i in &order[at..at + count] {
            let i = i as usize;
            assert_eq!(addrs[i].blk, b, "vertex pages come in order");
            let (f, code) = code_of(&meta, &rot, &centre, rows.row(i));
            let nbs = Edges {
                list: graph.neighbours[i]
                    .iter()
                    .map(|&u| addrs[u as usize])
                    .collect(),
                general: graph.general[i] as usize,
            };
            let t = encode_vertex(
                &meta,
                rows.tids[i],
                &f,
                &code,
                &rows.labels[i],
                &nbs,
                &elems_bytes(meta.elem, rows.row(i)),
            );
            let off = page::add(&mut g, &t).expect("planned to fit");
            debug_assert_eq!(off, addrs[i].off);
        }
        at += count;
        drop(g);
        tick(at);
    }
    meta.entry = graph.entry.map_or(Addr::NONE, |e| addrs[e as usize]);
    for (&l, &e) in &graph.label_entries {
        append(
            s,
            meta.labels,
            KIND_LABELS,
            &label_tuple(l, addrs[e as usize]),
        );
    }
    let mut g = s.write_full(0);
    page::init(&mut g, KIND_META);
    page::add(&mut g, &meta.encode()).unwrap();
    drop(g);
    Ok(meta)
}

/// An index whose vertices would lie past the blocks an edge can name.
#[derive(Debug, PartialEq)]
pub struct TooLarge;

/// Whether an insert may add a vertex page: false when the index has reached the blocks an
/// edge can name (less a margin for inserts running at once, each adding at most one page).
pub fn has_room<S: Store>(s: &S, meta: &Meta) -> bool {
    s.nblocks() < meta.block_limit().saturating_sub(1024)
}

// ---- insert ----------------------------------------------------------------------------

/// Appends a vertex tuple to the last vertex page (or a new one).
fn append_vertex<S: Store>(s: &S, meta: &Meta, t: &[u8]) -> Addr {
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
fn link_label_in<S: Store>(cx: &Ctx<S>, u: Addr, new: Addr) {
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
fn link_in<S: Store>(cx: &Ctx<S>, from: &[Addr], new: Addr) -> bool {
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
fn splice_in<S: Store>(
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
fn replace_edge<S: Store>(cx: &Ctx<S>, u: Addr, at: usize, x: Addr, expect: &Edges) -> bool {
    if expect.list.contains(&x) {
        return false;
    }
    let mut next = expect.clone();
    next.list[at] = x;
    write_if_unchanged(cx, u, expect, &next)
}

/// Writes `next` as the live vertex `u`'s list if it is still `expect` (lists are read and
/// pruned without a lock, then written under the page's lock only if unchanged meanwhile).
fn write_if_unchanged<S: Store>(cx: &Ctx<S>, u: Addr, expect: &Edges, next: &Edges) -> bool {
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
fn is_copy(a: &Point, b: &Point) -> bool {
    f32x::l2sq(&a.x, &b.x) == 0.0
}

/// Whether the edge `u -> t` may become `u -> new -> t` (a splice, or a pruned edge handed to
/// `new`) without cutting a filtered walk. A walk filtered by label `l` takes an edge unless
/// both its ends lack `l`, so `u -> t` serves every label that `u` or `t` has; `u -> new ->
/// t` serves a label that both have, and every label `new` has. So each label that one of
/// `u` and `t` has and the other lacks must be `new`'s.
fn splice_keeps_labels(u: &[i16], t: &[i16], new: &[i16]) -> bool {
    let lacks = |a: &[i16], l: &i16| !a.contains(l) && !new.contains(l);
    !u.iter().any(|l| lacks(t, l)) && !t.iter().any(|l| lacks(u, l))
}

/// The labels of the live vertex `a` (empty when it is gone).
fn labels_of<S: Store>(cx: &Ctx<S>, a: Addr) -> Vec<i16> {
    with_vertex_in(cx.s, &cx.len, cx.meta, a, |v| v.labels()).unwrap_or_default()
}

/// Makes `u -> x` a general edge of the live vertex `u`: into a free general slot, else in
/// place of its farthest general edge (a label edge to `x` becomes general). With `expect`,
/// only when `u`'s list is still that one. True when done (or already so).
fn add_general_edge<S: Store>(cx: &Ctx<S>, u: Addr, x: Addr, expect: Option<&Edges>) -> bool {
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
fn add_edge<S: Store>(cx: &Ctx<S>, u: Addr, new: Addr, new_point: &Point) -> bool {
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

// ---- vacuum ----------------------------------------------------------------------------

fn vertex_blocks<S: Store>(s: &S) -> impl Iterator<Item = u32> + '_ {
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
fn reconnect<S: Store>(cx: &Ctx<S>, blocks: &[u32], gone: &HashMap<Addr, Vec<Addr>>, entry: Addr) {
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
type LiveGraph = HashMap<Addr, (Vec<Addr>, Vec<i16>, Vec<Addr>)>;

/// The vertices nearest the live vertex `a` that a search from `entry` (filtered by
/// `filter`) finds, nearest first (none when the search fails); `None` when `a` is gone.
fn nearest_to<S: Store>(
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
fn reconnect_labels<S: Store>(cx: &Ctx<S>, blocks: &[u32], gone: &HashMap<Addr, Vec<Addr>>) {
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
fn live_graph<S: Store>(
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
fn reach(graph: &LiveGraph, from: &[Addr]) -> HashSet<Addr> {
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

fn repair<S: Store>(
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
fn sample_addrs(mut v: Vec<Addr>) -> String {
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

#[cfg(test)]
mod tests;
