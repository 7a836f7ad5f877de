//! A long fuzz campaign over every target: `vchord-fuzz [--seconds N] [--seed S]` (`make fuzz`).
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse().expect("a number"))
            .unwrap_or(default)
    };
    let seconds = arg("--seconds", 60);
    let seed = arg("--seed", 0x5EED);
    let targets = vchord_fuzz::targets();
    let each = Duration::from_secs(seconds) / targets.len() as u32;
    let mut failed = false;
    for t in &targets {
        match vchord_fuzz::run(t, seed, each, 0) {
            Ok(r) => println!(
                "{:<18} {:>10} executions {:>9} accepted in {:.0?}",
                t.name, r.executions, r.accepted, each
            ),
            Err(e) => {
                eprintln!("FAILED {e}");
                failed = true;
            }
        }
    }
    std::process::exit(failed as i32);
}
