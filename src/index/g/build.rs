//! ambuild and ambuildempty.
//!
//! A build reads every row the index must hold (one table scan) into memory, builds the graph
//! there on several threads, then writes it out page by page. Memory is bounded by
//! maintenance_work_mem: when the rows would not fit, what was read so far is built and
//! written, and the remaining rows go in one by one as inserts do (slower), with a NOTICE.
use super::*;
use crate::pg::build::{Row, table_scan};
use crate::pg::guard::report;
use crate::pg::memcxt::TempContext;
use vchord_graph::{Meta, Rows};

struct State {
    index: Relation,
    elem: Elem,
    labelled: bool,
    meta: Meta,
    store: Rel,
    rows: Rows,
    /// Rows the memory budget (`mem` bytes) allows.
    capacity: usize,
    mem: u64,
    /// Set once the in-memory rows were written: the rest are inserted one by one.
    written: bool,
    done: i64,
    cxt: TempContext,
}

/// The table scan's visit of a row: into memory, or inserted once memory is full.
fn visit(st: &mut State, row: &Row) {
    let Some(d) = row.value(0) else {
        return;
    };
    let ld = if st.labelled { row.value(1) } else { None };
    let elem = st.elem;
    let (v, labels) = st
        .cxt
        .run(|| (read_key(elem, d).0, ld.map(read_labels).unwrap_or_default()));
    if st.meta.dims == 0 {
        st.meta.dims = v.len() as u32;
        st.rows = Rows::new(v.len());
        check_fits(&st.meta, st.index);
        let per_row = Rows::bytes_per_row(v.len(), st.meta.slots()) as u64;
        st.capacity = (st.mem / per_row).max(1) as usize;
    }
    let tid = row.tid;
    check_row_dims(st.meta.dims, v.len(), tid);
    check_finite(&v);
    if st.written {
        vchord_graph::insert(&st.store, st.meta.clone(), &v, tid, &labels).or_corrupt(st.index);
    } else if st.rows.len() < st.capacity {
        st.rows.tids.push(tid);
        st.rows.vectors.extend_from_slice(&v);
        st.rows.labels.push(labels);
    } else {
        report(
            sys::NOTICE,
            &format!(
                "vchordg: {} rows fill maintenance_work_mem; the graph of those is built in memory and later rows are inserted one by one (raise maintenance_work_mem for a faster build)",
                st.rows.len()
            ),
        );
        build_and_write(st);
        st.written = true;
        progress(sys::PROGRESS_CREATEIDX_SUBPHASE, super::PHASE_INSERT);
        vchord_graph::insert(&st.store, st.meta.clone(), &v, tid, &labels).or_corrupt(st.index);
    }
    st.done += 1;
    if st.done % 256 == 0 {
        crate::pg::check_for_interrupts();
        progress(sys::PROGRESS_CREATEIDX_TUPLES_DONE, st.done);
    }
}

fn check_fits(meta: &Meta, index: Relation) {
    if meta.dims as usize > 16000 {
        error(
            ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "vchordg indexes at most 16000 dimensions, not {}",
                meta.dims
            ),
        );
    }
    if !meta.fits() {
        Error::new(
            ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "a vertex of index \"{}\" ({} dimensions, m = {}) does not fit a page",
                index.name(),
                meta.dims,
                meta.m
            ),
        )
        .hint("Use rerank_in_table = true (the index then keeps no vectors), a smaller m, or halfvec.")
        .raise();
    }
}

/// The ERROR for an index past the blocks its 4-byte edges can name.
pub fn too_large(index: Relation) -> ! {
    Error::new(
        ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        format!(
            "index \"{}\" has reached the largest size a vchordg index can have",
            index.name()
        ),
    )
    .hint("Edges name vertices in 4 bytes, block and offset: an index whose vertices are larger (rerank_in_table = false, a larger m) holds fewer a page and can have more blocks.")
    .raise()
}

fn build_and_write(st: &mut State) {
    progress(sys::PROGRESS_CREATEIDX_SUBPHASE, super::PHASE_GRAPH);
    let opts: Options = index_options(st.index);
    let threads = build_threads(opts.build_threads, None);
    let graph = vchord_graph::build_graph(
        &st.meta,
        &st.rows,
        threads,
        Some(block_signals),
        &mut |done| {
            crate::pg::check_for_interrupts();
            progress(sys::PROGRESS_CREATEIDX_TUPLES_DONE, done as i64);
        },
    );
    progress(sys::PROGRESS_CREATEIDX_SUBPHASE, super::PHASE_WRITE);
    let mut meta = st.meta.clone();
    meta.dims = meta.dims.max(1);
    let written = vchord_graph::write(&st.store, meta, &st.rows, &graph, &mut |done| {
        if done % 64 == 0 {
            crate::pg::check_for_interrupts();
        }
    });
    st.meta = written.unwrap_or_else(|_| too_large(st.index));
    st.rows = Rows::new(st.rows.dims);
}

fn meta_for(index: Relation, dims: u32, labelled: bool) -> Meta {
    let (elem, metric) = opclass_of(index);
    if metric == Metric::L1 {
        // No class of vchord's gives vchordg L1; one made by hand with vchordrq's support
        // function is refused rather than built as L2.
        Error::new(
            ERRCODE_FEATURE_NOT_SUPPORTED,
            "vchordg does not support L1 distance",
        )
        .hint("Use vchordrq (vector_l1_ops) for L1.")
        .raise();
    }
    let o: Options = index_options(index);
    Meta {
        dims,
        metric,
        elem,
        bits: o.bits,
        rerank_in_table: o.rerank_in_table,
        m: o.m,
        // Label edges only where there are labels.
        label_slots: if labelled { o.m.div_ceil(2) } else { 0 },
        ef_construction: o.ef_construction,
        alpha: o.alpha as f32,
        entry: vchord_base::page::Addr::NONE,
        centre: 0,
        labels: 0,
        ef_search: o.search.ef_search,
        epsilon: o.search.epsilon.map(|e| e as f32),
        max_scan_tuples: o.search.max_scan_tuples.map(|m| m as i32),
        off_bits: 0, // vchord_graph::write fits it to the vertices
    }
}

/// ambuild: returns (heap tuples, index tuples).
pub fn build(heap: Relation, index: Relation, info: IndexInfo) -> (f64, f64) {
    let store = new_index_store(index);
    let labelled = columns(index);
    let typmod = index.typmod();
    let dims0 = if typmod > 0 { typmod as u32 } else { 0 };
    let meta = meta_for(index, dims0, labelled);
    if dims0 > 0 {
        check_fits(&meta, index);
    }
    let mem = maintenance_work_mem();
    let per_row = Rows::bytes_per_row(dims0.max(1) as usize, meta.slots()) as u64;
    let capacity = (mem / per_row).max(1) as usize;
    progress(sys::PROGRESS_CREATEIDX_SUBPHASE, super::PHASE_LOAD);
    let reltuples = heap.reltuples();
    progress(sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, reltuples as i64);
    let mut st = State {
        index,
        elem: meta.elem,
        labelled,
        meta,
        store,
        rows: Rows::new(dims0.max(1) as usize),
        capacity,
        mem,
        written: false,
        done: 0,
        cxt: TempContext::new(c"vchordg build"),
    };
    let reltuples = table_scan(heap, index, info, &mut |row| visit(&mut st, row));
    if st.meta.dims == 0 {
        Error::new(ERRCODE_DATA_EXCEPTION, "column does not have dimensions")
            .hint("Declare the column with dimensions, as in vector(768), or build the index after loading rows.")
            .raise();
    }
    if !st.written {
        build_and_write(&mut st);
    }
    progress(sys::PROGRESS_CREATEIDX_TUPLES_DONE, st.done);
    let done = st.done;
    drop(st);
    index.store().log_all();
    (reltuples, done as f64)
}

/// The init fork of an unlogged index: an empty index with the main fork's parameters.
pub fn build_empty(index: Relation) {
    let meta = vchord_graph::read_meta(&index.store()).or_corrupt(index);
    let init = index.init_fork();
    let rows = Rows::new(meta.dims as usize);
    let graph = vchord_graph::build_graph(&meta, &rows, 1, None, &mut |_| {});
    // An empty index: one page of each kind.
    let _ = vchord_graph::write(&init, meta, &rows, &graph, &mut |_| {});
}
