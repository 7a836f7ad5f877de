//! Vectors in the index's space, and the context every graph write works in.
use crate::*;

// ---- vectors in the index's space ------------------------------------------------------

/// Prepares a row's vector for the index: unit length for cosine, then rotated.
pub fn prepare(metric: Metric, rot: &Rotation, v: &[f32]) -> Vec<f32> {
    let mut x = v.to_vec();
    if metric == Metric::Cos {
        vchord_kmeans::normalize(&mut x);
    }
    rot.apply(&mut x);
    x
}

pub fn elems_to_f32(elem: Elem, b: &[u8]) -> Vec<f32> {
    match elem {
        Elem::F32 => f32s(b),
        Elem::F16 => b
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    }
}

/// What an insert or a vacuum prunes with: a vertex's vector in the rotated space (exact when
/// the index keeps vectors, else the code's approximation), and its labels.
#[derive(Clone)]
pub(crate) struct Point {
    pub(crate) x: Vec<f32>,
    pub(crate) labels: Vec<i16>,
}

pub(crate) struct Ctx<'a, S: Store> {
    pub(crate) s: &'a S,
    pub(crate) meta: &'a Meta,
    pub(crate) rot: std::sync::Arc<Rotation>,
    pub(crate) centre: Vec<f32>,
    /// An insert or vacuum reads hundreds of vertices (candidates, their lists to prune).
    pub(crate) len: Length,
}

impl<S: Store> Ctx<'_, S> {
    pub(crate) fn point_of(&self, v: &Vertex) -> Point {
        let x = if self.meta.rerank_in_table {
            let r = vchord_rabitq::decode(
                self.meta.bits,
                self.meta.dims as usize,
                v.code(),
                &v.factors(),
            );
            r.iter().zip(&self.centre).map(|(a, b)| a + b).collect()
        } else {
            self.unrotated(&elems_to_f32(self.meta.elem, v.vector()))
        };
        Point {
            x,
            labels: v.labels(),
        }
    }

    /// With vectors kept, pruning works in the original space (the rotation preserves
    /// distances, so it is skipped): unit length for cosine.
    pub(crate) fn unrotated(&self, v: &[f32]) -> Vec<f32> {
        let mut x = v.to_vec();
        if self.meta.metric == Metric::Cos {
            vchord_kmeans::normalize(&mut x);
        }
        x
    }

    /// A new row's point, in the space [`Ctx::point_of`] uses for this index.
    pub(crate) fn point_new(&self, v: &[f32], labels: &[i16]) -> Point {
        Point {
            x: if self.meta.rerank_in_table {
                prepare(self.meta.metric, &self.rot, v)
            } else {
                self.unrotated(v)
            },
            labels: labels.to_vec(),
        }
    }

    pub(crate) fn point(&self, a: Addr) -> Option<Point> {
        with_vertex_in(self.s, &self.len, self.meta, a, |v| {
            (!v.deleted()).then(|| self.point_of(v))
        })
        .flatten()
    }

    /// Robust prune of `cands` for a vertex at `p` (prepared vector, labels).
    pub(crate) fn prune(&self, p: &Point, cands: Vec<(Addr, Point)>) -> Edges {
        let mut keyed: Vec<(usize, f32)> = cands
            .iter()
            .enumerate()
            .map(|(i, (_, c))| (i, f32x::l2sq(&p.x, &c.x)))
            .collect();
        let chosen = robust_prune(
            &p.labels,
            &mut keyed,
            self.meta.alpha,
            self.meta.m as usize,
            self.meta.label_slots as usize,
            &mut |a, b| f32x::l2sq(&cands[a].1.x, &cands[b].1.x),
            &|k| &cands[k].1.labels,
        );
        Edges {
            list: chosen.0.into_iter().map(|i| cands[i].0).collect(),
            general: chosen.1,
        }
    }
}

pub(crate) fn new_ctx<'a, S: Store>(s: &'a S, meta: &'a Meta) -> Result<Ctx<'a, S>> {
    Ok(Ctx {
        s,
        meta,
        rot: meta.rotation(),
        centre: read_centre(s, meta)?,
        len: Length::default(),
    })
}
