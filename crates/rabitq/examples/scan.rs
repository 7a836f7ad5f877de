//! ns per code estimate (the hot loop of a vchordrq list scan): lookup-table sign sum plus the
//! estimate, over codes laid out as in list pages. `cargo run --release -p vchord-rabitq --example scan`
use std::time::Instant;
use vchord_rabitq::*;

fn main() {
    let mut rng = Rng::new(1);
    for dims in [50usize, 384, 784, 1536] {
        let n = 20_000;
        let rot = Rotation::new(dims, 7);
        let c = vec![0f32; dims];
        let mut codes = vec![];
        for _ in 0..n {
            let v: Vec<f32> = (0..dims).map(|_| rng.normal() as f32).collect();
            let mut bits = vec![0u8; code_bytes(dims)];
            let f = encode(&rot.rotated(&v), &c, &mut bits);
            codes.push((bits, f));
        }
        let q: Vec<f32> = (0..dims).map(|_| rng.normal() as f32).collect();
        let lut = QueryLut::new(&rot.rotated(&q));
        let lq = ListQuery {
            base: 1.0,
            norm: 1.0,
        };
        let mut best = f64::INFINITY;
        let mut sink = 0f32;
        for _ in 0..5 {
            let t = Instant::now();
            for (bits, f) in &codes {
                let (e, err) = estimate(Kind::L2, f, lut.sign_dot(bits), lq);
                sink += e - 1.9 * err;
            }
            best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
        }
        println!("dims {dims:5}: {best:6.1} ns per code (sink {sink:.1})");
    }
}
