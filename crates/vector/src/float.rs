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
    t.parse::<f32>().ok()
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
