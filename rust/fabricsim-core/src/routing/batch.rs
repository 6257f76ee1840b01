//! Routing many flows: grouped into connections (each routed once, in parallel), expanded
//! back to one route per flow, and the bytes a traffic matrix offers each link.

use super::{Policy, Route, Router, NO_VIA};
use crate::demand::Demand;
use crate::error::{invalid, reserve, with_capacity, CoreError, Result};
use crate::rng::splitmix64;

/// Routes for many flows, computed in parallel. `via[i] == u32::MAX` means no waypoint.
#[derive(Clone, Debug, Default)]
pub struct RoutedFlows {
    pub ptr: Vec<usize>,
    pub links: Vec<u32>,
    pub fractions: Vec<f64>,
    pub latency_s: Vec<f64>,
}

impl RoutedFlows {
    /// Append `route` as the next one (an allocation failure is [`CoreError::OutOfMemory`]).
    pub(crate) fn push(&mut self, route: &Route) -> Result<()> {
        self.reserve_route(route.links.len())?;
        if self.ptr.is_empty() {
            self.ptr.push(0);
        }
        self.links.extend_from_slice(&route.links);
        self.fractions.extend_from_slice(&route.fractions);
        self.latency_s.push(route.latency_s);
        self.ptr.push(self.links.len());
        Ok(())
    }

    /// Room for one more route of `len` links (amortized: the vectors grow geometrically).
    pub(crate) fn reserve_route(&mut self, len: usize) -> Result<()> {
        reserve(&mut self.ptr, 2, "routed flows")?;
        reserve(&mut self.latency_s, 1, "routed flows")?;
        reserve(&mut self.links, len, "routed flows' links")?;
        reserve(&mut self.fractions, len, "routed flows' links")
    }

    /// One route per flow, flow `i` taking route `rep_of[i]` of these.
    pub(crate) fn expand(&self, rep_of: &[u32]) -> Result<RoutedFlows> {
        let span = |r: u32| self.ptr[r as usize]..self.ptr[r as usize + 1];
        let total: usize = rep_of.iter().map(|&r| span(r).len()).sum();
        let mut out = RoutedFlows {
            ptr: with_capacity(rep_of.len() + 1, "routed flows")?,
            links: with_capacity(total, "routed flows' links")?,
            fractions: with_capacity(total, "routed flows' links")?,
            latency_s: with_capacity(rep_of.len(), "routed flows")?,
        };
        out.ptr.push(0);
        for &r in rep_of {
            // Routes are a few links long: element copies beat a memcpy call each.
            out.links.extend(self.links[span(r)].iter().copied());
            out.fractions
                .extend(self.fractions[span(r)].iter().copied());
            out.latency_s.push(self.latency_s[r as usize]);
            out.ptr.push(out.links.len());
        }
        Ok(out)
    }

    /// Bytes each of `n_links` links carries when flow `f` sends `size_bytes[f]`, split over
    /// its paths as routed: the offered load, whatever the timing.
    pub fn link_bytes(&self, size_bytes: &[f64], n_links: usize) -> Result<Vec<f64>> {
        if size_bytes.len() + 1 != self.ptr.len() {
            return Err(invalid(
                "size_bytes",
                format!(
                    "has {} entries for {} routed flows",
                    size_bytes.len(),
                    self.ptr.len().saturating_sub(1)
                ),
            ));
        }
        let mut out = vec![0.0; n_links];
        for (f, &size) in size_bytes.iter().enumerate() {
            for e in self.ptr[f]..self.ptr[f + 1] {
                let l = self.links[e] as usize;
                if l >= n_links {
                    return Err(invalid("routes", format!("link {l} out of range")));
                }
                out[l] += size * self.fractions[e];
            }
        }
        Ok(out)
    }
}

/// Routes of flows made of *lanes*: flow `f` stands for the lanes
/// `lane_ptr[f]..lane_ptr[f + 1]` of `lanes` (each routed on its own, e.g. the same transfer
/// on each of a host's rail NICs), moving at one rate split equally over them: its route is
/// the union of its lanes' routes, each lane's fractions divided by the lane count (fractions
/// of a link two lanes share add up), sorted by link id; its latency is its slowest lane's. A
/// flow of one lane keeps that lane's route unchanged.
pub fn merge_lanes(lanes: &RoutedFlows, lane_ptr: &[usize]) -> Result<RoutedFlows> {
    let n_lanes = lanes.ptr.len().saturating_sub(1);
    if lane_ptr.is_empty()
        || lane_ptr[0] != 0
        || *lane_ptr.last().unwrap_or(&0) != n_lanes
        || lane_ptr.windows(2).any(|w| w[0] >= w[1])
    {
        return Err(invalid(
            "lane_ptr",
            format!("must rise from 0 to the {n_lanes} lanes, at least one lane per flow"),
        ));
    }
    let n = lane_ptr.len() - 1;
    let mut out = RoutedFlows {
        ptr: with_capacity(n + 1, "routed flows")?,
        links: with_capacity(lanes.links.len(), "routed flows' links")?,
        fractions: with_capacity(lanes.links.len(), "routed flows' links")?,
        latency_s: with_capacity(n, "routed flows")?,
    };
    out.ptr.push(0);
    let mut pairs: Vec<(u32, f64)> = Vec::new();
    for f in 0..n {
        let (a, b) = (lane_ptr[f], lane_ptr[f + 1]);
        let span = lanes.ptr[a]..lanes.ptr[b];
        let latency = lanes.latency_s[a..b].iter().copied().fold(0.0, f64::max);
        if b - a == 1 {
            out.links.extend_from_slice(&lanes.links[span.clone()]);
            out.fractions.extend_from_slice(&lanes.fractions[span]);
        } else {
            let share = 1.0 / (b - a) as f64;
            pairs.clear();
            pairs.extend(
                lanes.links[span.clone()]
                    .iter()
                    .zip(&lanes.fractions[span])
                    .map(|(&l, &x)| (l, x * share)),
            );
            pairs.sort_by_key(|p| p.0);
            let mut i = 0;
            while i < pairs.len() {
                let (l, mut x) = pairs[i];
                i += 1;
                while i < pairs.len() && pairs[i].0 == l {
                    x += pairs[i].1;
                    i += 1;
                }
                out.links.push(l);
                out.fractions.push(x);
            }
        }
        out.latency_s.push(latency);
        out.ptr.push(out.links.len());
    }
    Ok(out)
}

/// Route every flow of `demand` (its `src`, `dst`, `via` and `flow_key`; the rest is not read),
/// in parallel, each connection once.
pub fn route_flows(
    router: &Router,
    demand: &Demand,
    policy: Policy,
    seed: u64,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<RoutedFlows> {
    demand.check_endpoints("flows")?;
    // Warm the tables in parallel first so the per-flow walks only read.
    let mut targets: Vec<usize> = demand.dst.iter().map(|&d| d as usize).collect();
    targets.extend(
        demand
            .via
            .iter()
            .filter(|&&v| v != NO_VIA)
            .map(|&v| v as usize),
    );
    targets.sort_unstable();
    targets.dedup();
    router.precompute(&targets)?;
    let (rep_of, reps) = connections(demand);
    route_connections(router, demand, (&rep_of, &reps), policy, seed, cancel)
}

/// Group flows into connections (same endpoints, waypoint and hash key: e.g. every step of a
/// collective channel), which take the same route. Returns, per flow, its connection's number,
/// and per connection, one flow of it. `dst`, `via` and `flow_key` must be as long as `src`
/// (checked by the callers).
pub(crate) fn connections(demand: &Demand) -> (Vec<u32>, Vec<u32>) {
    let (src, dst, via, flow_key) = (&demand.src, &demand.dst, &demand.via, &demand.flow_key);
    // Open addressing on a hash of the 4-tuple: one pass, connections numbered in order of
    // first appearance.
    let n = src.len();
    let conn = |i: usize| (src[i], dst[i], via[i], flow_key[i]);
    let cap = (2 * n).next_power_of_two().max(16);
    let mask = cap - 1;
    let mut table = vec![u32::MAX; cap]; // connection number, or empty
    let mut rep_of = vec![0u32; n];
    let mut reps: Vec<u32> = Vec::new();
    for (i, rep) in rep_of.iter_mut().enumerate() {
        let (s, d, v, k) = conn(i);
        let h = splitmix64(splitmix64(((s as u64) << 32 | d as u64) ^ k) ^ v as u64);
        let mut slot = h as usize & mask;
        loop {
            let c = table[slot];
            if c == u32::MAX {
                table[slot] = reps.len() as u32;
                *rep = reps.len() as u32;
                reps.push(i as u32);
                break;
            }
            if conn(reps[c as usize] as usize) == (s, d, v, k) {
                *rep = c;
                break;
            }
            slot = (slot + 1) & mask;
        }
    }
    (rep_of, reps)
}

/// Route each connection once and give every flow its connection's route: `conns` is
/// [`connections`] of `demand` (per flow its connection, per connection one flow of it).
pub(crate) fn route_connections(
    router: &Router,
    demand: &Demand,
    (rep_of, reps): (&[u32], &[u32]),
    policy: Policy,
    seed: u64,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<RoutedFlows> {
    let (src, dst, via, flow_key) = (&demand.src, &demand.dst, &demand.via, &demand.flow_key);
    let n = src.len();
    if rep_of.len() != n || reps.iter().any(|&i| i as usize >= n) {
        return Err(invalid("flows", "connection groups do not match the flows"));
    }
    let routes: Vec<Result<Route>> = crate::parallel::map_collect(reps, 64, |&i| {
        if cancel() {
            return Err(CoreError::Interrupted);
        }
        let i = i as usize;
        let (s, d) = (src[i] as usize, dst[i] as usize);
        if via[i] == NO_VIA {
            router.route(s, d, policy, seed, flow_key[i])
        } else {
            router.route_via(s, via[i] as usize, d, policy, seed, flow_key[i])
        }
    });
    let routes: Vec<Route> = routes.into_iter().collect::<Result<_>>()?;
    expand(rep_of, &routes)
}

/// Every flow's route from its connection's (`rep_of[i]` indexes `routes`).
fn expand(rep_of: &[u32], routes: &[Route]) -> Result<RoutedFlows> {
    let total: usize = routes.iter().map(|r| r.links.len()).sum();
    let mut conns = RoutedFlows {
        ptr: with_capacity(routes.len() + 1, "routed flows")?,
        links: with_capacity(total, "routed flows' links")?,
        fractions: with_capacity(total, "routed flows' links")?,
        latency_s: with_capacity(routes.len(), "routed flows")?,
    };
    for r in routes {
        conns.push(r)?;
    }
    conns.expand(rep_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_merge_into_one_split_route() {
        // three lanes: links {1, 4}, {4, 7} and {2}; flows: lanes 0+1, lane 2 alone
        let lanes = RoutedFlows {
            ptr: vec![0, 2, 4, 5],
            links: vec![1, 4, 4, 7, 2],
            fractions: vec![1.0, 1.0, 1.0, 1.0, 1.0],
            latency_s: vec![2e-6, 3e-6, 1e-6],
        };
        let out = merge_lanes(&lanes, &[0, 2, 3]).unwrap();
        assert_eq!(out.ptr, vec![0, 3, 4]);
        assert_eq!(out.links, vec![1, 4, 7, 2]);
        assert_eq!(out.fractions, vec![0.5, 1.0, 0.5, 1.0]);
        assert_eq!(out.latency_s, vec![3e-6, 1e-6]);
        // every flow needs a lane, and the pointers must cover the lanes exactly
        assert!(merge_lanes(&lanes, &[0, 0, 3]).is_err());
        assert!(merge_lanes(&lanes, &[0, 2]).is_err());
        assert!(merge_lanes(&lanes, &[]).is_err());
    }

    #[test]
    fn connections_group_equal_tuples_only() {
        use std::collections::BTreeMap;
        let mut rng = crate::rng::Rng::new(3);
        let n = 5000;
        let pick = |rng: &mut crate::rng::Rng, k: u64| rng.below(k) as u32;
        let src: Vec<u32> = (0..n).map(|_| pick(&mut rng, 6)).collect();
        let dst: Vec<u32> = (0..n).map(|_| pick(&mut rng, 6)).collect();
        let via: Vec<u32> = (0..n)
            .map(|_| {
                if rng.below(2) == 0 {
                    NO_VIA
                } else {
                    pick(&mut rng, 3)
                }
            })
            .collect();
        let key: Vec<u64> = (0..n).map(|_| rng.below(7)).collect();
        let demand = Demand {
            src: src.clone(),
            dst: dst.clone(),
            via: via.clone(),
            flow_key: key.clone(),
            ..Demand::default()
        };
        let (rep_of, reps) = connections(&demand);
        let mut seen: BTreeMap<(u32, u32, u32, u64), u32> = BTreeMap::new();
        for i in 0..n {
            let t = (src[i], dst[i], via[i], key[i]);
            let c = *seen.entry(t).or_insert(rep_of[i]);
            assert_eq!(c, rep_of[i], "flow {i}");
            let r = reps[c as usize] as usize;
            assert_eq!((src[r], dst[r], via[r], key[r]), t);
        }
        assert_eq!(seen.len(), reps.len());
    }
}
