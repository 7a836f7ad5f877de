//! Text input benchmark: µs to parse one vector's text form, for the shapes real clients send
//! (small integers such as pixel values; 8-9 significant digits as float4 output and numpy
//! print them).
//!     cargo run --release -p vchord-vector --example parse
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pixels: Vec<String> = (0..784)
        .map(|_| match next() % 3 {
            0 => "0".to_string(),
            _ => (next() % 256).to_string(),
        })
        .collect();
    let embedding: Vec<String> = (0..384)
        .map(|_| {
            let x = (next() % 2_000_000) as f32 / 1e7 - 0.1;
            let mut s = String::new();
            vchord_vector::float::write_f32(&mut s, x);
            s
        })
        .collect();
    let short: Vec<String> = (0..384)
        .map(|_| format!("{:.4}", (next() % 20000) as f32 / 1e4 - 1.0))
        .collect();
    println!("| input | dims | bytes | µs per vector |");
    println!("|---|---|---|---|");
    for (name, parts) in [
        ("pixels 0-255", &pixels),
        ("float4 shortest", &embedding),
        ("4 decimals", &short),
    ] {
        let text = format!("[{}]", parts.join(","));
        let mut best = f64::MAX;
        for _ in 0..7 {
            let t = Instant::now();
            for _ in 0..500 {
                black_box(vchord_vector::parse::<f32>(black_box(&text)).unwrap());
            }
            best = best.min(t.elapsed().as_secs_f64() * 1e6 / 500.0);
        }
        println!("| {name} | {} | {} | {best:.2} |", parts.len(), text.len());
    }
}
