//! Estimate-pass benchmark: ns per code for the float nibble lookup (one code at a time) and
//! the byte fast scan (32 codes at a time).
//!     cargo run --release -p vchord-rabitq --example scan
use std::hint::black_box;
use std::time::Instant;
use vchord_rabitq::{FastLut, QueryLut, Rng, block_code_bytes, code_bytes, pack_block};

fn main() {
    let mut rng = Rng::new(5);
    println!("| dims | float lookup ns/code | fast scan ns/code | speed-up |");
    println!("|---|---|---|---|");
    for dims in [50usize, 384, 784, 1536] {
        let nb = code_bytes(dims);
        let n = 32 * 512;
        let codes: Vec<u8> = (0..n * nb).map(|_| rng.next_u64() as u8).collect();
        let q: Vec<f32> = (0..dims).map(|_| rng.normal() as f32).collect();
        let lut = QueryLut::new(&q);
        let fast = FastLut::new(&lut);
        let mut blocks = vec![0u8; n / 32 * block_code_bytes(dims)];
        for (b, out) in blocks.chunks_exact_mut(block_code_bytes(dims)).enumerate() {
            let refs: Vec<&[u8]> = (0..32)
                .map(|i| &codes[(32 * b + i) * nb..(32 * b + i + 1) * nb])
                .collect();
            pack_block(&refs, out);
        }
        let time = |f: &mut dyn FnMut() -> f32| {
            let mut best = f64::MAX;
            for _ in 0..7 {
                let t = Instant::now();
                black_box(f());
                best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
            }
            best
        };
        let slow = time(&mut || codes.chunks_exact(nb).map(|c| lut.sign_dot(c)).sum());
        let quick = time(&mut || {
            blocks
                .chunks_exact(block_code_bytes(dims))
                .map(|b| fast.scan(b).iter().sum::<f32>())
                .sum()
        });
        println!("| {dims} | {slow:.1} | {quick:.1} | {:.1}x |", slow / quick);
    }
}
