//! The FFI floor: the only home of unsafe calls into PostgreSQL.
pub mod am;
pub mod buffer;
pub mod build;
pub mod error;
pub mod fmgr;
pub mod guard;
pub mod guc;
pub mod memcxt;
pub mod rel;
pub mod reloptions;
pub mod scan;
pub mod sys;
pub mod varlena;

pub use error::{Error, SqlState, error};
pub use guard::{boundary, check_for_interrupts, pg_try};
