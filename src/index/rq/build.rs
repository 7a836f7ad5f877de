//! ambuild and ambuildempty.
//!
//! A build scans the table twice. The first scan draws a reservoir sample of live rows (only
//! rows visible to the build's snapshot: a dead row's value is never read, so missing TOAST
//! cannot fail a build); k-means over the sample gives the lists; the second scan routes
//! every row the index must hold (recently dead ones too) to its list.
//!
//! On PostgreSQL 17 and later the second scan is parallel when the planner gives the build
//! workers (max_parallel_maintenance_workers, the table's parallel_workers): the leader and
//! each worker join one parallel table scan, and participant `i` appends to chain `i` of
//! every list, so participants never wait on each other's pages. The centroids come to the
//! workers in shared memory, not through the buffer manager.
use super::*;
use crate::pg::buffer::Rel;
use crate::pg::guard::report;
use crate::pg::memcxt::TempContext;
use vchord_ivf::{Meta, Router, Writer};
use vchord_kmeans::{Matrix, Params};
use vchord_rabitq::{Rng, Rotation};

const SEED: u64 = 0x5EED_0F_1157;

/// Rows of `dims` dimensions the sample may hold: most of maintenance_work_mem (`mem` bytes);
/// the rest is k-means' own state.
fn sample_budget(mem: u64, dims: u32) -> u64 {
    (mem * 3 / 4 / (dims.max(1) as u64 * 4 + 16)).max(1)
}

struct SampleState {
    elem: Elem,
    metric: Metric,
    dims: u32,
    capacity: usize,
    /// Rows the table is expected to give (its statistics), for the sample's first allocation.
    expected: usize,
    mem: u64,
    sample: Matrix,
    seen: u64,
    rng: Rng,
    cxt: TempContext,
}

unsafe extern "C-unwind" fn sample_callback(
    _index: sys::Relation,
    tid: sys::ItemPointer,
    values: *mut sys::Datum,
    isnull: *mut bool,
    alive: bool,
    state: *mut c_void,
) {
    unsafe {
        boundary(|| {
            let st = &mut *(state as *mut SampleState);
            // Never read a row the snapshot cannot see: its TOAST may be gone.
            if *isnull || !alive {
                return;
            }
            st.seen += 1;
            if st.seen % 1024 == 0 {
                crate::pg::check_for_interrupts();
            }
            // Reservoir sampling: keep the row with probability capacity / seen.
            let slot = if st.sample.len() < st.capacity {
                None
            } else {
                let j = st.rng.below(st.seen) as usize;
                if j >= st.capacity {
                    return;
                }
                Some(j)
            };
            let d = *values;
            let (elem, metric) = (st.elem, st.metric);
            let SampleState {
                cxt,
                sample,
                dims,
                capacity,
                mem,
                expected,
                ..
            } = st;
            // Straight from the row into the sample (no copy in between for a vector).
            let row = cxt.run(|| {
                with_key_floats(elem, d, |v| {
                    if *dims == 0 {
                        // No typmod: the first row tells the dimensions, and so the memory per row.
                        *dims = v.len() as u32;
                        *capacity = (*capacity).min(sample_budget(*mem, *dims) as usize);
                        *sample = Matrix::with_capacity(v.len(), (*capacity).min(*expected));
                    }
                    check_row_dims(*dims, v.len(), tid);
                    match slot {
                        None => {
                            sample.push(v);
                            sample.len() - 1
                        }
                        Some(j) => {
                            sample.row_mut(j).copy_from_slice(v);
                            j
                        }
                    }
                })
            });
            if metric == Metric::Cos {
                vchord_kmeans::normalize(st.sample.row_mut(row));
            }
        })
    }
}

/// A participant of the insert phase (the only one, in a serial build).
struct InsertState {
    elem: Elem,
    store: Rel,
    meta: Meta,
    rot: std::sync::Arc<Rotation>,
    router: Router,
    /// The chain of every list this participant appends to, alone.
    chain: usize,
    done: i64,
    /// Rows not yet added to the shared count (parallel builds).
    unshared: u64,
    /// The parallel build's shared state, or null.
    #[cfg_attr(not(pg_ge17), allow(dead_code))]
    shared: *mut c_void,
    /// Reports progress (the leader, or a serial build).
    leader: bool,
    /// Each list's codes waiting to fill a fast-scan block, or none where the blocks of
    /// every list would take more than this participant's share of maintenance_work_mem
    /// (then codes go in one by one, and vacuum packs them later).
    batches: Option<Vec<Vec<Vec<u8>>>>,
    cxt: TempContext,
}

impl InsertState {
    fn new(elem: Elem, store: Rel, meta: Meta, mut router: Router, chain: usize) -> InsertState {
        let lists = router.leaves().len();
        let participants = router.leaves().first().map_or(1, |l| l.chains.len().max(1));
        let mem = unsafe { sys::vchord_shim_maintenance_work_mem() } as u64 * 1024;
        let need = lists as u64 * (meta.batch_bytes() as u64 + 32 * 48);
        let batches = (meta.block_len().is_some() && need <= mem / 2 / participants as u64)
            .then(|| vec![vec![]; lists]);
        InsertState {
            batches,
            elem,
            store,
            rot: meta.rotation(),
            meta,
            router,
            chain,
            done: 0,
            unshared: 0,
            shared: std::ptr::null_mut(),
            leader: true,
            cxt: TempContext::new(c"vchordrq build"),
        }
    }

    /// Counts the rows since the last call; reports the total (of every participant) to
    /// pg_stat_progress_create_index when this is the leader.
    fn count(&mut self) {
        #[cfg(pg_ge17)]
        if !self.shared.is_null() {
            let n = std::mem::take(&mut self.unshared);
            let total =
                unsafe { pg_try(|| sys::vchord_shim_parallel_add_rows(self.shared.cast(), n)) };
            if self.leader {
                progress(sys::PROGRESS_CREATEIDX_TUPLES_DONE, total as i64);
            }
            return;
        }
        if self.leader {
            progress(sys::PROGRESS_CREATEIDX_TUPLES_DONE, self.done);
        }
    }

    /// The end of this participant's scan: the tails of its chains go to the centroids.
    fn finish(&mut self) {
        self.count();
        if let Some(batches) = &mut self.batches {
            for (leaf, batch) in self.router.leaves().iter_mut().zip(batches) {
                vchord_ivf::flush_batch(&self.store, &self.meta, leaf, self.chain, batch);
            }
        }
        vchord_ivf::store_tails(&self.store, self.router.leaves(), self.chain);
    }
}

unsafe extern "C-unwind" fn insert_callback(
    _index: sys::Relation,
    tid: sys::ItemPointer,
    values: *mut sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut c_void,
) {
    unsafe {
        boundary(|| {
            let st = &mut *(state as *mut InsertState);
            if *isnull {
                return;
            }
            let d = *values;
            let elem = st.elem;
            let (v, bytes) = st.cxt.run(|| read_key(elem, d));
            check_row_dims(st.meta.dims, v.len(), tid);
            let x = vchord_ivf::prepare(&st.meta, &st.rot, &v);
            let leaf = st.router.route(st.meta.metric, &x);
            let l = &mut st.router.leaves()[leaf];
            match &mut st.batches {
                Some(b) => vchord_ivf::insert_batched(
                    &st.store,
                    &st.meta,
                    l,
                    st.chain,
                    &x,
                    &bytes,
                    tid_of(&*tid),
                    &mut b[leaf],
                ),
                None => vchord_ivf::insert(
                    &st.store,
                    &st.meta,
                    l,
                    st.chain,
                    Writer::Owner,
                    &x,
                    &bytes,
                    tid_of(&*tid),
                ),
            }
            st.done += 1;
            st.unshared += 1;
            if st.done % 256 == 0 {
                crate::pg::check_for_interrupts();
                st.count();
            }
        })
    }
}

pub unsafe extern "C-unwind" fn ambuild(
    heap: sys::Relation,
    index: sys::Relation,
    info: *mut sys::IndexInfo,
) -> *mut sys::IndexBuildResult {
    unsafe { boundary(|| build(heap, index, info)) }
}

fn build(
    heap: sys::Relation,
    index: sys::Relation,
    info: *mut sys::IndexInfo,
) -> *mut sys::IndexBuildResult {
    let store = new_index_store(index).reserving();
    let (elem, metric) = opclass_of(index);
    let opts: Options = index_options(index);
    let typmod = unsafe { sys::vchord_shim_index_typmod(index) };
    let i = &opts.build.internal;

    // 1. Sample.
    let t0 = std::time::Instant::now();
    progress(sys::PROGRESS_CREATEIDX_SUBPHASE, super::PHASE_SAMPLE);
    let dims0 = if typmod > 0 { typmod as u32 } else { 0 };
    let reltuples = table_rows(heap) as u64;
    // The sample k-means will use: `sampling_factor` rows per leaf list. Without a set list
    // count the lists follow the row count, known only after the scan: the table's estimate
    // plus a tenth (fresh memory is slow to fault in; a larger table gets a few rows fewer
    // per list, which k-means does not notice).
    let wanted = match i.lists.last() {
        Some(&l) => l as u64 * i.sampling_factor as u64,
        None => options::auto_lists(reltuples.max(1)) as u64 * i.sampling_factor as u64 * 11 / 10,
    }
    .max(1);
    let mem = unsafe { sys::vchord_shim_maintenance_work_mem() } as u64 * 1024;
    let capacity = wanted.min(sample_budget(mem, dims0)).min(1 << 24) as usize;
    // Room for the whole sample at once (a little over the table's estimate of its rows).
    let expected = (reltuples + reltuples / 8 + 1024).min(usize::MAX as u64) as usize;
    let mut st = SampleState {
        elem,
        metric,
        dims: dims0,
        capacity,
        expected,
        mem,
        sample: Matrix::with_capacity(dims0.max(1) as usize, capacity.min(expected)),
        seen: 0,
        rng: Rng::new(SEED),
        cxt: TempContext::new(c"vchordrq sample"),
    };
    // Where the build has a second thread, it faults the sample's memory in while the scan
    // fills it (100+ MiB of fresh pages took a tenth of the phase on their own).
    let threads = build_threads(
        i.build_threads,
        cfg!(pg_ge17).then(|| planned_workers(info)),
    );
    let helper = (threads > 1 && st.sample.data.capacity() > 0).then(|| {
        let d = &st.sample.data;
        populate(d.as_ptr() as usize, d.capacity() * 4)
    });
    let stp: *mut SampleState = &raw mut st;
    unsafe {
        pg_try(|| sys::vchord_shim_build_scan(heap, index, info, Some(sample_callback), stp.cast()))
    };
    // (On an error the helper is left to finish alone: it cannot harm the freed memory.)
    if let Some(h) = helper {
        let _ = h.join();
    }
    if st.dims == 0 {
        Error::new(
            ERRCODE_DATA_EXCEPTION,
            "column does not have dimensions",
        )
        .hint("Declare the column with dimensions, as in vector(768), or build the index after loading rows.")
        .raise();
    }
    let dims = st.dims;
    if dims as usize > 16000 {
        error(
            ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("vchordrq indexes at most 16000 dimensions, not {dims}"),
        );
    }
    let rows = st.seen;
    let mut lists: Vec<u32> = if i.lists.is_empty() {
        vec![options::auto_lists(rows)]
    } else {
        i.lists.clone()
    };
    if rows > 0 && *lists.last().unwrap() as u64 > rows {
        // A list per row at most (levels above keep fewer than the one below).
        let last = rows as u32;
        let asked = lists.clone();
        lists.retain(|&l| l < last);
        lists.push(last);
        report(
            sys::NOTICE,
            &format!(
                "vchordrq: {} lists asked for {rows} rows; building {:?}",
                asked.last().unwrap(),
                lists
            ),
        );
    }
    let leaf = *lists.last().unwrap() as u64;
    let need = leaf * i.sampling_factor as u64;
    let mut sample = std::mem::replace(&mut st.sample, Matrix::new(1));
    let budget = sample_budget(mem, dims);
    if need > budget && rows > budget {
        report(
            sys::NOTICE,
            &format!(
                "vchordrq: k-means samples {} rows instead of {} to stay within maintenance_work_mem ({} kB)",
                sample.len(),
                need.min(rows),
                mem / 1024
            ),
        );
    }
    if sample.len() as u64 > need {
        // A uniform subset of the reservoir.
        let mut rng = Rng::new(SEED ^ 1);
        let n = sample.len();
        let k = need as usize;
        for j in 0..k {
            let r = j + rng.below((n - j) as u64) as usize;
            if r != j {
                // r > j: swap rows j and r in place.
                let d = dims as usize;
                let (lo, hi) = sample.data.split_at_mut(r * d);
                lo[j * d..(j + 1) * d].swap_with_slice(&mut hi[..d]);
            }
        }
        sample.data.truncate(k * dims as usize);
    }
    drop(st);

    // 2. k-means.
    let t1 = std::time::Instant::now();
    progress(sys::PROGRESS_CREATEIDX_SUBPHASE, super::PHASE_KMEANS);
    let spherical = i.spherical_centroids.unwrap_or(!metric.euclidean());
    let tree = if sample.is_empty() {
        // No rows: one list around the origin; REINDEX after loading gives real lists.
        let mut m = Matrix::new(dims as usize);
        m.push(&vec![0f32; dims as usize]);
        vchord_kmeans::Tree {
            levels: vec![m],
            parents: vec![],
        }
    } else {
        let ls: Vec<usize> = lists.iter().map(|&l| l as usize).collect();
        let p = Params {
            iterations: i.kmeans_iterations as usize,
            spherical,
            threads,
            seed: SEED,
            on_thread: Some(block_signals),
        };
        vchord_kmeans::hierarchy(&sample, &ls, p, &mut |_, _| {
            crate::pg::check_for_interrupts();
            true
        })
    };
    drop(sample);

    // 3. The skeleton, then every row.
    let t2 = std::time::Instant::now();
    let meta = Meta {
        dims,
        metric,
        elem,
        residual: opts.residual_quantization,
        lists,
        root: 0,
        probes: opts.search.probes.clone(),
        epsilon: opts.search.epsilon.map(|e| e as f32),
        max_scan_tuples: opts.search.max_scan_tuples.map(|m| m as i32),
        rerank_in_table: opts.rerank_in_table,
        bits: opts.bits.unwrap_or(options::default_bits(dims)),
        generation: 0,
    };
    // Participant i of the insert phase appends to chain i of every list.
    let workers = planned_workers(info);
    let (meta, router) = vchord_ivf::create(&store, meta, &tree, false, workers + 1);
    progress(sys::PROGRESS_CREATEIDX_SUBPHASE, super::PHASE_INSERT);
    progress(sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, rows as i64);
    let mut ist = InsertState::new(elem, store, meta, router, 0);
    let (reltuples, indtuples, participants) = insert_rows(heap, index, info, &mut ist, workers);
    drop(ist);
    let t3 = std::time::Instant::now();
    super::super::log_built_index(index);
    report(
        sys::DEBUG1,
        &format!(
            "vchordrq build: sample {:.2} s, k-means {:.2} s ({} threads), insert {:.2} s ({} rows, {} participants), WAL {:.2} s",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            threads,
            (t3 - t2).as_secs_f64(),
            indtuples,
            participants,
            t3.elapsed().as_secs_f64()
        ),
    );
    build_result(reltuples, indtuples)
}

/// A thread that faults in `len` bytes at `addr` for writing, leaving what they hold alone
/// (MADV_POPULATE_WRITE, Linux 5.14+; elsewhere it does nothing and the writer faults them).
/// Harmless whatever the memory has become meanwhile: the contents never change.
fn populate(addr: usize, len: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        block_signals();
        #[cfg(target_os = "linux")]
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

/// The workers the planner gave this build (plan_create_index_workers: 0 before 17).
fn planned_workers(info: *mut sys::IndexInfo) -> usize {
    #[cfg(pg_ge17)]
    {
        let n = unsafe { sys::vchord_shim_build_workers(info) }.max(0) as usize;
        n.min(vchord_ivf::MAX_CHAINS - 1)
    }
    #[cfg(not(pg_ge17))]
    {
        let _ = info;
        0
    }
}

/// The second scan: every row to its list. Returns heap tuples seen, rows indexed and the
/// number of participants.
fn insert_rows(
    heap: sys::Relation,
    index: sys::Relation,
    info: *mut sys::IndexInfo,
    ist: &mut InsertState,
    workers: usize,
) -> (f64, f64, usize) {
    let ip: *mut InsertState = ist;
    #[cfg(pg_ge17)]
    if workers > 0 {
        let t0 = std::time::Instant::now();
        let payload = ist.router.to_bytes();
        let concurrent = unsafe { sys::vchord_shim_build_concurrent(info) };
        let p = unsafe {
            pg_try(|| {
                sys::vchord_shim_parallel_begin(
                    heap,
                    index,
                    concurrent,
                    workers as c_int,
                    c"vchordrq_parallel_build_main".as_ptr(),
                    payload.as_ptr().cast(),
                    payload.len(),
                )
            })
        };
        drop(payload);
        if !p.is_null() {
            // The leader takes part as participant 0.
            let shared = unsafe { sys::vchord_shim_parallel_shared(p) };
            let participants = unsafe { sys::vchord_shim_parallel_participants(p) } as usize;
            ist.shared = shared.cast();
            let t1 = std::time::Instant::now();
            // With a worker for every core, the leader scanning too would only make the
            // processes take turns on the cores (on 2 cores, 2 workers alone index MiniLM's
            // rows in 1.0 s; with the leader, 1.2 s): it waits, and reports progress.
            let scans = participants - 1 < cores();
            let reltuples = if scans {
                unsafe {
                    pg_try(|| {
                        sys::vchord_shim_parallel_scan(
                            heap,
                            index,
                            shared,
                            Some(insert_callback),
                            ip.cast(),
                            true,
                        )
                    })
                }
            } else {
                0.0
            };
            ist.finish();
            let t2 = std::time::Instant::now();
            let done = ist.done as f64;
            let (mut rt, mut it) = (0f64, 0f64);
            unsafe {
                pg_try(|| sys::vchord_shim_parallel_done(shared, reltuples, done));
                pg_try(|| sys::vchord_shim_parallel_end(p, &mut rt, &mut it));
            }
            progress(sys::PROGRESS_CREATEIDX_TUPLES_DONE, it as i64);
            // Every participant left a partly filled code page in each list.
            let t3 = std::time::Instant::now();
            vchord_ivf::pack_tails(&ist.store, &ist.meta).or_corrupt(index);
            report(
                sys::DEBUG1,
                &format!(
                    "vchordrq parallel insert: launch {:.2} s, leader's scan {:.2} s ({} rows{}), waiting {:.2} s, packing {:.2} s",
                    (t1 - t0).as_secs_f64(),
                    (t2 - t1).as_secs_f64(),
                    ist.done,
                    if scans {
                        ""
                    } else {
                        ", not scanning: a worker per core"
                    },
                    (t3 - t2).as_secs_f64(),
                    t3.elapsed().as_secs_f64()
                ),
            );
            return (rt, it, participants);
        }
    }
    let _ = workers;
    let reltuples = unsafe {
        pg_try(|| sys::vchord_shim_build_scan(heap, index, info, Some(insert_callback), ip.cast()))
    };
    ist.finish();
    (reltuples, ist.done as f64, 1)
}

/// A parallel build's worker (PostgreSQL starts it by this name in this library): joins the
/// table scan as participant 1 + its worker number, with the centroids from shared memory.
#[cfg(pg_ge17)]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vchordrq_parallel_build_main(
    _seg: *mut sys::dsm_segment,
    toc: *mut sys::shm_toc,
) {
    unsafe { boundary(|| parallel_worker(toc)) }
}

#[cfg(pg_ge17)]
fn parallel_worker(toc: *mut sys::shm_toc) {
    let mut w = std::mem::MaybeUninit::<sys::VchordWorker>::zeroed();
    let wp = w.as_mut_ptr();
    unsafe { pg_try(|| sys::vchord_shim_worker_begin(toc, wp)) };
    let w = unsafe { w.assume_init() };
    let payload = unsafe { std::slice::from_raw_parts(w.payload.cast::<u8>(), w.payload_len) };
    let Some(router) = Router::from_bytes(payload) else {
        error(
            ERRCODE_INTERNAL_ERROR,
            "vchordrq: a parallel build worker found unreadable shared state",
        );
    };
    let t0 = std::time::Instant::now();
    let store = unsafe { Rel::new(w.index) }.for_build().reserving();
    let meta = vchord_ivf::read_meta(&store).or_corrupt(w.index);
    let (elem, _) = opclass_of(w.index);
    let mut st = InsertState::new(elem, store, meta, router, w.participant as usize);
    st.shared = w.shared.cast();
    st.leader = false;
    let stp: *mut InsertState = &raw mut st;
    let reltuples = unsafe {
        pg_try(|| {
            sys::vchord_shim_parallel_scan(
                w.heap,
                w.index,
                w.shared,
                Some(insert_callback),
                stp.cast(),
                false,
            )
        })
    };
    st.finish();
    let done = st.done as f64;
    drop(st);
    report(
        sys::DEBUG1,
        &format!(
            "vchordrq parallel build: worker {} indexed {} rows in {:.2} s",
            w.participant,
            done,
            t0.elapsed().as_secs_f64()
        ),
    );
    let wp: *const sys::VchordWorker = &w;
    unsafe {
        pg_try(|| sys::vchord_shim_parallel_done(w.shared, reltuples, done));
        pg_try(|| sys::vchord_shim_worker_end(wp.cast_mut()));
    }
}

/// The init fork of an unlogged index: an empty copy of the main fork's skeleton (ambuild has
/// run), so that after a crash resets the index it keeps its lists.
pub unsafe extern "C-unwind" fn ambuildempty(index: sys::Relation) {
    unsafe {
        boundary(|| {
            let main = Rel::new(index);
            let (meta, tree, chains) = vchord_ivf::skeleton(&main).or_corrupt(index);
            let init = Rel::init_fork(index);
            vchord_ivf::create(&init, meta, &tree, true, chains);
        })
    }
}
