//! vchordg's index logic over a [`Store`] of pages: a single-layer Vamana graph whose
//! vertices carry a RaBitQ code (walked by the search), the row's labels, fixed-capacity
//! neighbour lists and, unless the table is used for rerank, the row's vector. No PostgreSQL
//! symbols: the server implements [`Store`] with shared buffers and GenericXLog.
//!
//! Layout (little-endian, PostgreSQL-standard pages, see [`vchord_base::page`]):
//! * block 0, the meta page: one [`Meta`] tuple (dimensions, metric, parameters, the entry
//!   vertex, the heads of the centre and label chains).
//! * the centre chain: the rotated mean of the rows, codes are of `x - centre`.
//! * the label chain: `(label, entry vertex)` pairs, where filtered searches start.
//! * vertex pages: one tuple per row (see [`Vertex`]); a vertex is only ever rewritten in
//!   place (same length), so its address stays its name. Vacuum flags dead vertices, repairs
//!   the lists that point at them, then removes them; line pointers are never reused.
//!
//! One file per part: [`meta`], [`vertex`], [`space`], [`labels`], [`write`] (a built graph
//! to pages; [`build`] builds it in memory), [`insert`], [`search`], [`vacuum`], [`verify`].
pub mod build;
pub mod insert;
pub mod labels;
pub mod meta;
pub mod options;
pub mod prune;
mod search;
pub mod space;
pub mod vacuum;
pub mod verify;
pub mod vertex;
pub mod write;

pub use insert::*;
pub use labels::*;
pub use meta::*;
pub use search::{Search, SearchParams, Stats, Sweep};
pub use space::*;
pub use vacuum::*;
use vchord_base::chain;
pub use vchord_base::store::Length;
pub use vchord_base::{Corrupt, Elem, MemStore, Metric, Query, Result, Store, sql_distance};
pub use verify::*;
pub use vertex::*;
pub use write::*;

use prune::{overlaps, robust_prune};
use std::collections::{BTreeMap, HashMap, HashSet};
use vchord_base::codec::Fields;
use vchord_base::page::{self, Addr, INVALID_BLOCK};
use vchord_base::{corrupt, f32_bytes, f32s};
use vchord_rabitq::{Factors, Rotation};
use vchord_simd::f32x;

#[cfg(test)]
mod tests;
