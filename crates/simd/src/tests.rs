use super::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }
}

const LEVELS: [Level; 3] = [Level::Avx512, Level::Avx2, Level::Baseline];

fn close(got: f32, want: f64, scale: f64) -> bool {
    (got as f64 - want).abs() <= 1e-5 * scale.max(1.0)
}

#[test]
fn f32_kernels_match_reference() {
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let dims: Vec<usize> = (1..=70)
        .chain([127, 128, 129, 255, 384, 768, 1000, 1536, 2000])
        .collect();
    for &n in &dims {
        for _ in 0..5 {
            let (a, b) = (rng.vec(n), rng.vec(n));
            let scale = n as f64;
            for level in LEVELS {
                assert!(
                    close(
                        f32x::dot::at_level(level, &a, &b),
                        scalar::dot(&a, &b),
                        scale
                    ),
                    "dot {n} {level:?}"
                );
                assert!(
                    close(
                        f32x::l2sq::at_level(level, &a, &b),
                        scalar::l2sq(&a, &b),
                        scale
                    ),
                    "l2 {n} {level:?}"
                );
                assert!(
                    close(f32x::l1::at_level(level, &a, &b), scalar::l1(&a, &b), scale),
                    "l1 {n} {level:?}"
                );
                let (d, na, nb) = f32x::cos_parts::at_level(level, &a, &b);
                assert!(close(d, scalar::dot(&a, &b), scale));
                assert!(close(na, scalar::dot(&a, &a), scale));
                assert!(close(nb, scalar::dot(&b, &b), scale));
            }
        }
    }
}

#[test]
fn f16_kernels_match_reference() {
    let mut rng = Rng(42);
    for n in (1..=70).chain([128, 129, 768, 1536, 2000]) {
        let a: Vec<f16> = rng
            .vec(n)
            .iter()
            .map(|x| f16::from_f32(x * 100.0))
            .collect();
        let b: Vec<f16> = rng
            .vec(n)
            .iter()
            .map(|x| f16::from_f32(x * 100.0))
            .collect();
        let (wa, wb) = (scalar::widen(&a), scalar::widen(&b));
        let scale = n as f64 * 1e4;
        for level in LEVELS {
            assert!(
                close(
                    f16x::dot::at_level(level, &a, &b),
                    scalar::dot(&wa, &wb),
                    scale
                ),
                "dot {n} {level:?}"
            );
            assert!(close(
                f16x::l2sq::at_level(level, &a, &b),
                scalar::l2sq(&wa, &wb),
                scale
            ));
            assert!(close(
                f16x::l1::at_level(level, &a, &b),
                scalar::l1(&wa, &wb),
                scale
            ));
            let (d, _, _) = f16x::cos_parts::at_level(level, &a, &b);
            assert!(close(d, scalar::dot(&wa, &wb), scale));
        }
    }
}

#[test]
fn widen_is_exact_for_every_finite_half() {
    for bits in 0..=u16::MAX {
        let h = f16::from_bits(bits);
        if h.is_finite() {
            assert_eq!(widen(h).to_bits(), h.to_f32().to_bits(), "{bits:#06x}");
        }
    }
}

#[test]
fn edge_cases() {
    for level in LEVELS {
        assert_eq!(f32x::dot::at_level(level, &[], &[]), 0.0);
        assert_eq!(f32x::l2sq::at_level(level, &[3.0], &[0.0]), 9.0);
        assert_eq!(f32x::l1::at_level(level, &[-1.0, 1.0], &[1.0, -1.0]), 4.0);
        let big = vec![1e19f32; 64];
        assert!(f32x::dot::at_level(level, &big, &big).is_infinite());
    }
    assert!(cosine_from_parts(f32x::cos_parts(&[0.0, 0.0], &[1.0, 2.0])).is_nan());
    assert_eq!(
        cosine_from_parts(f32x::cos_parts(&[1.0, 0.0], &[2.0, 0.0])),
        0.0
    );
    assert_eq!(
        cosine_from_parts(f32x::cos_parts(&[1.0, 0.0], &[-2.0, 0.0])),
        2.0
    );
    assert_eq!(
        cosine_from_parts(f32x::cos_parts(&[1.0, 0.0], &[0.0, 5.0])),
        1.0
    );
}

#[test]
#[should_panic]
fn length_mismatch_panics() {
    f32x::dot(&[1.0], &[1.0, 2.0]);
}

#[test]
fn every_finite_half_widens_exactly_at_every_level() {
    // dot with a one-hot vector returns the widened element itself, through each level's
    // conversion (F16C on x86-64), for normals, subnormals, zeros and the range ends
    let halves: Vec<f16> = (0..=u16::MAX)
        .map(f16::from_bits)
        .filter(|h| h.is_finite())
        .collect();
    for level in LEVELS {
        for chunk in halves.chunks(37) {
            for i in 0..chunk.len() {
                let mut onehot = vec![f16::ZERO; chunk.len()];
                onehot[i] = f16::ONE;
                let got = f16x::dot::at_level(level, chunk, &onehot);
                assert_eq!(
                    got,
                    chunk[i].to_f32(),
                    "{level:?} {:#06x}",
                    chunk[i].to_bits()
                );
            }
        }
    }
}

#[test]
fn fastscan_matches_reference() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    // 2..=1200 positions: crosses the 256-position widening and the largest sums (all 255)
    for npos in [2usize, 4, 6, 30, 96, 196, 254, 256, 258, 512, 514, 1200] {
        for round in 0..4 {
            let codes: Vec<u8> = (0..16 * npos).map(|_| rng.next() as u8).collect();
            let lut: Vec<u8> = (0..16 * npos)
                .map(|_| if round == 0 { 255 } else { rng.next() as u8 })
                .collect();
            let want = scalar::fastscan(&codes, &lut);
            if round == 0 {
                assert!(want.iter().all(|&s| s == 255 * npos as u32));
            }
            for level in LEVELS {
                assert_eq!(
                    fastscan::at_level(level, &codes, &lut),
                    want,
                    "{level:?} {npos}"
                );
            }
        }
    }
}

#[test]
fn lut_quantize_matches_reference() {
    let mut rng = Rng(0x5151_2323_7777_0001);
    for groups in [1usize, 2, 13, 96, 196, 384] {
        for round in 0..4 {
            // a spread of scales, and in round 0 a constant table (range 0)
            let scale = [0.0f32, 1e-3, 1.0, 300.0][round];
            let t: Vec<f32> = (0..16 * groups).map(|_| 5.0 + scale * rng.f()).collect();
            let range = t
                .chunks_exact(16)
                .map(|g| {
                    let (lo, hi) = g
                        .iter()
                        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                    hi - lo
                })
                .fold(0f32, f32::max);
            let delta = if range > 0.0 { range / 255.0 } else { 0.0 };
            let inv = if delta > 0.0 { 1.0 / delta } else { 0.0 };
            let (mut base, mut err) = (0f64, 0f64);
            let mut want = vec![0u8; t.len()];
            for (g, o) in t.chunks_exact(16).zip(want.chunks_exact_mut(16)) {
                let lo = g.iter().copied().fold(f32::MAX, f32::min);
                base += lo as f64;
                let mut worst = 0f64;
                for (&x, o) in g.iter().zip(o) {
                    *o = ((x - lo) * inv + 0.5) as u8;
                    let back = lo as f64 + delta as f64 * *o as f64;
                    worst = worst.max((back - x as f64).abs());
                }
                err += worst;
            }
            for level in LEVELS {
                let mut got = vec![0u8; t.len()];
                let q = lut::at_level(level, &t, &mut got);
                assert_eq!(got, want, "{level:?} {groups} {round}");
                assert_eq!(q.delta, delta);
                assert!((q.base - base).abs() <= 1e-9 * base.abs().max(1.0));
                // the f32-measured error is within the rounding the caller adds for it
                let pad = (5.0 + scale as f64) * groups as f64 * 2.0 / (1u64 << 21) as f64;
                assert!(
                    (q.err - err).abs() <= pad,
                    "{level:?} {groups}: {} vs {err}",
                    q.err
                );
            }
        }
    }
}

#[test]
fn dot4x4_matches_pairwise_dots() {
    let mut seed = 9u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    for dims in [1, 5, 15, 16, 17, 31, 50, 384, 785] {
        // rows one element longer than dims: the kernel must stop at dims
        let rows: Vec<Vec<f32>> = (0..8)
            .map(|_| (0..dims + 1).map(|_| next()).collect())
            .collect();
        let a = [&rows[0][..], &rows[1][..], &rows[2][..], &rows[3][..]];
        let b = [&rows[4][..], &rows[5][..], &rows[6][..], &rows[7][..]];
        let got = dot4x4(a, b, dims);
        for r in 0..4 {
            for c in 0..4 {
                let want: f64 = (0..dims).map(|i| a[r][i] as f64 * b[c][i] as f64).sum();
                assert!(close(got[r][c], want, dims as f64), "{dims}: {r},{c}");
            }
        }
    }
}

#[test]
fn one_by_four_matches_pairwise() {
    let mut rng = Rng(77);
    for dims in [1, 7, 16, 33, 50, 384, 784] {
        let x = rng.vec(dims + 2);
        let rows: Vec<Vec<f32>> = (0..4).map(|_| rng.vec(dims + 2)).collect();
        let b = [&rows[0][..], &rows[1][..], &rows[2][..], &rows[3][..]];
        for l2 in [false, true] {
            let got = one_by_four(&x, b, dims, l2);
            for c in 0..4 {
                let want: f64 = (0..dims)
                    .map(|i| {
                        let (p, q) = (x[i] as f64, b[c][i] as f64);
                        if l2 { (p - q) * (p - q) } else { p * q }
                    })
                    .sum();
                assert!(close(got[c], want, dims as f64), "{dims} {l2}: {c}");
            }
        }
    }
}

#[test]
fn masked_sum_matches_reference_at_every_level() {
    let mut rng = Rng(99);
    for nbytes in [0usize, 1, 2, 3, 7, 8, 9, 15, 16, 17, 98, 196] {
        let q = rng.vec(8 * nbytes);
        let bits: Vec<u8> = (0..nbytes).map(|_| rng.next() as u8).collect();
        let want = scalar::masked_sum(&bits, &q);
        let scale: f64 = q.iter().map(|x| x.abs() as f64).sum::<f64>().max(1.0);
        for level in LEVELS {
            let got = bitsum::at_level(level, &bits, &q);
            assert!(
                close(got, want, scale),
                "{level:?} {nbytes}: {got} vs {want}"
            );
        }
        // every bit set sums everything; none sums nothing
        let all = vec![0xffu8; nbytes];
        let total: f64 = q.iter().map(|&x| x as f64).sum();
        assert!(close(bitsum::masked_sum(&all, &q), total, scale));
        assert_eq!(bitsum::masked_sum(&vec![0u8; nbytes], &q), 0.0);
    }
}
