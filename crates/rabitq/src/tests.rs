use super::*;

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

fn gaussian(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.normal() as f32).collect()
}

#[test]
fn rotation_is_orthogonal_for_any_dimension() {
    let mut rng = Rng::new(1);
    for dims in [1, 2, 3, 5, 7, 8, 9, 50, 64, 100, 384, 784, 1000, 1536] {
        let rot = Rotation::new(dims, 42);
        let a = gaussian(&mut rng, dims);
        let b = gaussian(&mut rng, dims);
        let (ra, rb) = (rot.rotated(&a), rot.rotated(&b));
        let tol = 1e-4 * (dims as f64);
        assert!((dot(&a, &a) - dot(&ra, &ra)).abs() < tol, "norm at {dims}");
        assert!((dot(&a, &b) - dot(&ra, &rb)).abs() < tol, "dot at {dims}");
        // Deterministic from the seed, different across seeds.
        assert_eq!(Rotation::new(dims, 42).rotated(&a), ra);
        if dims > 4 {
            assert_ne!(Rotation::new(dims, 43).rotated(&a), ra);
        }
    }
}

#[test]
fn rotation_spreads_a_spike() {
    // A one-hot vector must come out dense: that is what makes 1-bit codes informative.
    let dims = 784;
    let rot = Rotation::new(dims, 7);
    let mut e = vec![0f32; dims];
    e[3] = 1.0;
    let r = rot.rotated(&e);
    let max = r.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(max < 0.2, "largest coordinate {max}");
}

#[test]
fn lookup_table_is_exact() {
    let mut rng = Rng::new(2);
    for dims in [1, 3, 4, 8, 9, 15, 16, 17, 63, 100, 785] {
        let q = gaussian(&mut rng, dims);
        let lut = QueryLut::new(&q);
        for _ in 0..20 {
            let r = gaussian(&mut rng, dims);
            let c = vec![0f32; dims];
            let mut bits = vec![0u8; code_bytes(dims)];
            encode(&r, &c, &mut bits);
            let want: f64 = r
                .iter()
                .zip(&q)
                .map(|(x, y)| if *x >= 0.0 { *y as f64 } else { -*y as f64 })
                .sum();
            let got = lut.sign_dot(&bits) as f64;
            assert!(
                (want - got).abs() < 1e-3 * (dims as f64).sqrt(),
                "{dims}: {want} {got}"
            );
        }
    }
}

#[test]
fn factors_round_trip() {
    let f = Factors {
        norm_sq: 1.5,
        sum_abs: -2.25,
        sign_dot_c: 3.0e-7,
        err: 1e9,
    };
    assert_eq!(Factors::from_bytes(&f.to_bytes()), f);
}

/// Share of (vector, query) pairs whose true distance lies within `eps * error` of the estimate.
fn coverage(kind: Kind, data: &[Vec<f32>], queries: &[Vec<f32>], eps: f32) -> f64 {
    coverage_bits(kind, 1, data, queries, eps).0
}

/// [`coverage`] for codes of `b` bits, with the mean absolute estimate error.
fn coverage_bits(
    kind: Kind,
    b: u32,
    data: &[Vec<f32>],
    queries: &[Vec<f32>],
    eps: f32,
) -> (f64, f64) {
    let c = coverage_all(kind, b, data, queries, eps);
    (c.plain, c.abs_err)
}

/// What [`coverage_all`] measured.
struct Coverage {
    /// Share of pairs within [`estimate`]'s bound.
    plain: f64,
    abs_err: f64,
    /// Share of pairs within [`estimate_bound`]'s.
    narrowed: f64,
    /// Mean of narrowed bound over plain bound for each query's nearest 2 % of rows.
    near_ratio: f64,
}

fn coverage_all(kind: Kind, b: u32, data: &[Vec<f32>], queries: &[Vec<f32>], eps: f32) -> Coverage {
    let dims = data[0].len();
    let rot = Rotation::new(dims, 0xC0FFEE);
    // One centroid: the mean, as a one-list index would have.
    let mut c = vec![0f32; dims];
    for v in data {
        for (ci, x) in c.iter_mut().zip(v) {
            *ci += x / data.len() as f32;
        }
    }
    let rc = rot.rotated(&c);
    let codes: Vec<(Vec<u8>, Factors)> = data
        .iter()
        .map(|v| {
            let r: Vec<f32> = rot.rotated(v).iter().zip(&rc).map(|(x, c)| x - c).collect();
            let mut bits = vec![0u8; b as usize * code_bytes(dims)];
            let f = encode_bits(b, &r, &rc, &mut bits);
            (bits, f)
        })
        .collect();
    let (mut ok, mut all, mut abs_err) = (0usize, 0usize, 0f64);
    let (mut ok_n, mut ratio, mut near) = (0usize, 0f64, 0usize);
    for q in queries {
        let mut pairs: Vec<(f64, f32, f32)> = vec![];
        let rq = rot.rotated(q);
        let lut = QueryLut::new(&rq);
        let lq = match kind {
            Kind::L2 => {
                let d: f64 = rq
                    .iter()
                    .zip(&rc)
                    .map(|(a, b)| ((a - b) as f64).powi(2))
                    .sum();
                ListQuery {
                    base: d as f32,
                    norm: d.sqrt() as f32,
                }
            }
            Kind::Dot => ListQuery {
                base: -dot(&rq, &rc) as f32,
                norm: dot(&rq, &rq).sqrt() as f32,
            },
        };
        for (v, (bits, f)) in data.iter().zip(&codes) {
            let truth = match kind {
                Kind::L2 => v.iter().zip(q).map(|(a, b)| ((a - b) as f64).powi(2)).sum(),
                Kind::Dot => -dot(v, q),
            };
            let (est, err) = estimate(kind, f, lut.code_dot(b, bits), lq);
            let (est_n, bound) = estimate_bound(kind, f, lut.code_dot(b, bits), lq, eps);
            assert_eq!(est, est_n);
            assert!(bound >= 0.0 && bound <= eps * err, "{bound} {}", eps * err);
            all += 1;
            abs_err += (truth - est as f64).abs();
            // A little slack for f32 rounding of the sums.
            let slack = 1e-3 * truth.abs().max(1.0);
            if (truth - est as f64).abs() <= (eps * err) as f64 + slack {
                ok += 1;
            }
            if (truth - est as f64).abs() <= bound as f64 + slack {
                ok_n += 1;
            }
            pairs.push((truth, bound, eps * err));
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        for &(_, bound, plain) in &pairs[..pairs.len().div_ceil(50)] {
            ratio += (bound / plain.max(f32::MIN_POSITIVE)) as f64;
            near += 1;
        }
    }
    Coverage {
        plain: ok as f64 / all as f64,
        abs_err: abs_err / all as f64,
        narrowed: ok_n as f64 / all as f64,
        near_ratio: ratio / near as f64,
    }
}

/// Anisotropic, clustered synthetic data: the rotation has work to do.
fn synthetic(rng: &mut Rng, n: usize, dims: usize) -> Vec<Vec<f32>> {
    let centers: Vec<Vec<f32>> = (0..8).map(|_| gaussian(rng, dims)).collect();
    (0..n)
        .map(|i| {
            let c = &centers[i % centers.len()];
            (0..dims)
                .map(|j| c[j] * 3.0 + rng.normal() as f32 * (1.0 + (j % 7) as f32))
                .collect()
        })
        .collect()
}

#[test]
fn error_bound_holds_at_the_expected_rate_on_synthetic_data() {
    let mut rng = Rng::new(3);
    for dims in [50, 128, 300] {
        let data = synthetic(&mut rng, 600, dims);
        let queries = synthetic(&mut rng, 20, dims);
        for kind in [Kind::L2, Kind::Dot] {
            // The normalised estimator error is close to a standard normal: 1.9 covers about
            // 94 % of pairs, 3.0 about 99.7 %.
            let c19 = coverage(kind, &data, &queries, 1.9);
            let c30 = coverage(kind, &data, &queries, 3.0);
            assert!(c19 >= 0.92, "{kind:?} {dims}: {c19}");
            assert!(c30 >= 0.99, "{kind:?} {dims}: {c30}");
        }
    }
}

/// Fashion-MNIST from Debian's `dataset-fashion-mnist` (scripts/setup.sh installs it).
fn fashion_mnist(n: usize, offset: usize) -> Vec<Vec<f32>> {
    let path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    let out = std::process::Command::new("gzip")
        .args(["-dc", path])
        .output()
        .expect("gzip");
    assert!(
        out.status.success(),
        "cannot read {path}: install dataset-fashion-mnist (scripts/setup.sh does)"
    );
    let body = &out.stdout[16..];
    body.chunks_exact(784)
        .skip(offset)
        .take(n)
        .map(|img| img.iter().map(|&p| p as f32).collect())
        .collect()
}

#[test]
fn error_bound_holds_at_the_expected_rate_on_real_data() {
    let data = fashion_mnist(2000, 0);
    let queries = fashion_mnist(30, 5000);
    let c19 = coverage(Kind::L2, &data, &queries, 1.9);
    let c30 = coverage(Kind::L2, &data, &queries, 3.0);
    eprintln!("fashion-mnist L2 coverage: eps 1.9 {c19:.4}, eps 3.0 {c30:.4}");
    assert!(c19 >= 0.92, "{c19}");
    assert!(c30 >= 0.99, "{c30}");
    let c19 = coverage(Kind::Dot, &data, &queries, 1.9);
    assert!(c19 >= 0.92, "dot {c19}");
}

#[test]
fn two_bit_codes_are_exacter_and_their_bound_holds() {
    let mut rng = Rng::new(5);
    for dims in [50, 128, 300] {
        let data = synthetic(&mut rng, 400, dims);
        let queries = synthetic(&mut rng, 15, dims);
        for kind in [Kind::L2, Kind::Dot] {
            let (c1, e1) = coverage_bits(kind, 1, &data, &queries, 1.9);
            let (c2, e2) = coverage_bits(kind, 2, &data, &queries, 1.9);
            assert!(c1 >= 0.92 && c2 >= 0.92, "{kind:?} {dims}: {c1} {c2}");
            assert!(
                e2 < 0.7 * e1,
                "{kind:?} {dims}: 2-bit error {e2} vs 1-bit {e1}"
            );
        }
    }
    let data = fashion_mnist(1000, 0);
    let queries = fashion_mnist(20, 5000);
    let (c2, _) = coverage_bits(Kind::L2, 2, &data, &queries, 1.9);
    assert!(c2 >= 0.92, "fashion-mnist 2-bit {c2}");
}

/// [`estimate_bound`] narrows the bound by the angle between residual and query: as sure as
/// the plain bound (the same event makes both hold), and much tighter for near rows where
/// the residuals point alike (Fashion-MNIST about a single centroid, as vchordg codes it).
#[test]
fn narrowed_bounds_hold_as_often_and_are_tighter_near_the_query() {
    let data = fashion_mnist(2000, 0);
    let queries = fashion_mnist(30, 5000);
    for (kind, b) in [(Kind::L2, 1), (Kind::L2, 2), (Kind::Dot, 2)] {
        let c = coverage_all(kind, b, &data, &queries, 1.9);
        eprintln!(
            "fashion-mnist {kind:?} {b} bits: coverage {:.4}, narrowed {:.4}, near ratio {:.3}",
            c.plain, c.narrowed, c.near_ratio
        );
        assert!(c.narrowed >= 0.92, "{kind:?} {b}: {}", c.narrowed);
        assert!(c.near_ratio < 0.8, "{kind:?} {b}: {}", c.near_ratio);
    }
    let mut rng = Rng::new(8);
    for dims in [50, 128, 300] {
        let data = synthetic(&mut rng, 400, dims);
        let queries = synthetic(&mut rng, 15, dims);
        for kind in [Kind::L2, Kind::Dot] {
            let c = coverage_all(kind, 2, &data, &queries, 1.9);
            assert!(c.narrowed >= 0.92, "{kind:?} {dims}: {}", c.narrowed);
            assert!(c.near_ratio < 1.0, "{kind:?} {dims}: {}", c.near_ratio);
        }
    }
}

#[test]
fn two_bit_codes_decode_and_look_up_exactly() {
    let mut rng = Rng::new(6);
    for dims in [1, 7, 8, 9, 100, 385] {
        let r = gaussian(&mut rng, dims);
        let c = gaussian(&mut rng, dims);
        let q = gaussian(&mut rng, dims);
        let mut bits = vec![0u8; 2 * code_bytes(dims)];
        let f = encode_bits(2, &r, &c, &mut bits);
        let v = code_values(2, dims, &bits);
        assert!(v.iter().all(|x| [-3.0, -1.0, 1.0, 3.0].contains(x)));
        assert!(v.iter().zip(&r).all(|(x, y)| (*x > 0.0) == (*y >= 0.0)));
        let tol = 1e-3 * (dims as f64).sqrt() * 3.0;
        assert!((dot(&v, &r) - f.sum_abs as f64).abs() < tol);
        assert!((dot(&v, &c) - f.sign_dot_c as f64).abs() < tol);
        let lut = QueryLut::new(&q);
        assert!((dot(&v, &q) - lut.code_dot(2, &bits) as f64).abs() < tol);
        // the vector kernel (where this CPU has one) and the table agree
        for half in bits.chunks(code_bytes(dims)) {
            assert!((lut.sign_dot(half) - lut.table_dot(half)).abs() < 1e-4 * dims as f32);
        }
        // The decoded residual points the code's way with the projection's length.
        let d = decode(2, dims, &bits, &f);
        let cos = dot(&d, &r) / (dot(&d, &d).sqrt() * dot(&r, &r).sqrt());
        assert!(cos > 0.85 || dims < 8, "cosine {cos} at {dims}");
    }
}

#[test]
fn fast_scan_is_within_its_slack_of_the_exact_lookup() {
    let mut rng = Rng::new(11);
    for dims in [1, 3, 8, 50, 100, 384, 784, 1536, 2100] {
        let nb = code_bytes(dims);
        let q = gaussian(&mut rng, dims);
        let lut = QueryLut::new(&q);
        let fast = FastLut::new(&lut);
        for n in [1, 17, 32] {
            let codes: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let r = gaussian(&mut rng, dims);
                    let mut bits = vec![0u8; nb];
                    encode(&r, &vec![0f32; dims], &mut bits);
                    bits
                })
                .collect();
            let refs: Vec<&[u8]> = codes.iter().map(|c| c.as_slice()).collect();
            let mut block = vec![0u8; block_code_bytes(dims)];
            pack_block(&refs, &mut block);
            let got = fast.scan(&block);
            let mut back = vec![0u8; nb];
            for (i, c) in codes.iter().enumerate() {
                unpack_code(&block, i, &mut back);
                assert_eq!(&back, c, "round trip at {dims}");
                let exact = lut.sign_dot(c);
                assert!(
                    (got[i] - exact).abs() <= fast.slack,
                    "{dims}: fast {} exact {exact} slack {}",
                    got[i],
                    fast.slack
                );
            }
        }
        // The slack is small next to the spread of the sums (|q|_1 bounds them).
        let l1: f32 = q.iter().map(|x| x.abs()).sum();
        assert!(
            fast.slack <= 0.01 * l1 * (2.0 * nb as f32).sqrt().max(4.0),
            "{dims}"
        );
    }
}

#[test]
fn block_keys_are_the_lane_by_lane_bounds() {
    let mut rng = Rng::new(12);
    for kind in [Kind::L2, Kind::Dot] {
        for round in 0..50 {
            let lq = ListQuery {
                base: rng.normal() as f32,
                norm: rng.unit() as f32 * 3.0,
            };
            let mut factors = [[0f32; BLOCK]; 4];
            let mut sums = [0f32; BLOCK];
            for i in 0..BLOCK {
                let zero = (i + round) % 7 == 0;
                factors[0][i] = if zero { 0.0 } else { rng.unit() as f32 * 4.0 };
                factors[1][i] = if zero {
                    0.0
                } else {
                    0.1 + rng.unit() as f32 * 20.0
                };
                factors[2][i] = rng.normal() as f32;
                factors[3][i] = if zero { 0.0 } else { rng.unit() as f32 * 0.1 };
                sums[i] = rng.normal() as f32 * 5.0;
            }
            let (eps, slack, offset) = (1.9, rng.unit() as f32 * 0.05, (round % 2) as f32);
            let (keys, units) = block_keys(kind, lq, &sums, &factors, eps, slack, offset);
            for i in 0..BLOCK {
                let f = Factors {
                    norm_sq: factors[0][i],
                    sum_abs: factors[1][i],
                    sign_dot_c: factors[2][i],
                    err: factors[3][i],
                };
                let (est, err) = estimate(kind, &f, sums[i], lq);
                let slope = if kind == Kind::L2 { 2.0 } else { 1.0 };
                let round_off = if f.sum_abs > 0.0 {
                    slope * f.norm_sq / f.sum_abs * slack
                } else {
                    0.0
                };
                let want = est + offset - eps * err - round_off;
                assert!(
                    (keys[i] - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{kind:?} lane {i}: {} vs {want}",
                    keys[i]
                );
                assert!(
                    (units[i] - err).abs() <= 1e-5 * (1.0 + err),
                    "{kind:?} lane {i}"
                );
            }
        }
    }
}

/// [`group_epsilon`]: a group of `g` equal codes fails its bound about `g` times less often
/// than one code at the base epsilon, at low and high dimension, for 1- and 2-bit codes.
#[test]
fn group_epsilon_divides_the_failure_rate_by_the_group() {
    assert_eq!(group_epsilon(1.9, 1), 1.9);
    assert!(group_epsilon(1.9, 2) > 1.9 && group_epsilon(1.9, 100) < 3.7);
    assert!(group_epsilon(0.0, 10) > 0.0);
    let mut rng = Rng::new(31);
    for dims in [16, 64] {
        let data = synthetic(&mut rng, 2000, dims);
        let queries = synthetic(&mut rng, 40, dims);
        for kind in [Kind::L2, Kind::Dot] {
            for b in [1, 2] {
                let miss = |eps: f32| 1.0 - coverage_bits(kind, b, &data, &queries, eps).0;
                let base = miss(1.9);
                for g in [4, 16] {
                    let m = miss(group_epsilon(1.9, g));
                    eprintln!("{dims} {kind:?} {b} bits: miss {base:.5}, group of {g}: {m:.5}");
                    assert!(
                        m <= 1.5 * base / g as f64 + 3e-4,
                        "{dims} dims {kind:?} {b} bits g {g}: {m} against {base}"
                    );
                }
            }
        }
    }
}
