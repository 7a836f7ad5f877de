//! Per-query setup benchmark: µs to build a rotation, rotate a query, and build its lookup
//! tables (the float table and the byte table of the fast scan) — the fixed cost every index
//! scan pays before it reads a code.
//!     cargo run --release -p vchord-rabitq --example setup
use std::hint::black_box;
use std::time::Instant;
use vchord_rabitq::{FastLut, QueryLut, Rng, Rotation};

fn main() {
    let mut rng = Rng::new(5);
    println!("| dims | Rotation::new µs | rotate µs | QueryLut::new µs | FastLut::new µs |");
    println!("|---|---|---|---|---|");
    for dims in [50usize, 384, 784, 1536] {
        let q: Vec<f32> = (0..dims).map(|_| rng.normal() as f32).collect();
        let time = |f: &mut dyn FnMut()| {
            let mut best = f64::MAX;
            for _ in 0..7 {
                let t = Instant::now();
                for _ in 0..200 {
                    f();
                }
                best = best.min(t.elapsed().as_nanos() as f64 / 200.0 / 1000.0);
            }
            best
        };
        let rot = Rotation::new(dims, 1);
        let lut = QueryLut::new(&q);
        let a = time(&mut || {
            black_box(Rotation::new(black_box(dims), 1));
        });
        let b = time(&mut || {
            black_box(rot.rotated(black_box(&q)));
        });
        let c = time(&mut || {
            black_box(QueryLut::new(black_box(&q)));
        });
        let d = time(&mut || {
            black_box(FastLut::new(black_box(&lut)));
        });
        println!("| {dims} | {a:.2} | {b:.2} | {c:.2} | {d:.2} |");
    }
}
