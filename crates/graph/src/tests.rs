use super::*;
use build::{Data, Params};
use vchord_rabitq::Rng;

/// Rows of Fashion-MNIST's test images (Debian `dataset-fashion-mnist`).
fn fashion(n: usize, skip: usize) -> Vec<Vec<f32>> {
    let out = std::process::Command::new("gzip")
        .args([
            "-dc",
            "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
        ])
        .output()
        .expect("gzip");
    assert!(
        out.status.success(),
        "install dataset-fashion-mnist (scripts/setup.sh does)"
    );
    out.stdout[16..]
        .chunks_exact(784)
        .skip(skip)
        .take(n)
        .map(|img| img.iter().map(|&p| p as f32 / 255.0).collect())
        .collect()
}

fn tid(i: usize) -> Addr {
    Addr {
        blk: (i / 200) as u32,
        off: (i % 200 + 1) as u16,
    }
}

fn untid(a: Addr) -> usize {
    a.blk as usize * 200 + a.off as usize - 1
}

fn meta(dims: usize, metric: Metric, in_table: bool) -> Meta {
    let mut m = Meta {
        dims: dims as u32,
        metric,
        elem: Elem::F32,
        bits: 2,
        rerank_in_table: in_table,
        m: 24,
        label_slots: 12,
        ef_construction: 48,
        alpha: 1.2,
        entry: Addr::NONE,
        centre: 0,
        labels: 0,
        ef_search: None,
        epsilon: None,
        max_scan_tuples: None,
        off_bits: 0,
    };
    m.off_bits = m.fitted_off_bits();
    m
}

fn rows(data: &[Vec<f32>], labels: &dyn Fn(usize) -> Vec<i16>) -> Rows {
    let mut r = Rows::new(data[0].len());
    for (i, v) in data.iter().enumerate() {
        r.tids.push(tid(i));
        r.vectors.extend_from_slice(v);
        r.labels.push(labels(i));
    }
    r
}

fn build_index(
    data: &[Vec<f32>],
    meta: Meta,
    labels: &dyn Fn(usize) -> Vec<i16>,
) -> (MemStore, Meta) {
    let r = rows(data, labels);
    let g = build_graph(&meta, &r, 2, None, &mut |_| {});
    let s = MemStore::new();
    let meta = write(&s, meta, &r, &g, &mut |_| {}).unwrap();
    (s, meta)
}

fn exact(metric: Metric, data: &[(usize, &Vec<f32>)], q: &[f32], k: usize) -> Vec<usize> {
    let m = meta(q.len(), metric, false);
    let query = Query::with(metric, &m.rotation(), q);
    let mut d: Vec<(f32, usize)> = data
        .iter()
        .map(|(i, v)| (query.exact(Elem::F32, &elems_bytes(Elem::F32, v)), *i))
        .collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    d.into_iter().take(k).map(|x| x.1).collect()
}

fn search(
    s: &MemStore,
    q: &[f32],
    ef: usize,
    filter: Option<Vec<i16>>,
    k: usize,
    fetch: &mut dyn FnMut(Addr) -> Option<Vec<u8>>,
) -> Vec<usize> {
    let meta = read_meta(s).unwrap();
    let centre = read_centre(s, &meta).unwrap();
    let query = Query::with(meta.metric, &meta.rotation(), q);
    let p = SearchParams {
        ef,
        epsilon: 1.9,
        filter,
    };
    let mut it = Search::start(s, &meta, &centre, query, &p).unwrap();
    let mut out = vec![];
    while out.len() < k {
        match it.next(s, fetch) {
            Some((t, _)) => out.push(untid(t)),
            None => break,
        }
    }
    out
}

fn no_fetch(_: Addr) -> Option<Vec<u8>> {
    panic!("an index that keeps vectors fetched from the table")
}

fn recall(got: &[usize], want: &[usize]) -> f64 {
    got.iter().filter(|g| want.contains(g)).count() as f64 / want.len().max(1) as f64
}

/// Mean recall@10 over `queries` against the rows `live` (index, vector) of `data`.
fn mean_recall(
    s: &MemStore,
    metric: Metric,
    live: &[(usize, &Vec<f32>)],
    queries: &[Vec<f32>],
    ef: usize,
) -> f64 {
    let mut total = 0.0;
    for q in queries {
        let want = exact(metric, live, q, 10);
        total += recall(&search(s, q, ef, None, 10, &mut no_fetch), &want);
    }
    total / queries.len() as f64
}

#[test]
fn options_and_meta() {
    let o = options::Options::parse("m = 16\nbits = 1\n[search]\nef_search = 80").unwrap();
    assert_eq!((o.m, o.bits, o.search.ef_search), (16, 1, Some(80)));
    for (bad, key) in [
        ("m = 2", "m"),
        ("bits = 3", "bits"),
        ("alpha = 0.5", "alpha"),
        ("ef_construction = 1", "ef_construction"),
        ("lists = [3]", "lists"),
        ("[search]\nef_search = 0", "search.ef_search"),
    ] {
        let e = options::Options::parse(bad).unwrap_err();
        assert!(e.contains(key), "{bad}: {e}");
    }
    let mut m = meta(384, Metric::Cos, true);
    m.entry = Addr { blk: 7, off: 3 };
    m.ef_search = Some(99);
    m.epsilon = Some(1.5);
    assert_eq!(Meta::decode(&m.encode()).unwrap(), m);
    let mut b = m.encode();
    b[4] = 9;
    assert!(Meta::decode(&b).unwrap_err().message.contains("REINDEX"));
    // What fits in a page: vectors up to ~1800 f32 dimensions, codes alone far more.
    let mut big = meta(1800, Metric::L2, false);
    big.m = 32;
    assert!(big.fits());
    big.dims = 2100;
    assert!(!big.fits());
    big.rerank_in_table = true;
    big.dims = 16000;
    assert!(big.fits());
}

#[test]
fn built_graph_reaches_recall_on_real_vectors() {
    let data = fashion(3000, 0);
    let queries = fashion(40, 9000);
    for metric in [Metric::L2, Metric::Cos] {
        let (s, _) = build_index(&data, meta(784, metric, false), &|_| vec![]);
        let (problems, live, reached) = verify(&s);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!((live, reached), (3000, 3000));
        let all: Vec<(usize, &Vec<f32>)> = data.iter().enumerate().collect();
        let r = mean_recall(&s, metric, &all, &queries, 40);
        eprintln!("{metric:?}: recall@10 at ef 40 = {r:.3}");
        assert!(r >= 0.95, "{metric:?}: {r}");
    }
}

#[test]
fn the_stream_returns_every_row_once() {
    let data = fashion(600, 0);
    let (s, _) = build_index(&data, meta(784, Metric::L2, false), &|_| vec![]);
    let got = search(&s, &data[5], 4, None, usize::MAX, &mut no_fetch);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len(), "a row came back twice");
    assert_eq!(got.len(), 600);
    assert_eq!(got[0], 5, "the query's own row first");
}

#[test]
fn label_filters_reach_recall_and_fill_the_limit() {
    let data = fashion(3000, 0);
    let queries = fashion(40, 9000);
    // Label 1..=10 on 10 % of rows each; label 100..=199 on 1 % each; some rows unlabelled.
    let labels = |i: usize| -> Vec<i16> {
        if i.is_multiple_of(17) {
            return vec![];
        }
        let mut l = vec![(i % 10) as i16 + 1, (i % 100) as i16 + 100];
        l.sort();
        l
    };
    let (s, _) = build_index(&data, meta(784, Metric::L2, false), &labels);
    let v = verify(&s).0;
    assert!(v.is_empty(), "{v:?}");
    for (filter, name) in [
        (vec![3i16], "10%"),
        (vec![142i16], "1%"),
        (vec![120, 160], "2%"),
    ] {
        let matching: Vec<(usize, &Vec<f32>)> = data
            .iter()
            .enumerate()
            .filter(|(i, _)| labels(*i).iter().any(|l| filter.contains(l)))
            .collect();
        let mut total = 0.0;
        for q in &queries {
            let want = exact(Metric::L2, &matching, q, 10);
            let got = search(&s, q, 40, Some(filter.clone()), 10, &mut no_fetch);
            assert_eq!(
                got.len(),
                10.min(matching.len()),
                "{name}: a full result set"
            );
            assert!(
                got.iter()
                    .all(|g| labels(*g).iter().any(|l| filter.contains(l)))
            );
            total += recall(&got, &want);
        }
        let r = total / queries.len() as f64;
        eprintln!("filter {name}: recall@10 = {r:.3}");
        assert!(r >= 0.9, "{name}: {r}");
    }
    // A label no row has matches nothing.
    assert!(search(&s, &queries[0], 40, Some(vec![999]), 10, &mut no_fetch).is_empty());
}

#[test]
fn inserts_build_a_searchable_graph() {
    let data = fashion(700, 0);
    let queries = fashion(20, 9000);
    for in_table in [false, true] {
        // An index built over no rows, then filled by inserts.
        let (s, _) = build_index(&data[..1], meta(784, Metric::L2, in_table), &|_| vec![1]);
        for (i, v) in data.iter().enumerate().skip(1) {
            let l = if i % 4 == 0 { vec![1i16, 2] } else { vec![1] };
            insert(&s, read_meta(&s).unwrap(), v, tid(i), &l).unwrap();
        }
        let (problems, live, reached) = verify(&s);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(live, 700);
        assert!(reached >= 695, "{reached} reached");
        let all: Vec<(usize, &Vec<f32>)> = data.iter().enumerate().collect();
        let mut fetch = |t: Addr| Some(elems_bytes(Elem::F32, &data[untid(t)]));
        let mut total = 0.0;
        for q in &queries {
            let want = exact(Metric::L2, &all, q, 10);
            total += recall(&search(&s, q, 40, None, 10, &mut fetch), &want);
        }
        let r = total / queries.len() as f64;
        eprintln!("inserted (in_table {in_table}): recall@10 = {r:.3}");
        assert!(r >= 0.9, "{r}");
        // Label 2 (every 4th row) got its entry from the inserts; filtered search finds them.
        let twos: Vec<(usize, &Vec<f32>)> = all
            .iter()
            .copied()
            .filter(|(i, _)| i % 4 == 0 && *i > 0)
            .collect();
        let mut total = 0.0;
        for q in &queries {
            let got = search(&s, q, 40, Some(vec![2]), 10, &mut fetch);
            assert_eq!(got.len(), 10);
            total += recall(&got, &exact(Metric::L2, &twos, q, 10));
        }
        let r = total / queries.len() as f64;
        assert!(
            r >= 0.9,
            "filtered after inserts (in_table {in_table}): {r}"
        );
    }
}

#[test]
fn empty_index_takes_its_first_insert_as_entry() {
    let s = MemStore::new();
    let r = Rows::new(784);
    let g = build::build(
        &Data {
            dims: 784,
            metric: Metric::L2,
            vectors: &[],
            labels: &[],
        },
        &Params {
            m: 8,
            label_slots: 4,
            ef_construction: 16,
            alpha: 1.2,
            threads: 1,
            on_thread: None,
        },
        &mut |_| {},
    );
    let m = write(&s, meta(784, Metric::L2, false), &r, &g, &mut |_| {}).unwrap();
    assert!(m.entry.is_none());
    let data = fashion(30, 0);
    assert!(search(&s, &data[0], 10, None, 10, &mut no_fetch).is_empty());
    for (i, v) in data.iter().enumerate() {
        insert(&s, read_meta(&s).unwrap(), v, tid(i), &[]).unwrap();
    }
    assert!(verify(&s).0.is_empty());
    assert_eq!(search(&s, &data[3], 10, None, 1, &mut no_fetch), vec![3]);
}

#[test]
fn vacuum_repairs_the_graph() {
    let data = fashion(3000, 0);
    let queries = fashion(40, 9000);
    let labels = |i: usize| vec![(i % 50) as i16];
    let (s, _) = build_index(&data, meta(784, Metric::L2, false), &labels);
    // Delete every other row.
    let (removed, kept) = bulk_delete(&s, &mut |t| untid(t).is_multiple_of(2)).unwrap();
    assert_eq!((removed, kept), (1500, 1500));
    let (problems, live, reached) = verify(&s);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(live, 1500);
    assert!(reached >= 1490, "{reached} of 1500 reachable");
    let rest: Vec<(usize, &Vec<f32>)> = data
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .collect();
    let after = mean_recall(&s, Metric::L2, &rest, &queries, 40);
    // A fresh build over the survivors.
    let kept_rows: Vec<Vec<f32>> = rest.iter().map(|x| x.1.clone()).collect();
    let (fresh, _) = build_index(&kept_rows, meta(784, Metric::L2, false), &|_| vec![]);
    let mut f = 0.0;
    for q in &queries {
        let want: Vec<usize> = exact(Metric::L2, &rest, q, 10);
        let got: Vec<usize> = search(&fresh, q, 40, None, 10, &mut no_fetch)
            .into_iter()
            .map(|i| 2 * i + 1)
            .collect();
        f += recall(&got, &want);
    }
    let fresh_r = f / queries.len() as f64;
    eprintln!("after vacuum {after:.3}, fresh build {fresh_r:.3}");
    assert!(after >= fresh_r - 0.02, "{after} vs {fresh_r}");
    // No deleted row comes back, labels still lead somewhere.
    for q in &queries[..5] {
        assert!(
            search(&s, q, 40, None, 50, &mut no_fetch)
                .iter()
                .all(|i| i % 2 == 1)
        );
        let got = search(&s, q, 40, Some(vec![7]), 10, &mut no_fetch);
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|i| i % 50 == 7));
    }
    // Then everything: the index is empty and still sound.
    bulk_delete(&s, &mut |_| true).unwrap();
    assert_eq!(verify(&s), (vec![], 0, 0));
    assert!(search(&s, &queries[0], 40, None, 10, &mut no_fetch).is_empty());
    insert(&s, read_meta(&s).unwrap(), &data[1], tid(1), &[]).unwrap();
    assert_eq!(
        search(&s, &queries[0], 40, None, 10, &mut no_fetch),
        vec![1]
    );
}

#[test]
fn verify_finds_damage() {
    let data = fashion(300, 0);
    let (s, meta) = build_index(&data, meta(784, Metric::L2, false), &|_| vec![]);
    let b = meta.labels + 1;
    {
        let mut g = s.write(b);
        let t = page::get_mut(&mut g, 2).unwrap();
        t[V_FLAGS] = 3; // three labels: the length no longer adds up
    }
    let (problems, _, _) = verify(&s);
    assert!(
        problems.iter().any(|p| p.contains("malformed")),
        "{problems:?}"
    );
    let mut rng = Rng::new(1);
    let _ = rng.next_u64();
}

/// Recall, speed and walk counts on a real data set, filtered and not (a tool, not a test):
/// `VCHORD_DATA=dir` of `base.f32`, `query.f32` and `info` ("rows queries dims metric"), the
/// first `VCHORD_N` rows (default 50000), row `i` labelled `i % 100` as in the benchmark;
/// `VCHORD_EF="16,32,64"` (unfiltered) and `VCHORD_FEF="32,64,128"` (1 % filter);
/// `VCHORD_M`, `VCHORD_LS` (label slots), `VCHORD_EFC`, `VCHORD_ALPHA`, `VCHORD_BITS` set the
/// build, `VCHORD_IN_TABLE=1` keeps no vectors (reranks "fetch" from the data), `VCHORD_EPS`
/// the search's epsilon.
/// `cargo test --release -p vchord-graph real_data_harness -- --ignored --nocapture`.
#[test]
#[ignore]
fn real_data_harness() {
    use std::time::Instant;
    let dir = std::env::var("VCHORD_DATA").expect("VCHORD_DATA");
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let info = std::fs::read_to_string(format!("{dir}/info")).unwrap();
    let f: Vec<&str> = info.split_whitespace().collect();
    let dims: usize = f[2].parse().unwrap();
    let metric = match f[3] {
        "l2" => Metric::L2,
        "cosine" => Metric::Cos,
        _ => Metric::Ip,
    };
    let floats = |name: &str, n: usize| -> Vec<Vec<f32>> {
        let b = std::fs::read(format!("{dir}/{name}")).unwrap();
        b.chunks_exact(4 * dims)
            .take(n)
            .map(|r| {
                r.chunks_exact(4)
                    .map(|x| f32::from_le_bytes(x.try_into().unwrap()))
                    .collect()
            })
            .collect()
    };
    let n: usize = env("VCHORD_N", "50000").parse().unwrap();
    let base = floats("base.f32", n);
    let queries = floats("query.f32", env("VCHORD_Q", "200").parse().unwrap());
    let label = |i: usize| vec![(i % 100) as i16];
    let in_table = env("VCHORD_IN_TABLE", "0") == "1";
    let mut m = meta(dims, metric, in_table);
    m.m = env("VCHORD_M", "32").parse().unwrap();
    m.label_slots = env("VCHORD_LS", &m.m.div_ceil(2).to_string())
        .parse()
        .unwrap();
    m.ef_construction = env("VCHORD_EFC", "64").parse().unwrap();
    m.alpha = env("VCHORD_ALPHA", "1.2").parse().unwrap();
    m.bits = env("VCHORD_BITS", "1").parse().unwrap();
    let t = Instant::now();
    let (s, _) = build_index(&base, m, &label);
    eprintln!(
        "{n} rows: build {:.1} s, {} pages",
        t.elapsed().as_secs_f64(),
        s.nblocks()
    );
    let all: Vec<(usize, &Vec<f32>)> = base.iter().enumerate().collect();
    let want: Vec<Vec<usize>> = queries.iter().map(|q| exact(metric, &all, q, 10)).collect();
    let fwant: Vec<Vec<usize>> = queries
        .iter()
        .enumerate()
        .map(|(qi, q)| {
            let rows: Vec<(usize, &Vec<f32>)> = all
                .iter()
                .copied()
                .filter(|(i, _)| i % 100 == qi % 100)
                .collect();
            exact(metric, &rows, q, 10)
        })
        .collect();
    let meta = read_meta(&s).unwrap();
    let centre = read_centre(&s, &meta).unwrap();
    let eps: f32 = env("VCHORD_EPS", "1.9").parse().unwrap();
    for (filtered, efs) in [
        (false, env("VCHORD_EF", "16,32,64")),
        (true, env("VCHORD_FEF", "32,64,128")),
    ] {
        for ef in efs.split(',').map(|x| x.parse::<usize>().unwrap()) {
            let (mut hits, mut st, mut full) = (0f64, Stats::default(), 0);
            let t = Instant::now();
            for (qi, q) in queries.iter().enumerate() {
                let query = Query::with(meta.metric, &meta.rotation(), q);
                let p = SearchParams {
                    ef,
                    epsilon: eps,
                    filter: filtered.then(|| vec![(qi % 100) as i16]),
                };
                let mut it = Search::start(&s, &meta, &centre, query, &p).unwrap();
                let mut got = vec![];
                while got.len() < 10 {
                    let mut fetch = |t: Addr| Some(elems_bytes(Elem::F32, &base[untid(t)]));
                    match it.next(&s, &mut fetch) {
                        Some((a, _)) => got.push(untid(a)),
                        None => break,
                    }
                }
                full += (got.len() == 10) as usize;
                hits += recall(&got, if filtered { &fwant[qi] } else { &want[qi] });
                st.expanded += it.stats.expanded;
                st.scored += it.stats.scored;
                st.reranked += it.stats.reranked;
                st.pages += it.stats.pages;
            }
            let nq = queries.len() as f64;
            eprintln!(
                "{} ef {ef}: recall {:.3}, {:.0} µs/query, full {}/{}, expanded {:.0}, scored {:.0} on {:.0} pages, reranked {:.0}",
                if filtered { "1% filter" } else { "unfiltered" },
                hits / nq,
                t.elapsed().as_secs_f64() * 1e6 / nq,
                full,
                queries.len(),
                st.expanded as f64 / nq,
                st.scored as f64 / nq,
                st.pages as f64 / nq,
                st.reranked as f64 / nq
            );
        }
    }
}

#[test]
fn edges_take_four_bytes() {
    // GloVe-50 without vectors or labels: a 159-byte vertex, 49 a page, 6 offset bits.
    let mut m = meta(50, Metric::Cos, true);
    m.m = 32;
    m.label_slots = 0;
    assert_eq!(m.vertex_len(0), 159);
    assert_eq!(m.fitted_off_bits(), 6);
    m.off_bits = 6;
    assert_eq!(m.block_limit(), (1 << 26) - 1);
    for a in [
        Addr { blk: 0, off: 1 },
        Addr {
            blk: 12345,
            off: 49,
        },
        Addr {
            blk: m.block_limit() - 1,
            off: m.max_off(),
        },
        Addr::NONE,
    ] {
        assert_eq!(m.edge_addr(m.edge(a)), a);
    }
    // Kept 1536-d vectors: one vertex a page, and the block number keeps 31 bits.
    let mut big = meta(1536, Metric::L2, false);
    big.m = 32;
    big.off_bits = big.fitted_off_bits();
    assert_eq!(big.off_bits, 1);
    assert_eq!(big.block_limit(), (1 << 31) - 1);
    assert_ne!(
        big.edge(Addr {
            blk: big.block_limit() - 1,
            off: big.max_off()
        }),
        u32::MAX
    );
}

#[test]
fn stored_error_bounds_round_up() {
    let m = meta(8, Metric::L2, true);
    let mut state = 7u64;
    for _ in 0..2000 {
        let mut rnd = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 20001) as f32 / 1000.0 - 10.0
        };
        let r: Vec<f32> = (0..8).map(|_| rnd()).collect();
        let mut code = vec![0u8; 2];
        let f = vchord_rabitq::encode_bits(2, &r, &[0.0; 8], &mut code);
        let e = Edges::default();
        let t = encode_vertex(&m, Addr { blk: 1, off: 1 }, &f, &code, &[], &e, &[]);
        let g = Vertex::parse(&m, &t).unwrap().factors();
        assert_eq!((g.norm_sq, g.sum_abs), (f.norm_sq, f.sum_abs));
        assert!(g.err >= f.err * (1.0 - 1e-6) && g.err <= f.err * 1.002 + 1e-30);
    }
}

#[test]
fn refilled_pages_stay_within_the_edge_offsets() {
    // Removed vertices free room on their page but keep their line pointers, so a page
    // refilled by inserts would pass the offsets an edge can hold without the check.
    let data: Vec<Vec<f32>> = (0..400)
        .map(|i| {
            (0..8)
                .map(|j| ((i * 7 + j * 3) % 11) as f32 - 5.0)
                .collect()
        })
        .collect();
    let (s, m) = build_index(&data[..20], meta(8, Metric::L2, true), &|_| vec![]);
    assert_eq!(m.off_bits, 6);
    let mut next = 20;
    for _ in 0..4 {
        for _ in 0..70 {
            let i = next % data.len();
            insert(&s, read_meta(&s).unwrap(), &data[i], tid(next), &[]).unwrap();
            next += 1;
        }
        bulk_delete(&s, &mut |t| !untid(t).is_multiple_of(3)).unwrap();
        let (problems, _, _) = verify(&s);
        assert!(problems.is_empty(), "{problems:?}");
    }
    let most = (0..s.nblocks())
        .map(|b| vchord_base::page::count(&s.read(b)))
        .max()
        .unwrap();
    assert!(most <= m.max_off(), "{most} line pointers on a page");
}

/// Data shapes with many equal vectors (issue 22): one value for every row, half the rows on
/// one value, a grid of values with many copies each, and near-copies 1e-6 apart.
fn duplicated_shapes() -> Vec<(&'static str, Vec<Vec<f32>>)> {
    let mut rng = Rng::new(22);
    let mut random =
        |dims: usize| -> Vec<f32> { (0..dims).map(|_| rng.unit() as f32 * 2.0 - 1.0).collect() };
    let one: Vec<Vec<f32>> = (0..1500).map(|_| vec![1.0; 4]).collect();
    let half: Vec<Vec<f32>> = (0..1500)
        .map(|i| if i % 2 == 0 { vec![1.0; 4] } else { random(4) })
        .collect();
    let grid: Vec<Vec<f32>> = (0..25 * 60)
        .map(|i| vec![(i % 5) as f32, ((i / 5) % 5) as f32, 0.5, 0.5])
        .collect();
    let near: Vec<Vec<f32>> = (0..7 * 200)
        .map(|i| vec![1.0 + (i % 7) as f32 * 1e-6, 1.0, 1.0, 1.0])
        .collect();
    vec![
        ("one value", one),
        ("half", half),
        ("grid", grid),
        ("near copies", near),
    ]
}

fn assert_complete(s: &MemStore, data: &[Vec<f32>], live: &dyn Fn(usize) -> bool, what: &str) {
    let (problems, n, reached) = verify(s);
    assert!(problems.is_empty(), "{what}: {problems:?}");
    assert_eq!(n, reached, "{what}: every live vertex reachable");
    let want = (0..data.len()).filter(|&i| live(i)).count();
    for q in [0, data.len() / 3, data.len() - 1] {
        let got = search(s, &data[q], 10, None, usize::MAX, &mut no_fetch);
        let mut sorted = got.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), got.len(), "{what}: a row came back twice");
        assert_eq!(
            got.len(),
            want,
            "{what}: every live row from an unbounded stream"
        );
        if live(q) {
            // LIMIT 10 at a value: rows at distance 0 first, as many as hold it.
            let copies = (0..data.len())
                .filter(|&i| live(i) && data[i] == data[q])
                .count();
            let top = search(s, &data[q], 64, None, 10, &mut no_fetch);
            let at_zero = top.iter().filter(|&&i| data[i] == data[q]).count();
            assert_eq!(
                at_zero,
                copies.min(10),
                "{what}: copies of the query {q} first: {top:?}"
            );
        }
    }
}

#[test]
fn duplicated_vectors_stay_reachable() {
    for (what, data) in duplicated_shapes() {
        // Built, with and without labels.
        let (s, _) = build_index(&data, meta(4, Metric::L2, false), &|_| vec![]);
        assert_complete(&s, &data, &|_| true, &format!("{what}, built"));
        let (s, _) = build_index(&data, meta(4, Metric::L2, false), &|i| vec![(i % 3) as i16]);
        assert_complete(&s, &data, &|_| true, &format!("{what}, built with labels"));
        let got = search(&s, &data[0], 10, Some(vec![1]), usize::MAX, &mut no_fetch);
        assert_eq!(
            got.len(),
            data.len().div_ceil(3) - (data.len() % 3 == 1) as usize
        );
        // Inserted one by one into an empty index, in the index and in-table.
        for in_table in [false, true] {
            let (s, _) = build_index(&data[..1], meta(4, Metric::L2, in_table), &|_| vec![]);
            for (i, v) in data.iter().enumerate().skip(1) {
                insert(&s, read_meta(&s).unwrap(), v, tid(i), &[]).unwrap();
            }
            let (problems, n, reached) = verify(&s);
            assert!(
                problems.is_empty(),
                "{what}, inserted (in_table {in_table}): {problems:?}"
            );
            assert_eq!((n, reached), (data.len() as u64, data.len() as u64));
            if !in_table {
                assert_complete(&s, &data, &|_| true, &format!("{what}, inserted"));
            }
        }
        // Then a vacuum of two rows in three.
        let (s, _) = build_index(&data, meta(4, Metric::L2, false), &|_| vec![]);
        bulk_delete(&s, &mut |t| !untid(t).is_multiple_of(3)).unwrap();
        assert_complete(&s, &data, &|i| i % 3 == 0, &format!("{what}, vacuumed"));
    }
}

#[test]
fn the_stream_sweeps_what_the_walk_misses() {
    let data = fashion(400, 0);
    let (s, meta) = build_index(&data, meta(784, Metric::L2, false), &|_| vec![]);
    // Cut every edge to a few vertices: the walk cannot reach them, verify says so, and an
    // unbounded stream still returns them (from the sweep of the vertex pages).
    let b = meta.labels + 1;
    let cut: Vec<Addr> = (1..=3).map(|off| Addr { blk: b, off }).collect();
    for blk in 1..s.nblocks() {
        let mut g = s.write(blk);
        if page::kind(&g) != KIND_VERTICES {
            continue;
        }
        let offs: Vec<u16> = page::items(&g).map(|x| x.0).collect();
        for off in offs {
            let t = page::get(&g, off).unwrap();
            let v = Vertex::parse(&meta, t).unwrap();
            let mut e = Edges::of(&v);
            let general = e.list[..e.general]
                .iter()
                .filter(|a| !cut.contains(a))
                .count();
            e.list.retain(|a| !cut.contains(a));
            e.general = general;
            put_neighbours(&meta, page::get_mut(&mut g, off).unwrap(), &e);
        }
    }
    let (problems, _, _) = verify(&s);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("unreachable from the entry")),
        "{problems:?}"
    );
    let got = search(&s, &data[7], 8, None, usize::MAX, &mut no_fetch);
    assert_eq!(got.len(), 400);
}

/// Clustered 16-d rows (10 centres), one in ten a copy of one value: the end-to-end tests'
/// shape.
fn clustered_with_copies(rng: &mut Rng, n: usize) -> Vec<Vec<f32>> {
    let centres: Vec<Vec<f32>> = (0..10)
        .map(|_| (0..16).map(|_| rng.normal() as f32 * 3.0).collect())
        .collect();
    (0..n)
        .map(|i| {
            if i % 10 == 0 {
                vec![1.0; 16]
            } else {
                centres[i % 10]
                    .iter()
                    .map(|c| c + rng.normal() as f32 * 0.5)
                    .collect()
            }
        })
        .collect()
}

/// Rows inserted after the build stay reachable by a walk filtered by each of their labels:
/// an insert that splices `u -> t` into `u -> new -> t`, or hands a pruned edge to `new`,
/// must not cut a label's walk (verify checks each label's rows from its entry, every few
/// inserts). One label a row, and two of eight.
#[test]
fn inserted_rows_stay_reachable_by_their_labels() {
    let mut rng = Rng::new(5);
    let data = clustered_with_copies(&mut rng, 3600);
    let one = |i: usize| vec![(i % 4) as i16];
    let two = |i: usize| {
        let mut l = vec![(i % 8) as i16, ((i / 3) % 8) as i16];
        l.sort();
        l.dedup();
        l
    };
    type Labeller<'a> = &'a dyn Fn(usize) -> Vec<i16>;
    let shapes: [(&str, Labeller); 2] = [("one label", &one), ("two labels", &two)];
    for (metric, (what, label)) in [(Metric::Cos, shapes[0]), (Metric::L2, shapes[1])] {
        let (s, _) = build_index(&data[..3000], meta(16, metric, false), label);
        let (problems, _, _) = verify(&s);
        assert!(
            problems.is_empty(),
            "{metric:?}, {what}, built: {problems:?}"
        );
        for (i, v) in data.iter().enumerate().skip(3000) {
            insert(&s, read_meta(&s).unwrap(), v, tid(i), &label(i)).unwrap();
            if i % 25 == 24 {
                let (problems, _, _) = verify(&s);
                assert!(
                    problems.is_empty(),
                    "{metric:?}, {what}, by row {i}: {problems:?}"
                );
            }
        }
        // VACUUM of a third of the rows keeps every label's rows reachable too.
        bulk_delete(&s, &mut |t| untid(t) % 3 == 1).unwrap();
        let (problems, _, _) = verify(&s);
        assert!(
            problems.is_empty(),
            "{metric:?}, {what}, vacuumed: {problems:?}"
        );
    }
}
