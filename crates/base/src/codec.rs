//! Little-endian element codecs shared by both indexes' tuples.

pub fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Little-endian fields of an on-disk tuple at offsets the tuple's layout names once (a
/// `mod at { pub const X: usize = ..; }` beside its encoder), so the encoder, the decoder and
/// any in-place update read and write the same bytes.
pub trait Fields {
    fn put_u32(&mut self, at: usize, v: u32);
    fn get_u32(&self, at: usize) -> u32;
    fn put_f32(&mut self, at: usize, v: f32) {
        self.put_u32(at, v.to_bits());
    }
    fn get_f32(&self, at: usize) -> f32 {
        f32::from_bits(self.get_u32(at))
    }
    fn put_i32(&mut self, at: usize, v: i32) {
        self.put_u32(at, v as u32);
    }
    fn get_i32(&self, at: usize) -> i32 {
        self.get_u32(at) as i32
    }
}

impl Fields for [u8] {
    fn put_u32(&mut self, at: usize, v: u32) {
        self[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn get_u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self[at..at + 4].try_into().unwrap())
    }
}
