//! The one error of the index crates: damage, or a format this version cannot read.

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
