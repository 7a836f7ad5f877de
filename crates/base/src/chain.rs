//! Chains of pages linked by their `next` block: appending at the tail, and walking one with
//! a guard against cycles and blocks past the end (a damaged index must not loop a backend).
use crate::page::{self, Addr, INVALID_BLOCK};
use crate::store::{Length, Store};
use crate::{Result, corrupt};

/// Appends `data` to the chain whose last page is at or after `tail`; returns the address and
/// the chain's last block.
pub fn append<S: Store>(s: &S, tail: u32, kind: u32, data: &[u8]) -> (Addr, u32) {
    let mut blk = tail;
    loop {
        let mut g = s.write(blk);
        let next = page::next(&g);
        if next != INVALID_BLOCK {
            drop(g);
            blk = next;
            continue;
        }
        if page::cost(data.len()) <= page::free_space(&g) {
            let off = page::add(&mut g, data).expect("checked free space");
            return (Addr { blk, off }, blk);
        }
        // Full: the new page (with the tuple) is made durable first, then linked, all while
        // the old tail stays locked, so other writers wait and then follow the link.
        let (nb, mut ng) = s.extend();
        page::init(&mut ng, kind);
        let off = page::add(&mut ng, data).expect("a tuple fits an empty page");
        drop(ng);
        page::set_next(&mut g, nb);
        drop(g);
        return (Addr { blk: nb, off }, nb);
    }
}

/// The guard of a walk along a chain: every block it visits lies within the relation, and
/// it visits no more blocks than the relation has (a longer walk has met a cycle). Every walk
/// of a chain in both indexes goes through one, so a damaged index gives an error, never a
/// backend looping for ever. The relation's length is read again when a block lies past it
/// (concurrent inserts extend the relation while a walk goes on).
pub struct Walk<'a, S: Store> {
    s: &'a S,
    head: u32,
    count: u32,
    len: Length,
}

impl<'a, S: Store> Walk<'a, S> {
    pub fn new(s: &'a S, head: u32) -> Walk<'a, S> {
        Walk {
            s,
            head,
            count: 0,
            len: Length::default(),
        }
    }

    /// Whether the walk goes on to `blk` (false at the chain's end); an error when `blk`
    /// lies past the relation's end or the walk has looped.
    pub fn to(&mut self, blk: u32) -> Result<bool> {
        if blk == INVALID_BLOCK {
            return Ok(false);
        }
        self.count += 1;
        let looped = || self.count > self.len.known() && self.count > self.len.look(self.s);
        if !self.len.covers(self.s, blk) || looped() {
            return corrupt(format!("chain at block {} is broken", self.head));
        }
        Ok(true)
    }
}

/// The blocks of the chain starting at `head`, in order (none for `INVALID_BLOCK`), for
/// walks that only need the block numbers.
pub fn blocks<S: Store>(s: &S, head: u32) -> Result<Vec<u32>> {
    let mut walk = Walk::new(s, head);
    let mut out = vec![];
    let mut blk = head;
    while walk.to(blk)? {
        out.push(blk);
        blk = page::next(&s.read(blk));
    }
    Ok(out)
}
