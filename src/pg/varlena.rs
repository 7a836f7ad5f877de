//! Element slices inside varlena values: the bytes of a vector as its elements, without a
//! copy where the memory is aligned, and elements as the little-endian bytes indexes store.
use half::f16;

/// Plain numbers every bit pattern of which is a value, with no padding: what `vector` and
/// `halfvec` hold. Sealed: only f32 and f16.
pub trait Plain: Copy + 'static + private::Sealed {}
impl Plain for f32 {}
impl Plain for f16 {}
mod private {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
}

/// `bytes` as elements; `None` when they are not aligned for `E` or do not divide evenly.
pub fn as_elements<E: Plain>(bytes: &[u8]) -> Option<&[E]> {
    // SAFETY: E is f32 or f16, for which every bit pattern is a value; align_to only yields
    // the aligned middle part, which must be all of it.
    let (pre, elems, post) = unsafe { bytes.align_to::<E>() };
    (pre.is_empty() && post.is_empty()).then_some(elems)
}

/// `bytes` as elements to write; `None` as for [`as_elements`].
pub fn as_elements_mut<E: Plain>(bytes: &mut [u8]) -> Option<&mut [E]> {
    // SAFETY: as `as_elements`; any value written is a valid byte pattern too.
    let (pre, elems, post) = unsafe { bytes.align_to_mut::<E>() };
    (pre.is_empty() && post.is_empty()).then_some(elems)
}

/// The elements' little-endian bytes: one copy of their memory where the CPU is little-endian
/// (a rerank from the table reads a whole vector per candidate; element by element, a 784-d
/// vector took longer to copy than to compare).
pub fn le_bytes<E: Plain + LeBytes>(v: &[E]) -> Vec<u8> {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: `v` is initialised plain numbers (no padding), and on a little-endian CPU
        // their memory is their little-endian encoding.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
            .to_vec()
    }
    #[cfg(not(target_endian = "little"))]
    {
        v.iter().flat_map(|x| x.le()).collect()
    }
}

/// An element's little-endian bytes (big-endian CPUs).
pub trait LeBytes {
    fn le(&self) -> Vec<u8>;
}
impl LeBytes for f32 {
    fn le(&self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
}
impl LeBytes for f16 {
    fn le(&self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
}
