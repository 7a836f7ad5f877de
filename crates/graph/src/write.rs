//! Writing a built graph to pages.
use crate::*;

// ---- build -----------------------------------------------------------------------------

/// One row of a build: its heap TID, its vector's elements as f32 (exact for halfvec) and its
/// sorted, deduplicated labels.
pub struct Rows {
    pub dims: usize,
    pub tids: Vec<Addr>,
    pub vectors: Vec<f32>,
    pub labels: Vec<Vec<i16>>,
}

impl Rows {
    pub fn new(dims: usize) -> Rows {
        Rows {
            dims,
            tids: vec![],
            vectors: vec![],
            labels: vec![],
        }
    }
    pub fn len(&self) -> usize {
        self.tids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tids.is_empty()
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dims..(i + 1) * self.dims]
    }
    /// Bytes a row takes in memory during a build with out-degree `m`.
    pub fn bytes_per_row(dims: usize, m: usize) -> usize {
        dims * 4 + 6 + 24 + m * 4 * 2
    }
}

/// The rotated mean of the rows (unit rows for cosine): codes are of `x - centre`.
pub fn centre_of(metric: Metric, rot: &Rotation, rows: &Rows) -> Vec<f32> {
    let mut c = vec![0f64; rows.dims];
    for i in 0..rows.len() {
        let mut x = rows.row(i).to_vec();
        if metric == Metric::Cos {
            vchord_kmeans::normalize(&mut x);
        }
        for (a, b) in c.iter_mut().zip(&x) {
            *a += *b as f64;
        }
    }
    let n = rows.len().max(1) as f64;
    let mean: Vec<f32> = c.iter().map(|x| (x / n) as f32).collect();
    rot.rotated(&mean)
}

/// The stored form of a row's vector.
pub fn elems_bytes(elem: Elem, v: &[f32]) -> Vec<u8> {
    match elem {
        Elem::F32 => f32_bytes(v),
        Elem::F16 => v
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect(),
    }
}

pub(crate) fn code_of(
    meta: &Meta,
    rot: &Rotation,
    centre: &[f32],
    v: &[f32],
) -> (Factors, Vec<u8>) {
    let x = prepare(meta.metric, rot, v);
    let r: Vec<f32> = x.iter().zip(centre).map(|(a, b)| a - b).collect();
    let mut code = vec![0u8; meta.code_len()];
    let f = vchord_rabitq::encode_bits(meta.bits, &r, centre, &mut code);
    (f, code)
}

/// The graph of `rows` in memory, with the parameters `meta` records ([`build::build`] on
/// `threads` threads, each first running `on_thread`; `progress` gets the rows linked so
/// far). The server's build and the unit tests run this same code, then [`write`].
pub fn build_graph(
    meta: &Meta,
    rows: &Rows,
    threads: usize,
    on_thread: Option<fn()>,
    progress: &mut dyn FnMut(usize),
) -> build::Graph {
    let data = build::Data {
        dims: rows.dims.max(1),
        metric: meta.metric,
        vectors: &rows.vectors,
        labels: &rows.labels,
    };
    let p = build::Params {
        m: meta.m as usize,
        label_slots: meta.label_slots as usize,
        ef_construction: meta.ef_construction as usize,
        alpha: meta.alpha,
        threads,
        on_thread,
    };
    build::build(&data, &p, progress)
}

/// Writes an index: the meta page, the centre, the labels and every vertex of `graph` (built
/// over `rows`). `meta.entry`, `centre` and `labels` are filled in here.
pub fn write<S: Store>(
    s: &S,
    mut meta: Meta,
    rows: &Rows,
    graph: &build::Graph,
    tick: &mut dyn FnMut(usize),
) -> std::result::Result<Meta, TooLarge> {
    assert_eq!(s.nblocks(), 0, "write needs an empty relation");
    meta.off_bits = meta.fitted_off_bits();
    let rot = meta.rotation();
    let centre = centre_of(meta.metric, &rot, rows);
    let (mblk, g) = s.extend();
    assert_eq!(mblk, 0);
    drop(g);
    meta.centre = write_centre(s, &centre);
    meta.labels = new_page(s, KIND_LABELS);
    // Addresses first: vertices fill pages in layout order, as a scratch page shows.
    let order = graph.layout();
    let mut addrs = vec![Addr::NONE; rows.len()];
    let mut scratch: page::Page = [0; page::PAGE_SIZE];
    let mut blk = s.nblocks();
    page::init(&mut scratch, KIND_VERTICES);
    let mut pages: Vec<usize> = vec![]; // vertices per page
    let mut on_page = 0;
    for &i in &order {
        let i = i as usize;
        let len = meta.vertex_len(rows.labels[i].len());
        let fits = page::count(&scratch) < meta.max_off();
        let off = match page::add(&mut scratch, &vec![0u8; len]).filter(|_| fits) {
            Some(o) => o,
            None => {
                pages.push(on_page);
                on_page = 0;
                blk += 1;
                page::init(&mut scratch, KIND_VERTICES);
                page::add(&mut scratch, &vec![0u8; len]).expect("a vertex fits a page")
            }
        };
        on_page += 1;
        addrs[i] = Addr { blk, off };
    }
    if on_page > 0 {
        pages.push(on_page);
    }
    if blk >= meta.block_limit() {
        return Err(TooLarge);
    }
    let mut at = 0;
    for count in pages {
        let (b, mut g) = s.extend();
        page::init(&mut g, KIND_VERTICES);
        for &i in &order[at..at + count] {
            let i = i as usize;
            assert_eq!(addrs[i].blk, b, "vertex pages come in order");
            let (f, code) = code_of(&meta, &rot, &centre, rows.row(i));
            let nbs = Edges {
                list: graph.neighbours[i]
                    .iter()
                    .map(|&u| addrs[u as usize])
                    .collect(),
                general: graph.general[i] as usize,
            };
            let t = encode_vertex(
                &meta,
                rows.tids[i],
                &f,
                &code,
                &rows.labels[i],
                &nbs,
                &elems_bytes(meta.elem, rows.row(i)),
            );
            let off = page::add(&mut g, &t).expect("planned to fit");
            debug_assert_eq!(off, addrs[i].off);
        }
        at += count;
        drop(g);
        tick(at);
    }
    meta.entry = graph.entry.map_or(Addr::NONE, |e| addrs[e as usize]);
    for (&l, &e) in &graph.label_entries {
        append(
            s,
            meta.labels,
            KIND_LABELS,
            &label_tuple(l, addrs[e as usize]),
        );
    }
    let mut g = s.write_full(0);
    page::init(&mut g, KIND_META);
    page::add(&mut g, &meta.encode()).unwrap();
    drop(g);
    Ok(meta)
}

/// An index whose vertices would lie past the blocks an edge can name.
#[derive(Debug, PartialEq)]
pub struct TooLarge;

/// Whether an insert may add a vertex page: false when the index has reached the blocks an
/// edge can name (less a margin for inserts running at once, each adding at most one page).
pub fn has_room<S: Store>(s: &S, meta: &Meta) -> bool {
    s.nblocks() < meta.block_limit().saturating_sub(1024)
}
