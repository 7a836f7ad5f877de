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
/// Where the generation lies in the meta tuple ([`bump_generation`] rewrites it in place).
pub(crate) const GENERATION_AT: std::ops::Range<usize> = 68..72;

impl Meta {
    pub(crate) fn encode(&self) -> Vec<u8> {
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
        b[GENERATION_AT].copy_from_slice(&self.generation.to_le_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Meta> {
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
            generation: u32_at(GENERATION_AT.start),
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
