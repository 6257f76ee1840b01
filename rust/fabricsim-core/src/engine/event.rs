//! The event queue's entries and the states a flow goes through.

use std::cmp::Ordering;

/// A min-heap entry ordered by time, then id (deterministic tie-breaking), packed into one
/// integer whose order is that order, so that heap comparisons are a single compare. The low
/// 32 bits are a last tie-breaker (0 in every queue of the engine).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ev(u128);

impl Ev {
    #[inline]
    pub(super) fn new(t: f64, id: u32, tie: u32) -> Ev {
        // f64::total_cmp's order as an unsigned integer.
        let b = t.to_bits() as i64;
        let k = (b ^ ((((b >> 63) as u64) >> 1) as i64)) as u64 ^ (1 << 63);
        Ev(((k as u128) << 64) | ((id as u128) << 32) | tie as u128)
    }

    #[inline]
    pub(super) fn t(self) -> f64 {
        let k = ((self.0 >> 64) as u64 ^ (1 << 63)) as i64;
        f64::from_bits((k ^ ((((k >> 63) as u64) >> 1) as i64)) as u64)
    }

    /// The packed key: smaller is earlier (then a smaller id, then a smaller tie-breaker).
    #[inline]
    pub(super) fn key(self) -> u128 {
        self.0
    }

    #[inline]
    pub(super) fn id(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

// Reversed: std's BinaryHeap is a max-heap.
impl Ord for Ev {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.cmp(&self.0)
    }
}
impl PartialOrd for Ev {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum State {
    Waiting,
    Scheduled,
    Active,
    Propagating,
    Done,
}
