//! The meta page: what it records and its one encoder.
use crate::*;

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

pub(crate) const META_BYTES: usize = 64;

/// The meta tuple's layout: each field's offset, named once for the encoder, the decoder and
/// the in-place update of the entry ([`set_entry`]).
pub(crate) mod at {
    /// Magic, format version, dimensions, metric and element type, as in both indexes.
    pub use vchord_base::info::head::*;
    pub const BITS: usize = 14;
    pub const RERANK_IN_TABLE: usize = 15;
    pub const M: usize = 16;
    pub const EF_CONSTRUCTION: usize = 20;
    pub const ALPHA: usize = 24;
    /// The entry vertex's address, six bytes.
    pub const ENTRY: std::ops::Range<usize> = 28..34;
    pub const CENTRE: usize = 36;
    pub const LABELS: usize = 40;
    pub const EF_SEARCH: usize = 44;
    pub const EPSILON: usize = 48;
    pub const MAX_SCAN_TUPLES: usize = 52;
    pub const LABEL_SLOTS: usize = 56;
    pub const OFF_BITS: usize = 60;
}

impl Meta {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; META_BYTES];
        b.put_u32(at::MAGIC, MAGIC);
        b.put_u32(at::VERSION, FORMAT_VERSION);
        b.put_u32(at::DIMS, self.dims);
        b[at::METRIC] = self.metric.code();
        b[at::ELEM] = self.elem as u8;
        b[at::BITS] = self.bits as u8;
        b[at::RERANK_IN_TABLE] = self.rerank_in_table as u8;
        b.put_u32(at::M, self.m);
        b.put_u32(at::EF_CONSTRUCTION, self.ef_construction);
        b.put_f32(at::ALPHA, self.alpha);
        b[at::ENTRY].copy_from_slice(&self.entry.to_bytes());
        b.put_u32(at::CENTRE, self.centre);
        b.put_u32(at::LABELS, self.labels);
        b.put_u32(at::EF_SEARCH, self.ef_search.unwrap_or(0));
        b.put_f32(at::EPSILON, self.epsilon.unwrap_or(f32::NAN));
        b.put_i32(
            at::MAX_SCAN_TUPLES,
            self.max_scan_tuples.unwrap_or(i32::MIN),
        );
        b.put_u32(at::LABEL_SLOTS, self.label_slots);
        b[at::OFF_BITS] = self.off_bits as u8;
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Meta> {
        if b.len() < META_BYTES || b.get_u32(at::MAGIC) != MAGIC {
            return corrupt("the meta page is not a vchordg meta page");
        }
        let version = b.get_u32(at::VERSION);
        if version != FORMAT_VERSION {
            return vchord_base::info::format_mismatch(version, FORMAT_VERSION);
        }
        let eps = b.get_f32(at::EPSILON);
        let mst = b.get_i32(at::MAX_SCAN_TUPLES);
        let m = Meta {
            dims: b.get_u32(at::DIMS),
            metric: Metric::from_code(b[at::METRIC]).ok_or(Corrupt::new("unknown metric"))?,
            elem: if b[at::ELEM] == 0 {
                Elem::F32
            } else {
                Elem::F16
            },
            bits: b[at::BITS] as u32,
            rerank_in_table: b[at::RERANK_IN_TABLE] != 0,
            m: b.get_u32(at::M),
            label_slots: b.get_u32(at::LABEL_SLOTS),
            ef_construction: b.get_u32(at::EF_CONSTRUCTION),
            alpha: b.get_f32(at::ALPHA),
            entry: Addr::from_bytes(&b[at::ENTRY]),
            centre: b.get_u32(at::CENTRE),
            labels: b.get_u32(at::LABELS),
            ef_search: Some(b.get_u32(at::EF_SEARCH)).filter(|&e| e > 0),
            epsilon: (!eps.is_nan()).then_some(eps),
            max_scan_tuples: (mst != i32::MIN).then_some(mst),
            off_bits: b[at::OFF_BITS] as u32,
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

    pub(crate) fn code_len(&self) -> usize {
        self.bits as usize * vchord_rabitq::code_bytes(self.dims as usize)
    }

    pub(crate) fn vector_len(&self) -> usize {
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
    use vchord_base::info::{elem_name, json_str};
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
    Meta::decode(&vchord_base::info::meta_tuple(s, KIND_META, "vchordg")?)
}

/// Rewrites the entry vertex in the meta page.
pub(crate) fn set_entry<S: Store>(s: &S, entry: Addr) {
    let mut g = s.write(0);
    if let Some(t) = page::get_mut(&mut g, 1) {
        t[at::ENTRY].copy_from_slice(&entry.to_bytes());
    }
}
