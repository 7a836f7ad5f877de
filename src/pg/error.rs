//! Errors raised from Rust: an [`Error`] unwinds (running destructors) to the boundary of the
//! entry point, which reports it with `ereport(ERROR)`.
use std::ffi::c_int;

/// A SQLSTATE in PostgreSQL's packed form (MAKE_SQLSTATE: 6 bits per character).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SqlState(pub c_int);

impl SqlState {
    pub const fn new(s: &[u8; 5]) -> SqlState {
        let mut code = 0;
        let mut i = 0;
        while i < 5 {
            code += (((s[i] as c_int) - ('0' as c_int)) & 0x3F) << (6 * i);
            i += 1;
        }
        SqlState(code)
    }
}

pub const ERRCODE_DATA_EXCEPTION: SqlState = SqlState::new(b"22000");
pub const ERRCODE_INVALID_TEXT_REPRESENTATION: SqlState = SqlState::new(b"22P02");
pub const ERRCODE_INVALID_BINARY_REPRESENTATION: SqlState = SqlState::new(b"22P03");
pub const ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE: SqlState = SqlState::new(b"22003");
pub const ERRCODE_DATA_CORRUPTED: SqlState = SqlState::new(b"XX001");
pub const ERRCODE_INVALID_PARAMETER_VALUE: SqlState = SqlState::new(b"22023");
pub const ERRCODE_ARRAY_SUBSCRIPT_ERROR: SqlState = SqlState::new(b"2202E");
pub const ERRCODE_NULL_VALUE_NOT_ALLOWED: SqlState = SqlState::new(b"22004");
pub const ERRCODE_PROGRAM_LIMIT_EXCEEDED: SqlState = SqlState::new(b"54000");
pub const ERRCODE_FEATURE_NOT_SUPPORTED: SqlState = SqlState::new(b"0A000");
pub const ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE: SqlState = SqlState::new(b"55000");
pub const ERRCODE_INTERNAL_ERROR: SqlState = SqlState::new(b"XX000");
pub const ERRCODE_INDEX_CORRUPTED: SqlState = SqlState::new(b"XX002");
pub const ERRCODE_WRONG_OBJECT_TYPE: SqlState = SqlState::new(b"42809");
pub const ERRCODE_UNDEFINED_OBJECT: SqlState = SqlState::new(b"42704");
pub const ERRCODE_INSUFFICIENT_RESOURCES: SqlState = SqlState::new(b"53000");

/// An ERROR raised from Rust code. Build it, add detail or hint, then [`Error::raise`] it.
#[derive(Debug)]
pub struct Error {
    pub code: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub file: &'static str,
    pub line: u32,
}

impl Error {
    #[track_caller]
    pub fn new(code: SqlState, message: impl Into<String>) -> Error {
        let loc = std::panic::Location::caller();
        Error {
            code,
            message: message.into(),
            detail: None,
            hint: None,
            file: loc.file(),
            line: loc.line(),
        }
    }
    pub fn detail(mut self, detail: impl Into<String>) -> Error {
        self.detail = Some(detail.into());
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }
    /// Unwind to the entry point's boundary, which raises the ERROR once no destructor is left.
    pub fn raise(self) -> ! {
        std::panic::resume_unwind(Box::new(self))
    }
}

/// `ereport(ERROR, errcode(code), errmsg(...))` from Rust.
#[track_caller]
pub fn error(code: SqlState, message: impl Into<String>) -> ! {
    Error::new(code, message).raise()
}
