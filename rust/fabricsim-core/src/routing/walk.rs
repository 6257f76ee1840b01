//! Routing one flow: ECMP walks (hashing at every node), spraying over the equal-cost DAG,
//! waypoints, and the equal-cost paths of a connection kept for re-hashing.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::table::Toward;
use super::{Policy, Route, RoutedFlows, Router};
use crate::error::{CoreError, Result};
use crate::network::Network;
use crate::rng::ecmp_hash;

/// A hasher for node ids in per-route maps: one multiply (SipHash, std's default, cost a fifth
/// of a sprayed route's time). Not for keys an adversary picks.
#[derive(Default)]
struct NodeHasher(u64);

impl Hasher for NodeHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.0 = (self.0.rotate_left(5) ^ x as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type NodeHash = BuildHasherDefault<NodeHasher>;

impl Router {
    /// Route one flow from `src` to `dst`.
    pub fn route(
        &self,
        src: usize,
        dst: usize,
        policy: Policy,
        seed: u64,
        flow_key: u64,
    ) -> Result<Route> {
        let mut route = Route::default();
        self.route_into(src, dst, policy, seed, flow_key, &mut route)?;
        Ok(route)
    }

    /// Route a flow through a waypoint: `src -> via -> dst` (e.g. a PXN hop through the GPU that
    /// owns the rail NIC). Fractions of a link used by both halves add up.
    pub fn route_via(
        &self,
        src: usize,
        via: usize,
        dst: usize,
        policy: Policy,
        seed: u64,
        flow_key: u64,
    ) -> Result<Route> {
        let first = self.route(src, via, policy, seed, flow_key)?;
        let second = self.route(via, dst, policy, seed, flow_key)?;
        Ok(join(&first, &second))
    }

    /// The equal-cost next hops of every node on the shortest paths from `src` to `dst`.
    pub fn ecmp_paths(&self, src: usize, dst: usize) -> Result<EcmpPaths> {
        let to = self.check_pair(src, dst)?;
        let mut found: Vec<(u32, Vec<u32>)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![src];
        seen.insert(src);
        let mut hops = Vec::new();
        while let Some(u) = stack.pop() {
            if u == dst {
                continue;
            }
            self.next_hops_into(u, &to, to.dist(u), &mut hops);
            for &l in &hops {
                let v = self.net.dst(l as usize);
                if seen.insert(v) {
                    stack.push(v);
                }
            }
            found.push((u as u32, hops.clone()));
        }
        found.sort_unstable_by_key(|e| e.0);
        let mut paths = EcmpPaths {
            src: src as u32,
            dst: dst as u32,
            ptr: vec![0],
            ..Default::default()
        };
        for (u, h) in found {
            paths.nodes.push(u);
            paths.links.extend(h);
            paths.ptr.push(paths.links.len() as u32);
        }
        Ok(paths)
    }
}

/// Every equal-cost next hop of every node on the shortest paths of one connection, found
/// once ([`Router::ecmp_paths`]): the ECMP route for any seed is then a walk that hashes at
/// each node, as [`Router::route`] does (the Monte Carlo re-hashes the same connections in
/// every sample).
#[derive(Clone, Debug, Default)]
pub struct EcmpPaths {
    src: u32,
    dst: u32,
    nodes: Vec<u32>,
    ptr: Vec<u32>,
    links: Vec<u32>,
}

impl EcmpPaths {
    /// How many numbers it holds (4 bytes each): what keeping it costs.
    pub(crate) fn entries(&self) -> usize {
        self.nodes.len() + self.ptr.len() + self.links.len()
    }

    /// The route [`Router::route`] gives with `Policy::Ecmp`, `seed` and `flow_key`.
    pub fn walk(&self, net: &Network, seed: u64, flow_key: u64) -> Result<Route> {
        let mut route = Route::default();
        route.latency_s =
            self.walk_links(net, seed, flow_key, &mut route.links, &mut route.fractions)?;
        Ok(route)
    }

    /// [`EcmpPaths::walk`], appended to `out` as its next route.
    pub(crate) fn walk_into(
        &self,
        net: &Network,
        seed: u64,
        flow_key: u64,
        out: &mut RoutedFlows,
    ) -> Result<()> {
        // A path is at most as long as the number of nodes it can visit.
        out.reserve_route(self.nodes.len().max(1))?;
        let latency_s = self.walk_links(net, seed, flow_key, &mut out.links, &mut out.fractions)?;
        out.latency_s.push(latency_s);
        out.ptr.push(out.links.len());
        Ok(())
    }

    fn walk_links(
        &self,
        net: &Network,
        seed: u64,
        flow_key: u64,
        links: &mut Vec<u32>,
        fractions: &mut Vec<f64>,
    ) -> Result<f64> {
        let (src, dst) = (self.src as usize, self.dst as usize);
        ecmp_walk(net, src, dst, seed, flow_key, &mut &*self, links, fractions)
    }
}

/// The equal-cost next hops of a node toward one destination.
trait NextHops {
    fn at(&mut self, u: usize) -> &[u32];
}

impl NextHops for &EcmpPaths {
    fn at(&mut self, u: usize) -> &[u32] {
        match self.nodes.binary_search(&(u as u32)) {
            Ok(i) => &self.links[self.ptr[i] as usize..self.ptr[i + 1] as usize],
            Err(_) => &[],
        }
    }
}

/// [`Router::next_hops_into`] toward one destination, into a reused buffer.
struct RouterHops<'r> {
    router: &'r Router,
    to: Toward<'r>,
    buf: Vec<u32>,
}

impl NextHops for RouterHops<'_> {
    fn at(&mut self, u: usize) -> &[u32] {
        self.router
            .next_hops_into(u, &self.to, self.to.dist(u), &mut self.buf);
        &self.buf
    }
}

/// One ECMP path from `src` to `dst`: at every node the flow's hash picks one of its
/// equal-cost next hops. Appends the links (fraction 1 each) and returns the path's latency.
#[allow(clippy::too_many_arguments)]
fn ecmp_walk(
    net: &Network,
    src: usize,
    dst: usize,
    seed: u64,
    flow_key: u64,
    next_hops: &mut impl NextHops,
    links: &mut Vec<u32>,
    fractions: &mut Vec<f64>,
) -> Result<f64> {
    let mut latency_s = 0.0;
    let mut u = src;
    while u != dst {
        let hops = next_hops.at(u);
        if hops.is_empty() {
            return Err(CoreError::Unreachable { src, dst });
        }
        let k = (ecmp_hash(seed, flow_key, u as u64) % hops.len() as u64) as usize;
        let l = hops[k] as usize;
        links.push(l as u32);
        fractions.push(1.0);
        latency_s += net.latency_s(l);
        u = net.dst(l);
    }
    Ok(latency_s)
}

/// A route through a waypoint: both halves, with the fractions of a link used by both added.
pub(crate) fn join(first: &Route, second: &Route) -> Route {
    let mut pairs: Vec<(u32, f64)> = first
        .links
        .iter()
        .copied()
        .zip(first.fractions.iter().copied())
        .collect();
    pairs.extend(
        second
            .links
            .iter()
            .copied()
            .zip(second.fractions.iter().copied()),
    );
    pairs.sort_by_key(|p| p.0);
    let mut route = Route {
        latency_s: first.latency_s + second.latency_s,
        ..Default::default()
    };
    for (l, f) in pairs {
        if route.links.last() == Some(&l) {
            *route.fractions.last_mut().unwrap_or(&mut 0.0) += f;
        } else {
            route.links.push(l);
            route.fractions.push(f);
        }
    }
    route
}

impl Router {
    fn route_into(
        &self,
        src: usize,
        dst: usize,
        policy: Policy,
        seed: u64,
        flow_key: u64,
        route: &mut Route,
    ) -> Result<()> {
        route.links.clear();
        route.fractions.clear();
        route.latency_s = 0.0;
        let to = self.check_pair(src, dst)?;
        let dsrc = to.dist(src);
        if src == dst {
            return Ok(());
        }
        let net = &*self.net;
        let mut hops = Vec::new();
        match policy {
            Policy::Ecmp => {
                let mut next_hops = RouterHops {
                    router: self,
                    to,
                    buf: std::mem::take(&mut hops),
                };
                route.latency_s = ecmp_walk(
                    net,
                    src,
                    dst,
                    seed,
                    flow_key,
                    &mut next_hops,
                    &mut route.links,
                    &mut route.fractions,
                )?;
            }
            Policy::Spray => {
                // Nodes of the equal-cost DAG, visited farthest-first so every node's inflow is
                // complete before it is split; each with its next hops, found once.
                let mut nodes: Vec<(u32, u32, u32)> = Vec::new(); // (distance, node, hops end)
                let mut dag_hops: Vec<u32> = Vec::new();
                let mut seen: HashMap<u32, (f64, f64), NodeHash> = HashMap::default();
                seen.insert(src as u32, (1.0f64, 0.0f64)); // node -> (inflow, worst latency)
                let mut queue = vec![(dsrc, src as u32)];
                let mut i = 0;
                while i < queue.len() {
                    let (du, u) = queue[i];
                    i += 1;
                    if u as usize == dst {
                        continue;
                    }
                    self.next_hops_into(u as usize, &to, du, &mut hops);
                    for &l in &hops {
                        let v = net.dst(l as usize) as u32;
                        if let Entry::Vacant(e) = seen.entry(v) {
                            e.insert((0.0, 0.0));
                            queue.push((to.dist(v as usize), v));
                        }
                    }
                    dag_hops.extend_from_slice(&hops);
                    nodes.push((du, u, dag_hops.len() as u32));
                }
                let mut order: Vec<usize> = (0..nodes.len()).collect();
                order.sort_by(|&a, &b| {
                    nodes[b]
                        .0
                        .cmp(&nodes[a].0)
                        .then(nodes[a].1.cmp(&nodes[b].1))
                });
                let mut pairs: Vec<(u32, f64)> = Vec::with_capacity(dag_hops.len());
                for k in order {
                    let (_, u, end) = nodes[k];
                    let start = if k == 0 { 0 } else { nodes[k - 1].2 };
                    let hops = &dag_hops[start as usize..end as usize];
                    let (inflow, lat) = seen[&u];
                    let share = inflow / hops.len() as f64;
                    for &l in hops {
                        pairs.push((l, share));
                        let v = net.dst(l as usize) as u32;
                        let entry = seen
                            .get_mut(&v)
                            .ok_or(CoreError::Unreachable { src, dst })?;
                        entry.0 += share;
                        entry.1 = entry.1.max(lat + net.latency_s(l as usize));
                    }
                }
                pairs.sort_by_key(|p| p.0);
                for (l, f) in pairs {
                    route.links.push(l);
                    route.fractions.push(f);
                }
                route.latency_s = seen[&(dst as u32)].1;
            }
        }
        Ok(())
    }

    /// Every equal-cost path from `src` to `dst` as link lists, at most `limit` of them.
    pub fn paths(&self, src: usize, dst: usize, limit: usize) -> Result<Vec<Vec<u32>>> {
        let to = self.check_pair(src, dst)?;
        let mut out = Vec::new();
        let mut stack: Vec<(usize, Vec<u32>)> = vec![(src, Vec::new())];
        let mut hops = Vec::new();
        while let Some((u, path)) = stack.pop() {
            if out.len() >= limit {
                break;
            }
            if u == dst {
                out.push(path);
                continue;
            }
            self.next_hops_into(u, &to, to.dist(u), &mut hops);
            // Push in reverse so paths come out in increasing link-id order.
            for &l in hops.iter().rev() {
                let mut p = path.clone();
                p.push(l);
                stack.push((self.net.dst(l as usize), p));
            }
        }
        Ok(out)
    }
}
