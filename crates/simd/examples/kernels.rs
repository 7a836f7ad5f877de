//! Kernel benchmark: ns per distance, scalar reference vs each SIMD level, for common dims.
//!     cargo run --release -p vchord-simd --example kernels
use half::f16;
use std::hint::black_box;
use std::time::Instant;
use vchord_simd::{Level, detected, f16x, f32x, scalar};

fn time(n_pairs: usize, mut f: impl FnMut(usize) -> f32) -> f64 {
    let reps = 2_000_000 / n_pairs.max(1);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let mut s = 0f32;
        for r in 0..reps.max(1) {
            s += f(r % n_pairs);
        }
        black_box(s);
        best = best.min(t.elapsed().as_nanos() as f64 / reps.max(1) as f64);
    }
    best
}

fn main() {
    println!("detected level: {}", detected().name());
    let levels: Vec<Level> = [Level::Avx512, Level::Avx2, Level::Baseline]
        .into_iter()
        .filter(|l| *l as u8 >= detected() as u8)
        .collect();
    print!("| kernel | dims | scalar f64 ref |");
    for l in &levels {
        print!(" {} |", l.name());
    }
    println!();
    println!("|---|---|---|{}", "---|".repeat(levels.len()));
    let pairs = 64;
    for dims in [128usize, 768, 1536] {
        let mut seed = 1u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let a: Vec<Vec<f32>> = (0..pairs)
            .map(|_| (0..dims).map(|_| rnd()).collect())
            .collect();
        let b: Vec<Vec<f32>> = (0..pairs)
            .map(|_| (0..dims).map(|_| rnd()).collect())
            .collect();
        let ah: Vec<Vec<f16>> = a
            .iter()
            .map(|v| v.iter().map(|x| f16::from_f32(*x)).collect())
            .collect();
        let bh: Vec<Vec<f16>> = b
            .iter()
            .map(|v| v.iter().map(|x| f16::from_f32(*x)).collect())
            .collect();
        #[allow(clippy::type_complexity)]
        let rows: [(
            &str,
            Box<dyn Fn(usize) -> f32>,
            Box<dyn Fn(Level, usize) -> f32>,
        ); 5] = [
            (
                "l2sq f32",
                Box::new(|i| scalar::l2sq(&a[i], &b[i]) as f32),
                Box::new(|l, i| f32x::l2sq::at_level(l, &a[i], &b[i])),
            ),
            (
                "dot f32",
                Box::new(|i| scalar::dot(&a[i], &b[i]) as f32),
                Box::new(|l, i| f32x::dot::at_level(l, &a[i], &b[i])),
            ),
            (
                "cosine parts f32",
                Box::new(|i| scalar::dot(&a[i], &b[i]) as f32),
                Box::new(|l, i| f32x::cos_parts::at_level(l, &a[i], &b[i]).0),
            ),
            (
                "l2sq f16",
                Box::new(|i| scalar::l2sq(&scalar::widen(&ah[i]), &scalar::widen(&bh[i])) as f32),
                Box::new(|l, i| f16x::l2sq::at_level(l, &ah[i], &bh[i])),
            ),
            (
                "dot f16",
                Box::new(|i| scalar::dot(&scalar::widen(&ah[i]), &scalar::widen(&bh[i])) as f32),
                Box::new(|l, i| f16x::dot::at_level(l, &ah[i], &bh[i])),
            ),
        ];
        for (name, reference, kernel) in rows.iter() {
            print!("| {name} | {dims} | {:.1} |", time(pairs, reference));
            for &l in &levels {
                print!(" {:.1} |", time(pairs, |i| kernel(l, i)));
            }
            println!();
        }
    }
}
