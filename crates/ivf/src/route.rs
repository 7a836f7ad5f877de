//! Descending the centroid tree: in memory for a build, over pages for an insert.
use crate::*;

// ---- distances -------------------------------------------------------------------------

/// Distance in the index's internal scale between `a` and `b` in rotated space: squared L2,
/// or negative inner product (cosine's data is unit length).
pub(crate) fn route_dist(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::L2 | Metric::L1 => f32x::l2sq(a, b),
        Metric::Ip | Metric::Cos => -f32x::dot(a, b),
    }
}

/// [`route_dist`] from `q` to each of `vs`, four at a time (one load of `q` per four
/// centroids where the CPU has the kernel).
pub(crate) fn route_dists(metric: Metric, q: &[f32], vs: &[&[f32]]) -> Vec<f32> {
    let l2 = metric.euclidean();
    let mut out = Vec::with_capacity(vs.len());
    let mut quads = vs.chunks_exact(4);
    for c in &mut quads {
        let d = vchord_simd::one_by_four(q, [c[0], c[1], c[2], c[3]], q.len(), l2);
        out.extend(d.iter().map(|&x| if l2 { x } else { -x }));
    }
    out.extend(quads.remainder().iter().map(|v| route_dist(metric, v, q)));
    out
}
/// The centroid tree in memory, for routing the rows of a build without reading pages.
pub struct Router {
    /// Centroids per level, top first.
    pub levels: Vec<Vec<Centroid>>,
    /// `children[l][p]`: the indices in level `l` of the children of node `p` of level
    /// `l - 1` (level 0 has one parent, the root).
    pub children: Vec<Vec<Vec<usize>>>,
}

impl Router {
    /// Greedy descent: the index of the leaf for `rotated`.
    pub fn route(&self, metric: Metric, rotated: &[f32]) -> usize {
        let mut parent = 0;
        let mut best = 0;
        for (l, nodes) in self.levels.iter().enumerate() {
            let kids = &self.children[l][parent];
            let vs: Vec<&[f32]> = kids.iter().map(|&i| &nodes[i].vector[..]).collect();
            let d = route_dists(metric, rotated, &vs);
            // the first of equally near ones
            let at = (0..d.len())
                .min_by(|&a, &b| d[a].total_cmp(&d[b]))
                .expect("every parent has a child");
            best = kids[at];
            parent = best;
        }
        best
    }

    pub fn leaves(&mut self) -> &mut [Centroid] {
        self.levels.last_mut().unwrap()
    }

    /// A flat copy (for a parallel build's shared memory): every level's centroids with
    /// their addresses, chains and vectors, and the children lists.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![];
        let put = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_le_bytes());
        put(&mut b, self.levels.len() as u32);
        for (l, nodes) in self.levels.iter().enumerate() {
            put(&mut b, nodes.len() as u32);
            for c in nodes {
                b.extend_from_slice(&c.addr.to_bytes());
                b.push(c.leaf as u8);
                put(&mut b, c.children);
                put(&mut b, c.chains.len() as u32);
                for ch in &c.chains {
                    for x in [ch.head, ch.tail, ch.vhead, ch.vtail] {
                        put(&mut b, x);
                    }
                }
                put(&mut b, c.vector.len() as u32);
                b.extend_from_slice(&f32_bytes(&c.vector));
            }
            put(&mut b, self.children[l].len() as u32);
            for kids in &self.children[l] {
                put(&mut b, kids.len() as u32);
                for &k in kids {
                    put(&mut b, k as u32);
                }
            }
        }
        b
    }

    /// The router [`Router::to_bytes`] wrote; `None` if `b` is not one.
    pub fn from_bytes(b: &[u8]) -> Option<Router> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = b.get(at..at.checked_add(n)?)?;
            at += n;
            Some(s)
        };
        fn u32_of(s: &[u8]) -> u32 {
            u32::from_le_bytes(s.try_into().unwrap())
        }
        let mut r = Router {
            levels: vec![],
            children: vec![],
        };
        let nlevels = u32_of(take(4)?);
        for _ in 0..nlevels {
            let n = u32_of(take(4)?) as usize;
            let mut nodes = Vec::with_capacity(n.min(1 << 20));
            for _ in 0..n {
                let addr = Addr::from_bytes(take(6)?);
                let leaf = take(1)?[0] != 0;
                let children = u32_of(take(4)?);
                let nch = u32_of(take(4)?) as usize;
                let mut chains = Vec::with_capacity(nch.min(MAX_CHAINS));
                for _ in 0..nch {
                    let x = take(16)?;
                    chains.push(Chain {
                        head: u32_of(&x[0..4]),
                        tail: u32_of(&x[4..8]),
                        vhead: u32_of(&x[8..12]),
                        vtail: u32_of(&x[12..16]),
                    });
                }
                let dims = u32_of(take(4)?) as usize;
                let vector = f32s(take(dims.checked_mul(4)?)?);
                nodes.push(Centroid {
                    addr,
                    leaf,
                    children,
                    chains,
                    vector,
                });
            }
            let np = u32_of(take(4)?) as usize;
            let mut parents = Vec::with_capacity(np.min(1 << 20));
            for _ in 0..np {
                let k = u32_of(take(4)?) as usize;
                let mut kids = Vec::with_capacity(k.min(1 << 20));
                for _ in 0..k {
                    let i = u32_of(take(4)?) as usize;
                    if i >= nodes.len() {
                        return None;
                    }
                    kids.push(i);
                }
                parents.push(kids);
            }
            r.levels.push(nodes);
            r.children.push(parents);
        }
        (at == b.len() && !r.levels.is_empty()).then_some(r)
    }
}

/// The leaf a new vector (rotated, prepared as for search) belongs to: greedy descent.
pub fn route<S: Store>(s: &S, meta: &Meta, rotated: &[f32]) -> Result<Centroid> {
    let mut head = meta.root;
    loop {
        let cs = read_centroids(s, meta, head)?;
        let vs: Vec<&[f32]> = cs.iter().map(|c| &c.vector[..]).collect();
        let d = route_dists(meta.metric, rotated, &vs);
        let at = (0..d.len())
            .min_by(|&a, &b| d[a].total_cmp(&d[b]))
            .ok_or_else(|| Corrupt::new(format!("centroid chain at block {head} is empty")))?;
        let best = cs.into_iter().nth(at).unwrap();
        if best.leaf {
            return Ok(best);
        }
        head = best.children;
    }
}

/// Prepares a vector for the index: unit length for cosine, then rotated.
pub fn prepare(meta: &Meta, rot: &Rotation, v: &[f32]) -> Vec<f32> {
    let mut x = v.to_vec();
    if meta.metric == Metric::Cos {
        vchord_kmeans::normalize(&mut x);
    }
    rot.apply(&mut x);
    x
}
