//! Fuzzing the parsers that take user input: `vector`/`halfvec` text and binary forms, type
//! modifiers, and vchordrq's TOML options and probes lists.
//!
//! cargo-fuzz needs a nightly toolchain, which this project cannot fetch, so this is a small
//! mutation fuzzer without coverage feedback: each target starts from seeds (valid and almost
//! valid inputs), mutates them with byte edits, splices and a dictionary of tokens that sit
//! on parser edges (`1e38`, `65505`, `NaN`, 16001 elements...), and checks properties, not just
//! the absence of panics:
//! - text: an accepted value has 1..=16000 finite elements, and formatting it and parsing the
//!   result gives the same bits back;
//! - binary: an accepted payload re-encodes to exactly the same bytes;
//! - options: parsing is deterministic, and an accepted text satisfies every documented
//!   range, so the index build never sees a value it does not expect.
//!
//! `cargo test -p vchord-fuzz` runs each target briefly (part of `make test`); `make fuzz`
//! runs `vchord-fuzz --seconds N` for a long campaign.
use half::f16;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};
use vchord_ivf::options::{self, MAX_LEVELS, MAX_LISTS, Options};
use vchord_rabitq::Rng;
use vchord_vector::{self as vector, Element, MAX_DIM};

/// Uniform in `0..n` (0 when `n` is 0), from the project's seedable generator.
fn pick(rng: &mut Rng, n: usize) -> usize {
    rng.below(n.max(1) as u64) as usize
}

/// A fuzz target: seeds, a dictionary of tokens, and a property check that returns what
/// went wrong.
pub struct Target {
    pub name: &'static str,
    pub seeds: Vec<Vec<u8>>,
    pub dictionary: Vec<Vec<u8>>,
    pub check: fn(&[u8]) -> Result<(), String>,
}

/// What a campaign did.
#[derive(Debug, Default)]
pub struct Report {
    pub executions: u64,
    pub accepted: u64,
}

/// Mutates `input` in place with 1..=4 random edits.
pub fn mutate(rng: &mut Rng, input: &mut Vec<u8>, target: &Target) {
    for _ in 0..1 + pick(rng, 4) {
        let len = input.len();
        match pick(rng, 9) {
            0 if len > 0 => {
                let i = pick(rng, len);
                input[i] ^= 1 << pick(rng, 8);
            }
            1 if len > 0 => {
                let i = pick(rng, len);
                input[i] = rng.next_u64() as u8;
            }
            2 => {
                let i = pick(rng, len + 1);
                input.insert(i, rng.next_u64() as u8);
            }
            3 if len > 0 => {
                let a = pick(rng, len);
                let b = (a + 1 + pick(rng, 8)).min(len);
                input.drain(a..b);
            }
            4 if len > 0 => {
                // duplicate a range (grows lists of elements and tables)
                let a = pick(rng, len);
                let b = (a + 1 + pick(rng, 64)).min(len);
                let piece = input[a..b].to_vec();
                let at = pick(rng, len + 1);
                input.splice(at..at, piece);
            }
            5 | 6 if !target.dictionary.is_empty() => {
                let token = &target.dictionary[pick(rng, target.dictionary.len())];
                let at = pick(rng, len + 1);
                if pick(rng, 2) == 0 || len == 0 {
                    input.splice(at..at, token.iter().copied());
                } else {
                    let end = (at + token.len()).min(len);
                    input.splice(at..end, token.iter().copied());
                }
            }
            7 => {
                // splice with another seed
                let other = &target.seeds[pick(rng, target.seeds.len())];
                let at = pick(rng, len + 1);
                let from = pick(rng, other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                let i = pick(rng, len);
                input.truncate(i);
            }
            _ => input.push(rng.next_u64() as u8),
        }
    }
}

/// Runs `target` for `duration` (at least `min_execs` inputs); the first property failure or
/// panic is returned with the input (escaped) that caused it.
pub fn run(
    target: &Target,
    seed: u64,
    duration: Duration,
    min_execs: u64,
) -> Result<Report, String> {
    let mut rng = Rng::new(seed);
    let rng = &mut rng;
    let mut report = Report::default();
    let start = Instant::now();
    let mut corpus: Vec<Vec<u8>> = target.seeds.clone();
    while report.executions < min_execs || start.elapsed() < duration {
        let mut input = corpus[pick(rng, corpus.len())].clone();
        if report.executions >= target.seeds.len() as u64 {
            mutate(rng, &mut input, target);
        } else {
            input = target.seeds[report.executions as usize].clone();
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| (target.check)(&input)));
        report.executions += 1;
        match outcome {
            Ok(Ok(())) => {
                report.accepted += 1;
                // keep some accepted inputs as new starting points, bounded in number and size
                if corpus.len() < 4096 && input.len() < 1 << 17 && pick(rng, 16) == 0 {
                    corpus.push(input);
                }
            }
            Ok(Err(e)) if e.is_empty() => {} // rejected, as it should be
            Ok(Err(e)) => {
                return Err(format!(
                    "{}: {e}\ninput: {}",
                    target.name,
                    input.escape_ascii()
                ));
            }
            Err(_) => {
                return Err(format!(
                    "{}: panicked on input: {}",
                    target.name,
                    input.escape_ascii()
                ));
            }
        }
    }
    Ok(report)
}

/// `Ok(())` accepted and sound, `Err("")` rejected cleanly, `Err(why)` a broken property.
type Check = Result<(), String>;
fn rejected() -> Check {
    Err(String::new())
}

fn text<E: Element>(input: &[u8]) -> Check {
    let Ok(s) = std::str::from_utf8(input) else {
        return rejected(); // the server never hands a parser invalid UTF-8 in a UTF-8 database
    };
    let Ok(v) = vector::parse::<E>(s) else {
        return rejected();
    };
    if v.is_empty() || v.len() > MAX_DIM {
        return Err(format!("accepted {} dimensions", v.len()));
    }
    if let Some(x) = v.iter().find(|x| !x.to_f32().is_finite()) {
        return Err(format!("accepted a non-finite element {}", x.to_f32()));
    }
    let printed = vector::format(&v);
    let again = vector::parse::<E>(&printed)
        .map_err(|e| format!("own output {printed:?} rejected: {e}"))?;
    let bits = |v: &[E]| v.iter().map(|x| x.to_f32().to_bits()).collect::<Vec<_>>();
    if bits(&again) != bits(&v) {
        return Err(format!("text round trip changed the value: {printed}"));
    }
    Ok(())
}

fn binary<E: Element>(input: &[u8]) -> Check {
    let Ok(v) = vector::decode::<E>(input) else {
        return rejected();
    };
    if v.is_empty() || v.len() > MAX_DIM || v.iter().any(|x| !x.to_f32().is_finite()) {
        return Err("accepted an invalid value".into());
    }
    if vector::encode(&v) != input {
        return Err("binary round trip changed the bytes".into());
    }
    Ok(())
}

fn typmod(input: &[u8]) -> Check {
    let mods: Vec<i32> = input
        .chunks(4)
        .map(|c| {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            i32::from_le_bytes(b)
        })
        .collect();
    let mut accepted = false;
    for t in [
        vector::typmod_in::<f32>(&mods),
        vector::typmod_in::<f16>(&mods),
    ]
    .into_iter()
    .flatten()
    {
        if !(mods.len() == 1 && (1..=MAX_DIM as i32).contains(&t) && t == mods[0]) {
            return Err(format!("accepted typmod {t} from {mods:?}"));
        }
        accepted = true;
    }
    if accepted { Ok(()) } else { rejected() }
}

fn option_text(input: &[u8]) -> Check {
    let Ok(s) = std::str::from_utf8(input) else {
        return rejected();
    };
    let first = Options::parse(s);
    if first != Options::parse(s) {
        return Err("parsing is not deterministic".into());
    }
    // probes lists go through their own parser (the GUC)
    if let Ok(p) = options::parse_probes(s)
        && ((p.is_empty() && !s.trim().is_empty()) || p.len() > MAX_LEVELS || p.contains(&0))
    {
        return Err(format!("probes accepted {p:?}"));
    }
    let o = match first {
        Ok(o) => o,
        Err(e) if e.trim().is_empty() => return Err("an error without a message".into()),
        Err(_) => return rejected(),
    };
    let i = &o.build.internal;
    let ok = i.lists.len() <= MAX_LEVELS
        && i.lists.iter().all(|&l| (1..=MAX_LISTS).contains(&l))
        && i.lists.windows(2).all(|w| w[0] < w[1])
        && (1..=4096).contains(&i.sampling_factor)
        && (1..=1000).contains(&i.kmeans_iterations)
        && i.build_threads <= 255
        && !o.search.probes.contains(&0)
        && o.search.probes.len() <= MAX_LEVELS
        && o.search.epsilon.is_none_or(|e| (0.0..=4.0).contains(&e))
        && o.search
            .max_scan_tuples
            .is_none_or(|m| (-1..=i32::MAX as i64).contains(&m));
    if !ok {
        return Err(format!("accepted out-of-range options {o:?}"));
    }
    Ok(())
}

fn tokens(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// Every target, with its seeds and dictionary.
pub fn targets() -> Vec<Target> {
    let number_tokens = [
        "[",
        "]",
        ",",
        " ",
        "\t",
        "\n",
        "-",
        "+",
        ".",
        "e",
        "E",
        "e-",
        "1e38",
        "3.4028235e38",
        "3.5e38",
        "1e-45",
        "1e-46",
        "65504",
        "65505",
        "65519.99",
        "6e-8",
        "NaN",
        "nan",
        "inf",
        "-Infinity",
        "infinity",
        "0x10",
        "1_0",
        "١",
        "∞",
        "\u{0}",
        "00000000000000000000001",
        "0.000000000000000000000000000000000000000000001",
    ];
    let text_seeds = {
        let mut s = tokens(&[
            "[1,2,3]",
            "[1.5e3, -2 ,3]",
            " [ -0.0 ] ",
            "[1,,2]",
            "[]",
            "[1,2",
            "1,2,3]",
            "[1e38,3.4e38,-3.4e38]",
            "[65504,-65504,6e-8]",
            "[1.17549435e-38,1e-45]",
            "[0.1,0.2,0.30000001]",
        ]);
        // a value at the dimension limit and one over it
        s.push(format!("[{}]", vec!["1"; MAX_DIM].join(",")).into_bytes());
        s.push(format!("[{}]", vec!["0.5"; MAX_DIM + 1].join(",")).into_bytes());
        s
    };
    let binary_seeds = |size: usize| {
        let mut s = vec![];
        for dims in [1u16, 3, 16, 255] {
            let mut v = dims.to_be_bytes().to_vec();
            v.extend_from_slice(&[0, 0]);
            v.extend(std::iter::repeat_n(0x3c, dims as usize * size));
            s.push(v);
        }
        s.push(vec![0x3e, 0x80, 0, 0]); // 16000 dimensions, no payload
        s.push(vec![0x3e, 0x81, 0, 0]);
        s
    };
    let binary_tokens = tokens(&[
        "\u{7f}",
        "\u{0}\u{0}",
        "\u{7f}\u{80}\u{0}\u{0}",
        "\u{ff}\u{ff}",
        "\u{7c}\u{0}",
    ]);
    let option_seeds = tokens(&[
        "",
        "residual_quantization = false",
        "rerank_in_table = true",
        "[build.internal]\nlists = [64, 4096]\nspherical_centroids = true\nsampling_factor = 16\nkmeans_iterations = 3\nbuild_threads = 2",
        "[search]\nprobes = [8]\nepsilon = 1.5\nmax_scan_tuples = -1",
        "[build]\ninternal = { lists = [10] }",
        "8",
        "4, 32",
        "[build.internal]\nlists = []",
    ]);
    let option_tokens = tokens(&[
        "=",
        "[",
        "]",
        "{",
        "}",
        ",",
        "\"",
        "'",
        "\n",
        ".",
        "lists",
        "probes",
        "epsilon",
        "build",
        "internal",
        "search",
        "true",
        "false",
        "-1",
        "0",
        "262144",
        "262145",
        "4294967296",
        "-9223372036854775809",
        "1e400",
        "nan",
        "inf",
        "[[]]",
        "\"\"\"",
        "max_scan_tuples",
        "sampling_factor",
        "kmeans_iterations",
        "build_threads",
        "spherical_centroids",
        "residual_quantization",
        "rerank_in_table",
        "unknown",
    ]);
    vec![
        Target {
            name: "vector text",
            seeds: text_seeds.clone(),
            dictionary: tokens(&number_tokens),
            check: text::<f32>,
        },
        Target {
            name: "halfvec text",
            seeds: text_seeds,
            dictionary: tokens(&number_tokens),
            check: text::<f16>,
        },
        Target {
            name: "vector binary",
            seeds: binary_seeds(4),
            dictionary: binary_tokens.clone(),
            check: binary::<f32>,
        },
        Target {
            name: "halfvec binary",
            seeds: binary_seeds(2),
            dictionary: binary_tokens,
            check: binary::<f16>,
        },
        Target {
            name: "typmod",
            seeds: vec![
                vec![3, 0, 0, 0],
                vec![0x80, 0x3e, 0, 0],
                vec![0, 0, 0, 0x80],
            ],
            dictionary: vec![],
            check: typmod,
        },
        Target {
            name: "vchordrq options",
            seeds: option_seeds,
            dictionary: option_tokens,
            check: option_text,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short campaign per target (the long one is `make fuzz`).
    #[test]
    fn short_campaign() {
        for t in targets() {
            let r = run(&t, 0x5EED, Duration::from_millis(1500), 2000)
                .unwrap_or_else(|e| panic!("{e}"));
            println!(
                "{}: {} executions, {} accepted",
                t.name, r.executions, r.accepted
            );
            assert!(r.accepted > 0 && r.accepted < r.executions, "{}", t.name);
        }
    }

    /// The fuzzer can fail: a check with a planted bug is caught.
    #[test]
    fn a_planted_bug_is_found() {
        fn buggy(input: &[u8]) -> Check {
            let s = std::str::from_utf8(input).map_err(|_| String::new())?;
            let v = vector::parse::<f32>(s).map_err(|_| String::new())?;
            if v.len() >= 7 {
                return Err("seven or more elements".into());
            }
            Ok(())
        }
        let mut t = targets().remove(0);
        t.check = buggy;
        t.seeds.retain(|s| s.len() < 100);
        assert!(run(&t, 1, Duration::from_secs(5), 0).is_err());
    }
}
