//! Background (east-west) traffic: Poisson flow arrivals at a target load with flow sizes from
//! an empirical CDF, between endpoints in a pattern (uniform pairs, a permutation, incast).

use crate::error::{invalid, Result};
use crate::rng::{splitmix64, Rng};

/// An empirical flow-size distribution: `P(size <= values[i]) = cdf[i]`, linear in between.
#[derive(Clone, Debug)]
pub struct SizeDist {
    values: Vec<f64>,
    cdf: Vec<f64>,
    mean: f64,
}

impl SizeDist {
    pub fn new(values: Vec<f64>, cdf: Vec<f64>) -> Result<Self> {
        if values.len() != cdf.len() || values.len() < 2 {
            return Err(invalid(
                "size CDF",
                format!(
                    "values and cdf need the same length >= 2 (got {} and {})",
                    values.len(),
                    cdf.len()
                ),
            ));
        }
        for i in 0..values.len() {
            if !(values[i].is_finite() && values[i] >= 0.0) {
                return Err(invalid(
                    "size CDF",
                    format!("values[{i}] = {} must be finite and >= 0", values[i]),
                ));
            }
            if !(cdf[i].is_finite() && (0.0..=1.0).contains(&cdf[i])) {
                return Err(invalid(
                    "size CDF",
                    format!("cdf[{i}] = {} must be in [0, 1]", cdf[i]),
                ));
            }
            if i > 0 && (values[i] < values[i - 1] || cdf[i] < cdf[i - 1]) {
                return Err(invalid(
                    "size CDF",
                    format!("values and cdf must be non-decreasing (index {i})"),
                ));
            }
        }
        if cdf[cdf.len() - 1] != 1.0 {
            return Err(invalid(
                "size CDF",
                format!("the last cdf value must be 1, got {}", cdf[cdf.len() - 1]),
            ));
        }
        // Mean of the piecewise-linear CDF: a point mass at values[0] of weight cdf[0], then
        // uniform pieces.
        let mut mean = values[0] * cdf[0];
        for i in 1..values.len() {
            mean += (cdf[i] - cdf[i - 1]) * 0.5 * (values[i] + values[i - 1]);
        }
        if mean <= 0.0 {
            return Err(invalid("size CDF", "the mean flow size must be > 0"));
        }
        Ok(SizeDist { values, cdf, mean })
    }

    pub fn mean(&self) -> f64 {
        self.mean
    }

    pub fn sample(&self, rng: &mut Rng) -> f64 {
        let u = rng.uniform();
        if u <= self.cdf[0] {
            return self.values[0];
        }
        // first index with cdf >= u
        let i = self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1);
        let (c0, c1) = (self.cdf[i - 1], self.cdf[i]);
        let (v0, v1) = (self.values[i - 1], self.values[i]);
        if c1 > c0 {
            v0 + (u - c0) / (c1 - c0) * (v1 - v0)
        } else {
            v1
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Each flow goes to a uniformly random other endpoint.
    Uniform,
    /// Each endpoint sends to one fixed partner (a random derangement, new every sample).
    Permutation,
    /// Every endpoint sends to one of `receivers` randomly chosen endpoints (many to one).
    Incast { receivers: usize },
}

/// Poisson arrivals: every endpoint starts flows at rate `load * inject_bps / mean_size`, so on
/// average it offers `load` of its NIC capacity, during `[start_s, end_s)`.
#[derive(Clone, Debug)]
pub struct Background {
    pub endpoints: Vec<u32>,
    pub inject_bps: Vec<f64>,
    pub load: f64,
    pub pattern: Pattern,
    pub sizes: SizeDist,
    pub start_s: f64,
    pub end_s: f64,
}

/// Generated flows: (src, dst, size_bytes, release_s).
pub type Arrivals = (Vec<u32>, Vec<u32>, Vec<f64>, Vec<f64>);

impl Background {
    pub fn validate(&self) -> Result<()> {
        if self.endpoints.len() < 2 {
            return Err(invalid("background", "needs at least 2 endpoints"));
        }
        if self.inject_bps.len() != self.endpoints.len() {
            return Err(invalid("background", "one NIC rate per endpoint"));
        }
        if !(self.load.is_finite() && (0.0..1.0).contains(&self.load)) {
            return Err(invalid(
                "load",
                format!("must be in [0, 1), got {}", self.load),
            ));
        }
        if let Some(c) = self
            .inject_bps
            .iter()
            .find(|c| !(c.is_finite() && **c > 0.0))
        {
            return Err(invalid(
                "background",
                format!("NIC rate must be finite and > 0, got {c}"),
            ));
        }
        if !(self.start_s.is_finite()
            && self.end_s.is_finite()
            && self.start_s >= 0.0
            && self.end_s >= self.start_s)
        {
            return Err(invalid(
                "background",
                "window must be finite with 0 <= start <= end",
            ));
        }
        if let Pattern::Incast { receivers } = self.pattern {
            if receivers == 0 || receivers >= self.endpoints.len() {
                return Err(invalid(
                    "incast receivers",
                    format!("must be in 1..{}, got {receivers}", self.endpoints.len()),
                ));
            }
        }
        Ok(())
    }

    /// Expected number of arrivals in the window.
    pub fn expected_arrivals(&self) -> f64 {
        let rate: f64 = self
            .inject_bps
            .iter()
            .map(|c| self.load * c / self.sizes.mean())
            .sum();
        rate * (self.end_s - self.start_s).max(0.0)
    }

    /// Arrivals in `[start_s, end_s)`. Every endpoint draws from its own stream of `seed`, so a
    /// longer window only adds later arrivals: the earlier ones stay exactly the same.
    pub fn generate(&self, seed: u64) -> Arrivals {
        ArrivalStream::new(self, seed).until(self.end_s)
    }
}

/// The arrivals of a [`Background`] window after window (its `end_s` ignored): every endpoint's
/// stream goes on where the previous window stopped, so the windows `[start_s, a)`, `[a, b)`
/// together hold exactly the arrivals of `[start_s, b)` (each window's in the order of
/// [`Background::generate`]: by endpoint, then time).
pub struct ArrivalStream<'a> {
    bg: &'a Background,
    partner: Vec<usize>,
    receivers: Vec<usize>,
    rngs: Vec<Rng>,
    mean_gap: Vec<f64>,
    /// Per endpoint: the time of its next arrival (not yet emitted).
    next_s: Vec<f64>,
}

impl<'a> ArrivalStream<'a> {
    pub fn new(bg: &'a Background, seed: u64) -> Self {
        let n = bg.endpoints.len();
        let mut shared = Rng::new(seed);
        let partner: Vec<usize> = match bg.pattern {
            Pattern::Permutation => derangement(n, &mut shared),
            _ => vec![],
        };
        let receivers: Vec<usize> = match bg.pattern {
            Pattern::Incast { receivers } => sample_distinct(n, receivers, &mut shared),
            _ => vec![],
        };
        let (mut rngs, mut mean_gap, mut next_s) = (vec![], vec![], vec![]);
        if bg.load > 0.0 {
            for s in 0..n {
                let mut rng = Rng::new(splitmix64(seed ^ splitmix64(s as u64 + 1)));
                let gap = bg.sizes.mean() / (bg.load * bg.inject_bps[s]);
                next_s.push(bg.start_s + rng.exponential(gap));
                rngs.push(rng);
                mean_gap.push(gap);
            }
        }
        ArrivalStream {
            bg,
            partner,
            receivers,
            rngs,
            mean_gap,
            next_s,
        }
    }

    /// The arrivals from where the last call stopped (`start_s` at first) until `end_s`.
    pub fn until(&mut self, end_s: f64) -> Arrivals {
        let bg = self.bg;
        let n = bg.endpoints.len();
        let (mut src, mut dst, mut size, mut release) = (vec![], vec![], vec![], vec![]);
        for s in 0..self.rngs.len() {
            let (rng, mean_gap) = (&mut self.rngs[s], self.mean_gap[s]);
            let mut t = self.next_s[s];
            while t < end_s {
                let d = match bg.pattern {
                    Pattern::Uniform => {
                        let k = rng.below(n as u64 - 1) as usize;
                        if k >= s {
                            k + 1
                        } else {
                            k
                        }
                    }
                    Pattern::Permutation => self.partner[s],
                    Pattern::Incast { .. } => {
                        let r = self.receivers[rng.below(self.receivers.len() as u64) as usize];
                        if r == s {
                            t += rng.exponential(mean_gap);
                            continue; // a receiver does not send to itself
                        }
                        r
                    }
                };
                src.push(bg.endpoints[s]);
                dst.push(bg.endpoints[d]);
                size.push(bg.sizes.sample(rng).max(1.0));
                release.push(t);
                t += rng.exponential(mean_gap);
            }
            self.next_s[s] = t;
        }
        (src, dst, size, release)
    }
}

/// A random permutation with no fixed point (Sattolo's algorithm: a single random cycle).
fn derangement(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64) as usize;
        p.swap(i, j);
    }
    p
}

/// `k` distinct indices out of `0..n` (partial Fisher-Yates).
pub fn sample_distinct(n: usize, k: usize, rng: &mut Rng) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in 0..k.min(n) {
        let j = i + rng.below((n - i) as u64) as usize;
        p.swap(i, j);
    }
    p.truncate(k.min(n));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_sampling_matches_mean() {
        let d = SizeDist::new(vec![0.0, 100.0, 1000.0], vec![0.0, 0.5, 1.0]).unwrap();
        assert!((d.mean() - (0.5 * 50.0 + 0.5 * 550.0)).abs() < 1e-9);
        let mut rng = Rng::new(1);
        let n = 200_000;
        let m: f64 = (0..n).map(|_| d.sample(&mut rng)).sum::<f64>() / n as f64;
        assert!((m / d.mean() - 1.0).abs() < 0.01, "{m}");
    }

    #[test]
    fn bad_cdfs_are_rejected() {
        assert!(SizeDist::new(vec![1.0], vec![1.0]).is_err());
        assert!(SizeDist::new(vec![1.0, 2.0], vec![0.5, 0.4]).is_err());
        assert!(SizeDist::new(vec![2.0, 1.0], vec![0.5, 1.0]).is_err());
        assert!(SizeDist::new(vec![1.0, 2.0], vec![0.5, 0.9]).is_err());
        assert!(SizeDist::new(vec![1.0, 2.0, 3.0], vec![0.5, 1.0]).is_err());
    }

    #[test]
    fn offered_load_matches_target() {
        let bg = Background {
            endpoints: (0..16).collect(),
            inject_bps: vec![1e9; 16],
            load: 0.4,
            pattern: Pattern::Uniform,
            sizes: SizeDist::new(vec![1e5, 1e5], vec![0.0, 1.0]).unwrap(),
            start_s: 0.0,
            end_s: 1.0,
        };
        bg.validate().unwrap();
        let (src, dst, size, _) = bg.generate(3);
        let offered: f64 = size.iter().sum::<f64>() / (16.0 * 1e9);
        assert!((offered - 0.4).abs() < 0.02, "{offered}");
        assert!(src.iter().zip(&dst).all(|(s, d)| s != d));
        // a longer window keeps every earlier arrival
        let longer = Background {
            end_s: 2.0,
            ..bg.clone()
        };
        let (_, _, size2, rel2) = longer.generate(3);
        let (_, _, _, rel1) = bg.generate(3);
        let early: Vec<f64> = rel2.iter().copied().filter(|&t| t < 1.0).collect();
        assert_eq!(early.len(), rel1.len());
        assert!(size2.len() > size.len());
    }

    #[test]
    fn windows_drawn_one_after_another_hold_the_arrivals_of_the_whole() {
        for pattern in [
            Pattern::Uniform,
            Pattern::Permutation,
            Pattern::Incast { receivers: 3 },
        ] {
            let bg = Background {
                endpoints: (10..18).collect(),
                inject_bps: (0..8).map(|i| 1e9 * (1.0 + i as f64)).collect(),
                load: 0.5,
                pattern,
                sizes: SizeDist::new(vec![1e3, 1e5], vec![0.2, 1.0]).unwrap(),
                start_s: 1e-3,
                end_s: 9e-3,
            };
            let whole = bg.generate(42);
            let mut stream = ArrivalStream::new(&bg, 42);
            let first = stream.until(3e-3);
            // The first window is what a shorter window gives, exactly.
            let short = Background {
                end_s: 3e-3,
                ..bg.clone()
            }
            .generate(42);
            assert_eq!(first, short);
            let (second, third) = (stream.until(4.5e-3), stream.until(9e-3));
            assert!(second.3.iter().all(|&t| (3e-3..4.5e-3).contains(&t)));
            let key = |a: &Arrivals| {
                let mut v: Vec<(u32, u32, u64, u64)> = (0..a.0.len())
                    .map(|i| (a.0[i], a.1[i], a.2[i].to_bits(), a.3[i].to_bits()))
                    .collect();
                v.sort_unstable();
                v
            };
            let mut parts = key(&first);
            parts.extend(key(&second));
            parts.extend(key(&third));
            parts.sort_unstable();
            assert_eq!(parts, key(&whole), "{pattern:?}");
            assert!(whole.0.len() > 100);
        }
    }

    #[test]
    fn derangement_has_no_fixed_point() {
        let mut rng = Rng::new(9);
        for n in 2..20 {
            let p = derangement(n, &mut rng);
            assert!(p.iter().enumerate().all(|(i, &x)| i != x));
        }
    }
}
