//! The FFI floor: the only home of unsafe calls into PostgreSQL.
pub mod buffer;
pub mod error;
pub mod fmgr;
pub mod guard;
pub mod guc;
pub mod memcxt;
pub mod sys;

pub use error::{Error, SqlState, error};
pub use guard::{boundary, check_for_interrupts, pg_try};
