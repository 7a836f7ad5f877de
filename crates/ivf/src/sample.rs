//! A build's first phase: a reservoir sample of the rows, and the centroid tree k-means makes
//! of it. The server's build and the unit tests run this same code.
use crate::*;
use vchord_kmeans::{Matrix, Params, Tree};
use vchord_rabitq::Rng;

/// The seed of a build's sampling and k-means: a build of the same rows is the same index.
pub const SEED: u64 = 0x005E_ED0F_1157;

/// Rows of `dims` dimensions a sample may hold within `mem` bytes: most of it; the rest is
/// k-means' own state.
pub fn sample_budget(mem: u64, dims: u32) -> u64 {
    (mem * 3 / 4 / (dims.max(1) as u64 * 4 + 16)).max(1)
}

/// Where a row offered to a [`Sampler`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// At the end: the sample is not full yet.
    Push,
    /// In place of row `i` of the full sample.
    At(usize),
}

/// Reservoir sampling of the rows a scan visits: each of `seen` rows ends up in the sample
/// with probability capacity / seen. Cosine rows are normalised as they come (k-means works
/// on the unit sphere).
pub struct Sampler {
    pub sample: Matrix,
    /// Rows offered so far.
    pub seen: u64,
    capacity: usize,
    metric: Metric,
    rng: Rng,
}

impl Sampler {
    /// A sampler of at most `capacity` rows of `dims` dimensions (0: not known yet, see
    /// [`Sampler::set_dims`]), with room for `expected` rows at once.
    pub fn new(dims: usize, capacity: usize, expected: usize, metric: Metric) -> Sampler {
        Sampler {
            sample: Matrix::with_capacity(dims.max(1), capacity.min(expected)),
            seen: 0,
            capacity,
            metric,
            rng: Rng::new(SEED),
        }
    }

    /// The dimensions, once the first row tells them (a column without a typmod), with the
    /// capacity they allow.
    pub fn set_dims(&mut self, dims: usize, capacity: usize, expected: usize) {
        self.capacity = self.capacity.min(capacity);
        self.sample = Matrix::with_capacity(dims, self.capacity.min(expected));
    }

    /// Counts a row; where it goes, or `None` when it is not kept.
    pub fn offer(&mut self) -> Option<Slot> {
        self.seen += 1;
        if self.sample.len() < self.capacity {
            return Some(Slot::Push);
        }
        let j = self.rng.below(self.seen) as usize;
        (j < self.capacity).then_some(Slot::At(j))
    }

    /// Stores a kept row (of the sample's dimensions) where [`Sampler::offer`] said.
    pub fn put(&mut self, slot: Slot, v: &[f32]) {
        let at = match slot {
            Slot::Push => {
                self.sample.push(v);
                self.sample.len() - 1
            }
            Slot::At(j) => {
                self.sample.row_mut(j).copy_from_slice(v);
                j
            }
        };
        if self.metric == Metric::Cos {
            vchord_kmeans::normalize(self.sample.row_mut(at));
        }
    }

    /// The sample, cut to a uniform subset of `need` rows when it holds more.
    pub fn finish(self, need: u64) -> Matrix {
        let mut sample = self.sample;
        if sample.len() as u64 <= need {
            return sample;
        }
        let mut rng = Rng::new(SEED ^ 1);
        let (n, k, d) = (sample.len(), need as usize, sample.dims);
        for j in 0..k {
            let r = j + rng.below((n - j) as u64) as usize;
            if r != j {
                // r > j: swap rows j and r in place.
                let (lo, hi) = sample.data.split_at_mut(r * d);
                lo[j * d..(j + 1) * d].swap_with_slice(&mut hi[..d]);
            }
        }
        sample.data.truncate(k * d);
        sample
    }
}

/// The lists a build makes of `rows` rows when `asked` (none: about the square root of the
/// rows): a leaf list per row at most (levels above keep fewer than the one below).
pub fn lists_for(asked: &[u32], rows: u64) -> Vec<u32> {
    let mut lists = if asked.is_empty() {
        vec![options::auto_lists(rows)]
    } else {
        asked.to_vec()
    };
    if rows > 0 && *lists.last().unwrap() as u64 > rows {
        let last = rows as u32;
        lists.retain(|&l| l < last);
        lists.push(last);
    }
    lists
}

/// The centroid tree of `sample` (rows of `dims` dimensions) with `lists` per level; with no
/// rows, one list around the origin (REINDEX after loading gives real lists). `step` is
/// k-means' progress callback (false stops it).
pub fn centroids(
    sample: &Matrix,
    dims: usize,
    lists: &[u32],
    p: Params,
    step: &mut dyn FnMut(usize, usize) -> bool,
) -> Tree {
    if sample.is_empty() {
        let mut m = Matrix::new(dims);
        m.push(&vec![0f32; dims]);
        return Tree {
            levels: vec![m],
            parents: vec![],
        };
    }
    let ls: Vec<usize> = lists.iter().map(|&l| l as usize).collect();
    vchord_kmeans::hierarchy(sample, &ls, p, step)
}
