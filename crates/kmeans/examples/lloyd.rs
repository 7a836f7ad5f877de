//! Times k-means on a file of little-endian f32 rows and reports the mean squared distance of
//! the samples to their nearest centroid (the k-means objective), so that a faster algorithm can
//! be checked for the same quality.
//!
//! `cargo run --release -p vchord-kmeans --example lloyd -- FILE DIMS K THREADS [ITERATIONS] [spherical]`
//! (`spherical` also scales each row to unit length, as a cosine index's build does).
use std::time::Instant;
use vchord_kmeans::{Matrix, Params, assign_all, kmeans, normalize};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: lloyd FILE DIMS K THREADS [ITERATIONS] [spherical]");
        std::process::exit(2);
    }
    let bytes = std::fs::read(&args[1]).expect("read FILE");
    let dims: usize = args[2].parse().unwrap();
    let k: usize = args[3].parse().unwrap();
    let threads: usize = args[4].parse().unwrap();
    let iterations: usize = args.get(5).map(|s| s.parse().unwrap()).unwrap_or(10);
    let spherical = args.get(6).is_some_and(|s| s == "spherical");
    let data: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let mut samples = Matrix { dims, data };
    if spherical {
        for i in 0..samples.len() {
            normalize(samples.row_mut(i));
        }
    }
    let p = Params {
        iterations,
        spherical,
        threads,
        seed: 7,
        on_thread: None,
    };
    let t = Instant::now();
    let mut last = Instant::now();
    let c = kmeans(&samples, k, p, &mut |r, _| {
        eprintln!("round {r}: {:.3} s", last.elapsed().as_secs_f64());
        last = Instant::now();
        true
    });
    let secs = t.elapsed().as_secs_f64();
    let mut assign = vec![0u32; samples.len()];
    assign_all(&samples, &c, &mut assign, threads, None);
    let obj: f64 = samples
        .rows()
        .zip(&assign)
        .map(|(r, &a)| {
            c.row(a as usize)
                .iter()
                .zip(r)
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / samples.len() as f64;
    println!(
        "rows {} dims {dims} k {k} threads {threads} iterations {iterations}: {secs:.3} s, objective {obj:.6}",
        samples.len()
    );
}
