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
use crate::pg::build::{Row, populate, table_scan};
use crate::pg::guard::report;
use crate::pg::memcxt::TempContext;
use vchord_ivf::{Meta, Participant, Router, Sampler, sample_budget};
use vchord_kmeans::Params;

/// The first scan's state.
struct SampleState {
    elem: Elem,
    dims: u32,
    /// Rows the table is expected to give (its statistics), for the sample's first allocation.
    expected: usize,
    mem: u64,
    sampler: Sampler,
    cxt: TempContext,
}

/// The first scan's visit of a row: reservoir sampling ([`Sampler`]).
fn sample_row(st: &mut SampleState, row: &Row) {
    // Never read a row the snapshot cannot see: its TOAST may be gone.
    let Some(d) = row.value(0).filter(|_| row.alive) else {
        return;
    };
    let slot = st.sampler.offer();
    if st.sampler.seen.is_multiple_of(1024) {
        crate::pg::check_for_interrupts();
    }
    let Some(slot) = slot else {
        return;
    };
    let SampleState {
        elem,
        dims,
        expected,
        mem,
        sampler,
        cxt,
    } = st;
    // Straight from the row into the sample (no copy in between for a vector).
    cxt.run(|| {
        with_key_floats(*elem, d, |v| {
            if *dims == 0 {
                // No typmod: the first row tells the dimensions, and so the memory per row.
                *dims = v.len() as u32;
                let capacity = sample_budget(*mem, *dims) as usize;
                sampler.set_dims(v.len(), capacity, *expected);
            }
            check_row_dims(*dims, v.len(), row.tid);
            sampler.put(slot, v);
        })
    });
}

/// A participant of the insert phase (the only one, in a serial build).
struct InsertState {
    elem: Elem,
    store: Rel,
    part: Participant,
    done: i64,
    /// Rows not yet added to the shared count (parallel builds).
    unshared: u64,
    /// The parallel build's shared state.
    #[cfg(pg_ge17)]
    shared: Option<crate::pg::build::Shared>,
    /// Reports progress (the leader, or a serial build).
    leader: bool,
    cxt: TempContext,
}

impl InsertState {
    fn new(elem: Elem, store: Rel, meta: Meta, router: Router, chain: usize) -> InsertState {
        let participants = router.levels.last().map_or(1, |leaves| {
            leaves.first().map_or(1, |l| l.chains.len().max(1))
        });
        let mem_share = maintenance_work_mem() / 2 / participants as u64;
        InsertState {
            elem,
            store,
            part: Participant::new(meta, router, chain, mem_share),
            done: 0,
            unshared: 0,
            #[cfg(pg_ge17)]
            shared: None,
            leader: true,
            cxt: TempContext::new(c"vchordrq build"),
        }
    }

    /// Counts the rows since the last call; reports the total (of every participant) to
    /// pg_stat_progress_create_index when this is the leader.
    fn count(&mut self) {
        #[cfg(pg_ge17)]
        if let Some(shared) = self.shared {
            let total = shared.add_rows(std::mem::take(&mut self.unshared));
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
        self.part.finish(&self.store);
    }
}

/// The second scan's visit of a row: to its list.
fn insert_row(st: &mut InsertState, row: &Row) {
    let Some(d) = row.value(0) else {
        return;
    };
    let elem = st.elem;
    let (v, bytes) = st.cxt.run(|| read_key(elem, d));
    check_row_dims(st.part.meta.dims, v.len(), row.tid);
    st.part.add(&st.store, &v, &bytes, row.tid);
    st.done += 1;
    st.unshared += 1;
    if st.done % 256 == 0 {
        crate::pg::check_for_interrupts();
        st.count();
    }
}

/// ambuild: returns (heap tuples, index tuples).
pub fn build(heap: Relation, index: Relation, info: IndexInfo) -> (f64, f64) {
    let store = new_index_store(index).reserving();
    let (elem, metric) = opclass_of(index);
    let opts: Options = index_options(index);
    let typmod = index.typmod();
    let i = &opts.build.internal;

    // 1. Sample.
    let t0 = std::time::Instant::now();
    progress(sys::PROGRESS_CREATEIDX_SUBPHASE, super::PHASE_SAMPLE);
    let dims0 = if typmod > 0 { typmod as u32 } else { 0 };
    let reltuples = heap.reltuples() as u64;
    // The sample k-means will use: `sampling_factor` rows per leaf list. Without a set list
    // count the lists follow the row count, known only after the scan: the table's estimate
    // plus a tenth (fresh memory is slow to fault in; a larger table gets a few rows fewer
    // per list, which k-means does not notice).
    let wanted = match i.lists.last() {
        Some(&l) => l as u64 * i.sampling_factor as u64,
        None => options::auto_lists(reltuples.max(1)) as u64 * i.sampling_factor as u64 * 11 / 10,
    }
    .max(1);
    let mem = maintenance_work_mem();
    let capacity = wanted.min(sample_budget(mem, dims0)).min(1 << 24) as usize;
    // Room for the whole sample at once (a little over the table's estimate of its rows).
    let expected = (reltuples + reltuples / 8 + 1024).min(usize::MAX as u64) as usize;
    let mut st = SampleState {
        elem,
        dims: dims0,
        expected,
        mem,
        sampler: Sampler::new(dims0 as usize, capacity, expected, metric),
        cxt: TempContext::new(c"vchordrq sample"),
    };
    // Where the build has a second thread, it faults the sample's memory in while the scan
    // fills it (100+ MiB of fresh pages took a tenth of the phase on their own).
    let threads = build_threads(
        i.build_threads,
        cfg!(pg_ge17).then(|| planned_workers(info)),
    );
    let helper = (threads > 1 && st.sampler.sample.data.capacity() > 0)
        .then(|| populate(&st.sampler.sample.data));
    table_scan(heap, index, info, &mut |row| sample_row(&mut st, row));
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
    let rows = st.sampler.seen;
    let lists = vchord_ivf::lists_for(&i.lists, rows);
    if !i.lists.is_empty() && lists.last() != i.lists.last() {
        report(
            sys::NOTICE,
            &format!(
                "vchordrq: {} lists asked for {rows} rows; building {:?}",
                i.lists.last().unwrap(),
                lists
            ),
        );
    }
    let need = *lists.last().unwrap() as u64 * i.sampling_factor as u64;
    let budget = sample_budget(mem, dims);
    if need > budget && rows > budget {
        report(
            sys::NOTICE,
            &format!(
                "vchordrq: k-means samples {} rows instead of {} to stay within maintenance_work_mem ({} kB)",
                st.sampler.sample.len(),
                need.min(rows),
                mem / 1024
            ),
        );
    }
    let sample = st.sampler.finish(need);

    // 2. k-means.
    let t1 = std::time::Instant::now();
    progress(sys::PROGRESS_CREATEIDX_SUBPHASE, super::PHASE_KMEANS);
    let p = Params {
        iterations: i.kmeans_iterations as usize,
        spherical: i.spherical_centroids.unwrap_or(!metric.euclidean()),
        threads,
        seed: vchord_ivf::SEED,
        on_thread: Some(block_signals),
    };
    let tree = vchord_ivf::centroids(&sample, dims as usize, &lists, p, &mut |_, _| {
        crate::pg::check_for_interrupts();
        true
    });
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
    index.store().log_all();
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
    (reltuples, indtuples)
}

/// The workers the planner gave this build (plan_create_index_workers: 0 before 17).
fn planned_workers(info: IndexInfo) -> usize {
    info.planned_workers().min(vchord_ivf::MAX_CHAINS - 1)
}

/// The second scan: every row to its list. Returns heap tuples seen, rows indexed and the
/// number of participants.
fn insert_rows(
    heap: Relation,
    index: Relation,
    info: IndexInfo,
    ist: &mut InsertState,
    workers: usize,
) -> (f64, f64, usize) {
    #[cfg(pg_ge17)]
    if workers > 0 {
        let t0 = std::time::Instant::now();
        let payload = ist.part.router.to_bytes();
        let entry = c"vchordrq_parallel_build_main";
        let parallel = crate::pg::build::begin(heap, index, info, workers, entry, &payload);
        drop(payload);
        if let Some(p) = parallel {
            // The leader takes part as participant 0.
            let shared = p.shared();
            let participants = p.participants();
            ist.shared = Some(shared);
            let t1 = std::time::Instant::now();
            // With a worker for every core, the leader scanning too would only make the
            // processes take turns on the cores (on 2 cores, 2 workers alone index MiniLM's
            // rows in 1.0 s; with the leader, 1.2 s): it waits, and reports progress.
            let scans = participants - 1 < cores();
            let reltuples = if scans {
                shared.scan(heap, index, true, &mut |row| insert_row(ist, row))
            } else {
                0.0
            };
            ist.finish();
            let t2 = std::time::Instant::now();
            shared.done(reltuples, ist.done as f64);
            let (rt, it) = p.end();
            progress(sys::PROGRESS_CREATEIDX_TUPLES_DONE, it as i64);
            // Every participant left a partly filled code page in each list.
            let t3 = std::time::Instant::now();
            vchord_ivf::pack_tails(&ist.store, &ist.part.meta).or_corrupt(index);
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
    let reltuples = table_scan(heap, index, info, &mut |row| insert_row(ist, row));
    ist.finish();
    (reltuples, ist.done as f64, 1)
}

/// A parallel build's worker: joins the table scan as participant 1 + its worker number,
/// with the centroids from shared memory (PostgreSQL starts it through
/// `crate::pg::build::vchordrq_parallel_build_main`).
#[cfg(pg_ge17)]
pub fn parallel_worker(w: crate::pg::build::Worker) {
    let Some(router) = Router::from_bytes(w.payload()) else {
        error(
            ERRCODE_INTERNAL_ERROR,
            "vchordrq: a parallel build worker found unreadable shared state",
        );
    };
    let t0 = std::time::Instant::now();
    let (heap, index) = (w.heap(), w.index());
    let store = index.store().for_build().reserving();
    let meta = vchord_ivf::read_meta(&store).or_corrupt(index);
    let (elem, _) = opclass_of(index);
    let mut st = InsertState::new(elem, store, meta, router, w.participant());
    st.shared = Some(w.shared());
    st.leader = false;
    let reltuples = w
        .shared()
        .scan(heap, index, false, &mut |row| insert_row(&mut st, row));
    st.finish();
    let done = st.done as f64;
    drop(st);
    report(
        sys::DEBUG1,
        &format!(
            "vchordrq parallel build: worker {} indexed {} rows in {:.2} s",
            w.participant(),
            done,
            t0.elapsed().as_secs_f64()
        ),
    );
    w.shared().done(reltuples, done);
    w.end();
}

/// The init fork of an unlogged index: an empty copy of the main fork's skeleton (ambuild has
/// run), so that after a crash resets the index it keeps its lists.
pub fn build_empty(index: Relation) {
    let (meta, tree, chains) = vchord_ivf::skeleton(&index.store()).or_corrupt(index);
    vchord_ivf::create(&index.init_fork(), meta, &tree, true, chains);
}
