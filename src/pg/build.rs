//! What index builds need of the server: the table scan that hands each row to a Rust closure
//! (serial, or joined by the participants of a parallel build on PostgreSQL 17+), build
//! settings, and threads that keep away from the backend's signals.
use super::am::{IndexInfo, tid_of};
use super::guard::{boundary, pg_try};
use super::rel::Relation;
use super::sys;
use std::ffi::c_void;
use vchord_base::page::Addr;

/// A row of a build's table scan.
pub struct Row<'a> {
    pub tid: Addr,
    /// Whether the row is visible to the build's snapshot (a recently dead row is not, and its
    /// TOAST may be gone: never read it).
    pub alive: bool,
    values: &'a [sys::Datum],
    isnull: &'a [bool],
}

impl Row<'_> {
    /// Key column `i`'s datum (from 0), `None` for NULL.
    pub fn value(&self, i: usize) -> Option<sys::Datum> {
        (!self.isnull[i]).then(|| self.values[i])
    }
}

/// What the scan callback is given: the closure and the number of key columns.
struct Visit<'a> {
    each: &'a mut dyn FnMut(&Row),
    natts: usize,
}

unsafe extern "C-unwind" fn visit(
    _index: sys::Relation,
    tid: sys::ItemPointer,
    values: *mut sys::Datum,
    isnull: *mut bool,
    alive: bool,
    state: *mut c_void,
) {
    // SAFETY: `state` is the Visit the scan was started with; `values` and `isnull` hold one
    // entry per key column.
    unsafe {
        boundary(|| {
            let v = &mut *(state as *mut Visit);
            let row = Row {
                tid: tid_of(&*tid),
                alive,
                values: std::slice::from_raw_parts(values, v.natts),
                isnull: std::slice::from_raw_parts(isnull, v.natts),
            };
            (v.each)(&row)
        })
    }
}

/// Runs `scan` with the callback argument that hands each row of `index` to `each`, alive for
/// the whole scan.
fn visiting(
    index: Relation,
    each: &mut dyn FnMut(&Row),
    scan: impl FnOnce(*mut c_void) -> f64,
) -> f64 {
    let mut v = Visit {
        each,
        natts: index.natts(),
    };
    let vp: *mut Visit = &raw mut v;
    scan(vp.cast())
}

/// Scans `heap` for a build of `index` (table_index_build_scan), handing every row the index
/// must hold to `each`; returns the heap tuples seen.
pub fn table_scan(
    heap: Relation,
    index: Relation,
    info: IndexInfo,
    each: &mut dyn FnMut(&Row),
) -> f64 {
    let (h, i) = (heap.raw(), index.raw());
    visiting(index, each, |arg| {
        // SAFETY: open relations and the build's IndexInfo; `arg` outlives the scan.
        unsafe { pg_try(|| sys::vchord_shim_build_scan(h, i, info.0, Some(visit), arg)) }
    })
}

/// maintenance_work_mem, in bytes.
pub fn maintenance_work_mem() -> u64 {
    // SAFETY: reads a GUC.
    unsafe { sys::vchord_shim_maintenance_work_mem() }.max(0) as u64 * 1024
}

/// max_parallel_maintenance_workers.
pub fn max_parallel_maintenance_workers() -> usize {
    // SAFETY: reads a GUC.
    unsafe { sys::vchord_shim_max_parallel_maintenance_workers() }.max(0) as usize
}

/// Signals belong to the backend's own thread: build threads block them all.
pub fn block_signals() {
    // SAFETY: changes only this thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// A thread that faults in the memory of `v`'s spare capacity and contents for writing,
/// leaving what it holds alone (MADV_POPULATE_WRITE, Linux 5.14+; elsewhere it does
/// nothing and the writer faults the pages). Harmless whatever the memory has become
/// meanwhile: the contents never change, and the range is only advised, never accessed.
pub fn populate(v: &Vec<f32>) -> std::thread::JoinHandle<()> {
    let (addr, len) = (v.as_ptr() as usize, v.capacity() * 4);
    std::thread::spawn(move || {
        block_signals();
        #[cfg(target_os = "linux")]
        // SAFETY: madvise only advises on the range (its pages stay mapped by the allocator
        // or become unmapped, either way the call cannot corrupt memory).
        unsafe {
            let start = addr & !4095;
            libc::madvise(
                start as *mut libc::c_void,
                len + (addr - start),
                libc::MADV_POPULATE_WRITE,
            );
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (addr, len);
    })
}

#[cfg(pg_ge17)]
pub use parallel::*;

/// Parallel builds (PostgreSQL 17+): see `vchord_shim_parallel_begin` in the shim.
#[cfg(pg_ge17)]
mod parallel {
    use super::*;
    use std::ffi::{CStr, c_int};

    /// A parallel build's shared state, in the DSM segment every participant maps.
    #[derive(Clone, Copy)]
    pub struct Shared(*mut sys::VchordShared);

    impl Shared {
        /// Adds `n` to the rows all participants indexed; returns the new total.
        pub fn add_rows(self, n: u64) -> u64 {
            let s = self.0;
            // SAFETY: the shared state, under its spinlock.
            unsafe { pg_try(|| sys::vchord_shim_parallel_add_rows(s, n)) }
        }

        /// Joins the parallel table scan, handing each row to `each` (the leader reports
        /// the scan's progress); returns the heap tuples this participant saw.
        pub fn scan(
            self,
            heap: Relation,
            index: Relation,
            leader: bool,
            each: &mut dyn FnMut(&Row),
        ) -> f64 {
            let (h, i, s) = (heap.raw(), index.raw(), self.0);
            visiting(index, each, |arg| {
                // SAFETY: open relations and the shared state; `arg` outlives the scan.
                unsafe {
                    pg_try(|| sys::vchord_shim_parallel_scan(h, i, s, Some(visit), arg, leader))
                }
            })
        }

        /// This participant is done: its counts go to the totals.
        pub fn done(self, reltuples: f64, indtuples: f64) {
            let s = self.0;
            // SAFETY: the shared state.
            unsafe { pg_try(|| sys::vchord_shim_parallel_done(s, reltuples, indtuples)) }
        }
    }

    /// A parallel build the leader began.
    pub struct Parallel(*mut sys::VchordParallel);

    /// Launches up to `workers` workers running the library function `entry` (a
    /// `#[no_mangle]` function of this library, see [`Worker`]), with `payload` in shared
    /// memory. `None` when none could be launched (build serially then).
    pub fn begin(
        heap: Relation,
        index: Relation,
        info: IndexInfo,
        workers: usize,
        entry: &'static CStr,
        payload: &[u8],
    ) -> Option<Parallel> {
        let (h, i) = (heap.raw(), index.raw());
        // SAFETY: open relations, the build's IndexInfo; the payload is copied into the DSM.
        let p = unsafe {
            let concurrent = sys::vchord_shim_build_concurrent(info.0);
            pg_try(|| {
                sys::vchord_shim_parallel_begin(
                    h,
                    i,
                    concurrent,
                    workers as c_int,
                    entry.as_ptr(),
                    payload.as_ptr().cast(),
                    payload.len(),
                )
            })
        };
        (!p.is_null()).then_some(Parallel(p))
    }

    impl Parallel {
        pub fn shared(&self) -> Shared {
            // SAFETY: a live parallel build.
            Shared(unsafe { sys::vchord_shim_parallel_shared(self.0) })
        }

        /// Workers launched, plus the leader.
        pub fn participants(&self) -> usize {
            // SAFETY: a live parallel build.
            unsafe { sys::vchord_shim_parallel_participants(self.0) }.max(1) as usize
        }

        /// Waits for every participant and ends parallel mode; returns the totals (heap
        /// tuples, index tuples).
        pub fn end(self) -> (f64, f64) {
            let (mut rt, mut it) = (0f64, 0f64);
            let p = self.0;
            // SAFETY: a live parallel build, ended once (this consumes it).
            unsafe { pg_try(|| sys::vchord_shim_parallel_end(p, &mut rt, &mut it)) };
            (rt, it)
        }
    }

    /// What a parallel build's worker finds: the relations, the shared state, its
    /// participant number and the leader's payload.
    pub struct Worker {
        raw: sys::VchordWorker,
    }

    impl Worker {
        /// Joins the build from a worker's entry point.
        ///
        /// # Safety
        /// `toc` is the table of contents PostgreSQL passed the entry point.
        pub unsafe fn begin(toc: *mut sys::shm_toc) -> Worker {
            let mut w = std::mem::MaybeUninit::<sys::VchordWorker>::zeroed();
            let wp = w.as_mut_ptr();
            // SAFETY: the shim fills every field.
            unsafe {
                pg_try(|| sys::vchord_shim_worker_begin(toc, wp));
                Worker {
                    raw: w.assume_init(),
                }
            }
        }

        pub fn heap(&self) -> Relation {
            // SAFETY: opened by worker_begin, closed by `end`.
            unsafe { Relation::from_raw(self.raw.heap) }
        }

        pub fn index(&self) -> Relation {
            // SAFETY: as `heap`.
            unsafe { Relation::from_raw(self.raw.index) }
        }

        pub fn shared(&self) -> Shared {
            Shared(self.raw.shared)
        }

        /// 1 + the worker's number (the leader is participant 0).
        pub fn participant(&self) -> usize {
            self.raw.participant.max(0) as usize
        }

        /// The leader's payload.
        pub fn payload(&self) -> &[u8] {
            // SAFETY: payload_len bytes in the DSM segment, mapped while the worker runs.
            unsafe {
                std::slice::from_raw_parts(self.raw.payload.cast::<u8>(), self.raw.payload_len)
            }
        }

        /// Closes the relations.
        pub fn end(mut self) {
            let wp: *mut sys::VchordWorker = &raw mut self.raw;
            // SAFETY: begun by `begin`, ended once (this consumes it).
            unsafe { pg_try(|| sys::vchord_shim_worker_end(wp)) };
        }
    }

    /// vchordrq's parallel build worker (PostgreSQL starts it by this name in this library).
    ///
    /// # Safety
    /// Called by PostgreSQL's parallel worker startup with the build's DSM table of contents.
    #[unsafe(no_mangle)]
    pub unsafe extern "C-unwind" fn vchordrq_parallel_build_main(
        _seg: *mut sys::dsm_segment,
        toc: *mut sys::shm_toc,
    ) {
        // SAFETY: PostgreSQL passes the parallel context's table of contents.
        unsafe { boundary(|| crate::index::rq::parallel_worker(Worker::begin(toc))) }
    }
}
