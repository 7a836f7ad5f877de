//! What `vchord_index_info` shows of an index, for both access methods: the on-disk format
//! version its meta page records (read even when this vchord cannot read the rest), and the
//! build parameters, as JSON members.
use crate::page;
use crate::store::Store;
use crate::{Corrupt, Elem};

/// The unsupported-format error of a meta page recording `found` (this vchord reads `reads`).
pub fn format_mismatch<T>(found: u32, reads: u32) -> crate::Result<T> {
    Err(Corrupt {
        message: format!(
            "on-disk format version {found} is not supported by this vchord (it reads version {reads}); REINDEX the index"
        ),
        format: Some(found),
    })
}

/// The fields both indexes' meta tuples start with, at these offsets: magic (u32), format
/// version (u32), dimensions (u32), metric (u8), element type (u8).
pub mod head {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 4;
    pub const DIMS: usize = 8;
    pub const METRIC: usize = 12;
    pub const ELEM: usize = 13;
}

/// Where both indexes' meta tuples keep their format version.
pub const VERSION_AT: std::ops::Range<usize> = head::VERSION..head::VERSION + 4;

/// A copy of the meta tuple (block 0, item 1) of an index of access method `am` whose meta
/// page is of kind `kind`.
pub fn meta_tuple<S: Store>(s: &S, kind: u32, am: &str) -> crate::Result<Vec<u8>> {
    if s.nblocks() == 0 {
        return crate::corrupt("the index has no meta page");
    }
    let p = s.read(0);
    if !page::is_valid(&p) || page::kind(&p) != kind {
        return crate::corrupt(format!("block 0 is not a {am} meta page"));
    }
    match page::get(&p, 1) {
        Some(t) => Ok(t.to_vec()),
        None => crate::corrupt("the meta page is empty"),
    }
}

/// The format version in the meta page (block 0, item 1, bytes 4..8 in both indexes' layouts),
/// whatever the rest holds; `None` without a readable meta page.
pub fn format_version<S: Store>(s: &S) -> Option<u32> {
    if s.nblocks() == 0 {
        return None;
    }
    let p = s.read(0);
    let t = page::get(&p, 1)?;
    Some(u32::from_le_bytes(t.get(VERSION_AT)?.try_into().ok()?))
}

/// Overwrites the meta page's format version: for tests of what a server does with an index
/// of another format. True when there was a meta page to change.
pub fn set_format_version<S: Store>(s: &S, v: u32) -> bool {
    if s.nblocks() == 0 {
        return false;
    }
    let mut p = s.write(0);
    match page::get_mut(&mut p, 1).and_then(|t| t.get_mut(VERSION_AT)) {
        Some(b) => {
            b.copy_from_slice(&v.to_le_bytes());
            true
        }
        None => false,
    }
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn elem_name(e: Elem) -> &'static str {
    match e {
        Elem::F32 => "vector",
        Elem::F16 => "halfvec",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_errors_are_told_apart_from_damage() {
        let e = format_mismatch::<()>(7, 1).unwrap_err();
        assert_eq!(e.format, Some(7));
        assert!(e.message.contains("REINDEX"));
        assert_eq!(Corrupt::new("the meta page is empty").format, None);
    }

    #[test]
    fn json_strings_escape() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
    }
}
