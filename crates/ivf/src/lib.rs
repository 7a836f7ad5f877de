//! vchordrq's index logic over a [`Store`] of pages: the on-disk layout, build, insert, the
//! streaming search, vacuum and verification. No PostgreSQL symbols: the server implements
//! [`Store`] with shared buffers and GenericXLog, the tests with [`MemStore`].
//!
//! Layout (every tuple little-endian, on PostgreSQL-standard pages, see [`page`]):
//! * block 0, the meta page: one [`Meta`] tuple.
//! * centroid chains: the root chain holds the top level's centroids; an internal centroid
//!   names the chain of its children; a leaf centroid names its list's two chains.
//! * a list's code chain: one entry per row (heap TID, address of its vector, RaBitQ factors
//!   and sign bits), scanned for estimates.
//! * a list's vector chain: the full vectors, in the column's own element type, read only to
//!   rerank. Vectors (and centroids) larger than a page continue in segments.
//!
//! Chains only grow at their tail and pages are never unlinked, so a reader following `next`
//! pointers never lands on a recycled page; a leaf's tail pointer is only a hint (writers walk
//! `next` from it). Line pointers are never reused (see [`page`]).
pub mod block;
pub mod info;
pub mod options;
pub mod page;
pub mod store;

use half::f16;
use page::{Addr, INVALID_BLOCK};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
pub use store::{MemStore, Store};
use vchord_rabitq::{BLOCK, Factors, FastLut, Kind, ListQuery, QueryLut, Rotation};
use vchord_simd::{f16x, f32x};

pub const MAGIC: u32 = 0x5152_4356; // "VCRQ" little-endian
pub const FORMAT_VERSION: u32 = 1;
pub const ROTATION_SEED: u64 = 0x7663_686F_7264_7271; // "vchordrq"

/// Page kinds, kept in each page's special space.
pub const KIND_META: u32 = 1;
pub const KIND_CENTROID: u32 = 2;
pub const KIND_CODES: u32 = 3;
pub const KIND_VECTORS: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    L2,
    Ip,
    Cos,
    /// L1 (taxicab). vchordrq only: lists and codes are those of L2 (k-means, RaBitQ's squared
    /// L2 estimates), and since `|x|_1 >= |x|_2` the square root of an L2 lower bound bounds
    /// the L1 distance from below, so rows are still emitted in exact L1 order.
    L1,
}

impl Metric {
    pub fn code(self) -> u8 {
        self as u8
    }
    pub fn from_code(c: u8) -> Option<Metric> {
        [Metric::L2, Metric::Ip, Metric::Cos, Metric::L1]
            .get(c as usize)
            .copied()
    }
    pub fn kind(self) -> Kind {
        match self {
            Metric::L2 | Metric::L1 => Kind::L2,
            Metric::Ip | Metric::Cos => Kind::Dot,
        }
    }
    /// Lists and codes are built in squared L2 (L2 and L1).
    pub fn euclidean(self) -> bool {
        matches!(self, Metric::L2 | Metric::L1)
    }
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Ip => "ip",
            Metric::Cos => "cosine",
            Metric::L1 => "l1",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    F32,
    F16,
}

impl Elem {
    pub fn size(self) -> usize {
        match self {
            Elem::F32 => 4,
            Elem::F16 => 2,
        }
    }
}

/// A problem with an index's content: a corrupt or foreign page, or a format this version
/// cannot read. The server reports damage as index corruption, a format as needing REINDEX.
#[derive(Clone, Debug, PartialEq)]
pub struct Corrupt {
    pub message: String,
    /// The on-disk format version the meta page records, when that is the problem (an older
    /// or newer vchord built the index) rather than damage.
    pub format: Option<u32>,
}

impl Corrupt {
    pub fn new(message: impl Into<String>) -> Corrupt {
        Corrupt {
            message: message.into(),
            format: None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Corrupt>;

pub fn corrupt<T>(msg: impl Into<String>) -> Result<T> {
    Err(Corrupt::new(msg))
}

/// What the meta page records.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub dims: u32,
    pub metric: Metric,
    pub elem: Elem,
    pub residual: bool,
    /// Lists per level, top first.
    pub lists: Vec<u32>,
    /// Head block of the root centroid chain.
    pub root: u32,
    /// Search defaults stored with the index.
    pub probes: Vec<u32>,
    pub epsilon: Option<f32>,
    pub max_scan_tuples: Option<i32>,
    /// No vector chains: rerank reads each candidate's vector from the table.
    pub rerank_in_table: bool,
    /// Code bits per dimension, 1 or 2 (see [`vchord_rabitq::encode_bits`]).
    pub bits: u32,
    /// Bumped whenever a list's chain is created or dropped: what a backend's cached copy
    /// of the centroids ([`CentroidCache`]) checks.
    pub generation: u32,
}

const META_BYTES: usize = 96;

impl Meta {
    fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; META_BYTES];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[8..12].copy_from_slice(&self.dims.to_le_bytes());
        b[12] = self.metric.code();
        b[13] = self.elem as u8;
        b[14] = self.residual as u8;
        b[15] = self.lists.len() as u8;
        b[16..20].copy_from_slice(&self.root.to_le_bytes());
        for (i, l) in self.lists.iter().enumerate() {
            b[20 + 4 * i..24 + 4 * i].copy_from_slice(&l.to_le_bytes());
        }
        b[36] = self.probes.len() as u8;
        for (i, p) in self.probes.iter().enumerate() {
            b[40 + 4 * i..44 + 4 * i].copy_from_slice(&p.to_le_bytes());
        }
        b[56..60].copy_from_slice(&self.epsilon.unwrap_or(f32::NAN).to_le_bytes());
        b[60..64].copy_from_slice(&self.max_scan_tuples.unwrap_or(i32::MIN).to_le_bytes());
        b[64] = self.rerank_in_table as u8;
        b[65] = self.bits as u8;
        b[68..72].copy_from_slice(&self.generation.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Result<Meta> {
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        if b.len() < META_BYTES || u32_at(0) != MAGIC {
            return corrupt("the meta page is not a vchordrq meta page");
        }
        let version = u32_at(4);
        if version != FORMAT_VERSION {
            return info::format_mismatch(version, FORMAT_VERSION);
        }
        let levels = b[15] as usize;
        let nprobes = b[36] as usize;
        if !(1..=options::MAX_LEVELS).contains(&levels) || nprobes > options::MAX_LEVELS {
            return corrupt("the meta page has an impossible level count");
        }
        // Indexes written before 2-bit codes have a zero here.
        let bits = (b[65] as u32).max(1);
        if bits > 2 {
            return corrupt("the meta page has an impossible code width");
        }
        let eps = f32::from_le_bytes(b[56..60].try_into().unwrap());
        let mst = i32::from_le_bytes(b[60..64].try_into().unwrap());
        Ok(Meta {
            dims: u32_at(8),
            metric: Metric::from_code(b[12]).ok_or(Corrupt::new("unknown metric"))?,
            elem: if b[13] == 0 { Elem::F32 } else { Elem::F16 },
            residual: b[14] != 0,
            lists: (0..levels).map(|i| u32_at(20 + 4 * i)).collect(),
            root: u32_at(16),
            probes: (0..nprobes).map(|i| u32_at(40 + 4 * i)).collect(),
            epsilon: (!eps.is_nan()).then_some(eps),
            max_scan_tuples: (mst != i32::MIN).then_some(mst),
            rerank_in_table: b[64] != 0,
            bits,
            generation: u32_at(68),
        })
    }

    pub fn rotation(&self) -> std::sync::Arc<Rotation> {
        Rotation::shared(self.dims as usize, ROTATION_SEED)
    }

    fn code_len(&self) -> usize {
        ENTRY_HEADER + self.bits as usize * vchord_rabitq::code_bytes(self.dims as usize)
    }

    /// The length of a fast-scan block, if one fits a page (up to 1808 dimensions with 1 bit,
    /// 904 with 2; beyond, lists hold single entries only).
    pub fn block_len(&self) -> Option<usize> {
        let n = block::len(self.dims as usize, self.bits);
        (n <= page::MAX_ITEM).then_some(n)
    }

    /// The share of a row's index bytes that are its code (the rest is its vector, unless
    /// vectors are read from the table): what a scan reads of a probed list, for cost
    /// estimates.
    pub fn code_share(&self) -> f64 {
        let code = self.code_len() as f64;
        if self.rerank_in_table {
            return 1.0;
        }
        let vector = (BLOB_HEADER + self.dims as usize * self.elem.size()) as f64;
        code / (code + vector)
    }

    /// Bytes a build participant keeps per list while it gathers a block.
    pub fn batch_bytes(&self) -> usize {
        BLOCK * self.code_len()
    }

    /// What a tuple of a code page is: a single entry or a block.
    fn code_tuple<'a>(&self, t: &'a [u8]) -> Option<Code<'a>> {
        if t.len() == self.code_len() {
            Some(Code::One(t))
        } else if Some(t.len()) == self.block_len() {
            Some(Code::Block(t))
        } else {
            None
        }
    }
}

/// A tuple of a code page.
enum Code<'a> {
    One(&'a [u8]),
    Block(&'a [u8]),
}

/// The build parameters `vchord_index_info` shows, as JSON members.
pub fn describe(m: &Meta) -> Vec<(&'static str, String)> {
    let lists: Vec<String> = m.lists.iter().map(|l| l.to_string()).collect();
    vec![
        ("dims", m.dims.to_string()),
        ("metric", info::json_str(m.metric.name())),
        ("type", info::json_str(info::elem_name(m.elem))),
        ("lists", format!("[{}]", lists.join(","))),
        ("bits", m.bits.to_string()),
        ("residual", m.residual.to_string()),
        ("rerank_in_table", m.rerank_in_table.to_string()),
    ]
}

pub fn read_meta<S: Store>(s: &S) -> Result<Meta> {
    if s.nblocks() == 0 {
        return corrupt("the index has no meta page");
    }
    let p = s.read(0);
    if !page::is_valid(&p) || page::kind(&p) != KIND_META {
        return corrupt("block 0 is not a vchordrq meta page");
    }
    match page::get(&p, 1) {
        Some(t) => Meta::decode(t),
        None => corrupt("the meta page is empty"),
    }
}

/// A block's `<code, q>` for every lane and the bound on their rounding: one fast scan per
/// plane, the high plane counting twice (`code = 2·high + low`).
#[inline]
fn block_sums(fast: &FastLut, meta: &Meta, codes: &[u8]) -> ([f32; BLOCK], f32) {
    if meta.bits == 1 {
        return (fast.scan(codes), fast.slack);
    }
    let (hi, lo) = codes.split_at(codes.len() / 2);
    let (h, l) = (fast.scan(hi), fast.scan(lo));
    (std::array::from_fn(|i| 2.0 * h[i] + l[i]), 3.0 * fast.slack)
}

// ---- tuples ----------------------------------------------------------------------------

/// A centroid tuple: kind, the number of chains less one (leaves), two bytes of padding, then
/// an internal centroid's children chain (and three unused block numbers) or a leaf's chains
/// (four block numbers each, see [`Chain`]); then a blob of the rotated centroid (f32).
/// Format 1 wrote one chain and a zero count byte, which reads the same.
const CENTROID_FIXED: usize = 4;
const CHAIN_BYTES: usize = 16;
/// Chains a list may have: one per build participant (see [`create`]).
pub const MAX_CHAINS: usize = 64;

fn centroid_header_len(chains: usize) -> usize {
    CENTROID_FIXED + CHAIN_BYTES * chains.max(1)
}
const C_INTERNAL: u8 = 1;
const C_LEAF: u8 = 2;

/// A blob segment or vector tuple starts with the owner (heap TID, or none) and the address
/// of the next segment.
const BLOB_HEADER: usize = 12;

/// A code entry: heap TID, address of the vector, factors, bits.
const ENTRY_HEADER: usize = 12 + Factors::BYTES;

/// One of a list's chains: a code chain and its vector chain (heads, or none yet, and tail
/// hints). A list has several so that build participants, and concurrent inserts, append to
/// different pages; a scan reads them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain {
    pub head: u32,
    pub tail: u32,
    pub vhead: u32,
    pub vtail: u32,
}

impl Chain {
    pub const NONE: Chain = Chain {
        head: INVALID_BLOCK,
        tail: INVALID_BLOCK,
        vhead: INVALID_BLOCK,
        vtail: INVALID_BLOCK,
    };

    fn read(t: &[u8], i: usize) -> Chain {
        let at = CENTROID_FIXED + CHAIN_BYTES * i;
        Chain {
            head: blk_at(t, at),
            tail: blk_at(t, at + 4),
            vhead: blk_at(t, at + 8),
            vtail: blk_at(t, at + 12),
        }
    }

    fn write(&self, t: &mut [u8], i: usize) {
        let at = CENTROID_FIXED + CHAIN_BYTES * i;
        put_blk(t, at, self.head);
        put_blk(t, at + 4, self.tail);
        put_blk(t, at + 8, self.vhead);
        put_blk(t, at + 12, self.vtail);
    }
}

#[derive(Clone, Debug)]
pub struct Centroid {
    pub addr: Addr,
    pub leaf: bool,
    /// Internal: the head of its children's chain.
    pub children: u32,
    /// Leaf: the list's chains.
    pub chains: Vec<Chain>,
    /// Rotated (and, for spherical centroids, unit) centroid.
    pub vector: Vec<f32>,
}

impl Centroid {
    /// Every code chain head of a leaf (a scan's starting points).
    pub fn code_heads(&self) -> impl Iterator<Item = u32> + '_ {
        self.chains
            .iter()
            .map(|c| c.head)
            .filter(|&h| h != INVALID_BLOCK)
    }
}

fn blk_at(t: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(t[i..i + 4].try_into().unwrap())
}

fn put_blk(t: &mut [u8], i: usize, v: u32) {
    t[i..i + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Appends `data` to the chain whose last page is at or after `tail`; returns the address and
/// the chain's last block. (vchordg's chains use it too.)
pub fn append<S: Store>(s: &S, tail: u32, kind: u32, data: &[u8]) -> (Addr, u32) {
    let mut blk = tail;
    loop {
        let mut g = s.write(blk);
        let next = page::next(&g);
        if next != INVALID_BLOCK {
            drop(g);
            blk = next;
            continue;
        }
        if page::cost(data.len()) <= page::free_space(&g) {
            let off = page::add(&mut g, data).expect("checked free space");
            return (Addr { blk, off }, blk);
        }
        // Full: the new page (with the tuple) is made durable first, then linked, all while
        // the old tail stays locked, so other writers wait and then follow the link.
        let (nb, mut ng) = s.extend();
        page::init(&mut ng, kind);
        let off = page::add(&mut ng, data).expect("a tuple fits an empty page");
        drop(ng);
        page::set_next(&mut g, nb);
        drop(g);
        return (Addr { blk: nb, off }, nb);
    }
}

/// Adds `data` to the first page with room in the chain from `hint` on, else [`append`]s it
/// at the end; returns the address and the page the walk stopped at (the next insert's hint).
/// For chains whose order means nothing (a list's codes and vectors): vacuum points the
/// hints back at pages it freed room in ([`bulk_delete`]), so that room is used again.
fn fill<S: Store>(s: &S, hint: u32, kind: u32, data: &[u8]) -> (Addr, u32) {
    let mut blk = hint;
    loop {
        let mut g = s.write(blk);
        if page::cost(data.len()) <= page::free_space(&g) {
            let off = page::add(&mut g, data).expect("checked free space");
            return (Addr { blk, off }, blk);
        }
        let next = page::next(&g);
        if next == INVALID_BLOCK {
            drop(g);
            return append(s, blk, kind, data);
        }
        drop(g);
        blk = next;
    }
}

/// Writes `payload` after `header` as a blob: one tuple when it fits, else a chain of
/// segments written last-first so each can point at the next. Returns the first tuple's
/// address and the chain's tail.
fn write_blob<S: Store>(
    s: &S,
    tail: u32,
    kind: u32,
    header: &[u8],
    owner: Addr,
    payload: &[u8],
) -> (Addr, u32) {
    let first_cap = page::MAX_ITEM - header.len() - BLOB_HEADER;
    let seg_cap = page::MAX_ITEM - BLOB_HEADER;
    let (first, rest) = payload.split_at(payload.len().min(first_cap));
    let mut next = Addr::NONE;
    let mut tail = tail;
    let segs: Vec<&[u8]> = rest.chunks(seg_cap).collect();
    for seg in segs.iter().rev() {
        let mut t = Vec::with_capacity(BLOB_HEADER + seg.len());
        t.extend_from_slice(&owner.to_bytes());
        t.extend_from_slice(&next.to_bytes());
        t.extend_from_slice(seg);
        let (a, nt) = fill(s, tail, kind, &t);
        next = a;
        tail = nt;
    }
    let mut t = Vec::with_capacity(header.len() + BLOB_HEADER + first.len());
    t.extend_from_slice(header);
    t.extend_from_slice(&owner.to_bytes());
    t.extend_from_slice(&next.to_bytes());
    t.extend_from_slice(first);
    fill(s, tail, kind, &t)
}

/// Splits a blob tuple into its header (`h` bytes), owner, next segment and payload part.
fn blob_parts(t: &[u8], h: usize) -> Option<(&[u8], Addr, Addr, &[u8])> {
    if t.len() < h + BLOB_HEADER {
        return None;
    }
    Some((
        &t[..h],
        Addr::from_bytes(&t[h..h + 6]),
        Addr::from_bytes(&t[h + 6..h + 12]),
        &t[h + BLOB_HEADER..],
    ))
}

/// Appends the segments from `at` on to `payload`; false when one is gone, belongs to another
/// owner, or the payload would not come to `len` bytes.
fn read_segments<S: Store>(
    s: &S,
    nblocks: u32,
    mut at: Addr,
    owner: Addr,
    payload: &mut Vec<u8>,
    len: usize,
) -> bool {
    while !at.is_none() {
        if at.blk >= nblocks {
            return false;
        }
        let p = s.read(at.blk);
        let Some((_, o, next, part)) = page::get(&p, at.off).and_then(|t| blob_parts(t, 0)) else {
            return false;
        };
        if o != owner || payload.len() + part.len() > len {
            return false;
        }
        payload.extend_from_slice(part);
        at = next;
    }
    payload.len() == len
}

/// Reads the blob at `addr` whose tuple starts with `header_len` bytes of header. Returns the
/// header and the payload; `None` when the tuple (or a segment) is gone or does not belong to
/// `expect_owner` (when given).
fn read_blob<S: Store>(
    s: &S,
    addr: Addr,
    header_len: usize,
    expect_owner: Option<Addr>,
    len: usize,
) -> Option<(Vec<u8>, Vec<u8>)> {
    read_blob_below(s, s.nblocks(), addr, header_len, expect_owner, len)
}

/// [`read_blob`] with the relation's length known: a block at or past `nblocks` reads as gone.
fn read_blob_below<S: Store>(
    s: &S,
    nblocks: u32,
    addr: Addr,
    header_len: usize,
    expect_owner: Option<Addr>,
    len: usize,
) -> Option<(Vec<u8>, Vec<u8>)> {
    if addr.blk >= nblocks {
        return None;
    }
    let (header, owner, next, mut payload) = {
        let p = s.read(addr.blk);
        let (h, owner, next, part) = blob_parts(page::get(&p, addr.off)?, header_len)?;
        if expect_owner.is_some_and(|o| o != owner) || part.len() > len {
            return None;
        }
        let mut payload = Vec::with_capacity(len);
        payload.extend_from_slice(part);
        (h.to_vec(), owner, next, payload)
    };
    read_segments(s, nblocks, next, owner, &mut payload, len).then_some((header, payload))
}

/// Addresses of every tuple of the blob at `addr` (for removal).
fn blob_addrs<S: Store>(s: &S, addr: Addr, header_len: usize) -> Vec<Addr> {
    let mut out = vec![];
    let mut at = addr;
    let mut first = true;
    while !at.is_none() && at.blk < s.nblocks() && out.len() < 64 {
        out.push(at);
        let p = s.read(at.blk);
        let Some(t) = page::get(&p, at.off) else {
            break;
        };
        let h = if first { header_len } else { 0 };
        if t.len() < h + BLOB_HEADER {
            break;
        }
        at = Addr::from_bytes(&t[h + 6..h + 12]);
        first = false;
    }
    out
}

fn centroid_header(c: &Centroid) -> Vec<u8> {
    let mut h = vec![0u8; centroid_header_len(c.chains.len())];
    if c.leaf {
        h[0] = C_LEAF;
        h[1] = (c.chains.len().max(1) - 1) as u8;
        for (i, ch) in c.chains.iter().enumerate() {
            ch.write(&mut h, i);
        }
    } else {
        h[0] = C_INTERNAL;
        Chain {
            head: c.children,
            ..Chain::NONE
        }
        .write(&mut h, 0);
    }
    h
}

/// The header length of the centroid tuple `t` (from its chain count).
fn header_len_of(t: &[u8]) -> usize {
    centroid_header_len(t.get(1).map_or(1, |&n| n as usize + 1))
}

/// Every centroid of the chain starting at `head`.
pub fn read_centroids<S: Store>(s: &S, meta: &Meta, head: u32) -> Result<Vec<Centroid>> {
    let mut out = vec![];
    let mut blk = head;
    let mut seen = 0u32;
    let bytes = meta.dims as usize * 4;
    while blk != INVALID_BLOCK {
        seen += 1;
        if blk >= s.nblocks() || seen > s.nblocks() {
            return corrupt(format!("centroid chain at block {head} is broken"));
        }
        // Every centroid is decoded from the page in hand; only a centroid larger than a
        // tuple needs more reads, for its segments.
        let mut heads = vec![];
        let next = {
            let p = s.read(blk);
            if !page::is_valid(&p) || page::kind(&p) != KIND_CENTROID {
                return corrupt(format!("block {blk} is not a centroid page"));
            }
            // Segments of large centroids share the chain; they start with their owner, which
            // for centroids is `Addr::NONE` (first byte 0xFF), never a centroid kind.
            for (off, t) in page::items(&p) {
                if !matches!(t.first(), Some(&C_INTERNAL | &C_LEAF)) {
                    continue;
                }
                let addr = Addr { blk, off };
                let (h, _, seg, part) = blob_parts(t, header_len_of(t))
                    .filter(|x| x.3.len() <= bytes)
                    .ok_or_else(|| Corrupt::new(format!("centroid at {addr:?} is unreadable")))?;
                let mut payload = Vec::with_capacity(bytes);
                payload.extend_from_slice(part);
                heads.push((addr, h.to_vec(), seg, payload));
            }
            page::next(&p)
        };
        for (addr, h, seg, mut payload) in heads {
            if !read_segments(s, s.nblocks(), seg, Addr::NONE, &mut payload, bytes) {
                return corrupt(format!("centroid at {addr:?} is unreadable"));
            }
            let leaf = h[0] == C_LEAF;
            let n = (h.len() - CENTROID_FIXED) / CHAIN_BYTES;
            out.push(Centroid {
                addr,
                leaf,
                children: if leaf {
                    INVALID_BLOCK
                } else {
                    blk_at(&h, CENTROID_FIXED)
                },
                chains: if leaf {
                    (0..n).map(|i| Chain::read(&h, i)).collect()
                } else {
                    vec![]
                },
                vector: f32s(&payload),
            });
        }
        blk = next;
    }
    Ok(out)
}

/// Advances the tail hints of chain `i` of the leaf centroid at `addr` (never backwards:
/// blocks are allocated in increasing order, so a later tail has a larger number).
fn advance_tails<S: Store>(s: &S, addr: Addr, i: usize, tail: u32, vtail: u32) {
    let mut g = s.write(addr.blk);
    let Some(t) = page::get(&g, addr.off) else {
        return;
    };
    let old = Chain::read(t, i);
    if tail > old.tail || vtail > old.vtail {
        let t = page::get_mut(&mut g, addr.off).unwrap();
        Chain {
            tail: tail.max(old.tail),
            vtail: vtail.max(old.vtail),
            ..old
        }
        .write(t, i);
    }
}

/// Points the tail hints of chain `i` of the leaf centroid at `addr` back at pages where
/// vacuum freed room (any page of the chain is a sound hint: inserts walk on from it).
fn rewind_tails<S: Store>(s: &S, addr: Addr, i: usize, tail: Option<u32>, vtail: Option<u32>) {
    let mut g = s.write(addr.blk);
    let Some(t) = page::get_mut(&mut g, addr.off) else {
        return;
    };
    let old = Chain::read(t, i);
    Chain {
        tail: tail.unwrap_or(old.tail),
        vtail: vtail.unwrap_or(old.vtail),
        ..old
    }
    .write(t, i);
}

/// Tells cached copies of the centroids that a chain head changed (see [`Meta::generation`]).
fn bump_generation<S: Store>(s: &S) {
    let mut g = s.write(0);
    if let Some(t) = page::get_mut(&mut g, 1).filter(|t| t.len() >= META_BYTES) {
        let n = u32::from_le_bytes(t[68..72].try_into().unwrap()).wrapping_add(1);
        t[68..72].copy_from_slice(&n.to_le_bytes());
    }
}

/// Reads the current state of chain `i` of the leaf centroid `c` (the tuple's block numbers
/// change when its chains are created or grow).
fn reload_chain<S: Store>(s: &S, c: &mut Centroid, i: usize) {
    let p = s.read(c.addr.blk);
    if let Some(t) = page::get(&p, c.addr.off) {
        c.chains[i] = Chain::read(t, i);
    }
}

// ---- distances -------------------------------------------------------------------------

/// Distance in the index's internal scale between `a` and `b` in rotated space: squared L2,
/// or negative inner product (cosine's data is unit length).
fn route_dist(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::L2 | Metric::L1 => f32x::l2sq(a, b),
        Metric::Ip | Metric::Cos => -f32x::dot(a, b),
    }
}

/// [`route_dist`] from `q` to each of `vs`, four at a time (one load of `q` per four
/// centroids where the CPU has the kernel).
fn route_dists(metric: Metric, q: &[f32], vs: &[&[f32]]) -> Vec<f32> {
    let l2 = metric.euclidean();
    let mut out = Vec::with_capacity(vs.len());
    let mut quads = vs.chunks_exact(4);
    for c in &mut quads {
        let d = vchord_simd::one_by_four(q, [c[0], c[1], c[2], c[3]], q.len(), l2);
        out.extend(d.iter().map(|&x| if l2 { x } else { -x }));
    }
    out.extend(quads.remainder().iter().map(|v| route_dist(metric, v, q)));
    out
}

/// Room to decode a stored vector into, kept by a scan across reranks.
#[derive(Default)]
pub struct Scratch {
    f32s: Vec<f32>,
    f16s: Vec<f16>,
}

/// A query: the original (for exact distances) and the rotated, prepared form.
pub struct Query {
    pub metric: Metric,
    f32s: Vec<f32>,
    f16s: Vec<f16>,
    /// Rotated (cosine: of the unit query).
    pub rotated: Vec<f32>,
    pub norm: f32,
}

impl Query {
    /// `q` holds the query's elements as f32 (exact for halfvec's f16).
    pub fn new(meta: &Meta, q: &[f32]) -> Query {
        Query::with(meta.metric, &meta.rotation(), q)
    }

    /// A query for any index that rotates with `rot` (vchordg's too).
    pub fn with(metric: Metric, rot: &Rotation, q: &[f32]) -> Query {
        let mut unit = q.to_vec();
        if metric == Metric::Cos {
            vchord_kmeans::normalize(&mut unit);
        }
        let rotated = rot.rotated(&unit);
        let norm = f32x::dot(&rotated, &rotated).sqrt();
        Query {
            metric,
            f32s: q.to_vec(),
            f16s: q.iter().map(|&x| f16::from_f32(x)).collect(),
            rotated,
            norm,
        }
    }

    /// The exact distance to a stored vector, as the SQL operator computes it (except L2,
    /// which stays squared).
    pub fn exact(&self, elem: Elem, stored: &[u8]) -> f32 {
        self.exact_with(elem, stored, &mut Scratch::default())
    }

    /// [`Query::exact`], decoding the stored elements into `scratch` (reused across calls,
    /// so a rerank allocates nothing).
    pub fn exact_with(&self, elem: Elem, stored: &[u8], scratch: &mut Scratch) -> f32 {
        match elem {
            Elem::F32 => {
                let v = &mut scratch.f32s;
                v.resize(stored.len() / 4, 0.0);
                for (x, c) in v.iter_mut().zip(stored.as_chunks::<4>().0) {
                    *x = f32::from_le_bytes(*c);
                }
                match self.metric {
                    Metric::L2 => f32x::l2sq(v, &self.f32s),
                    Metric::Ip => -f32x::dot(v, &self.f32s),
                    Metric::Cos => cos_dist(f32x::cos_parts(v, &self.f32s)),
                    Metric::L1 => f32x::l1(v, &self.f32s),
                }
            }
            Elem::F16 => {
                let v = &mut scratch.f16s;
                v.resize(stored.len() / 2, f16::ZERO);
                for (x, c) in v.iter_mut().zip(stored.as_chunks::<2>().0) {
                    *x = f16::from_le_bytes(*c);
                }
                match self.metric {
                    Metric::L2 => f16x::l2sq(v, &self.f16s),
                    Metric::Ip => -f16x::dot(v, &self.f16s),
                    Metric::Cos => cos_dist(f16x::cos_parts(v, &self.f16s)),
                    Metric::L1 => f16x::l1(v, &self.f16s),
                }
            }
        }
    }
}

fn cos_dist(parts: (f32, f32, f32)) -> f32 {
    let d = vchord_simd::cosine_from_parts(parts);
    // A zero vector has no direction: it sorts last.
    if d.is_nan() { f32::INFINITY } else { d as f32 }
}

/// The SQL operator's value for an internal distance.
pub fn sql_distance(metric: Metric, d: f32) -> f64 {
    match metric {
        Metric::L2 => (d.max(0.0) as f64).sqrt(),
        Metric::Ip | Metric::Cos | Metric::L1 => d as f64,
    }
}

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

/// The centroid tree in memory, for routing the rows of a build without reading pages.
pub struct Router {
    /// Centroids per level, top first.
    pub levels: Vec<Vec<Centroid>>,
    /// `children[l][p]`: the indices in level `l` of the children of node `p` of level
    /// `l - 1` (level 0 has one parent, the root).
    pub children: Vec<Vec<Vec<usize>>>,
}

impl Router {
    /// Greedy descent: the index of the leaf for `rotated`.
    pub fn route(&self, metric: Metric, rotated: &[f32]) -> usize {
        let mut parent = 0;
        let mut best = 0;
        for (l, nodes) in self.levels.iter().enumerate() {
            let kids = &self.children[l][parent];
            let vs: Vec<&[f32]> = kids.iter().map(|&i| &nodes[i].vector[..]).collect();
            let d = route_dists(metric, rotated, &vs);
            // the first of equally near ones
            let at = (0..d.len())
                .min_by(|&a, &b| d[a].total_cmp(&d[b]))
                .expect("every parent has a child");
            best = kids[at];
            parent = best;
        }
        best
    }

    pub fn leaves(&mut self) -> &mut [Centroid] {
        self.levels.last_mut().unwrap()
    }

    /// A flat copy (for a parallel build's shared memory): every level's centroids with
    /// their addresses, chains and vectors, and the children lists.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![];
        let put = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_le_bytes());
        put(&mut b, self.levels.len() as u32);
        for (l, nodes) in self.levels.iter().enumerate() {
            put(&mut b, nodes.len() as u32);
            for c in nodes {
                b.extend_from_slice(&c.addr.to_bytes());
                b.push(c.leaf as u8);
                put(&mut b, c.children);
                put(&mut b, c.chains.len() as u32);
                for ch in &c.chains {
                    for x in [ch.head, ch.tail, ch.vhead, ch.vtail] {
                        put(&mut b, x);
                    }
                }
                put(&mut b, c.vector.len() as u32);
                b.extend_from_slice(&f32_bytes(&c.vector));
            }
            put(&mut b, self.children[l].len() as u32);
            for kids in &self.children[l] {
                put(&mut b, kids.len() as u32);
                for &k in kids {
                    put(&mut b, k as u32);
                }
            }
        }
        b
    }

    /// The router [`Router::to_bytes`] wrote; `None` if `b` is not one.
    pub fn from_bytes(b: &[u8]) -> Option<Router> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = b.get(at..at.checked_add(n)?)?;
            at += n;
            Some(s)
        };
        fn u32_of(s: &[u8]) -> u32 {
            u32::from_le_bytes(s.try_into().unwrap())
        }
        let mut r = Router {
            levels: vec![],
            children: vec![],
        };
        let nlevels = u32_of(take(4)?);
        for _ in 0..nlevels {
            let n = u32_of(take(4)?) as usize;
            let mut nodes = Vec::with_capacity(n.min(1 << 20));
            for _ in 0..n {
                let addr = Addr::from_bytes(take(6)?);
                let leaf = take(1)?[0] != 0;
                let children = u32_of(take(4)?);
                let nch = u32_of(take(4)?) as usize;
                let mut chains = Vec::with_capacity(nch.min(MAX_CHAINS));
                for _ in 0..nch {
                    let x = take(16)?;
                    chains.push(Chain {
                        head: u32_of(&x[0..4]),
                        tail: u32_of(&x[4..8]),
                        vhead: u32_of(&x[8..12]),
                        vtail: u32_of(&x[12..16]),
                    });
                }
                let dims = u32_of(take(4)?) as usize;
                let vector = f32s(take(dims.checked_mul(4)?)?);
                nodes.push(Centroid {
                    addr,
                    leaf,
                    children,
                    chains,
                    vector,
                });
            }
            let np = u32_of(take(4)?) as usize;
            let mut parents = Vec::with_capacity(np.min(1 << 20));
            for _ in 0..np {
                let k = u32_of(take(4)?) as usize;
                let mut kids = Vec::with_capacity(k.min(1 << 20));
                for _ in 0..k {
                    let i = u32_of(take(4)?) as usize;
                    if i >= nodes.len() {
                        return None;
                    }
                    kids.push(i);
                }
                parents.push(kids);
            }
            r.levels.push(nodes);
            r.children.push(parents);
        }
        (at == b.len() && !r.levels.is_empty()).then_some(r)
    }
}

/// The leaf a new vector (rotated, prepared as for search) belongs to: greedy descent.
pub fn route<S: Store>(s: &S, meta: &Meta, rotated: &[f32]) -> Result<Centroid> {
    let mut head = meta.root;
    loop {
        let cs = read_centroids(s, meta, head)?;
        let vs: Vec<&[f32]> = cs.iter().map(|c| &c.vector[..]).collect();
        let d = route_dists(meta.metric, rotated, &vs);
        let at = (0..d.len())
            .min_by(|&a, &b| d[a].total_cmp(&d[b]))
            .ok_or_else(|| Corrupt::new(format!("centroid chain at block {head} is empty")))?;
        let best = cs.into_iter().nth(at).unwrap();
        if best.leaf {
            return Ok(best);
        }
        head = best.children;
    }
}

/// Prepares a vector for the index: unit length for cosine, then rotated.
pub fn prepare(meta: &Meta, rot: &Rotation, v: &[f32]) -> Vec<f32> {
    let mut x = v.to_vec();
    if meta.metric == Metric::Cos {
        vchord_kmeans::normalize(&mut x);
    }
    rot.apply(&mut x);
    x
}

/// How an insert treats the chain it appends to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    /// Shared with concurrent inserts: tail hints are read from, and advanced on, the
    /// centroid page.
    Shared,
    /// Owned by this build participant, which alone appends to it while the build runs: the
    /// tails it keeps in memory are exact, and [`store_tails`] writes them at the end.
    Owner,
}

/// The chain a single insert appends to: one of the list's chains, picked by a hash of the
/// row's heap address, so concurrent inserts into one list spread over its chains.
pub fn chain_for(leaf: &Centroid, tid: Addr) -> usize {
    let n = leaf.chains.len().max(1) as u64;
    let h = ((tid.blk as u64) << 16 | tid.off as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 32) % n) as usize
}

/// Adds one row to chain `chain` of the list of `leaf`: the vector (`stored`: its elements'
/// bytes) to the vector chain, then its code to the code chain. `rotated` comes from
/// [`prepare`].
#[allow(clippy::too_many_arguments)]
pub fn insert<S: Store>(
    s: &S,
    meta: &Meta,
    leaf: &mut Centroid,
    chain: usize,
    writer: Writer,
    rotated: &[f32],
    stored: &[u8],
    tid: Addr,
) {
    let i = chain.min(leaf.chains.len() - 1);
    let entry = encode_row(s, meta, leaf, i, writer, rotated, stored, tid);
    append_code(s, leaf, i, writer, &entry);
}

/// A build participant's insert ([`Writer::Owner`]): the vector is written at once, the code
/// joins `batch` (this list's pending codes), which goes to the code chain as one fast-scan
/// block when it holds 32 (see [`flush_batch`] for the rest). Without blocks (more
/// dimensions than a block fits a page) this is [`insert`].
#[allow(clippy::too_many_arguments)]
pub fn insert_batched<S: Store>(
    s: &S,
    meta: &Meta,
    leaf: &mut Centroid,
    chain: usize,
    rotated: &[f32],
    stored: &[u8],
    tid: Addr,
    batch: &mut Vec<Vec<u8>>,
) {
    let i = chain.min(leaf.chains.len() - 1);
    let entry = encode_row(s, meta, leaf, i, Writer::Owner, rotated, stored, tid);
    if meta.block_len().is_none() {
        append_code(s, leaf, i, Writer::Owner, &entry);
        return;
    }
    batch.push(entry);
    if batch.len() == BLOCK {
        flush_batch(s, meta, leaf, chain, batch);
    }
}

/// Writes a list's pending codes ([`insert_batched`]) as one block, full or not.
pub fn flush_batch<S: Store>(
    s: &S,
    meta: &Meta,
    leaf: &mut Centroid,
    chain: usize,
    batch: &mut Vec<Vec<u8>>,
) {
    if batch.is_empty() {
        return;
    }
    let i = chain.min(leaf.chains.len() - 1);
    let refs: Vec<&[u8]> = batch.iter().map(|e| e.as_slice()).collect();
    let t = block::make(meta.dims as usize, meta.bits, &refs);
    append_code(s, leaf, i, Writer::Owner, &t);
    batch.clear();
}

/// Makes sure chain `i` of the list exists, writes the row's vector and returns its code
/// entry (heap TID, vector address, factors, bits).
#[allow(clippy::too_many_arguments)]
fn encode_row<S: Store>(
    s: &S,
    meta: &Meta,
    leaf: &mut Centroid,
    i: usize,
    writer: Writer,
    rotated: &[f32],
    stored: &[u8],
    tid: Addr,
) -> Vec<u8> {
    let missing =
        |c: &Chain| c.head == INVALID_BLOCK || (c.vhead == INVALID_BLOCK && !meta.rerank_in_table);
    if writer == Writer::Shared || missing(&leaf.chains[i]) {
        reload_chain(s, leaf, i);
    }
    if missing(&leaf.chains[i]) {
        // First row of this chain (or of its code part, see `pack_tails`): create its pages
        // under the centroid page's lock, after checking that nobody else did meanwhile.
        let mut g = s.write(leaf.addr.blk);
        let t = page::get(&g, leaf.addr.off).expect("leaf centroid tuple");
        let mut c = Chain::read(t, i);
        if missing(&c) {
            if c.head == INVALID_BLOCK {
                let (cb, mut cg) = s.extend();
                page::init(&mut cg, KIND_CODES);
                (c.head, c.tail) = (cb, cb);
            }
            if c.vhead == INVALID_BLOCK && !meta.rerank_in_table {
                let (vb, mut vg) = s.extend();
                page::init(&mut vg, KIND_VECTORS);
                (c.vhead, c.vtail) = (vb, vb);
            }
            c.write(page::get_mut(&mut g, leaf.addr.off).unwrap(), i);
            bump_generation(s);
        }
        drop(g);
        reload_chain(s, leaf, i);
    }
    let ch = leaf.chains[i];
    let dims = meta.dims as usize;
    let zero;
    let centroid: &[f32] = if meta.residual {
        &leaf.vector
    } else {
        zero = vec![0f32; dims];
        &zero
    };
    let r: Vec<f32> = rotated.iter().zip(centroid).map(|(x, c)| x - c).collect();
    let mut entry = vec![0u8; meta.code_len()];
    let f = vchord_rabitq::encode_bits(meta.bits, &r, centroid, &mut entry[ENTRY_HEADER..]);
    let vaddr = if meta.rerank_in_table {
        Addr::NONE
    } else {
        let (vaddr, vtail) = write_blob(s, ch.vtail, KIND_VECTORS, &[], tid, stored);
        if vtail != ch.vtail {
            // Tail hints only: a stale one costs a walk along `next`, never correctness.
            if writer == Writer::Shared {
                advance_tails(s, leaf.addr, i, ch.tail, vtail);
            }
            let c = &mut leaf.chains[i];
            c.vtail = c.vtail.max(vtail);
        }
        vaddr
    };
    entry[0..6].copy_from_slice(&tid.to_bytes());
    entry[6..12].copy_from_slice(&vaddr.to_bytes());
    entry[12..ENTRY_HEADER].copy_from_slice(&f.to_bytes());
    entry
}

/// Appends a code tuple (an entry or a block) to code chain `i` of the list.
fn append_code<S: Store>(s: &S, leaf: &mut Centroid, i: usize, writer: Writer, data: &[u8]) {
    let ch = leaf.chains[i];
    let (_, tail) = fill(s, ch.tail, KIND_CODES, data);
    if tail != ch.tail {
        if writer == Writer::Shared {
            advance_tails(s, leaf.addr, i, tail, ch.vtail);
        }
        let c = &mut leaf.chains[i];
        c.tail = c.tail.max(tail);
    }
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
            let blocks = chain_blocks(s, ch.head)?;
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
                let end = *chain_blocks(s, c.vtail)?.last().unwrap();
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

/// The blocks of the chain starting at `head`, in order (none for `INVALID_BLOCK`).
fn chain_blocks<S: Store>(s: &S, head: u32) -> Result<Vec<u32>> {
    let mut blocks = vec![];
    let mut blk = head;
    while blk != INVALID_BLOCK {
        if blk >= s.nblocks() || blocks.len() as u32 >= s.nblocks() {
            return corrupt(format!("chain at block {head} is broken"));
        }
        blocks.push(blk);
        blk = page::next(&s.read(blk));
    }
    Ok(blocks)
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

// ---- search ----------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Cand {
    key: f32,
    tid: Addr,
    vec: Addr,
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
fn key_bits(k: f32) -> u32 {
    let b = k.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// The inverse of [`key_bits`].
#[inline]
fn key_of(b: u32) -> f32 {
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
    key: Option<(u32, u32, u32)>,
    chains: std::collections::HashMap<u32, Vec<Centroid>>,
}

impl CentroidCache {
    fn check(&mut self, meta: &Meta) {
        let key = Some((meta.root, meta.generation, meta.dims));
        if self.key != key {
            self.chains.clear();
            self.key = key;
        }
    }

    fn load<S: Store>(&mut self, s: &S, meta: &Meta, head: u32) -> Result<()> {
        if !self.chains.contains_key(&head) {
            self.chains.insert(head, read_centroids(s, meta, head)?);
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

    fn get(&self, head: u32) -> &[Centroid] {
        self.chains.get(&head).map_or(&[], |c| c.as_slice())
    }
}

/// A streaming search: candidates come out in exact-distance order, each emitted once no
/// remaining candidate's lower bound can beat it. When the probed lists are used up and rows
/// are still wanted, the search goes on to the next-nearest lists (as many again as it has
/// probed, up to all of them): rows found then may be nearer than rows already returned.
pub struct Search {
    query: Query,
    meta: Meta,
    epsilon: f32,
    lut: QueryLut,
    fast: Option<FastLut>,
    scratch: Scratch,
    /// Every candidate, by position.
    candidates: Vec<Cand>,
    /// (lower bound, position) of the candidates not reranked yet, smallest first.
    order: BinaryHeap<Reverse<u64>>,
    results: BinaryHeap<Cand>,
    /// The relation's length when the scan started: any row this scan may see was written
    /// below it (its snapshot was taken before).
    nblocks: u32,
    /// The lists probed so far.
    probed: Vec<Addr>,
    /// Once the first widening has read every leaf: those not probed, farthest first.
    rest: Option<Vec<(f32, Centroid)>>,
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
    fn scan_lists<S: Store>(&mut self, s: &S, lists: &[Centroid]) -> Result<()> {
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
        // (`prefetch`) before this one is worked on, so their latency overlaps.
        let fetch = |blk: u32| {
            let pg = s.read(blk);
            vchord_simd::prefetch(&pg[..]);
            pg
        };
        // Each new candidate's error at epsilon 1, for [`widen_copies`].
        let mut units: Vec<f32> = Vec::new();
        let mut chain = 0;
        let mut hops = 0;
        let mut ahead = starts.first().map(|&(h, _)| fetch(h));
        while let Some(pg) = ahead.take() {
            let lq = lqs[starts[chain].1];
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
                ahead = Some(fetch(starts[chain].0));
            }
            for (_, t) in page::items(&pg) {
                match (meta.code_tuple(t), fast) {
                    (Some(Code::One(t)), _) => {
                        let f = Factors::from_bytes(&t[12..ENTRY_HEADER]);
                        let s_q = lut.code_dot(meta.bits, &t[ENTRY_HEADER..]);
                        let (est, err) = vchord_rabitq::estimate(kind, &f, s_q, lq);
                        candidates.push(Cand {
                            key: est + offset - p_epsilon * err,
                            tid: Addr::from_bytes(&t[0..6]),
                            vec: Addr::from_bytes(&t[6..12]),
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
        widen_copies(&mut candidates[first_new..], &units, p_epsilon);
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
    fn widen<S: Store>(&mut self, s: &S) -> Result<bool> {
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
        loop {
            if self.order.is_empty() && self.results.is_empty() && !self.widen(s)? {
                return Ok(None);
            }
            if let Some(best) = self.results.peek() {
                let bound = self
                    .order
                    .peek()
                    .map_or(f32::INFINITY, |c| key_of((c.0 >> 32) as u32));
                if best.key <= bound {
                    let r = self.results.pop().unwrap();
                    return Ok(Some((r.tid, r.key)));
                }
            }
            // Rerank the next candidates, a few at once when their vectors are in the index:
            // their pages are located and their vectors' memory asked for first, so the
            // reads overlap. Reranking a candidate early is sound: a result still waits until
            // no candidate left can beat it.
            let Some(first) = self.order.pop() else {
                continue; // results wait for nothing now (emitted above) or the lists widen
            };
            let first = first.0 as u32 as usize;
            let in_table = self.meta.rerank_in_table;
            let mut batch = [first; RERANK_BATCH];
            let mut n = 1;
            while !in_table && n < RERANK_BATCH {
                match self.order.pop() {
                    Some(c) => {
                        batch[n] = c.0 as u32 as usize;
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
    fn rerank_from_index<S: Store>(&mut self, s: &S, c: Cand) -> Option<f32> {
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
const RERANK_BATCH: usize = 4;

/// Widens the bounds of the codes that are one and the same. The copies of a vector share a
/// list and a code, so their estimates err together: where the bound fails it fails for
/// every copy, and a strict-order scan drops them all (they come after a farther row). A
/// group of `g` equal codes gets [`vchord_rabitq::group_epsilon`]'s bound instead, which fails
/// about `g` times less often, so a failed bound costs no more rows, on average, than one
/// code's. Equal codes have equal keys and errors (near-copies, a few units in the last
/// place apart); both are grouped at 32 units in the last place, so two different rows whose
/// keys and errors both come that close are widened too, which costs a rerank at most.
/// `units[i]` is `cands[i]`'s error at epsilon 1 (0 where the estimate is exact).
fn widen_copies(cands: &mut [Cand], units: &[f32], epsilon: f32) {
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

/// A walk over the pages of one kind, a page at a time, handing out what `rows` takes from
/// each (a NULL query's scan: every row, in no order).
#[derive(Default)]
pub struct PageSweep {
    blk: u32,
    pending: Vec<Addr>,
}

impl PageSweep {
    pub fn next<S: Store>(
        &mut self,
        s: &S,
        kind: u32,
        rows: &mut dyn FnMut(&page::Page, &mut Vec<Addr>),
    ) -> Option<Addr> {
        loop {
            if let Some(a) = self.pending.pop() {
                return Some(a);
            }
            self.blk += 1;
            if self.blk >= s.nblocks() {
                return None;
            }
            s.yield_point();
            let p = s.read(self.blk);
            if page::kind(&p) == kind {
                rows(&p, &mut self.pending);
                self.pending.reverse();
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
                    Some(Code::One(t)) => out.push(Addr::from_bytes(&t[0..6])),
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
            while blk != INVALID_BLOCK {
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
fn dead_codes(
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
                if dead(Addr::from_bytes(&t[0..6])) {
                    offs.push(off);
                    vecs.push(Addr::from_bytes(&t[6..12]));
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
fn remove_vectors<S: Store>(s: &S, vecs: Vec<Addr>) -> Option<u32> {
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
        for blk in chain_blocks(s, head)? {
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
fn wants_repack(meta: &Meta, p: &page::Page) -> bool {
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
        let mut hops = 0;
        while blk != INVALID_BLOCK {
            hops += 1;
            if blk >= s.nblocks() || hops > s.nblocks() {
                return corrupt(format!("code chain at block {head} is broken"));
            }
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

/// Walks the whole index and reports every structural problem found (empty when sound).
/// Also returns the number of entries.
pub fn verify<S: Store>(s: &S) -> (Vec<String>, u64) {
    let mut problems = vec![];
    let meta = match read_meta(s) {
        Ok(m) => m,
        Err(e) => return (vec![e.message], 0),
    };
    let n = s.nblocks();
    let mut owner: Vec<u8> = vec![0; n as usize]; // which chain kind claimed each block
    owner[0] = KIND_META as u8;
    let mut claim = |blk: u32, kind: u32, problems: &mut Vec<String>| -> bool {
        if blk >= n {
            problems.push(format!("block {blk} is past the end ({n} blocks)"));
            return false;
        }
        if owner[blk as usize] != 0 {
            problems.push(format!("block {blk} is reached twice"));
            return false;
        }
        owner[blk as usize] = kind as u8;
        true
    };
    let vbytes = meta.dims as usize * meta.elem.size();
    let mut entries = 0u64;
    let mut stack = vec![(meta.root, 0usize)];
    let mut leaves_seen = 0u64;
    while let Some((head, level)) = stack.pop() {
        let mut blk = head;
        while blk != INVALID_BLOCK {
            if !claim(blk, KIND_CENTROID, &mut problems) {
                break;
            }
            let p = s.read(blk);
            if !page::is_valid(&p) || page::kind(&p) != KIND_CENTROID {
                problems.push(format!("block {blk}: expected a centroid page"));
                break;
            }
            blk = page::next(&p);
        }
        let cs = match read_centroids(s, &meta, head) {
            Ok(c) => c,
            Err(e) => {
                problems.push(e.message);
                continue;
            }
        };
        for c in cs {
            let want_leaf = level + 1 == meta.lists.len();
            if c.leaf != want_leaf {
                problems.push(format!("centroid {:?} is at the wrong level", c.addr));
                continue;
            }
            if !c.leaf {
                stack.push((c.children, level + 1));
                continue;
            }
            leaves_seen += 1;
            for ch in &c.chains {
                if meta.rerank_in_table && ch.vhead != INVALID_BLOCK {
                    problems.push(format!("list {:?} has a vector chain", c.addr));
                }
                let mut vblk = ch.vhead;
                while vblk != INVALID_BLOCK {
                    if !claim(vblk, KIND_VECTORS, &mut problems) {
                        break;
                    }
                    let p = s.read(vblk);
                    if !page::is_valid(&p) || page::kind(&p) != KIND_VECTORS {
                        problems.push(format!("block {vblk}: expected a vector page"));
                        break;
                    }
                    vblk = page::next(&p);
                }
                let mut blk = ch.head;
                while blk != INVALID_BLOCK {
                    if !claim(blk, KIND_CODES, &mut problems) {
                        break;
                    }
                    let p = s.read(blk);
                    if !page::is_valid(&p) || page::kind(&p) != KIND_CODES {
                        problems.push(format!("block {blk}: expected a code page"));
                        break;
                    }
                    for (off, t) in page::items(&p) {
                        let lanes: Vec<(Addr, Addr, Factors)> = match meta.code_tuple(t) {
                            Some(Code::One(t)) => vec![(
                                Addr::from_bytes(&t[0..6]),
                                Addr::from_bytes(&t[6..12]),
                                Factors::from_bytes(&t[12..ENTRY_HEADER]),
                            )],
                            Some(Code::Block(t)) => {
                                if block::lanes(t) == 0
                                    || block::lanes(t) != t[0] as usize + 256 * t[1] as usize
                                {
                                    problems
                                        .push(format!("block ({blk},{off}) has a bad lane count"));
                                }
                                block::live(t)
                                    .map(|i| {
                                        (
                                            block::tid(t, i),
                                            block::vector(t, i),
                                            block::factors(t, i),
                                        )
                                    })
                                    .collect()
                            }
                            None => {
                                entries += 1;
                                problems.push(format!("code ({blk},{off}) has length {}", t.len()));
                                continue;
                            }
                        };
                        for (tid, va, f) in lanes {
                            entries += 1;
                            if ![f.norm_sq, f.sum_abs, f.sign_dot_c, f.err]
                                .iter()
                                .all(|x| x.is_finite())
                            {
                                problems.push(format!("code ({blk},{off}) has non-finite factors"));
                            }
                            if meta.rerank_in_table {
                                if va != Addr::NONE {
                                    problems.push(format!("code ({blk},{off}) points at a vector"));
                                }
                            } else if read_blob(s, va, 0, Some(tid), vbytes).is_none() {
                                problems.push(format!(
                                    "code ({blk},{off}) for row {tid:?}: its vector at {va:?} is missing"
                                ));
                            }
                        }
                    }
                    blk = page::next(&p);
                }
            }
        }
    }
    let want: u64 = *meta.lists.last().unwrap() as u64;
    if leaves_seen > want {
        problems.push(format!("{leaves_seen} lists, the meta page says {want}"));
    }
    (problems, entries)
}

#[cfg(test)]
mod tests;
