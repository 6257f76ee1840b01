//! Equal-cost shortest-path routing: ECMP (one next hop per switch, chosen by a seeded per-flow
//! hash) and packet spraying (a flow split evenly over all equal-cost next hops at every hop).
//!
//! Scale: instead of an all-pairs table (quadratic in nodes), the router keeps one distance
//! table per *attachment switch*: the distance from every node to an endpoint `d` (a GPU) is
//! `min over d's transit neighbours v of T_v[u] + w(v -> d)`. A 4,096-GPU pod needs tables for
//! its few hundred switches, not its 4,096 GPUs; tables are built lazily and in parallel.

mod batch;
mod table;
mod walk;

use crate::error::{invalid, Result};

pub(crate) use batch::{connections, route_connections};
pub use batch::{merge_lanes, route_flows, RoutedFlows};
pub use table::Router;
pub(crate) use walk::join;
pub use walk::EcmpPaths;

pub const UNREACHABLE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Every link costs 1.
    Hops,
    /// A link costs its latency in whole nanoseconds (at least 1).
    Latency,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// One path per flow, chosen hop by hop by a seeded hash of the flow.
    Ecmp,
    /// The flow is split evenly over all equal-cost next hops at every hop.
    Spray,
}

impl Metric {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "hops" => Ok(Metric::Hops),
            "latency" => Ok(Metric::Latency),
            _ => Err(invalid(
                "metric",
                format!("unknown metric {name:?}; valid: 'hops', 'latency'"),
            )),
        }
    }
}

impl Policy {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "ecmp" => Ok(Policy::Ecmp),
            "spray" => Ok(Policy::Spray),
            _ => Err(invalid(
                "routing",
                format!("unknown routing policy {name:?}; valid: 'ecmp', 'spray'"),
            )),
        }
    }
}

/// No waypoint (in `via` arrays).
pub const NO_VIA: u32 = u32::MAX;

/// A routed flow: the directed links it loads with the fraction of its rate on each, and its
/// propagation latency (the slowest of its paths).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Route {
    pub links: Vec<u32>,
    pub fractions: Vec<f64>,
    pub latency_s: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CoreError;
    use crate::network::Network;
    use std::sync::Arc;

    /// Two leaves, `spines` spines, one GPU under each leaf. Nodes: gpu0=0, gpu1=1, leaf0=2,
    /// leaf1=3, spines 4.. . Every undirected edge i gives links 2i (u->v) and 2i+1 (v->u).
    fn two_leaf(spines: usize) -> Arc<Network> {
        let mut edges = vec![(0u32, 2u32), (1, 3)];
        for s in 0..spines {
            edges.push((2, 4 + s as u32));
            edges.push((3, 4 + s as u32));
        }
        let mut src = Vec::new();
        let mut dst = Vec::new();
        for (u, v) in edges {
            src.extend([u, v]);
            dst.extend([v, u]);
        }
        let m = src.len();
        let mut transit = vec![true; 4 + spines];
        transit[0] = false;
        transit[1] = false;
        Arc::new(Network::new(4 + spines, src, dst, vec![1e9; m], vec![1e-6; m], transit).unwrap())
    }

    #[test]
    fn ecmp_is_shortest_deterministic_and_spreads() {
        let router = Router::new(two_leaf(4), Metric::Hops);
        assert_eq!(router.dist(0, 1), 4);
        let mut used = std::collections::HashSet::new();
        for key in 0..200u64 {
            let r = router.route(0, 1, Policy::Ecmp, 3, key).unwrap();
            assert_eq!(r.links.len(), 4);
            assert_eq!(r, router.route(0, 1, Policy::Ecmp, 3, key).unwrap());
            assert!((r.latency_s - 4e-6).abs() < 1e-15);
            used.insert(r.links[1]);
        }
        assert_eq!(used.len(), 4, "200 flows must use every spine");
    }

    #[test]
    fn spray_splits_evenly() {
        let router = Router::new(two_leaf(4), Metric::Hops);
        let r = router.route(0, 1, Policy::Spray, 0, 0).unwrap();
        // access up, 4 uplinks, 4 downlinks, access down
        assert_eq!(r.links.len(), 10);
        let total: f64 = r.fractions.iter().sum();
        assert!((total - 4.0).abs() < 1e-12); // one unit per hop
        let quarters = r
            .fractions
            .iter()
            .filter(|&&f| (f - 0.25).abs() < 1e-12)
            .count();
        assert_eq!(quarters, 8);
    }

    #[test]
    fn link_bytes_spread_each_flow_over_its_split() {
        let router = Router::new(two_leaf(4), Metric::Hops);
        let never = || false;
        let demand = crate::Demand {
            src: vec![0, 1],
            dst: vec![1, 0],
            via: vec![NO_VIA; 2],
            flow_key: vec![0, 0],
            ..Default::default()
        };
        let routes = route_flows(&router, &demand, Policy::Spray, 0, &never).unwrap();
        let bytes = routes
            .link_bytes(&[8.0, 4.0], router.network().n_links())
            .unwrap();
        // gpu0 -> leaf0 carries all 8 bytes; each leaf0 -> spine uplink a quarter.
        assert_eq!(bytes[0], 8.0);
        assert_eq!(bytes[1], 4.0); // leaf0 -> gpu0 carries the reverse flow
        for s in 0..4 {
            assert_eq!(bytes[4 + 4 * s], 2.0, "leaf0 -> spine{s}");
            assert_eq!(bytes[4 + 4 * s + 1], 1.0, "spine{s} -> leaf0");
        }
        let total: f64 = bytes.iter().sum();
        assert!((total - 4.0 * 12.0).abs() < 1e-12); // every byte crosses four hops
        assert!(routes
            .link_bytes(&[1.0], router.network().n_links())
            .is_err());
    }

    #[test]
    fn ecmp_paths_walk_like_route() {
        let router = Router::new(two_leaf(8), Metric::Hops);
        let net = router.network().clone();
        for (src, dst) in [(0, 1), (1, 0), (0, 5), (4, 1), (0, 0)] {
            let paths = router.ecmp_paths(src, dst).unwrap();
            for seed in 0..20u64 {
                for key in [0u64, 7, 1 << 40] {
                    let walked = paths.walk(&net, seed, key).unwrap();
                    assert_eq!(
                        walked,
                        router.route(src, dst, Policy::Ecmp, seed, key).unwrap()
                    );
                }
            }
        }
        // Through a waypoint: both halves joined as route_via joins them.
        let (a, b) = (
            router.ecmp_paths(0, 6).unwrap(),
            router.ecmp_paths(6, 1).unwrap(),
        );
        let joined = join(&a.walk(&net, 3, 9).unwrap(), &b.walk(&net, 3, 9).unwrap());
        assert_eq!(
            joined,
            router.route_via(0, 6, 1, Policy::Ecmp, 3, 9).unwrap()
        );
    }

    #[test]
    fn endpoints_do_not_forward() {
        // gpu0 - gpu1 - switch: gpu0 cannot reach the switch through gpu1.
        let net = Network::new(
            3,
            vec![0, 1, 1, 2],
            vec![1, 0, 2, 1],
            vec![1.0; 4],
            vec![1e-6; 4],
            vec![false, false, true],
        )
        .unwrap();
        let router = Router::new(Arc::new(net), Metric::Hops);
        assert_eq!(router.dist(0, 1), 1);
        assert!(matches!(
            router.route(0, 2, Policy::Ecmp, 0, 0),
            Err(CoreError::Unreachable { .. })
        ));
    }

    #[test]
    fn host_switch_tables_are_sparse_and_agree() {
        // 50 hosts of two GPUs (2h, 2h+1) sharing an NVSwitch (100 + h); every GPU also links
        // to one leaf (150). GPUs do not forward.
        let hosts = 50u32;
        let leaf = 3 * hosts;
        let (mut src, mut dst) = (Vec::new(), Vec::new());
        for h in 0..hosts {
            for g in [2 * h, 2 * h + 1] {
                for (u, v) in [(g, 2 * hosts + h), (g, leaf)] {
                    src.extend([u, v]);
                    dst.extend([v, u]);
                }
            }
        }
        let (n, m) = (leaf as usize + 1, src.len());
        let transit: Vec<bool> = (0..n).map(|u| u >= 2 * hosts as usize).collect();
        let net = Network::new(n, src, dst, vec![1e9; m], vec![1e-6; m], transit).unwrap();
        let net = Arc::new(net);
        for metric in [Metric::Hops, Metric::Latency] {
            let router = Router::new(net.clone(), metric);
            router.precompute_all().unwrap();
            // Tables hold forwarding nodes only: no other forwarding node reaches the leaf or
            // an NVSwitch (only GPUs, which do not forward, link to them), so each table holds
            // its own node; the GPUs' distances come from their out-links.
            assert_eq!(router.table_entries(), hosts as usize + 1);
            let hop = if metric == Metric::Hops { 1 } else { 1000 };
            assert_eq!(router.dist(0, 1), 2 * hop); // NVSwitch or leaf: a tie
            assert_eq!(router.next_hops(0, 1).len(), 2);
            assert_eq!(router.dist(0, 2), 2 * hop); // over the leaf only
            assert_eq!(router.next_hops(0, 2).len(), 1);
            assert_eq!(router.dist(2, 2 * hosts as usize + 1), hop);
            assert_eq!(router.dist(0, 2 * hosts as usize + 1), UNREACHABLE);
        }
    }

    #[test]
    fn latency_metric_prefers_fast_paths() {
        // 0 -> 2 directly (10 us) or 0 -> 1 -> 2 (2 x 1 us).
        let net = Network::new(
            3,
            vec![0, 2, 0, 1, 1, 2],
            vec![2, 0, 1, 0, 2, 1],
            vec![1.0; 6],
            vec![10e-6, 10e-6, 1e-6, 1e-6, 1e-6, 1e-6],
            vec![true; 3],
        )
        .unwrap();
        let net = Arc::new(net);
        assert_eq!(
            Router::new(net.clone(), Metric::Hops)
                .route(0, 2, Policy::Ecmp, 0, 0)
                .unwrap()
                .links,
            vec![0]
        );
        assert_eq!(
            Router::new(net, Metric::Latency)
                .route(0, 2, Policy::Ecmp, 0, 0)
                .unwrap()
                .links,
            vec![2, 4]
        );
    }

    #[test]
    fn paths_enumerates_all_equal_cost_paths() {
        let router = Router::new(two_leaf(3), Metric::Hops);
        assert_eq!(router.paths(0, 1, 100).unwrap().len(), 3);
        assert_eq!(router.paths(0, 1, 2).unwrap().len(), 2);
    }

    #[test]
    fn via_adds_halves() {
        let router = Router::new(two_leaf(1), Metric::Hops);
        // 0 -> spine(4) -> 1: the halves share no link.
        let r = router.route_via(0, 4, 1, Policy::Ecmp, 0, 0).unwrap();
        assert_eq!(r.links.len(), 4);
        assert!((r.latency_s - 4e-6).abs() < 1e-15);
    }
}
