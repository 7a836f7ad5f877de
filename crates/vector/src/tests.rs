use super::*;
use half::f16;

fn v(s: &str) -> Vec<f32> {
    parse::<f32>(s).unwrap()
}

#[test]
fn float_output_matches_postgres() {
    // Expected strings are what PostgreSQL's float4out prints with extra_float_digits = 1.
    for (x, want) in [
        (0.0f32, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (-2.5, "-2.5"),
        (0.1, "0.1"),
        (100000.0, "100000"),
        (123456.7, "123456.7"),
        (1000000.0, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (0.000012345, "1.2345e-05"),
        (1e20, "1e+20"),
        (3.4028235e38, "3.4028235e+38"),
        (1e-45, "1e-45"),
        (f32::MIN_POSITIVE, "1.1754944e-38"),
        (1.0 / 3.0, "0.33333334"),
        (16777216.0, "1.6777216e+07"),
    ] {
        assert_eq!(float::format_f32(x), want, "{x:e}");
    }
}

#[test]
fn float_output_round_trips() {
    let mut state = 0x2545F4914F6CDD1Du64;
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let x = f32::from_bits(state as u32);
        if !x.is_finite() {
            continue;
        }
        let s = float::format_f32(x);
        assert_eq!(s.parse::<f32>().unwrap().to_bits(), x.to_bits(), "{s}");
    }
}

#[test]
fn parses_text() {
    assert_eq!(v("[1,2,3]"), vec![1.0, 2.0, 3.0]);
    assert_eq!(v("  [ 1 , -2.5e1,\t3. ]  "), vec![1.0, -25.0, 3.0]);
    assert_eq!(v("[.5,+1,1E2]"), vec![0.5, 1.0, 100.0]);
    assert_eq!(format(&v("[1.5,-0,1e-5]")), "[1.5,-0,1e-05]");
}

#[test]
fn rejects_malformed_text() {
    let detail = |s: &str| match parse::<f32>(s) {
        Err(Error::Syntax { detail, .. }) => detail,
        other => panic!("{s}: {other:?}"),
    };
    assert_eq!(detail("1,2,3"), "Vector contents must start with \"[\".");
    assert_eq!(detail(""), "Vector contents must start with \"[\".");
    assert_eq!(detail("[1,2"), "Vector contents must end with \"]\".");
    assert_eq!(detail("[1,2]x"), "Junk after closing right brace.");
    assert_eq!(detail("[1,2]]"), "Junk after closing right brace.");
    assert_eq!(
        detail("[1,,2]"),
        "Elements must be numbers separated by commas."
    );
    assert_eq!(
        detail("[1,2,]"),
        "Elements must be numbers separated by commas."
    );
    assert_eq!(
        detail("[a]"),
        "Elements must be numbers separated by commas."
    );
    assert_eq!(
        detail("[1 2]"),
        "Elements must be numbers separated by commas."
    );
    assert_eq!(
        detail("[0x10]"),
        "Elements must be numbers separated by commas."
    );
    assert!(matches!(parse::<f32>("[]"), Err(Error::Data(_))));
    assert!(matches!(parse::<f32>("[  ]"), Err(Error::Data(_))));
    assert_eq!(
        parse::<f32>("[NaN]"),
        Err(Error::Data("NaN not allowed in vector".into()))
    );
    assert_eq!(
        parse::<f32>("[-inf]"),
        Err(Error::Data("infinite value not allowed in vector".into()))
    );
    assert_eq!(
        parse::<f32>("[Infinity]"),
        Err(Error::Data("infinite value not allowed in vector".into()))
    );
    assert_eq!(
        parse::<f32>("[1e39]"),
        Err(Error::OutOfRange(
            "\"1e39\" is out of range for type vector".into()
        ))
    );
    assert_eq!(
        parse::<f16>("[65505]"),
        Err(Error::OutOfRange(
            "\"65505\" is out of range for type halfvec".into()
        ))
    );
    assert_eq!(
        parse::<f16>("[65504]").unwrap(),
        vec![f16::from_f32(65504.0)]
    );
    assert_eq!(
        parse::<f16>("[nan]"),
        Err(Error::Data("NaN not allowed in halfvec".into()))
    );
}

#[test]
fn dimension_limits() {
    let ok = format!("[{}]", vec!["1"; MAX_DIM].join(","));
    assert_eq!(parse::<f32>(&ok).unwrap().len(), MAX_DIM);
    let too_many = format!("[{}]", vec!["1"; MAX_DIM + 1].join(","));
    assert_eq!(
        parse::<f32>(&too_many),
        Err(Error::Limit(
            "vector cannot have more than 16000 dimensions".into()
        ))
    );
    // a very long input fails fast on the limit, not after parsing everything
    let huge = format!("[{}]", vec!["1"; 1_000_000].join(","));
    assert!(matches!(parse::<f32>(&huge), Err(Error::Limit(_))));
    assert_eq!(typmod_in::<f32>(&[3]), Ok(3));
    assert!(typmod_in::<f32>(&[0]).is_err());
    assert!(typmod_in::<f32>(&[16001]).is_err());
    assert!(typmod_in::<f32>(&[1, 2]).is_err());
    assert!(check_typmod::<f32>(3, 3).is_ok());
    assert!(check_typmod::<f32>(3, -1).is_ok());
    assert_eq!(
        check_typmod::<f32>(2, 3),
        Err(Error::Data("expected 3 dimensions, not 2".into()))
    );
}

#[test]
fn binary_round_trip_and_errors() {
    let x = v("[1,-2.5,3e-7]");
    let bytes = encode(&x);
    assert_eq!(&bytes[..4], &[0, 3, 0, 0]);
    assert_eq!(&bytes[4..8], &1.0f32.to_be_bytes());
    assert_eq!(decode::<f32>(&bytes).unwrap(), x);
    let h: Vec<f16> = parse("[1,-2.5,0.1]").unwrap();
    assert_eq!(decode::<f16>(&encode(&h)).unwrap(), h);
    assert!(matches!(
        decode::<f32>(&bytes[..bytes.len() - 1]),
        Err(Error::Binary(_))
    ));
    assert!(matches!(
        decode::<f32>(&[bytes.clone(), vec![0]].concat()),
        Err(Error::Binary(_))
    ));
    assert!(matches!(decode::<f32>(&[0, 0]), Err(Error::Binary(_))));
    assert!(matches!(decode::<f32>(&[0, 0, 0, 0]), Err(Error::Data(_))));
    assert!(matches!(
        decode::<f32>(&[0xff, 0xff, 0, 0]),
        Err(Error::Data(_))
    ));
    let mut bad = bytes.clone();
    bad[3] = 1;
    assert_eq!(
        decode::<f32>(&bad),
        Err(Error::Data("expected unused to be 0, not 1".into()))
    );
    let mut nan = bytes.clone();
    nan[4..8].copy_from_slice(&f32::NAN.to_be_bytes());
    assert_eq!(
        decode::<f32>(&nan),
        Err(Error::Data("NaN not allowed in vector".into()))
    );
    let big = [&[0x3e, 0x81][..], &[0, 0], &vec![0u8; 16001 * 4]].concat();
    assert!(matches!(decode::<f32>(&big), Err(Error::Limit(_))));
}

#[test]
fn arithmetic() {
    assert_eq!(add(&v("[1,2]"), &v("[3,4]")).unwrap(), v("[4,6]"));
    assert_eq!(sub(&v("[1,2]"), &v("[3,4]")).unwrap(), v("[-2,-2]"));
    assert_eq!(mul(&v("[1,2]"), &v("[3,4]")).unwrap(), v("[3,8]"));
    assert_eq!(
        add(&v("[1]"), &v("[1,2]")),
        Err(Error::Data("different vector dimensions 1 and 2".into()))
    );
    assert_eq!(
        add(&v("[3e38]"), &v("[3e38]")),
        Err(Error::OutOfRange("value out of range: overflow".into()))
    );
    assert_eq!(
        mul(&v("[1e-30]"), &v("[1e-30]")),
        Err(Error::OutOfRange("value out of range: underflow".into()))
    );
    let h: Vec<f16> = parse("[60000]").unwrap();
    assert!(add(&h, &h).is_err());
    assert_eq!(concat(&v("[1]"), &v("[2,3]")).unwrap(), v("[1,2,3]"));
    assert!(concat(&vec![1.0; 8000], &vec![1.0; 8001]).is_err());
    use std::cmp::Ordering::*;
    assert_eq!(compare(&v("[1,2]"), &v("[1,3]")), Less);
    assert_eq!(compare(&v("[1,2]"), &v("[1,2,0]")), Less);
    assert_eq!(compare(&v("[2]"), &v("[1,9]")), Greater);
    assert_eq!(compare(&v("[1,2]"), &v("[1,2]")), Equal);
}

#[test]
fn functions() {
    let x = v("[1,2,3,4,5]");
    assert_eq!(subvector(&x, 2, 3).unwrap(), v("[2,3,4]"));
    assert_eq!(subvector(&x, -1, 3).unwrap(), v("[1]"));
    assert_eq!(subvector(&x, 4, 100).unwrap(), v("[4,5]"));
    assert_eq!(subvector(&x, i32::MAX, i32::MAX).map_err(|_| ()), Err(()));
    assert!(subvector(&x, 6, 1).is_err());
    assert!(subvector(&x, 1, 0).is_err());
    assert!(subvector(&x, -5, 5).is_err());
    assert_eq!(norm(&v("[3,4]")), 5.0);
    assert_eq!(l2_normalize(&v("[3,4]")).unwrap(), v("[0.6,0.8]"));
    assert_eq!(l2_normalize(&v("[0,0]")).unwrap(), v("[0,0]"));
    assert_eq!(
        binary_quantize(&v("[1,-1,0,2,3,-3,1,1,1]")),
        vec![0b1001_1011, 0b1000_0000]
    );
    assert_eq!(from_f64s::<f32>([1.0, 2.5]).unwrap(), vec![1.0, 2.5]);
    // as pgvector: beyond real's range is infinite, and infinite is refused
    let e = from_f64s::<f32>([1e300]).unwrap_err();
    assert_eq!(e.to_string(), "infinite value not allowed in vector");
    assert!(matches!(e, Error::Data(_)));
    let e = from_f64s::<f16>([4e38]).unwrap_err();
    assert_eq!(e.to_string(), "infinite value not allowed in halfvec");
    // the text form names the value as written
    let e = parse::<f16>("[1e6]").unwrap_err();
    assert_eq!(e.to_string(), "\"1e6\" is out of range for type halfvec");
    let e = check_same_dims::<f16>(2, 3).unwrap_err();
    assert_eq!(e.to_string(), "different halfvec dimensions 2 and 3");
    assert!(matches!(typmod_in::<f32>(&[0]), Err(Error::Param(_))));
    assert!(matches!(typmod_in::<f32>(&[16001]), Err(Error::Param(_))));
    assert!(matches!(from_f64s::<f32>([f64::NAN]), Err(Error::Data(_))));
    assert!(matches!(from_f64s::<f16>([1e6]), Err(Error::OutOfRange(_))));
}

#[test]
fn bit_distances() {
    let bits = |len, bytes| Bits { len, bytes };
    let (a, b) = ([0b1011_0000u8, 0b1000_0000], [0b1110_0000u8, 0b0000_0000]);
    // a = 1011 0000 1, b = 1110 0000 0: differ at 1, 3 and 8; share 0 and 2 of a | b = {0,1,2,3,8}
    assert_eq!(hamming_distance(bits(9, &a), bits(9, &b)).unwrap(), 3);
    assert!(
        (jaccard_distance(bits(9, &a), bits(9, &b)).unwrap() - (1.0 - 2.0 / 5.0)).abs() < 1e-12
    );
    assert_eq!(hamming_distance(bits(9, &a), bits(9, &a)).unwrap(), 0);
    assert_eq!(jaccard_distance(bits(9, &a), bits(9, &a)).unwrap(), 0.0);
    let zero = [0u8, 0];
    assert_eq!(
        jaccard_distance(bits(9, &zero), bits(9, &zero)).unwrap(),
        1.0
    );
    assert_eq!(jaccard_distance(bits(0, &[]), bits(0, &[])).unwrap(), 1.0);
    let e = hamming_distance(bits(9, &a), bits(8, &a[..1])).unwrap_err();
    assert_eq!(e.to_string(), "different bit lengths 9 and 8");
    assert!(matches!(e, Error::Data(_)));
    assert!(jaccard_distance(bits(9, &a[..1]), bits(9, &b[..1])).is_err());
}
