//! k-means for vchordrq's lists: Lloyd's algorithm over a sample, seeded with distinct random
//! samples, on several threads of pure Rust; a spherical variant (centroids renormalised each
//! round) for inner product and cosine; and a hierarchy of levels built bottom-up by clustering
//! the centroids of the level below.
use vchord_rabitq::Rng;
use vchord_simd::f32x;

/// Vectors stored row-major in one buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub dims: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn new(dims: usize) -> Matrix {
        Matrix {
            dims,
            data: Vec::new(),
        }
    }
    /// An empty matrix with room for `rows` rows: filling it moves nothing, where growing by
    /// doubling would copy every row again into freshly faulted memory.
    pub fn with_capacity(dims: usize, rows: usize) -> Matrix {
        Matrix {
            dims,
            data: Vec::with_capacity(dims * rows),
        }
    }
    pub fn len(&self) -> usize {
        self.data.len() / self.dims
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dims..(i + 1) * self.dims]
    }
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.dims..(i + 1) * self.dims]
    }
    pub fn push(&mut self, v: &[f32]) {
        assert_eq!(v.len(), self.dims);
        self.data.extend_from_slice(v);
    }
    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.dims)
    }
}

/// The index of the centroid nearest to `v` (squared L2), and that distance.
pub fn nearest(centroids: &Matrix, v: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (i, c) in centroids.rows().enumerate() {
        let d = f32x::l2sq(c, v);
        if d < best.1 {
            best = (i, d);
        }
    }
    best
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let n = f32x::dot(v, v).sqrt();
    if n > 0.0 {
        for x in v {
            *x /= n;
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub iterations: usize,
    pub spherical: bool,
    pub threads: usize,
    pub seed: u64,
    /// Run first on every worker thread (the server blocks signals there, so that only the
    /// backend's own thread handles them).
    pub on_thread: Option<fn()>,
}

/// Lloyd's k-means of `samples` into `k` centroids (`1 <= k`; when there are fewer distinct
/// samples than `k`, some centroids are duplicates, which is harmless for an index).
/// `progress` is called after each round with (rounds done, rounds), and within a long round
/// between steps of its assignment, and may stop the work by returning false (a query
/// cancel).
pub fn kmeans(
    samples: &Matrix,
    k: usize,
    p: Params,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Matrix {
    let n = samples.len();
    let dims = samples.dims;
    assert!(k >= 1 && n >= 1, "k-means needs k >= 1 and a sample");
    let mut rng = Rng::new(p.seed);
    let centroids = seeds(samples, k, &mut rng);
    let mut centroids = centroids;
    if p.spherical {
        for i in 0..k {
            normalize(centroids.row_mut(i));
        }
    }
    if k == 1 || n <= k {
        if k == 1 {
            centroids = mean(samples, p.spherical);
        }
        return centroids;
    }
    let threads = p.threads.clamp(1, 64);
    let mut assign = vec![0u32; n];
    let mut sums = vec![0f64; k * dims];
    let mut counts = vec![0usize; k];
    // A random quarter of the samples, in random order (its first half is a random eighth),
    // for the first rounds; drawn only when the schedule uses it.
    let part = if schedule(0, p.iterations, n, k) < n {
        let mut order: Vec<u32> = (0..n as u32).collect();
        for i in 0..n / 4 {
            let j = i + rng.below((n - i) as u64) as usize;
            order.swap(i, j);
        }
        order.truncate(n / 4);
        order
    } else {
        vec![]
    };
    for round in 0..p.iterations {
        let m = schedule(round, p.iterations, n, k);
        let rows = (m < n).then(|| &part[..m]);
        let row = |i: usize| samples.row(rows.map_or(i, |r| r[i] as usize));
        let assign = &mut assign[..m];
        // The assignment goes in steps of about 2^28 multiply-adds, with `progress` between
        // them, so a cancel is seen within a fraction of a second even when one round takes
        // many seconds (16000 lists over 200K rows).
        let step = ((1usize << 28) / (k * dims).max(1)).max(256);
        let mut at = 0;
        while at < m {
            let end = (at + step).min(m);
            let part = rows.map(|r| &r[at..end]);
            assign_rows(
                samples,
                part,
                at,
                &centroids,
                &mut assign[at..end],
                threads,
                p.on_thread,
            );
            at = end;
            if at < m && !progress(round, p.iterations) {
                return centroids;
            }
        }
        // Update: means of the members. Each thread sums the members of its own range of
        // centroids, in sample order, so the sums do not depend on the thread count.
        let assign = &*assign;
        let per = k.div_ceil(threads);
        std::thread::scope(|s| {
            for (t, (sums, counts)) in sums
                .chunks_mut(per * dims)
                .zip(counts.chunks_mut(per))
                .enumerate()
            {
                s.spawn(move || {
                    if let Some(f) = p.on_thread {
                        f();
                    }
                    sums.fill(0.0);
                    counts.fill(0);
                    let lo = t * per;
                    for (i, &a) in assign.iter().enumerate() {
                        let Some(a) = (a as usize).checked_sub(lo).filter(|&a| a < counts.len())
                        else {
                            continue;
                        };
                        counts[a] += 1;
                        for (s, x) in sums[a * dims..(a + 1) * dims].iter_mut().zip(row(i)) {
                            *s += *x as f64;
                        }
                    }
                });
            }
        });
        for c in 0..k {
            if counts[c] == 0 {
                continue;
            }
            let row = centroids.row_mut(c);
            for (x, s) in row.iter_mut().zip(&sums[c * dims..(c + 1) * dims]) {
                *x = (*s / counts[c] as f64) as f32;
            }
            if p.spherical {
                normalize(row);
            }
        }
        // An empty cluster takes half of the largest one: a copy of its centroid, nudged.
        for c in 0..k {
            if counts[c] > 0 {
                continue;
            }
            let big = (0..k).max_by_key(|&i| counts[i]).unwrap();
            let src = centroids.row(big).to_vec();
            let row = centroids.row_mut(c);
            for (i, (x, s)) in row.iter_mut().zip(&src).enumerate() {
                let nudge = if i % 2 == 0 { 1.0 + 1e-4 } else { 1.0 - 1e-4 };
                *x = s * nudge + (rng.unit() as f32 - 0.5) * 1e-6;
            }
            if p.spherical {
                normalize(row);
            }
            counts[big] /= 2;
            counts[c] = counts[big];
        }
        if !progress(round + 1, p.iterations) {
            break;
        }
    }
    centroids
}

/// Work budget (multiply-adds) for k-means++ seeding; above it the seeds are distinct random
/// samples, which Lloyd's rounds and the empty-cluster split then improve.
const PLUSPLUS_BUDGET: usize = 1 << 30;

/// k-means++ seeds (D² sampling) when affordable, else `k` distinct random samples; when there
/// are fewer samples than `k`, samples repeat.
fn seeds(samples: &Matrix, k: usize, rng: &mut Rng) -> Matrix {
    let n = samples.len();
    let dims = samples.dims;
    let mut centroids = Matrix::new(dims);
    if n > k && n.saturating_mul(k).saturating_mul(dims) <= PLUSPLUS_BUDGET {
        let first = rng.below(n as u64) as usize;
        centroids.push(samples.row(first));
        let mut dist: Vec<f64> = samples
            .rows()
            .map(|r| f32x::l2sq(r, samples.row(first)) as f64)
            .collect();
        while centroids.len() < k {
            let total: f64 = dist.iter().sum();
            let pick = if total > 0.0 {
                let mut t = rng.unit() * total;
                let mut pick = n - 1;
                for (i, d) in dist.iter().enumerate() {
                    if t < *d {
                        pick = i;
                        break;
                    }
                    t -= d;
                }
                pick
            } else {
                rng.below(n as u64) as usize
            };
            centroids.push(samples.row(pick));
            let c = centroids.row(centroids.len() - 1).to_vec();
            for (d, r) in dist.iter_mut().zip(samples.rows()) {
                *d = d.min(f32x::l2sq(r, &c) as f64);
            }
        }
        return centroids;
    }
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = if i < n {
            let j = i + rng.below((n - i) as u64) as usize;
            order.swap(i, j);
            order[i]
        } else {
            order[i % n]
        };
        centroids.push(samples.row(j));
    }
    centroids
}

fn mean(samples: &Matrix, spherical: bool) -> Matrix {
    let dims = samples.dims;
    let mut sum = vec![0f64; dims];
    for r in samples.rows() {
        for (s, x) in sum.iter_mut().zip(r) {
            *s += *x as f64;
        }
    }
    let mut m = Matrix::new(dims);
    let row: Vec<f32> = sum
        .iter()
        .map(|s| (s / samples.len() as f64) as f32)
        .collect();
    m.push(&row);
    if spherical {
        normalize(m.row_mut(0));
    }
    m
}

/// Nearest centroid of every sample, the samples split among `threads` scoped threads.
pub fn assign_all(
    samples: &Matrix,
    centroids: &Matrix,
    out: &mut [u32],
    threads: usize,
    on_thread: Option<fn()>,
) {
    assign_rows(samples, None, 0, centroids, out, threads, on_thread)
}

/// How many samples a round uses. The first rounds, while centroids still move far, need no
/// precise means: three tenths of the rounds run on a random eighth of the sample, the next
/// three tenths on a random quarter, the rest on all of it, wherever those parts still hold
/// at least 32 samples a centroid. On real data (MiniLM, 98K samples, 382 lists) ten rounds
/// so reached the objective of eight or nine full rounds in the time of five and a half, at
/// the same recall.
fn schedule(round: usize, rounds: usize, n: usize, k: usize) -> usize {
    let part = rounds * 3 / 10;
    let enough = |m: usize| m >= 32 * k;
    if round < part && enough(n / 8) {
        n / 8
    } else if round < 2 * part && enough(n / 4) {
        n / 4
    } else {
        n
    }
}

/// [`assign_all`] for the samples `rows` names (`out[i]` for sample `rows[i]`), or for the
/// samples from `first` on (`out[i]` for sample `first + i`).
fn assign_rows(
    samples: &Matrix,
    rows: Option<&[u32]>,
    first: usize,
    centroids: &Matrix,
    out: &mut [u32],
    threads: usize,
    on_thread: Option<fn()>,
) {
    let n = out.len();
    let row = move |i: usize| samples.row(rows.map_or(first + i, |r| r[i] as usize));
    let chunk = n.div_ceil(threads.max(1)).max(1);
    // Where the CPU has the register-tiled kernel, four samples against four centroids at a
    // time: |x - c|² = |x|² + |c|² - 2 x·c, and |x|² does not change which c is nearest.
    let norms: Option<Vec<f32>> =
        vchord_simd::tiled().then(|| centroids.rows().map(|c| f32x::dot(c, c)).collect());
    let norms = norms.as_deref();
    std::thread::scope(|s| {
        for (t, part) in out.chunks_mut(chunk).enumerate() {
            s.spawn(move || {
                if let Some(f) = on_thread {
                    f();
                }
                let first = t * chunk;
                let mut j = 0;
                if let Some(norms) = norms {
                    while j + 4 <= part.len() {
                        let x: [&[f32]; 4] = std::array::from_fn(|r| row(first + j + r));
                        part[j..j + 4].copy_from_slice(&nearest4(centroids, norms, x));
                        j += 4;
                    }
                }
                for (i, slot) in part.iter_mut().enumerate().skip(j) {
                    *slot = nearest(centroids, row(first + i)).0 as u32;
                }
            });
        }
    });
}

/// The nearest centroid of each of four samples (by |c|² - 2 x·c, `norms` holding |c|²).
fn nearest4(centroids: &Matrix, norms: &[f32], x: [&[f32]; 4]) -> [u32; 4] {
    let k = centroids.len();
    let dims = centroids.dims;
    let mut best = [(0u32, f32::INFINITY); 4];
    let mut c = 0;
    let mut consider = |r: usize, c: usize, dot: f32| {
        let score = norms[c] - 2.0 * dot;
        if score < best[r].1 {
            best[r] = (c as u32, score);
        }
    };
    while c + 4 <= k {
        let cs: [&[f32]; 4] = std::array::from_fn(|i| centroids.row(c + i));
        let d = vchord_simd::dot4x4(x, cs, dims);
        for (r, row) in d.iter().enumerate() {
            for (i, &dot) in row.iter().enumerate() {
                consider(r, c + i, dot);
            }
        }
        c += 4;
    }
    while c < k {
        for (r, xr) in x.iter().enumerate() {
            consider(r, c, f32x::dot(xr, centroids.row(c)));
        }
        c += 1;
    }
    best.map(|b| b.0)
}

/// Centroids for every level, top level first: `lists = [64, 4096]` clusters the sample into
/// 4096 leaves, then those leaves into 64 parents. `parents[l][i]` is the index in level `l`
/// of the parent of centroid `i` of level `l + 1`.
pub struct Tree {
    pub levels: Vec<Matrix>,
    pub parents: Vec<Vec<u32>>,
}

pub fn hierarchy(
    samples: &Matrix,
    lists: &[usize],
    p: Params,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Tree {
    assert!(!lists.is_empty());
    let mut levels: Vec<Matrix> = vec![];
    let total = lists.len() * p.iterations;
    let mut done = 0;
    for &k in lists.iter().rev() {
        // The leaves cluster the sample (never copied: it may be most of
        // maintenance_work_mem); each level above clusters the level below it.
        let below = levels.last().unwrap_or(samples);
        let c = kmeans(below, k.min(below.len()).max(1), p, &mut |r, _| {
            progress(done + r, total)
        });
        done += p.iterations;
        levels.push(c);
    }
    levels.reverse();
    let parents = levels
        .windows(2)
        .map(|w| w[1].rows().map(|v| nearest(&w[0], v).0 as u32).collect())
        .collect();
    Tree { levels, parents }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(n: usize, dims: usize, k: usize, seed: u64) -> (Matrix, Matrix) {
        let mut rng = Rng::new(seed);
        let mut centers = Matrix::new(dims);
        for _ in 0..k {
            let c: Vec<f32> = (0..dims).map(|_| rng.normal() as f32 * 10.0).collect();
            centers.push(&c);
        }
        let mut m = Matrix::new(dims);
        for i in 0..n {
            let c = centers.row(i % k).to_vec();
            let v: Vec<f32> = c.iter().map(|x| x + rng.normal() as f32 * 0.5).collect();
            m.push(&v);
        }
        (m, centers)
    }

    fn params(threads: usize) -> Params {
        Params {
            iterations: 10,
            spherical: false,
            threads,
            seed: 9,
            on_thread: None,
        }
    }

    #[test]
    fn finds_well_separated_blobs() {
        let (m, centers) = blobs(2000, 16, 8, 1);
        let c = kmeans(&m, 8, params(2), &mut |_, _| true);
        assert_eq!(c.len(), 8);
        // Every true center has a centroid close to it.
        for t in centers.rows() {
            let (_, d) = nearest(&c, t);
            assert!(d < 1.0, "centroid off by {d}");
        }
    }

    #[test]
    fn first_rounds_on_random_parts_find_periodic_blobs() {
        // Sample i comes from blob i % 8: parts taken at a stride would see one blob only.
        // 4096 samples are enough for the eighth and the quarter (32 samples a centroid).
        let (m, centers) = blobs(4096, 16, 8, 11);
        assert!(schedule(0, 10, m.len(), 8) == m.len() / 8);
        assert!(schedule(3, 10, m.len(), 8) == m.len() / 4);
        assert!(schedule(6, 10, m.len(), 8) == m.len());
        let c = kmeans(&m, 8, params(2), &mut |_, _| true);
        for t in centers.rows() {
            let (_, d) = nearest(&c, t);
            assert!(d < 1.0, "centroid off by {d}");
        }
    }

    #[test]
    fn deterministic_and_thread_count_independent() {
        let (m, _) = blobs(500, 5, 4, 2);
        let a = kmeans(&m, 6, params(1), &mut |_, _| true);
        let b = kmeans(&m, 6, params(3), &mut |_, _| true);
        assert_eq!(a, b);
    }

    #[test]
    fn tiny_inputs() {
        let (m, _) = blobs(3, 2, 1, 3);
        assert_eq!(kmeans(&m, 5, params(1), &mut |_, _| true).len(), 5);
        let one = kmeans(&m, 1, params(1), &mut |_, _| true);
        let want: Vec<f32> = (0..2)
            .map(|j| m.rows().map(|r| r[j]).sum::<f32>() / 3.0)
            .collect();
        assert!(
            one.row(0)
                .iter()
                .zip(&want)
                .all(|(a, b)| (a - b).abs() < 1e-5)
        );
    }

    #[test]
    fn spherical_centroids_are_unit() {
        let (mut m, _) = blobs(400, 8, 4, 4);
        for i in 0..m.len() {
            normalize(m.row_mut(i));
        }
        let mut p = params(2);
        p.spherical = true;
        let c = kmeans(&m, 4, p, &mut |_, _| true);
        for r in c.rows() {
            assert!((f32x::dot(r, r) - 1.0).abs() < 1e-4);
        }
    }

    #[test]
    fn a_long_round_sees_cancel_between_steps() {
        // 128 lists of 128 dimensions: steps of 16384 samples, so 50000 samples take four.
        let (m, _) = blobs(50000, 128, 8, 9);
        let mut p = params(2);
        p.iterations = 1;
        let mut calls = vec![];
        kmeans(&m, 128, p, &mut |r, _| {
            calls.push(r);
            true
        });
        assert_eq!(
            calls,
            vec![0, 0, 0, 1],
            "three calls within the round, one after it"
        );
        let mut n = 0;
        kmeans(&m, 128, p, &mut |_, _| {
            n += 1;
            false
        });
        assert_eq!(n, 1, "a cancel stops the round at its first step");
    }

    #[test]
    fn no_empty_clusters_and_cancel_stops() {
        let (m, _) = blobs(1000, 4, 2, 5);
        let c = kmeans(&m, 20, params(2), &mut |_, _| true);
        let mut assign = vec![0u32; m.len()];
        assign_all(&m, &c, &mut assign, 2, None);
        let used: std::collections::HashSet<u32> = assign.iter().copied().collect();
        assert!(used.len() >= 15, "only {} of 20 lists used", used.len());
        let mut rounds = 0;
        kmeans(&m, 4, params(1), &mut |r, _| {
            rounds = r;
            r < 2
        });
        assert_eq!(rounds, 2);
    }

    #[test]
    fn two_levels() {
        let (m, _) = blobs(3000, 8, 16, 6);
        let t = hierarchy(&m, &[4, 32], params(2), &mut |_, _| true);
        assert_eq!(t.levels[0].len(), 4);
        assert_eq!(t.levels[1].len(), 32);
        assert_eq!(t.parents.len(), 1);
        assert!(t.parents[0].iter().all(|&p| p < 4));
    }
}
