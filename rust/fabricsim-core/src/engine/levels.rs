//! The progressive filling's queue of link saturation levels, `(level, link)` in level then link
//! order: the links' first levels in a sorted list, beside a heap of the links queued again.
//!
//! Most links come out at the level they were queued at, or with no flow left to rate (on the
//! rail-optimized 1:1 design at load 0.99, of 100 links queued a filling takes out ~28 that
//! limit a flow, ~50 with no flow left and ~46 queued again higher, and never reaches ~24).
//! Taking a link out of a sorted list is a compare where a heap of a hundred links sifts six
//! or seven levels. Only the lower half is sorted at first: by the time the filling reaches the
//! upper half, most of it has no flow left to rate, and only the rest is sorted then.
//!
//! Levels are never negative nor NaN (see [`key`]), so their IEEE order is the order of their
//! bits, and an entry packs into one integer `bits << 32 | link` whose order is the queue's.
//! Each link is queued at most once, so no two entries are equal and the order they come out in
//! is the one `BinaryHeap<Ev>` gave before (the filling's rounding depends on it).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// From this many links, [`Levels::build`] sorts half of them at first.
const SPLIT_FROM: usize = 32;

/// An entry: the level's bits above the link. The filling's levels are `max(x, 0) / max(w,
/// f64::MIN_POSITIVE)` and maxima of those, never -0.0 (no capacity is) nor NaN.
#[inline(always)]
fn key(level: f64, link: u32) -> u128 {
    debug_assert!(level >= 0.0 && level.is_sign_positive(), "level {level}");
    ((level.to_bits() as u128) << 32) | link as u128
}

#[derive(Default)]
pub(super) struct Levels {
    // The links at their first level: sorted[next..] are still queued, sorted[next..split] in
    // order, sorted[split..] not yet unless `rest_sorted` (all above sorted[..split]).
    sorted: Vec<u128>,
    next: usize,
    split: usize,
    rest_sorted: bool,
    // The links queued again, at a higher level.
    again: BinaryHeap<Reverse<u128>>,
    // Where the entry `top` returned is.
    top_in_heap: bool,
}

impl Levels {
    /// Empty the queue; then [`Levels::push`] each link and [`Levels::build`] once.
    pub(super) fn clear(&mut self) {
        self.sorted.clear();
        (self.next, self.split, self.rest_sorted) = (0, 0, true);
        self.again.clear();
    }

    /// Queue a link at `level` (`>= 0`), before [`Levels::build`].
    #[inline(always)]
    pub(super) fn push(&mut self, level: f64, link: u32) {
        self.sorted.push(key(level, link));
    }

    /// Order the links pushed since [`Levels::clear`].
    pub(super) fn build(&mut self) {
        let n = self.sorted.len();
        if n < SPLIT_FROM {
            self.sorted.sort_unstable();
            (self.split, self.rest_sorted) = (n, true);
            return;
        }
        // Sort the lower half now; most of the upper half has no flow left to rate by the
        // time the filling gets there (or is never reached), so sort only what is left of it then.
        let k = n / 2;
        self.sorted.select_nth_unstable(k);
        self.sorted[..k].sort_unstable();
        (self.split, self.rest_sorted) = (k, false);
    }

    /// Sort the upper half, without the links `live` says have no flow left to rate.
    #[cold]
    fn sort_rest(&mut self, live: impl Fn(u32) -> bool) {
        let split = self.split;
        let mut w = split;
        for r in split..self.sorted.len() {
            let k = self.sorted[r];
            if live(k as u32) {
                self.sorted[w] = k;
                w += 1;
            }
        }
        self.sorted.truncate(w);
        self.sorted[split..].sort_unstable();
        self.split = w;
        self.rest_sorted = true;
    }

    /// The lowest level and its link; `live(link)` is false for a link with no flow left to rate
    /// (which it may leave out).
    #[inline(always)]
    pub(super) fn top(&mut self, live: impl Fn(u32) -> bool) -> Option<(f64, u32)> {
        if self.next == self.split && !self.rest_sorted {
            self.sort_rest(live);
        }
        let k = match (self.sorted.get(self.next), self.again.peek()) {
            (Some(&a), Some(&Reverse(b))) if b < a => (b, true),
            (Some(&a), _) => (a, false),
            (None, Some(&Reverse(b))) => (b, true),
            (None, None) => return None,
        };
        self.top_in_heap = k.1;
        Some((f64::from_bits((k.0 >> 32) as u64), k.0 as u32))
    }

    /// Raise the entry [`Levels::top`] returned, `link`, to `level` (not below its current one).
    #[inline(always)]
    pub(super) fn raise_top(&mut self, level: f64, link: u32) {
        let k = key(level, link);
        if self.top_in_heap {
            if let Some(mut top) = self.again.peek_mut() {
                debug_assert!(k >= top.0);
                *top = Reverse(k);
            }
        } else {
            debug_assert!(k >= self.sorted[self.next]);
            self.next += 1;
            self.again.push(Reverse(k));
        }
    }

    /// Remove the entry [`Levels::top`] returned.
    #[inline(always)]
    pub(super) fn pop(&mut self) {
        if self.top_in_heap {
            self.again.pop();
        } else {
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Against a sorted list: the same entries come out in the same order, with raises.
    #[test]
    fn comes_out_in_level_then_link_order() {
        let mut rng = Rng::new(11);
        let mut q = Levels::default();
        for _ in 0..500 {
            let n = rng.below(70) as u32;
            // Few distinct levels, so that ties between links are common, and near-ties.
            let level = |rng: &mut Rng| match rng.below(8) {
                0 => 0.0,
                1 => f64::INFINITY,
                2 => f64::MIN_POSITIVE,
                3 => 1e9 * (1.0 + rng.below(4) as f64 * f64::EPSILON),
                k => k as f64 * 0.5e9,
            };
            let mut model: Vec<(f64, u32)> = (0..n).map(|l| (level(&mut rng), l)).collect();
            q.clear();
            for &(x, l) in &model {
                q.push(x, l);
            }
            q.build();
            // Links with no flow left to rate: the queue may leave them out or return them.
            let dead: Vec<bool> = (0..n).map(|_| rng.below(4) == 0).collect();
            model.retain(|&(_, l)| !dead[l as usize]);
            while let Some((x, l)) = q.top(|l| !dead[l as usize]) {
                if dead[l as usize] {
                    q.pop();
                    continue;
                }
                model.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                assert_eq!((x, l), model[0]);
                if x < 3e9 && rng.below(2) == 0 {
                    let up = x + rng.below(3) as f64 * 0.25e9;
                    q.raise_top(up, l);
                    model[0].0 = up;
                } else {
                    q.pop();
                    model.remove(0);
                }
            }
            assert!(model.is_empty());
        }
    }
}
