//! A NULL query's scan: every row, page by page, in no order.
use crate::page::{self, Addr};
use crate::store::Store;

/// A walk over the pages of one kind, a page at a time, handing out what `rows` takes from
/// each (a NULL query's scan: every row, in no order).
#[derive(Default)]
pub struct PageSweep {
    blk: u32,
    pending: Vec<Addr>,
}

impl PageSweep {
    pub fn next<S: Store>(
        &mut self,
        s: &S,
        kind: u32,
        rows: &mut dyn FnMut(&page::Page, &mut Vec<Addr>),
    ) -> Option<Addr> {
        loop {
            if let Some(a) = self.pending.pop() {
                return Some(a);
            }
            self.blk += 1;
            if self.blk >= s.nblocks() {
                return None;
            }
            s.yield_point();
            let p = s.read(self.blk);
            if page::kind(&p) == kind {
                rows(&p, &mut self.pending);
                self.pending.reverse();
            }
        }
    }
}
