//! The meta page: what it records and its one encoder.
use crate::*;

pub const MAGIC: u32 = 0x5152_4356; // "VCRQ" little-endian
pub const FORMAT_VERSION: u32 = 1;
pub const ROTATION_SEED: u64 = 0x7663_686F_7264_7271; // "vchordrq"

/// Page kinds, kept in each page's special space.
pub const KIND_META: u32 = 1;
pub const KIND_CENTROID: u32 = 2;
pub const KIND_CODES: u32 = 3;
pub const KIND_VECTORS: u32 = 4;
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

pub(crate) const META_BYTES: usize = 96;

/// The meta tuple's layout: each field's offset, named once for the encoder, the decoder and
/// the in-place update of the generation ([`bump_generation`]).
pub(crate) mod at {
    /// Magic, format version, dimensions, metric and element type, as in both indexes.
    pub use vchord_base::info::head::*;
    pub const RESIDUAL: usize = 14;
    pub const LEVELS: usize = 15;
    pub const ROOT: usize = 16;
    /// Lists per level, up to four.
    pub const LISTS: usize = 20;
    pub const NPROBES: usize = 36;
    /// Probes per level, up to four.
    pub const PROBES: usize = 40;
    pub const EPSILON: usize = 56;
    pub const MAX_SCAN_TUPLES: usize = 60;
    pub const RERANK_IN_TABLE: usize = 64;
    pub const BITS: usize = 65;
    pub const GENERATION: usize = 68;
}

impl Meta {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; META_BYTES];
        b.put_u32(at::MAGIC, MAGIC);
        b.put_u32(at::VERSION, FORMAT_VERSION);
        b.put_u32(at::DIMS, self.dims);
        b[at::METRIC] = self.metric.code();
        b[at::ELEM] = self.elem as u8;
        b[at::RESIDUAL] = self.residual as u8;
        b[at::LEVELS] = self.lists.len() as u8;
        b.put_u32(at::ROOT, self.root);
        for (i, &l) in self.lists.iter().enumerate() {
            b.put_u32(at::LISTS + 4 * i, l);
        }
        b[at::NPROBES] = self.probes.len() as u8;
        for (i, &p) in self.probes.iter().enumerate() {
            b.put_u32(at::PROBES + 4 * i, p);
        }
        b.put_f32(at::EPSILON, self.epsilon.unwrap_or(f32::NAN));
        b.put_i32(
            at::MAX_SCAN_TUPLES,
            self.max_scan_tuples.unwrap_or(i32::MIN),
        );
        b[at::RERANK_IN_TABLE] = self.rerank_in_table as u8;
        b[at::BITS] = self.bits as u8;
        b.put_u32(at::GENERATION, self.generation);
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Meta> {
        if b.len() < META_BYTES || b.get_u32(at::MAGIC) != MAGIC {
            return corrupt("the meta page is not a vchordrq meta page");
        }
        let version = b.get_u32(at::VERSION);
        if version != FORMAT_VERSION {
            return info::format_mismatch(version, FORMAT_VERSION);
        }
        let levels = b[at::LEVELS] as usize;
        let nprobes = b[at::NPROBES] as usize;
        if !(1..=options::MAX_LEVELS).contains(&levels) || nprobes > options::MAX_LEVELS {
            return corrupt("the meta page has an impossible level count");
        }
        // Indexes written before 2-bit codes have a zero here.
        let bits = (b[at::BITS] as u32).max(1);
        if bits > 2 {
            return corrupt("the meta page has an impossible code width");
        }
        let eps = b.get_f32(at::EPSILON);
        let mst = b.get_i32(at::MAX_SCAN_TUPLES);
        Ok(Meta {
            dims: b.get_u32(at::DIMS),
            metric: Metric::from_code(b[at::METRIC]).ok_or(Corrupt::new("unknown metric"))?,
            elem: if b[at::ELEM] == 0 {
                Elem::F32
            } else {
                Elem::F16
            },
            residual: b[at::RESIDUAL] != 0,
            lists: (0..levels).map(|i| b.get_u32(at::LISTS + 4 * i)).collect(),
            root: b.get_u32(at::ROOT),
            probes: (0..nprobes)
                .map(|i| b.get_u32(at::PROBES + 4 * i))
                .collect(),
            epsilon: (!eps.is_nan()).then_some(eps),
            max_scan_tuples: (mst != i32::MIN).then_some(mst),
            rerank_in_table: b[at::RERANK_IN_TABLE] != 0,
            bits,
            generation: b.get_u32(at::GENERATION),
        })
    }

    /// A query for this index; `q` holds the query's elements as f32.
    pub fn query(&self, q: &[f32]) -> Query {
        Query::with(self.metric, &self.rotation(), q)
    }

    pub fn rotation(&self) -> std::sync::Arc<Rotation> {
        Rotation::shared(self.dims as usize, ROTATION_SEED)
    }

    pub(crate) fn code_len(&self) -> usize {
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
    pub(crate) fn code_tuple<'a>(&self, t: &'a [u8]) -> Option<Code<'a>> {
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
pub(crate) enum Code<'a> {
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
    Meta::decode(&info::meta_tuple(s, KIND_META, "vchordrq")?)
}
