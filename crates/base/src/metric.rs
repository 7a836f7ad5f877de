//! The distance an index is built for and the element type of its column.
use vchord_rabitq::Kind;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    L2,
    Ip,
    Cos,
    /// L1 (taxicab). vchordrq only: lists and codes are those of L2 (k-means, RaBitQ's squared
    /// L2 estimates), and since `|x|_1 >= |x|_2` the square root of an L2 lower bound bounds
    /// the L1 distance from below, so rows are still emitted in exact L1 order.
    L1,
}

impl Metric {
    pub fn code(self) -> u8 {
        self as u8
    }
    pub fn from_code(c: u8) -> Option<Metric> {
        [Metric::L2, Metric::Ip, Metric::Cos, Metric::L1]
            .get(c as usize)
            .copied()
    }
    pub fn kind(self) -> Kind {
        match self {
            Metric::L2 | Metric::L1 => Kind::L2,
            Metric::Ip | Metric::Cos => Kind::Dot,
        }
    }
    /// Lists and codes are built in squared L2 (L2 and L1).
    pub fn euclidean(self) -> bool {
        matches!(self, Metric::L2 | Metric::L1)
    }
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Ip => "ip",
            Metric::Cos => "cosine",
            Metric::L1 => "l1",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    F32,
    F16,
}

impl Elem {
    pub fn size(self) -> usize {
        match self {
            Elem::F32 => 4,
            Elem::F16 => 2,
        }
    }
}
