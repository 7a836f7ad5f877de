//! PostgreSQL's standard page layout, in safe Rust over a byte array: a 24-byte header, line
//! pointers growing up from `pd_lower`, tuples growing down from `pd_upper`, and vchord's
//! 8-byte special space (next block, flags) at the end. The bytes are exactly what the buffer
//! manager holds, so GenericXLog computes its deltas over `[0, pd_lower)` and
//! `[pd_upper, BLCKSZ)` and page verification on read accepts them.
//!
//! Line pointers are never reused: a removed tuple's pointer stays, marked unused, so an item
//! address `(block, offset)` can never come to name another tuple.
pub const PAGE_SIZE: usize = 8192;
pub type Page = [u8; PAGE_SIZE];

/// `(block, offset)` of a tuple; offsets start at 1 as PostgreSQL's do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    pub blk: u32,
    pub off: u16,
}

pub const INVALID_BLOCK: u32 = u32::MAX;

impl Addr {
    pub const NONE: Addr = Addr {
        blk: INVALID_BLOCK,
        off: 0,
    };
    pub fn is_none(self) -> bool {
        self.blk == INVALID_BLOCK
    }
    pub fn to_bytes(self) -> [u8; 6] {
        let mut b = [0u8; 6];
        b[..4].copy_from_slice(&self.blk.to_le_bytes());
        b[4..].copy_from_slice(&self.off.to_le_bytes());
        b
    }
    pub fn from_bytes(b: &[u8]) -> Addr {
        Addr {
            blk: u32::from_le_bytes(b[..4].try_into().unwrap()),
            off: u16::from_le_bytes(b[4..6].try_into().unwrap()),
        }
    }
}

const HEADER: usize = 24;
const SPECIAL: usize = 8;
const LP: usize = 4;
const LP_UNUSED: u32 = 0;
const LP_NORMAL: u32 = 1;
/// PG_PAGE_LAYOUT_VERSION
const LAYOUT_VERSION: u16 = 4;
const ALIGN: usize = 8;

/// Bytes an empty page has for tuples and their line pointers.
pub const CAPACITY: usize = PAGE_SIZE - HEADER - SPECIAL;

/// The largest tuple one page holds.
pub const MAX_ITEM: usize = (PAGE_SIZE - HEADER - SPECIAL - LP) / ALIGN * ALIGN;

fn u16_at(p: &Page, at: usize) -> u16 {
    u16::from_le_bytes([p[at], p[at + 1]])
}
fn set_u16(p: &mut Page, at: usize, v: u16) {
    p[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn u32_at(p: &Page, at: usize) -> u32 {
    u32::from_le_bytes(p[at..at + 4].try_into().unwrap())
}
fn set_u32(p: &mut Page, at: usize, v: u32) {
    p[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn lower(p: &Page) -> usize {
    u16_at(p, 12) as usize
}
fn upper(p: &Page) -> usize {
    u16_at(p, 14) as usize
}
fn special(p: &Page) -> usize {
    u16_at(p, 16) as usize
}

/// Formats `p` as an empty page (like PageInit) with the given page kind in its flags.
pub fn init(p: &mut Page, kind: u32) {
    p.fill(0);
    set_u16(p, 12, HEADER as u16);
    set_u16(p, 14, (PAGE_SIZE - SPECIAL) as u16);
    set_u16(p, 16, (PAGE_SIZE - SPECIAL) as u16);
    set_u16(p, 18, PAGE_SIZE as u16 | LAYOUT_VERSION);
    set_next(p, INVALID_BLOCK);
    set_u32(p, PAGE_SIZE - 4, kind);
}

/// Removes every tuple and line pointer, keeping the page's kind and its `next` link.
pub fn clear(p: &mut Page) {
    let (k, n) = (kind(p), next(p));
    init(p, k);
    set_next(p, n);
}

/// A page that was never initialised (all zeroes, as a freshly extended block is).
pub fn is_new(p: &Page) -> bool {
    upper(p) == 0
}

/// True when the header is sane: what PostgreSQL's page verification also demands.
pub fn is_valid(p: &Page) -> bool {
    let (l, u, s) = (lower(p), upper(p), special(p));
    HEADER <= l && l <= u && u <= s && s == PAGE_SIZE - SPECIAL && (l - HEADER).is_multiple_of(LP)
}

pub fn kind(p: &Page) -> u32 {
    u32_at(p, PAGE_SIZE - 4)
}
pub fn next(p: &Page) -> u32 {
    u32_at(p, PAGE_SIZE - 8)
}
pub fn set_next(p: &mut Page, blk: u32) {
    set_u32(p, PAGE_SIZE - 8, blk)
}

/// Number of line pointers (live or not).
pub fn count(p: &Page) -> u16 {
    ((lower(p).max(HEADER) - HEADER) / LP) as u16
}

fn lp(p: &Page, off: u16) -> (usize, u32, usize) {
    let w = u32_at(p, HEADER + (off as usize - 1) * LP);
    (
        (w & 0x7FFF) as usize,
        (w >> 15) & 3,
        (w >> 17) as usize & 0x7FFF,
    )
}
fn set_lp(p: &mut Page, off: u16, at: usize, flags: u32, len: usize) {
    let w = (at as u32 & 0x7FFF) | (flags << 15) | ((len as u32 & 0x7FFF) << 17);
    set_u32(p, HEADER + (off as usize - 1) * LP, w);
}

fn item_range(p: &Page, off: u16) -> Option<std::ops::Range<usize>> {
    if off == 0 || off > count(p) {
        return None;
    }
    let (at, flags, len) = lp(p, off);
    if flags != LP_NORMAL || at < upper(p) || at + len > special(p) {
        return None;
    }
    Some(at..at + len)
}

/// The tuple at `off`, if it is live.
pub fn get(p: &Page, off: u16) -> Option<&[u8]> {
    item_range(p, off).map(|r| &p[r])
}

pub fn get_mut(p: &mut Page, off: u16) -> Option<&mut [u8]> {
    item_range(p, off).map(|r| &mut p[r])
}

/// Live tuples with their offsets.
pub fn items(p: &Page) -> impl Iterator<Item = (u16, &[u8])> {
    (1..=count(p)).filter_map(move |off| get(p, off).map(|t| (off, t)))
}

/// Bytes a tuple of `len` bytes takes, with its line pointer.
pub fn cost(len: usize) -> usize {
    len.next_multiple_of(ALIGN) + LP
}

pub fn free_space(p: &Page) -> usize {
    upper(p).saturating_sub(lower(p))
}

/// Appends a tuple; `None` when it does not fit.
pub fn add(p: &mut Page, data: &[u8]) -> Option<u16> {
    assert!(data.len() <= MAX_ITEM, "tuple of {} bytes", data.len());
    if free_space(p) < cost(data.len()) || count(p) as usize >= 0x7FFF {
        return None;
    }
    let at = upper(p) - data.len().next_multiple_of(ALIGN);
    p[at..at + data.len()].copy_from_slice(data);
    let off = count(p) + 1;
    set_lp(p, off, at, LP_NORMAL, data.len());
    set_u16(p, 12, (lower(p) + LP) as u16);
    set_u16(p, 14, at as u16);
    Some(off)
}

/// Removes the tuples at `offs` and compacts the page; every other tuple keeps its offset.
pub fn remove(p: &mut Page, offs: &[u16]) {
    for &off in offs {
        if off >= 1 && off <= count(p) {
            set_lp(p, off, 0, LP_UNUSED, 0);
        }
    }
    let live: Vec<(u16, Vec<u8>)> = items(p).map(|(o, t)| (o, t.to_vec())).collect();
    let mut at = special(p);
    for (off, t) in &live {
        at -= t.len().next_multiple_of(ALIGN);
        p[at..at + t.len()].copy_from_slice(t);
        set_lp(p, *off, at, LP_NORMAL, t.len());
    }
    // The hole must hold no stale bytes: full-page images skip it, so a replica's copy would
    // differ from the primary's there.
    let l = lower(p);
    p[l..at].fill(0);
    set_u16(p, 14, at as u16);
}
