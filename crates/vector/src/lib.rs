//! `vector` and `halfvec` values without PostgreSQL: the text and binary formats (the same as
//! pgvector's, so its clients work unchanged), the checks every value passes, and element-wise
//! arithmetic. Everything that can fail returns an [`Error`] that the extension reports as an
//! ERROR with the matching SQLSTATE.
use half::f16;

pub mod float;

/// The most dimensions a value may have (as pgvector).
pub const MAX_DIM: usize = 16000;

/// What went wrong, with the SQLSTATE class the extension reports it under.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// 22P02 invalid_text_representation, with a detail.
    Syntax {
        type_name: &'static str,
        input: String,
        detail: &'static str,
    },
    /// 22003 numeric_value_out_of_range.
    OutOfRange(String),
    /// 22000 data_exception.
    Data(String),
    /// 54000 program_limit_exceeded.
    Limit(String),
    /// 22P03 invalid_binary_representation.
    Binary(String),
    /// 22023 invalid_parameter_value (a type modifier).
    Param(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Syntax {
                type_name, input, ..
            } => {
                write!(f, "invalid input syntax for type {type_name}: \"{input}\"")
            }
            Error::OutOfRange(m)
            | Error::Data(m)
            | Error::Limit(m)
            | Error::Binary(m)
            | Error::Param(m) => f.write_str(m),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// An element type: `f32` for `vector`, `f16` for `halfvec`.
pub trait Element: Copy + PartialOrd + Default + Send + Sync + 'static {
    const TYPE_NAME: &'static str;
    /// Bytes per element in the binary format and on disk.
    const SIZE: usize;
    fn to_f32(self) -> f32;
    /// Converts a finite f32, failing when it does not fit this type.
    fn from_f32(x: f32) -> Result<Self>;
    fn write_be(self, out: &mut Vec<u8>);
    fn read_be(bytes: &[u8]) -> Self;
}

impl Element for f32 {
    const TYPE_NAME: &'static str = "vector";
    const SIZE: usize = 4;
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline]
    fn from_f32(x: f32) -> Result<f32> {
        Ok(x)
    }
    fn write_be(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bits().to_be_bytes());
    }
    fn read_be(b: &[u8]) -> f32 {
        f32::from_bits(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl Element for f16 {
    const TYPE_NAME: &'static str = "halfvec";
    const SIZE: usize = 2;
    #[inline]
    fn to_f32(self) -> f32 {
        self.to_f32()
    }
    fn from_f32(x: f32) -> Result<f16> {
        // Strict: values beyond the largest finite half are rejected, not rounded down to it.
        if x.is_finite() && x.abs() > f16::MAX.to_f32() {
            return Err(Error::OutOfRange(format!(
                "\"{}\" is out of range for type halfvec",
                float::format_f32(x)
            )));
        }
        Ok(f16::from_f32(x))
    }
    fn write_be(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bits().to_be_bytes());
    }
    fn read_be(b: &[u8]) -> f16 {
        f16::from_bits(u16::from_be_bytes([b[0], b[1]]))
    }
}

/// Checks one element: NaN and infinities are never stored.
#[inline]
pub fn check_element<E: Element>(x: E) -> Result<()> {
    let f = x.to_f32();
    if f.is_nan() {
        Err(Error::Data(format!("NaN not allowed in {}", E::TYPE_NAME)))
    } else if f.is_infinite() {
        Err(Error::Data(format!(
            "infinite value not allowed in {}",
            E::TYPE_NAME
        )))
    } else {
        Ok(())
    }
}

/// Checks a dimension count.
pub fn check_dims<E: Element>(dim: usize) -> Result<()> {
    if dim < 1 {
        Err(Error::Data(format!(
            "{} must have at least 1 dimension",
            E::TYPE_NAME
        )))
    } else if dim > MAX_DIM {
        Err(Error::Limit(format!(
            "{} cannot have more than {MAX_DIM} dimensions",
            E::TYPE_NAME
        )))
    } else {
        Ok(())
    }
}

/// Checks a value against a column's declared dimensions (typmod; -1 means none).
pub fn check_typmod<E: Element>(dim: usize, typmod: i32) -> Result<()> {
    if typmod >= 0 && dim != typmod as usize {
        Err(Error::Data(format!(
            "expected {typmod} dimensions, not {dim}"
        )))
    } else {
        Ok(())
    }
}

/// The typmod of `vector(n)`: 1..=16000.
pub fn typmod_in<E: Element>(mods: &[i32]) -> Result<i32> {
    match mods {
        [n] if *n < 1 => Err(Error::Param(format!(
            "dimensions for type {} must be at least 1",
            E::TYPE_NAME
        ))),
        [n] if *n as usize > MAX_DIM => Err(Error::Param(format!(
            "dimensions for type {} cannot exceed {MAX_DIM}",
            E::TYPE_NAME
        ))),
        [n] => Ok(*n),
        _ => Err(Error::Param("invalid type modifier".into())),
    }
}

/// Checks that two operands have the same dimensions.
#[inline]
pub fn check_same_dims<E: Element>(a: usize, b: usize) -> Result<()> {
    if a != b {
        Err(Error::Data(format!(
            "different {} dimensions {a} and {b}",
            E::TYPE_NAME
        )))
    } else {
        Ok(())
    }
}

fn is_space(b: u8) -> bool {
    // PostgreSQL's scanner_isspace / isspace in the C locale
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Parses the text form `[1,2.5,3]` (whitespace allowed around the brackets and elements).
pub fn parse<E: Element>(input: &str) -> Result<Vec<E>> {
    let syntax = |detail: &'static str| Error::Syntax {
        type_name: E::TYPE_NAME,
        input: input.to_owned(),
        detail,
    };
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() && is_space(bytes[i]) {
        i += 1;
    }
    if bytes.get(i) != Some(&b'[') {
        return Err(syntax("Vector contents must start with \"[\"."));
    }
    i += 1;
    let close = match bytes[i..].iter().position(|&b| b == b']') {
        Some(p) => i + p,
        None => return Err(syntax("Vector contents must end with \"]\".")),
    };
    if bytes[close + 1..].iter().any(|&b| !is_space(b)) {
        return Err(syntax("Junk after closing right brace."));
    }
    let body = &input[i..close];
    if body.bytes().all(is_space) {
        return Err(Error::Data(format!(
            "{} must have at least 1 dimension",
            E::TYPE_NAME
        )));
    }
    let mut out = Vec::with_capacity(body.len() / 4 + 1);
    // One pass over the bytes (elements are short, so a plain loop beats a splitting
    // iterator); commas and spaces are ASCII, so every slice is on a character boundary.
    let b = body.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b',' {
            i += 1;
        }
        let mut end = i;
        while end > start && is_space(b[end - 1]) {
            end -= 1;
        }
        let t = &body[start..end];
        if out.len() == MAX_DIM {
            check_dims::<E>(MAX_DIM + 1)?;
        }
        let x = float::parse_f32(t)
            .ok_or_else(|| syntax("Elements must be numbers separated by commas."))?;
        if x.is_infinite() && !float::spells_infinity(t) {
            return Err(Error::OutOfRange(format!(
                "\"{t}\" is out of range for type {}",
                E::TYPE_NAME
            )));
        }
        // A finite value beyond the type's range is named as it was written.
        let e = E::from_f32(x).map_err(|e| match e {
            Error::OutOfRange(_) => {
                Error::OutOfRange(format!("\"{t}\" is out of range for type {}", E::TYPE_NAME))
            }
            e => e,
        })?;
        check_element(e)?;
        out.push(e);
        if i == b.len() {
            break;
        }
        i += 1;
    }
    Ok(out)
}

/// The text form, each element in its shortest round-trip form as PostgreSQL prints floats.
pub fn format<E: Element>(v: &[E]) -> String {
    let mut s = String::with_capacity(v.len() * 10 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        float::write_f32(&mut s, x.to_f32());
    }
    s.push(']');
    s
}

/// The binary form: big-endian int16 dim, int16 unused (0), then the elements.
pub fn encode<E: Element>(v: &[E]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + v.len() * E::SIZE);
    out.extend_from_slice(&(v.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    for &x in v {
        x.write_be(&mut out);
    }
    out
}

/// Reads the binary form; the payload must be exactly one value.
pub fn decode<E: Element>(bytes: &[u8]) -> Result<Vec<E>> {
    if bytes.len() < 4 {
        return Err(Error::Binary(format!(
            "insufficient data for binary {} header",
            E::TYPE_NAME
        )));
    }
    let dim = i16::from_be_bytes([bytes[0], bytes[1]]);
    let unused = i16::from_be_bytes([bytes[2], bytes[3]]);
    if dim < 0 {
        return Err(Error::Data(format!(
            "{} must have at least 1 dimension",
            E::TYPE_NAME
        )));
    }
    let dim = dim as usize;
    check_dims::<E>(dim)?;
    if unused != 0 {
        return Err(Error::Data(format!(
            "expected unused to be 0, not {unused}"
        )));
    }
    let want = 4 + dim * E::SIZE;
    if bytes.len() != want {
        return Err(Error::Binary(format!(
            "binary {} of {dim} dimensions must be {want} bytes, not {}",
            E::TYPE_NAME,
            bytes.len()
        )));
    }
    let mut out = Vec::with_capacity(dim);
    for chunk in bytes[4..].chunks_exact(E::SIZE) {
        let x = E::read_be(chunk);
        check_element(x)?;
        out.push(x);
    }
    Ok(out)
}

fn overflow<E: Element>(r: f32) -> Result<E> {
    if r.is_infinite() {
        return Err(Error::OutOfRange("value out of range: overflow".into()));
    }
    E::from_f32(r).map_err(|_| Error::OutOfRange("value out of range: overflow".into()))
}

/// Element-wise `a + b`.
pub fn add<E: Element>(a: &[E], b: &[E]) -> Result<Vec<E>> {
    check_same_dims::<E>(a.len(), b.len())?;
    a.iter()
        .zip(b)
        .map(|(x, y)| overflow(x.to_f32() + y.to_f32()))
        .collect()
}

/// Element-wise `a - b`.
pub fn sub<E: Element>(a: &[E], b: &[E]) -> Result<Vec<E>> {
    check_same_dims::<E>(a.len(), b.len())?;
    a.iter()
        .zip(b)
        .map(|(x, y)| overflow(x.to_f32() - y.to_f32()))
        .collect()
}

/// Element-wise `a * b`.
pub fn mul<E: Element>(a: &[E], b: &[E]) -> Result<Vec<E>> {
    check_same_dims::<E>(a.len(), b.len())?;
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let (x, y) = (x.to_f32(), y.to_f32());
            let r: E = overflow(x * y)?;
            if r.to_f32() == 0.0 && x != 0.0 && y != 0.0 {
                return Err(Error::OutOfRange("value out of range: underflow".into()));
            }
            Ok(r)
        })
        .collect()
}

/// `a || b`.
pub fn concat<E: Element>(a: &[E], b: &[E]) -> Result<Vec<E>> {
    check_dims::<E>(a.len() + b.len())?;
    Ok([a, b].concat())
}

/// Lexicographic order by elements, then by dimensions (as arrays compare).
pub fn compare<E: Element>(a: &[E], b: &[E]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.to_f32().partial_cmp(&y.to_f32()) {
            Some(std::cmp::Ordering::Equal) | None => continue,
            Some(o) => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// `subvector(v, start, count)`: elements start..start+count-1, 1-based; the range is clipped to
/// the vector like `substring` does, and must keep at least one element.
pub fn subvector<E: Element>(v: &[E], start: i32, count: i32) -> Result<Vec<E>> {
    if count < 1 {
        return Err(Error::Data(format!(
            "{} must have at least 1 dimension",
            E::TYPE_NAME
        )));
    }
    let end = (start as i64 + count as i64).min(v.len() as i64 + 1);
    let begin = (start as i64).max(1);
    if end <= begin {
        return Err(Error::Data(format!(
            "{} must have at least 1 dimension",
            E::TYPE_NAME
        )));
    }
    Ok(v[(begin - 1) as usize..(end - 1) as usize].to_vec())
}

/// Euclidean norm, accumulated in f64.
pub fn norm<E: Element>(v: &[E]) -> f64 {
    v.iter()
        .map(|x| (x.to_f32() as f64) * (x.to_f32() as f64))
        .sum::<f64>()
        .sqrt()
}

/// `v / |v|`; the zero vector stays zero.
pub fn l2_normalize<E: Element>(v: &[E]) -> Result<Vec<E>> {
    let n = norm(v);
    if n == 0.0 {
        return Ok(v.to_vec());
    }
    v.iter()
        .map(|x| overflow(((x.to_f32() as f64) / n) as f32))
        .collect()
}

/// Bit i is set when element i is positive (the `bit` type's layout: most significant first).
pub fn binary_quantize<E: Element>(v: &[E]) -> Vec<u8> {
    let mut out = vec![0u8; v.len().div_ceil(8)];
    for (i, x) in v.iter().enumerate() {
        if x.to_f32() > 0.0 {
            out[i / 8] |= 0x80 >> (i % 8);
        }
    }
    out
}

/// A `bit` value's bits: `len` bits, most significant first, padded with zeros to whole bytes.
#[derive(Clone, Copy, Debug)]
pub struct Bits<'a> {
    pub len: usize,
    pub bytes: &'a [u8],
}

fn check_same_bits(a: Bits, b: Bits) -> Result<()> {
    if a.len != b.len {
        return Err(Error::Data(format!(
            "different bit lengths {} and {}",
            a.len, b.len
        )));
    }
    if a.bytes.len() != a.len.div_ceil(8) || b.bytes.len() != b.len.div_ceil(8) {
        return Err(Error::Data("corrupted bit value".into()));
    }
    Ok(())
}

/// Hamming distance: the number of positions where the bits differ.
pub fn hamming_distance(a: Bits, b: Bits) -> Result<u64> {
    check_same_bits(a, b)?;
    Ok(a.bytes
        .iter()
        .zip(b.bytes)
        .map(|(x, y)| (x ^ y).count_ones() as u64)
        .sum())
}

/// Jaccard distance, 1 - |a & b| / |a | b|; 1 where the bits share no set bit (both empty too).
pub fn jaccard_distance(a: Bits, b: Bits) -> Result<f64> {
    check_same_bits(a, b)?;
    let (mut both, mut either) = (0u64, 0u64);
    for (x, y) in a.bytes.iter().zip(b.bytes) {
        both += (x & y).count_ones() as u64;
        either += (x | y).count_ones() as u64;
    }
    Ok(if both == 0 {
        1.0
    } else {
        1.0 - both as f64 / either as f64
    })
}

/// Converts values to an element type, checking each one.
pub fn from_f64s<E: Element>(values: impl IntoIterator<Item = f64>) -> Result<Vec<E>> {
    values
        .into_iter()
        .map(|x| {
            // As pgvector: the value is made a real first, so one beyond real's range is
            // infinite, and infinite values are refused.
            let f = x as f32;
            if x.is_nan() {
                return Err(Error::Data(format!("NaN not allowed in {}", E::TYPE_NAME)));
            }
            if f.is_infinite() {
                return Err(Error::Data(format!(
                    "infinite value not allowed in {}",
                    E::TYPE_NAME
                )));
            }
            E::from_f32(f)
        })
        .collect()
}

#[cfg(test)]
mod tests;
