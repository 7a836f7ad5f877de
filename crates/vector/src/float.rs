//! Floats as PostgreSQL reads and prints them.
//!
//! Output: the shortest digits that round-trip (Rust's `{:e}` gives them), laid out as
//! PostgreSQL's `float4out` does: fixed notation when the decimal exponent is in -4..6, else
//! `d.ddde+XX` with at least two exponent digits; `0` and `-0` for zeros.

/// Parses one element as `strtof` would accept it, less hexadecimal floats.
pub fn parse_f32(t: &str) -> Option<f32> {
    if t.is_empty() || t.len() > 512 {
        return None;
    }
    simple(t.as_bytes()).or_else(|| t.parse::<f32>().ok())
}

/// Powers of ten that f32 holds exactly (5^10 < 2^24).
const POW10: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// The common case, `[+-]digits[.digits]` whose digits make an integer of at most 2^24 with
/// at most 10 of them after the point: that integer and the power of ten are exact in f32,
/// so one multiplication or division gives the correctly rounded value, as `strtof` does
/// (Clinger's fast path). Anything else (exponents, more digits, words) is `None`, for the
/// general parser.
fn simple(t: &[u8]) -> Option<f32> {
    let (negative, digits) = match t.first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let mut m: u32 = 0;
    let mut any = false;
    let mut point = false;
    let mut after = 0usize;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                m = m * 10 + (c - b'0') as u32;
                if m > 1 << 24 {
                    return None;
                }
                any = true;
                after += point as usize;
            }
            b'.' if !point => point = true,
            _ => return None,
        }
    }
    if !any || after >= POW10.len() {
        return None;
    }
    let x = m as f32 / POW10[after];
    Some(if negative { -x } else { x })
}

/// True when the text itself says infinity (so an infinite result is not an overflow).
pub fn spells_infinity(t: &str) -> bool {
    let t = t.trim_start_matches(['+', '-']).to_ascii_lowercase();
    t == "inf" || t == "infinity"
}

/// Appends `x` as PostgreSQL prints a float4 (shortest round-trip form).
pub fn write_f32(out: &mut String, x: f32) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x < 0.0 { "-Infinity" } else { "Infinity" });
        return;
    }
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    let sci = format!("{x:e}"); // e.g. "-1.5e-5", "1e20"
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if negative {
        out.push('-');
    }
    if (-4..6).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    }
}

/// `x` as PostgreSQL prints a float4.
pub fn format_f32(x: f32) -> String {
    let mut s = String::new();
    write_f32(&mut s, x);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path gives exactly what the general parser gives, wherever it answers, and
    /// answers for the plain decimals clients send.
    #[test]
    fn simple_decimals_match_the_general_parser() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut answered = 0;
        for _ in 0..200_000 {
            let digits = 1 + next() % 10;
            let m = next() % 10u64.pow(digits as u32);
            let mut s = format!("{m:0width$}", width = digits as usize);
            let after = (next() % 13) as usize;
            if after > 0 && after <= s.len() {
                s.insert(s.len() - after, '.');
            }
            match next() % 4 {
                0 => s.insert(0, '-'),
                1 => s.insert(0, '+'),
                _ => {}
            }
            let want: f32 = s.parse().unwrap();
            if let Some(got) = simple(s.as_bytes()) {
                answered += 1;
                assert_eq!(got.to_bits(), want.to_bits(), "{s}");
            }
            assert_eq!(parse_f32(&s).map(f32::to_bits), Some(want.to_bits()), "{s}");
        }
        assert!(answered > 50_000, "the fast path answered only {answered}");
        for s in [
            "0.1234567",
            "-0.000001",
            "255",
            "0",
            "-0",
            "16777216",
            "1.5",
        ] {
            assert!(simple(s.as_bytes()).is_some(), "{s}");
        }
        for s in [
            "1e5", "inf", "NaN", "16777217", ".", "-", "1..2", "1.2.3", "0x10", " 1",
        ] {
            assert_eq!(simple(s.as_bytes()), None, "{s}");
        }
        assert!(simple(b"-0").unwrap().is_sign_negative());
    }
}
