//! Times k-means on a file of little-endian f32 rows (the build's hot phase):
//! `cargo run --release -p vchord-kmeans --example lloyd -- FILE DIMS K [THREADS]`.
use std::time::Instant;
use vchord_kmeans::{Matrix, Params, kmeans, normalize};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (file, dims, k) = (&a[1], a[2].parse().unwrap(), a[3].parse().unwrap());
    let threads = a.get(4).map_or(2, |t| t.parse().unwrap());
    let bytes = std::fs::read(file).unwrap();
    let mut m = Matrix::new(dims);
    for row in bytes.chunks_exact(dims * 4) {
        let mut v: Vec<f32> = row
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        normalize(&mut v);
        m.push(&v);
    }
    let p = Params {
        iterations: 10,
        spherical: true,
        threads,
        seed: 7,
        on_thread: None,
    };
    let t = Instant::now();
    let mut rounds = vec![];
    let c = kmeans(&m, k, p, &mut |r, _| {
        rounds.push((r, t.elapsed().as_secs_f64()));
        true
    });
    println!(
        "{} rows x {dims}, k {k}, {threads} threads: {:.2} s; rounds end at {:?}",
        m.len(),
        t.elapsed().as_secs_f64(),
        rounds
            .iter()
            .map(|(_, x)| format!("{x:.2}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(c.len(), k);
}
