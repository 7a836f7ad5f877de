//! What vchordrq (`vchord-ivf`) and vchordg (`vchord-graph`) both stand on, with no PostgreSQL
//! symbols: PostgreSQL-standard [`page`]s in safe Rust, the [`Store`] seam the server
//! implements with shared buffers and GenericXLog, chains of pages ([`chain`]), the error
//! type ([`Corrupt`]), metrics and element types ([`metric`]), queries with their exact
//! distances ([`query`]), what `vchord_index_info` shows ([`info`]) and TOML options
//! ([`options`]).
pub mod chain;
pub mod codec;
pub mod error;
pub mod info;
pub mod metric;
pub mod options;
pub mod page;
pub mod query;
pub mod store;
pub mod sweep;

pub use chain::append;
pub use codec::{f32_bytes, f32s};
pub use error::{Corrupt, Result, corrupt};
pub use metric::{Elem, Metric};
pub use query::{Query, Scratch, sql_distance};
pub use store::{MemStore, Store};
pub use sweep::PageSweep;
