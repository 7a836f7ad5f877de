//! Shared buffers and GenericXLog behind the index crates' [`Store`] seam.
//!
//! A read guard holds a pin and a share lock. A write guard holds a pin, an exclusive lock and
//! GenericXLog's private copy of the page: dropped after a change it finishes the record (WAL,
//! then the copy goes into the buffer, marked dirty); dropped untouched it aborts (no WAL).
//! During an unwind it does nothing: the transaction's abort releases locks and pins, and
//! the discarded copy is memory of the current context. A build's store ([`Rel::for_build`])
//! changes pages in place with no record and logs them all whole when the build is done.
use super::guard::pg_try;
use super::sys;
use std::ops::{Deref, DerefMut};
use vchord_base::page::{Addr, PAGE_SIZE, Page};
use vchord_base::store::Store;

const _: () = assert!(
    sys::BLCKSZ as usize == PAGE_SIZE,
    "vchord needs BLCKSZ = 8192"
);

/// An index relation (or one of its forks) as a page store.
#[derive(Clone, Copy)]
pub struct Rel {
    rel: sys::Relation,
    fork: sys::ForkNumber::Type,
    /// Call vacuum_delay_point at yield points (vacuum) rather than CHECK_FOR_INTERRUPTS.
    vacuum: bool,
    /// An index being built: pages change in place with no WAL, and [`Rel::log_all`] logs
    /// them whole once the build is done.
    bulk: bool,
    /// Extend a build's relation in batches of pages (see [`Rel::reserving`]).
    reserve: bool,
}

/// Pages [`Store::read_items`] pins before it reads the first.
const PINS_AT_ONCE: usize = 4;

/// The offset of line pointer `off` (from 1) in a page.
fn line_pointer(off: u16) -> usize {
    24 + 4 * (off.max(1) as usize - 1).min((PAGE_SIZE - 24) / 4 - 1)
}

/// Asks the CPU to bring the cache line at `page + at` (within the page) into its cache; a
/// hint with no effect on what is read.
#[inline(always)]
fn prefetch(page: *const Page, at: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the hint reads nothing: `at` is clamped within the page, whose address is valid.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(page.cast::<i8>().add(at.min(PAGE_SIZE - 1)));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (page, at);
}

/// The most pages added at once by a build store that reserves them.
const RESERVE_PAGES: u32 = 32;

thread_local! {
    /// Pages this process added to a build's relation and has not used yet: (relation file,
    /// fork, next, end). Per process, so each participant of a parallel build has its own.
    static RESERVED: std::cell::Cell<(u64, i32, u32, u32)> =
        const { std::cell::Cell::new((0, -1, 0, 0)) };
}

impl Rel {
    /// # Safety
    /// `rel` is an open, suitably locked relation for as long as the store is used.
    pub unsafe fn new(rel: sys::Relation) -> Rel {
        Rel {
            rel,
            fork: sys::ForkNumber::MAIN_FORKNUM,
            vacuum: false,
            bulk: false,
            reserve: false,
        }
    }
    pub fn for_vacuum(mut self) -> Rel {
        self.vacuum = true;
        self
    }
    /// The store of an index build (ambuild, its parallel workers): no one else reads or
    /// writes the index until the build commits, so page changes skip GenericXLog (a record,
    /// and a page comparison, per change) and the builder calls [`Rel::log_all`] at the end,
    /// as PostgreSQL's own GiST and SP-GiST builds do. A crash before commit leaves an index
    /// that was never visible; after it, recovery restores every page from those images.
    pub fn for_build(mut self) -> Rel {
        self.bulk = true;
        self
    }
    /// A build store whose new pages come in batches (a sixteenth of the relation, up to
    /// [`RESERVE_PAGES`]) added to the relation at once: one relation extension lock and one
    /// fallocate a batch (16+; more than 8 pages) rather than a lock and an 8 kB write of
    /// zeros a page, which parallel build participants otherwise queue for. Up to a batch
    /// less one per participant stays empty at the end (never reached; log_all skips empty
    /// pages). Only for stores that never take `nblocks() - 1` as their last page (vchordrq's
    /// lists are chains).
    pub fn reserving(mut self) -> Rel {
        debug_assert!(self.bulk);
        self.reserve = self.bulk;
        self
    }
    /// WAL-logs every page of the main fork whole (when the relation needs WAL: not for an
    /// unlogged index, nor under wal_level = minimal, where the commit syncs the file).
    pub fn log_all(self) {
        let rel = self.rel;
        // SAFETY: an open index whose build has finished writing.
        unsafe { pg_try(|| sys::vchord_shim_log_all_pages(rel)) }
    }
}

pub struct ReadGuard {
    buf: sys::Buffer,
    page: *const Page,
}

impl Deref for ReadGuard {
    type Target = Page;
    fn deref(&self) -> &Page {
        // SAFETY: the page of a buffer this guard keeps pinned and share-locked.
        unsafe { &*self.page }
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let buf = self.buf;
        // SAFETY: the guard's pin and lock, released once (errors are carried by pg_try).
        unsafe { pg_try(|| sys::UnlockReleaseBuffer(buf)) }
    }
}

pub struct WriteGuard {
    buf: sys::Buffer,
    /// GenericXLog's state; null for the init fork, whose pages are logged whole, and for a
    /// build's pages, logged whole at its end.
    state: *mut sys::GenericXLogState,
    page: *mut Page,
    dirty: bool,
    /// With no GenericXLog state: log the changed page now (the init fork).
    log_now: bool,
}

impl Deref for WriteGuard {
    type Target = Page;
    fn deref(&self) -> &Page {
        // SAFETY: GenericXLog's copy of the page (or the buffer's page), exclusively locked by
        // this guard.
        unsafe { &*self.page }
    }
}

impl DerefMut for WriteGuard {
    fn deref_mut(&mut self) -> &mut Page {
        self.dirty = true;
        // SAFETY: as `deref`; the exclusive lock makes this the page's only writer.
        unsafe { &mut *self.page }
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let (buf, state, dirty, log_now) = (self.buf, self.state, self.dirty, self.log_now);
        // SAFETY: the guard's buffer, pinned and exclusively locked; WAL is written inside a
        // critical section (no ERROR may escape it), everything else under pg_try.
        unsafe {
            if state.is_null() {
                if dirty && log_now {
                    // The page was changed in place under the exclusive lock; log it whole.
                    sys::vchord_shim_crit_enter();
                    sys::MarkBufferDirty(buf);
                    sys::log_newpage_buffer(buf, true);
                    sys::vchord_shim_crit_exit();
                }
                pg_try(|| {
                    if dirty && !log_now {
                        // a build's page: logged whole when the build ends
                        sys::MarkBufferDirty(buf);
                    }
                    sys::UnlockReleaseBuffer(buf)
                });
                return;
            }
            pg_try(|| {
                if dirty {
                    sys::GenericXLogFinish(state);
                } else {
                    sys::GenericXLogAbort(state);
                }
                sys::UnlockReleaseBuffer(buf)
            })
        }
    }
}

impl Rel {
    /// The init fork of an unlogged index (ambuildempty): every page written is WAL-logged
    /// as a full image, which GenericXLog would not do for an unlogged relation.
    ///
    /// # Safety
    /// As [`Rel::new`].
    pub unsafe fn init_fork(rel: sys::Relation) -> Rel {
        Rel {
            rel,
            fork: sys::ForkNumber::INIT_FORKNUM,
            vacuum: false,
            bulk: false,
            reserve: false,
        }
    }

    fn register(self, buf: sys::Buffer, flags: i32) -> WriteGuard {
        let rel = self.rel;
        if self.fork == sys::ForkNumber::INIT_FORKNUM || self.bulk {
            // SAFETY: a pinned buffer's page.
            let page = unsafe { sys::vchord_shim_buffer_page(buf) } as *mut Page;
            return WriteGuard {
                buf,
                state: std::ptr::null_mut(),
                page,
                dirty: false,
                log_now: !self.bulk,
            };
        }
        // SAFETY: a pinned, exclusively locked buffer of this relation.
        unsafe {
            let (state, page) = pg_try(|| {
                let state = sys::GenericXLogStart(rel);
                let page = sys::GenericXLogRegisterBuffer(state, buf, flags);
                (state, page)
            });
            WriteGuard {
                buf,
                state,
                page: page as *mut Page,
                dirty: false,
                log_now: false,
            }
        }
    }

    fn locked(self, blk: u32, mode: u32) -> sys::Buffer {
        let (rel, fork) = (self.rel, self.fork);
        // SAFETY: an open relation and a block within it (callers check, or take it from a
        // chain).
        unsafe {
            pg_try(|| {
                let buf = sys::ReadBufferExtended(
                    rel,
                    fork,
                    blk,
                    sys::ReadBufferMode::RBM_NORMAL,
                    std::ptr::null_mut(),
                );
                sys::LockBuffer(buf, mode as i32);
                buf
            })
        }
    }

    fn extend_reserved(&self) -> (u32, WriteGuard) {
        let (rel, fork) = (self.rel, self.fork);
        // SAFETY: reads the open relation's locator.
        let file = unsafe { sys::vchord_shim_rel_file(rel) };
        let (f, k, next, end) = RESERVED.get();
        if f == file && k == fork && next < end {
            RESERVED.set((f, k, next + 1, end));
            let buf = self.locked(next, sys::BUFFER_LOCK_EXCLUSIVE);
            // Another build's leftovers, were the file reused, would not be empty.
            // SAFETY: a pinned, exclusively locked buffer.
            if unsafe { sys::vchord_shim_page_is_new(buf) } {
                return (
                    next,
                    self.register(buf, sys::GENERIC_XLOG_FULL_IMAGE as i32),
                );
            }
            // SAFETY: the pin and lock taken just above.
            unsafe { pg_try(|| sys::UnlockReleaseBuffer(buf)) };
        }
        // Batches grow with the relation (a sixteenth of it, up to RESERVE_PAGES), so that a
        // small index is not rounded up to a batch.
        let want = if f == file && k == fork {
            (end / 16).clamp(1, RESERVE_PAGES)
        } else {
            1
        };
        let mut got = 0u32;
        // SAFETY: extends the open relation; errors are carried by pg_try.
        let buf = unsafe { pg_try(|| sys::vchord_shim_extend_by(rel, fork, want, &mut got)) };
        // SAFETY: a buffer pinned just above.
        let blk = unsafe { pg_try(|| sys::BufferGetBlockNumber(buf)) };
        RESERVED.set((file, fork, blk + 1, blk + got.max(1)));
        (blk, self.register(buf, sys::GENERIC_XLOG_FULL_IMAGE as i32))
    }
}

impl Store for Rel {
    type Read<'a> = ReadGuard;
    type Write<'a> = WriteGuard;

    fn read(&self, blk: u32) -> ReadGuard {
        let buf = self.locked(blk, sys::BUFFER_LOCK_SHARE);
        // SAFETY: a pinned buffer's page.
        let page = unsafe { sys::vchord_shim_buffer_page(buf) } as *const Page;
        ReadGuard { buf, page }
    }

    fn write(&self, blk: u32) -> WriteGuard {
        let buf = self.locked(blk, sys::BUFFER_LOCK_EXCLUSIVE);
        self.register(buf, 0)
    }

    fn write_full(&self, blk: u32) -> WriteGuard {
        let buf = self.locked(blk, sys::BUFFER_LOCK_EXCLUSIVE);
        self.register(buf, sys::GENERIC_XLOG_FULL_IMAGE as i32)
    }

    fn extend(&self) -> (u32, WriteGuard) {
        let (rel, fork) = (self.rel, self.fork);
        if self.reserve {
            return self.extend_reserved();
        }
        // SAFETY: extends the open relation; errors are carried by pg_try.
        let buf = unsafe { pg_try(|| sys::vchord_shim_extend(rel, fork)) };
        // SAFETY: a buffer pinned just above.
        let blk = unsafe { pg_try(|| sys::BufferGetBlockNumber(buf)) };
        (blk, self.register(buf, sys::GENERIC_XLOG_FULL_IMAGE as i32))
    }

    fn read_items(&self, addrs: &[Addr], prefix: usize, f: &mut dyn FnMut(&[Addr], &Page)) {
        // cache lines of an item to prefetch: at least one, at most eight
        let lines = prefix.div_ceil(64).clamp(1, 8);
        // Blocks not in shared buffers are asked of the kernel up to io_depth ahead of the
        // round being read, so their reads overlap.
        let depth = self.io_depth();
        let mut hinted = addrs.chunk_by(|a, b| a.blk == b.blk).map(|g| g[0].blk);
        let mut hinted_n = 0usize;
        let mut read_n = 0usize;
        let mut groups = addrs.chunk_by(|a, b| a.blk == b.blk).peekable();
        while groups.peek().is_some() {
            while depth > 0 && hinted_n < read_n + PINS_AT_ONCE + depth {
                match hinted.next() {
                    Some(blk) => self.prefetch(blk),
                    None => break,
                }
                hinted_n += 1;
            }
            // A few pages at a time: a backend keeps its first 8 pins in an array and the
            // rest in a hash table, which costs more than the overlap gains.
            let mut round: [&[Addr]; PINS_AT_ONCE] = [&[]; PINS_AT_ONCE];
            let mut n = 0;
            for g in groups.by_ref().take(PINS_AT_ONCE) {
                round[n] = g;
                n += 1;
            }
            let round = &round[..n];
            read_n += n;
            let mut bufs = [0 as sys::Buffer; PINS_AT_ONCE];
            let (rel, fork) = (self.rel, self.fork);
            // SAFETY: blocks of this relation (the caller's addresses are sorted and within it).
            unsafe {
                pg_try(|| {
                    for (i, g) in round.iter().enumerate() {
                        bufs[i] = sys::ReadBufferExtended(
                            rel,
                            fork,
                            g[0].blk,
                            sys::ReadBufferMode::RBM_NORMAL,
                            std::ptr::null_mut(),
                        );
                    }
                })
            };
            let mut pages = [std::ptr::null::<Page>(); PINS_AT_ONCE];
            for (i, g) in round.iter().enumerate() {
                // SAFETY: a buffer pinned just above.
                pages[i] = unsafe { sys::vchord_shim_buffer_page(bufs[i]) } as *const Page;
                for a in g.iter() {
                    prefetch(pages[i], line_pointer(a.off));
                }
            }
            // Before the lock, the line pointers are only hints: a stale one makes a useless
            // prefetch, never a wrong read (the items are read under the lock below).
            for (i, g) in round.iter().enumerate() {
                for a in g.iter() {
                    // SAFETY: a volatile read of a line pointer of a pinned page, within the
                    // page: its value is only a prefetch hint (the items are read under the lock
                    // below).
                    let lp = unsafe {
                        std::ptr::read_volatile(
                            pages[i].cast::<u8>().add(line_pointer(a.off)).cast::<u32>(),
                        )
                    };
                    let (at, len) = ((lp & 0x7FFF) as usize, (lp >> 17) as usize);
                    if (lp >> 15) & 3 == 1 {
                        // the lines the item's first `prefix` bytes touch (within the item)
                        let end = at + len.min(lines * 64).max(1);
                        for line in (at & !63..end).step_by(64) {
                            prefetch(pages[i], line);
                        }
                    }
                }
            }
            for (i, g) in round.iter().enumerate() {
                let buf = bufs[i];
                // SAFETY: a buffer pinned above; the lock is released below.
                unsafe { pg_try(|| sys::LockBuffer(buf, sys::BUFFER_LOCK_SHARE as i32)) };
                // SAFETY: the page of a pinned, share-locked buffer, for the duration of the
                // call.
                f(g, unsafe { &*pages[i] });
                // SAFETY: the pin and lock taken above.
                unsafe { pg_try(|| sys::UnlockReleaseBuffer(buf)) };
            }
        }
    }

    fn io_depth(&self) -> usize {
        if self.fork != sys::ForkNumber::MAIN_FORKNUM {
            return 0;
        }
        // SAFETY: reads a GUC's variable.
        unsafe { sys::vchord_shim_io_concurrency() }.max(0) as usize
    }

    fn prefetch(&self, blk: u32) {
        let rel = self.rel;
        // SAFETY: an open relation's main fork and a block within it (the caller's).
        unsafe { pg_try(|| sys::vchord_shim_prefetch(rel, blk)) };
    }

    fn nblocks(&self) -> u32 {
        let (rel, fork) = (self.rel, self.fork);
        // SAFETY: the size of an open relation's fork.
        unsafe { pg_try(|| sys::vchord_shim_nblocks(rel, fork)) }
    }

    fn yield_point(&self) {
        if self.vacuum {
            // SAFETY: vacuum's cost delay, from a vacuum's callback.
            unsafe { pg_try(|| sys::vchord_shim_vacuum_delay()) }
        } else {
            super::guard::check_for_interrupts();
        }
    }
}
