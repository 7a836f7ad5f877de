//! Centroid tuples with their chains, and blobs (vectors and centroids, continued in
//! segments when larger than a page).
use crate::*;

// ---- tuples ----------------------------------------------------------------------------

/// A centroid tuple: kind, the number of chains less one (leaves), two bytes of padding, then
/// an internal centroid's children chain (and three unused block numbers) or a leaf's chains
/// (four block numbers each, see [`Chain`]); then a blob of the rotated centroid (f32).
/// Format 1 wrote one chain and a zero count byte, which reads the same.
pub(crate) const CENTROID_FIXED: usize = 4;
pub(crate) const CHAIN_BYTES: usize = 16;
/// Chains a list may have: one per build participant (see [`create`]).
pub const MAX_CHAINS: usize = 64;

pub(crate) fn centroid_header_len(chains: usize) -> usize {
    CENTROID_FIXED + CHAIN_BYTES * chains.max(1)
}
pub(crate) const C_INTERNAL: u8 = 1;
pub(crate) const C_LEAF: u8 = 2;

/// A blob segment or vector tuple starts with the owner (heap TID, or none) and the address
/// of the next segment.
pub(crate) const BLOB_HEADER: usize = 12;

/// A code entry: heap TID, address of the vector, factors, bits.
pub(crate) const ENTRY_HEADER: usize = 12 + Factors::BYTES;

/// A single code entry's fields: heap TID, vector address and factors ([`ENTRY_HEADER`]
/// bytes), then the code's bits. (A block keeps the same fields lane by lane, see
/// [`block`].)
pub mod entry {
    use super::*;
    use std::ops::Range;

    pub const TID: Range<usize> = 0..6;
    pub const VECTOR: Range<usize> = 6..12;
    pub const FACTORS: Range<usize> = 12..ENTRY_HEADER;

    pub fn tid(e: &[u8]) -> Addr {
        Addr::from_bytes(&e[TID])
    }
    pub fn vector(e: &[u8]) -> Addr {
        Addr::from_bytes(&e[VECTOR])
    }
    pub fn factors(e: &[u8]) -> Factors {
        Factors::from_bytes(&e[FACTORS])
    }
    /// Writes the fields before the code.
    pub fn put_header(e: &mut [u8], tid: Addr, vector: Addr, f: &Factors) {
        e[TID].copy_from_slice(&tid.to_bytes());
        e[VECTOR].copy_from_slice(&vector.to_bytes());
        e[FACTORS].copy_from_slice(&f.to_bytes());
    }
}

/// One of a list's chains: a code chain and its vector chain (heads, or none yet, and tail
/// hints). A list has several so that build participants, and concurrent inserts, append to
/// different pages; a scan reads them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain {
    pub head: u32,
    pub tail: u32,
    pub vhead: u32,
    pub vtail: u32,
}

impl Chain {
    pub const NONE: Chain = Chain {
        head: INVALID_BLOCK,
        tail: INVALID_BLOCK,
        vhead: INVALID_BLOCK,
        vtail: INVALID_BLOCK,
    };

    pub(crate) fn read(t: &[u8], i: usize) -> Chain {
        let at = CENTROID_FIXED + CHAIN_BYTES * i;
        Chain {
            head: blk_at(t, at),
            tail: blk_at(t, at + 4),
            vhead: blk_at(t, at + 8),
            vtail: blk_at(t, at + 12),
        }
    }

    pub(crate) fn write(&self, t: &mut [u8], i: usize) {
        let at = CENTROID_FIXED + CHAIN_BYTES * i;
        put_blk(t, at, self.head);
        put_blk(t, at + 4, self.tail);
        put_blk(t, at + 8, self.vhead);
        put_blk(t, at + 12, self.vtail);
    }
}

#[derive(Clone, Debug)]
pub struct Centroid {
    pub addr: Addr,
    pub leaf: bool,
    /// Internal: the head of its children's chain.
    pub children: u32,
    /// Leaf: the list's chains.
    pub chains: Vec<Chain>,
    /// Rotated (and, for spherical centroids, unit) centroid.
    pub vector: Vec<f32>,
}

impl Centroid {
    /// Every code chain head of a leaf (a scan's starting points).
    pub fn code_heads(&self) -> impl Iterator<Item = u32> + '_ {
        self.chains
            .iter()
            .map(|c| c.head)
            .filter(|&h| h != INVALID_BLOCK)
    }
}

pub(crate) fn blk_at(t: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(t[i..i + 4].try_into().unwrap())
}

pub(crate) fn put_blk(t: &mut [u8], i: usize, v: u32) {
    t[i..i + 4].copy_from_slice(&v.to_le_bytes());
}

/// Adds `data` to the first page with room in the chain from `hint` on, else [`append`]s it
/// at the end; returns the address and the page the walk stopped at (the next insert's hint).
/// For chains whose order means nothing (a list's codes and vectors): vacuum points the
/// hints back at pages it freed room in ([`bulk_delete`]), so that room is used again.
pub(crate) fn fill<S: Store>(s: &S, hint: u32, kind: u32, data: &[u8]) -> (Addr, u32) {
    let mut blk = hint;
    loop {
        let mut g = s.write(blk);
        if page::cost(data.len()) <= page::free_space(&g) {
            let off = page::add(&mut g, data).expect("checked free space");
            return (Addr { blk, off }, blk);
        }
        let next = page::next(&g);
        if next == INVALID_BLOCK {
            drop(g);
            return append(s, blk, kind, data);
        }
        drop(g);
        blk = next;
    }
}

/// Writes `payload` after `header` as a blob: one tuple when it fits, else a chain of
/// segments written last-first so each can point at the next. Returns the first tuple's
/// address and the chain's tail.
pub(crate) fn write_blob<S: Store>(
    s: &S,
    tail: u32,
    kind: u32,
    header: &[u8],
    owner: Addr,
    payload: &[u8],
) -> (Addr, u32) {
    let first_cap = page::MAX_ITEM - header.len() - BLOB_HEADER;
    let seg_cap = page::MAX_ITEM - BLOB_HEADER;
    let (first, rest) = payload.split_at(payload.len().min(first_cap));
    let mut next = Addr::NONE;
    let mut tail = tail;
    let segs: Vec<&[u8]> = rest.chunks(seg_cap).collect();
    for seg in segs.iter().rev() {
        let mut t = Vec::with_capacity(BLOB_HEADER + seg.len());
        t.extend_from_slice(&owner.to_bytes());
        t.extend_from_slice(&next.to_bytes());
        t.extend_from_slice(seg);
        let (a, nt) = fill(s, tail, kind, &t);
        next = a;
        tail = nt;
    }
    let mut t = Vec::with_capacity(header.len() + BLOB_HEADER + first.len());
    t.extend_from_slice(header);
    t.extend_from_slice(&owner.to_bytes());
    t.extend_from_slice(&next.to_bytes());
    t.extend_from_slice(first);
    fill(s, tail, kind, &t)
}

/// Splits a blob tuple into its header (`h` bytes), owner, next segment and payload part.
pub(crate) fn blob_parts(t: &[u8], h: usize) -> Option<(&[u8], Addr, Addr, &[u8])> {
    if t.len() < h + BLOB_HEADER {
        return None;
    }
    Some((
        &t[..h],
        Addr::from_bytes(&t[h..h + 6]),
        Addr::from_bytes(&t[h + 6..h + 12]),
        &t[h + BLOB_HEADER..],
    ))
}

/// Appends the segments from `at` on to `payload`; false when one is gone, belongs to another
/// owner, or the payload would not come to `len` bytes.
pub(crate) fn read_segments<S: Store>(
    s: &S,
    nblocks: u32,
    mut at: Addr,
    owner: Addr,
    payload: &mut Vec<u8>,
    len: usize,
) -> bool {
    while !at.is_none() {
        if at.blk >= nblocks {
            return false;
        }
        let p = s.read(at.blk);
        let Some((_, o, next, part)) = page::get(&p, at.off).and_then(|t| blob_parts(t, 0)) else {
            return false;
        };
        if o != owner || payload.len() + part.len() > len {
            return false;
        }
        payload.extend_from_slice(part);
        at = next;
    }
    payload.len() == len
}

/// Reads the blob at `addr` whose tuple starts with `header_len` bytes of header. Returns the
/// header and the payload; `None` when the tuple (or a segment) is gone or does not belong to
/// `expect_owner` (when given).
pub(crate) fn read_blob<S: Store>(
    s: &S,
    addr: Addr,
    header_len: usize,
    expect_owner: Option<Addr>,
    len: usize,
) -> Option<(Vec<u8>, Vec<u8>)> {
    read_blob_below(s, s.nblocks(), addr, header_len, expect_owner, len)
}

/// [`read_blob`] with the relation's length known: a block at or past `nblocks` reads as gone.
pub(crate) fn read_blob_below<S: Store>(
    s: &S,
    nblocks: u32,
    addr: Addr,
    header_len: usize,
    expect_owner: Option<Addr>,
    len: usize,
) -> Option<(Vec<u8>, Vec<u8>)> {
    if addr.blk >= nblocks {
        return None;
    }
    let (header, owner, next, mut payload) = {
        let p = s.read(addr.blk);
        let (h, owner, next, part) = blob_parts(page::get(&p, addr.off)?, header_len)?;
        if expect_owner.is_some_and(|o| o != owner) || part.len() > len {
            return None;
        }
        let mut payload = Vec::with_capacity(len);
        payload.extend_from_slice(part);
        (h.to_vec(), owner, next, payload)
    };
    read_segments(s, nblocks, next, owner, &mut payload, len).then_some((header, payload))
}

/// Addresses of every tuple of the blob at `addr` (for removal).
pub(crate) fn blob_addrs<S: Store>(s: &S, addr: Addr, header_len: usize) -> Vec<Addr> {
    let mut out = vec![];
    let mut at = addr;
    let mut first = true;
    while !at.is_none() && at.blk < s.nblocks() && out.len() < 64 {
        out.push(at);
        let p = s.read(at.blk);
        let Some(t) = page::get(&p, at.off) else {
            break;
        };
        let h = if first { header_len } else { 0 };
        if t.len() < h + BLOB_HEADER {
            break;
        }
        at = Addr::from_bytes(&t[h + 6..h + 12]);
        first = false;
    }
    out
}

pub(crate) fn centroid_header(c: &Centroid) -> Vec<u8> {
    let mut h = vec![0u8; centroid_header_len(c.chains.len())];
    if c.leaf {
        h[0] = C_LEAF;
        h[1] = (c.chains.len().max(1) - 1) as u8;
        for (i, ch) in c.chains.iter().enumerate() {
            ch.write(&mut h, i);
        }
    } else {
        h[0] = C_INTERNAL;
        Chain {
            head: c.children,
            ..Chain::NONE
        }
        .write(&mut h, 0);
    }
    h
}

/// The header length of the centroid tuple `t` (from its chain count).
pub(crate) fn header_len_of(t: &[u8]) -> usize {
    centroid_header_len(t.get(1).map_or(1, |&n| n as usize + 1))
}

/// Every centroid of the chain starting at `head`.
pub fn read_centroids<S: Store>(s: &S, meta: &Meta, head: u32) -> Result<Vec<Centroid>> {
    let mut out = vec![];
    let mut blk = head;
    let mut walk = chain::Walk::new(s, head);
    let bytes = meta.dims as usize * 4;
    while walk.to(blk)? {
        // Every centroid is decoded from the page in hand; only a centroid larger than a
        // tuple needs more reads, for its segments.
        let mut heads = vec![];
        let next = {
            let p = s.read(blk);
            if !page::is_valid(&p) || page::kind(&p) != KIND_CENTROID {
                return corrupt(format!("block {blk} is not a centroid page"));
            }
            // Segments of large centroids share the chain; they start with their owner, which
            // for centroids is `Addr::NONE` (first byte 0xFF), never a centroid kind.
            for (off, t) in page::items(&p) {
                if !matches!(t.first(), Some(&C_INTERNAL | &C_LEAF)) {
                    continue;
                }
                let addr = Addr { blk, off };
                let (h, _, seg, part) = blob_parts(t, header_len_of(t))
                    .filter(|x| x.3.len() <= bytes)
                    .ok_or_else(|| Corrupt::new(format!("centroid at {addr:?} is unreadable")))?;
                let mut payload = Vec::with_capacity(bytes);
                payload.extend_from_slice(part);
                heads.push((addr, h.to_vec(), seg, payload));
            }
            page::next(&p)
        };
        for (addr, h, seg, mut payload) in heads {
            if !read_segments(s, s.nblocks(), seg, Addr::NONE, &mut payload, bytes) {
                return corrupt(format!("centroid at {addr:?} is unreadable"));
            }
            let leaf = h[0] == C_LEAF;
            let n = (h.len() - CENTROID_FIXED) / CHAIN_BYTES;
            out.push(Centroid {
                addr,
                leaf,
                children: if leaf {
                    INVALID_BLOCK
                } else {
                    blk_at(&h, CENTROID_FIXED)
                },
                chains: if leaf {
                    (0..n).map(|i| Chain::read(&h, i)).collect()
                } else {
                    vec![]
                },
                vector: f32s(&payload),
            });
        }
        blk = next;
    }
    Ok(out)
}

/// Advances the tail hints of chain `i` of the leaf centroid at `addr` (never backwards:
/// blocks are allocated in increasing order, so a later tail has a larger number).
pub(crate) fn advance_tails<S: Store>(s: &S, addr: Addr, i: usize, tail: u32, vtail: u32) {
    let mut g = s.write(addr.blk);
    let Some(t) = page::get(&g, addr.off) else {
        return;
    };
    let old = Chain::read(t, i);
    if tail > old.tail || vtail > old.vtail {
        let t = page::get_mut(&mut g, addr.off).unwrap();
        Chain {
            tail: tail.max(old.tail),
            vtail: vtail.max(old.vtail),
            ..old
        }
        .write(t, i);
    }
}

/// Points the tail hints of chain `i` of the leaf centroid at `addr` back at pages where
/// vacuum freed room (any page of the chain is a sound hint: inserts walk on from it).
pub(crate) fn rewind_tails<S: Store>(
    s: &S,
    addr: Addr,
    i: usize,
    tail: Option<u32>,
    vtail: Option<u32>,
) {
    let mut g = s.write(addr.blk);
    let Some(t) = page::get_mut(&mut g, addr.off) else {
        return;
    };
    let old = Chain::read(t, i);
    Chain {
        tail: tail.unwrap_or(old.tail),
        vtail: vtail.unwrap_or(old.vtail),
        ..old
    }
    .write(t, i);
}

/// Tells cached copies of the centroids that a chain head changed (see [`Meta::generation`]).
pub(crate) fn bump_generation<S: Store>(s: &S) {
    let mut g = s.write(0);
    if let Some(t) = page::get_mut(&mut g, 1).filter(|t| t.len() >= META_BYTES) {
        let n = t.get_u32(at::GENERATION).wrapping_add(1);
        t.put_u32(at::GENERATION, n);
    }
}

/// Reads the current state of chain `i` of the leaf centroid `c` (the tuple's block numbers
/// change when its chains are created or grow).
pub(crate) fn reload_chain<S: Store>(s: &S, c: &mut Centroid, i: usize) {
    let p = s.read(c.addr.blk);
    if let Some(t) = page::get(&p, c.addr.off) {
        c.chains[i] = Chain::read(t, i);
    }
}
