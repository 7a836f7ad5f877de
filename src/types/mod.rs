//! vector and halfvec.
