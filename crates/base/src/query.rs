//! A query vector, prepared once per scan: the exact distances of reranks and the rotated
//! form RaBitQ estimates from.
use crate::{Elem, Metric};
use half::f16;
use vchord_rabitq::Rotation;
use vchord_simd::{f16x, f32x};

/// Room to decode a stored vector into, kept by a scan across reranks.
#[derive(Default)]
pub struct Scratch {
    f32s: Vec<f32>,
    f16s: Vec<f16>,
}

/// A query: the original (for exact distances) and the rotated, prepared form.
pub struct Query {
    pub metric: Metric,
    f32s: Vec<f32>,
    f16s: Vec<f16>,
    /// Rotated (cosine: of the unit query).
    pub rotated: Vec<f32>,
    pub norm: f32,
}

impl Query {
    /// A query for an index that rotates with `rot`; `q` holds the query's elements as f32
    /// (exact for halfvec's f16).
    pub fn with(metric: Metric, rot: &Rotation, q: &[f32]) -> Query {
        let mut unit = q.to_vec();
        if metric == Metric::Cos {
            vchord_kmeans::normalize(&mut unit);
        }
        let rotated = rot.rotated(&unit);
        let norm = f32x::dot(&rotated, &rotated).sqrt();
        Query {
            metric,
            f32s: q.to_vec(),
            f16s: q.iter().map(|&x| f16::from_f32(x)).collect(),
            rotated,
            norm,
        }
    }

    /// The exact distance to a stored vector, as the SQL operator computes it (except L2,
    /// which stays squared).
    pub fn exact(&self, elem: Elem, stored: &[u8]) -> f32 {
        self.exact_with(elem, stored, &mut Scratch::default())
    }

    /// [`Query::exact`], decoding the stored elements into `scratch` (reused across calls,
    /// so a rerank allocates nothing).
    pub fn exact_with(&self, elem: Elem, stored: &[u8], scratch: &mut Scratch) -> f32 {
        match elem {
            Elem::F32 => {
                let v = &mut scratch.f32s;
                v.resize(stored.len() / 4, 0.0);
                for (x, c) in v.iter_mut().zip(stored.as_chunks::<4>().0) {
                    *x = f32::from_le_bytes(*c);
                }
                match self.metric {
                    Metric::L2 => f32x::l2sq(v, &self.f32s),
                    Metric::Ip => -f32x::dot(v, &self.f32s),
                    Metric::Cos => cos_dist(f32x::cos_parts(v, &self.f32s)),
                    Metric::L1 => f32x::l1(v, &self.f32s),
                }
            }
            Elem::F16 => {
                let v = &mut scratch.f16s;
                v.resize(stored.len() / 2, f16::ZERO);
                for (x, c) in v.iter_mut().zip(stored.as_chunks::<2>().0) {
                    *x = f16::from_le_bytes(*c);
                }
                match self.metric {
                    Metric::L2 => f16x::l2sq(v, &self.f16s),
                    Metric::Ip => -f16x::dot(v, &self.f16s),
                    Metric::Cos => cos_dist(f16x::cos_parts(v, &self.f16s)),
                    Metric::L1 => f16x::l1(v, &self.f16s),
                }
            }
        }
    }
}

fn cos_dist(parts: (f32, f32, f32)) -> f32 {
    let d = vchord_simd::cosine_from_parts(parts);
    // A zero vector has no direction: it sorts last.
    if d.is_nan() { f32::INFINITY } else { d as f32 }
}

/// The SQL operator's value for an internal distance.
pub fn sql_distance(metric: Metric, d: f32) -> f64 {
    match metric {
        Metric::L2 => (d.max(0.0) as f64).sqrt(),
        Metric::Ip | Metric::Cos | Metric::L1 => d as f64,
    }
}
