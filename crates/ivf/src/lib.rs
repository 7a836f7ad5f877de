//! vchordrq's index logic over a [`Store`] of pages: the on-disk layout, build, insert, the
//! streaming search, vacuum and verification. No PostgreSQL symbols: the server implements
//! [`Store`] with shared buffers and GenericXLog, the tests with [`MemStore`]; what vchordg
//! shares (pages, the store, errors, metrics, queries) is in `vchord-base`.
//!
//! Layout (every tuple little-endian, on PostgreSQL-standard pages, see [`page`]):
//! * block 0, the meta page: one [`Meta`] tuple ([`meta`]).
//! * centroid chains: the root chain holds the top level's centroids; an internal centroid
//!   names the chain of its children; a leaf centroid names its list's chains ([`tuple`]).
//! * a list's code chain: one entry per row (heap TID, address of its vector, RaBitQ factors
//!   and sign bits), scanned for estimates; 32 entries make a fast-scan [`block`].
//! * a list's vector chain: the full vectors, in the column's own element type, read only to
//!   rerank. Vectors (and centroids) larger than a page continue in segments.
//!
//! Chains only grow at their tail and pages are never unlinked, so a reader following `next`
//! pointers never lands on a recycled page; a leaf's tail pointer is only a hint (writers walk
//! `next` from it). Line pointers are never reused (see [`page`]).
//!
//! One file per operation: [`sample`] and [`build`] (a build's phases: the sample and its
//! k-means, the skeleton, the participants' rows in [`insert`], the end of a parallel build),
//! [`route`] (descending the tree), [`insert`], [`search`], [`vacuum`], [`verify`].
pub mod block;
pub mod build;
pub mod insert;
pub mod meta;
pub mod options;
pub mod route;
pub mod sample;
pub mod search;
pub mod tuple;
pub mod vacuum;
pub mod verify;

pub use build::*;
pub use insert::*;
pub use meta::*;
pub use route::*;
pub use sample::*;
pub use search::*;
pub use tuple::*;
pub use vacuum::*;
pub use vchord_base::{
    Corrupt, Elem, MemStore, Metric, PageSweep, Query, Result, Scratch, Store, append, chain,
    corrupt, f32_bytes, f32s, info, page, sql_distance, store,
};
pub use verify::*;

use page::{Addr, INVALID_BLOCK};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use vchord_base::codec::Fields;
use vchord_rabitq::{BLOCK, Factors, FastLut, Kind, ListQuery, QueryLut, Rotation};
use vchord_simd::f32x;

#[cfg(test)]
mod tests;
