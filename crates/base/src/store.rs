//! The seam between the index logic and storage. PostgreSQL implements it with shared buffers
//! and GenericXLog (`src/pg/buffer.rs`); tests use [`MemStore`].
//!
//! A [`Store::write`] guard holds the page's exclusive lock and a private copy; dropping it
//! normally makes a change durable (one WAL record) and visible, dropping it untouched (never
//! dereferenced mutably) logs nothing, and dropping it during an unwind discards the change. A read guard holds a share lock.
use crate::page::{Addr, PAGE_SIZE, Page};
use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

pub trait Store {
    type Read<'a>: Deref<Target = Page>
    where
        Self: 'a;
    type Write<'a>: DerefMut<Target = Page>
    where
        Self: 'a;

    fn read(&self, blk: u32) -> Self::Read<'_>;
    fn write(&self, blk: u32) -> Self::Write<'_>;
    /// Appends a block (zeroed, to be initialised by the caller) and returns it locked; its
    /// WAL record is a full image.
    fn extend(&self) -> (u32, Self::Write<'_>);
    /// Like [`Store::write`], for a page whose whole content is replaced: its WAL record is a
    /// full image, not a delta.
    fn write_full(&self, blk: u32) -> Self::Write<'_> {
        self.write(blk)
    }
    fn nblocks(&self) -> u32;
    /// Reads the pages of `addrs` (sorted by block, every block within the relation) and
    /// hands each page to `f` with the addresses on it, under a share lock as
    /// [`Store::read`] gives. A store may fetch a few pages before the first call (PostgreSQL
    /// pins them, then has the CPU prefetch the first `prefix` bytes of each named item), so
    /// that the memory latencies of the items overlap rather than add up.
    fn read_items(&self, addrs: &[Addr], prefix: usize, f: &mut dyn FnMut(&[Addr], &Page)) {
        let _ = prefix;
        for group in addrs.chunk_by(|a, b| a.blk == b.blk) {
            let p = self.read(group[0].blk);
            f(group, &p);
        }
    }
    /// Called between units of long work (pages of a vacuum, rows of a build): query cancel,
    /// vacuum cost delay.
    fn yield_point(&self) {}
    /// How many reads a scan may ask for ahead of the one it waits on ([`Store::prefetch`]);
    /// 0: none (a store in memory, or I/O hints turned off).
    fn io_depth(&self) -> usize {
        0
    }
    /// Asks for block `blk` to be read in the background, so that a later [`Store::read`] of
    /// it waits less (a hint: it reads nothing itself; `blk` is within the relation).
    fn prefetch(&self, blk: u32) {
        let _ = blk;
    }
}

/// The relation's length as last read: a block below it exists (an index is never truncated
/// under a reader), so only a block past it costs a new look (in PostgreSQL an `lseek`).
#[derive(Default)]
pub struct Length(std::cell::Cell<u32>);

impl Length {
    /// The length as last read (0 before the first look).
    pub fn known(&self) -> u32 {
        self.0.get()
    }

    /// Whether block `blk` exists, looking again only when it is past the length last read
    /// (a chain may reach a block appended since).
    pub fn covers<S: Store>(&self, s: &S, blk: u32) -> bool {
        if blk < self.0.get() {
            return true;
        }
        blk < self.look(s)
    }

    /// Reads the length again.
    pub fn look<S: Store>(&self, s: &S) -> u32 {
        let n = s.nblocks();
        self.0.set(n);
        n
    }
}

/// An in-memory store for tests: the "relation" is a vector of pages.
#[derive(Default)]
pub struct MemStore {
    pages: RefCell<Vec<Box<Page>>>,
    /// Count of write guards committed (WAL records, as it were).
    pub writes: std::cell::Cell<u64>,
    /// [`Store::io_depth`] (0 by default); where it is not 0, the blocks asked for with
    /// [`Store::prefetch`] and those read are logged, in order.
    pub depth: std::cell::Cell<usize>,
    pub log: RefCell<Vec<(bool, u32)>>,
}

pub struct MemRead(Box<Page>);
impl Deref for MemRead {
    type Target = Page;
    fn deref(&self) -> &Page {
        &self.0
    }
}

pub struct MemWrite<'a> {
    store: &'a MemStore,
    blk: u32,
    page: Box<Page>,
    dirty: bool,
}
impl Deref for MemWrite<'_> {
    type Target = Page;
    fn deref(&self) -> &Page {
        &self.page
    }
}
impl DerefMut for MemWrite<'_> {
    fn deref_mut(&mut self) -> &mut Page {
        self.dirty = true;
        &mut self.page
    }
}
impl Drop for MemWrite<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() || !self.dirty {
            return;
        }
        self.store.pages.borrow_mut()[self.blk as usize].copy_from_slice(&self.page[..]);
        self.store.writes.set(self.store.writes.get() + 1);
    }
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }
    /// A copy of every page, as a crash would leave them (all committed writes).
    pub fn snapshot(&self) -> Vec<Box<Page>> {
        self.pages.borrow().clone()
    }
}

impl Store for MemStore {
    type Read<'a> = MemRead;
    type Write<'a> = MemWrite<'a>;

    fn read(&self, blk: u32) -> MemRead {
        if self.depth.get() > 0 {
            self.log.borrow_mut().push((false, blk));
        }
        MemRead(self.pages.borrow()[blk as usize].clone())
    }
    fn io_depth(&self) -> usize {
        self.depth.get()
    }
    fn prefetch(&self, blk: u32) {
        assert!(
            (blk as usize) < self.pages.borrow().len(),
            "prefetch of block {blk}, past the relation"
        );
        self.log.borrow_mut().push((true, blk));
    }
    fn write(&self, blk: u32) -> MemWrite<'_> {
        let page = self.pages.borrow()[blk as usize].clone();
        MemWrite {
            store: self,
            blk,
            page,
            dirty: false,
        }
    }
    fn extend(&self) -> (u32, MemWrite<'_>) {
        let mut pages = self.pages.borrow_mut();
        pages.push(Box::new([0u8; PAGE_SIZE]));
        let blk = (pages.len() - 1) as u32;
        drop(pages);
        (
            blk,
            MemWrite {
                store: self,
                blk,
                page: Box::new([0u8; PAGE_SIZE]),
                dirty: false,
            },
        )
    }
    fn nblocks(&self) -> u32 {
        self.pages.borrow().len() as u32
    }
}
