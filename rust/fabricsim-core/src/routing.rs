//! Equal-cost shortest-path routing: ECMP (one next hop per switch, chosen by a seeded per-flow
//! hash) and packet spraying (a flow split evenly over all equal-cost next hops at every hop).
//!
//! Scale: instead of an all-pairs table (quadratic in nodes), the router keeps one distance
//! table per *attachment switch*: the distance from every node to an endpoint `d` (a GPU) is
//! `min over d's transit neighbours v of T_v[u] + w(v -> d)`. A 4,096-GPU pod needs tables for
//! its few hundred switches, not its 4,096 GPUs; tables are built lazily and in parallel.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

use crate::error::{invalid, CoreError, Result};
use crate::network::Network;
use crate::rng::{ecmp_hash, splitmix64};

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

/// A routed flow: the directed links it loads with the fraction of its rate on each, and its
/// propagation latency (the slowest of its paths).
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

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Route {
    pub links: Vec<u32>,
    pub fractions: Vec<f64>,
    pub latency_s: f64,
}

/// Distances toward one destination: its own table if it forwards, else through the nodes
/// that link into it (a GPU's NVSwitch and NIC), as (node, its table if it forwards, weight).
struct Toward<'r> {
    dst: usize,
    own: Option<&'r [u32]>,
    into: Vec<(usize, Option<&'r [u32]>, u32)>,
}

impl Toward<'_> {
    #[inline]
    fn dist(&self, u: usize) -> u32 {
        if u == self.dst {
            return 0;
        }
        if let Some(t) = self.own {
            return t[u];
        }
        let mut best = UNREACHABLE;
        for &(v, table, w) in &self.into {
            let through = if v == u {
                w
            } else if let Some(t) = table {
                if t[u] == UNREACHABLE {
                    continue;
                }
                t[u].saturating_add(w)
            } else {
                continue;
            };
            best = best.min(through);
        }
        best
    }
}

pub struct Router {
    net: Arc<Network>,
    metric: Metric,
    tables: Vec<OnceLock<Box<[u32]>>>,
}

impl Router {
    pub fn new(net: Arc<Network>, metric: Metric) -> Self {
        let tables = (0..net.n_nodes()).map(|_| OnceLock::new()).collect();
        Router {
            net,
            metric,
            tables,
        }
    }

    pub fn network(&self) -> &Arc<Network> {
        &self.net
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    #[inline]
    fn weight(&self, link: usize) -> u32 {
        match self.metric {
            Metric::Hops => 1,
            Metric::Latency => self.net.latency_ns(link).max(1),
        }
    }

    /// Distances from every node to `target`, relaxing only through transit nodes (and the
    /// target itself). Dijkstra with a bucket-free binary heap; BFS when every weight is 1.
    fn build_table(&self, target: usize) -> Box<[u32]> {
        let net = &*self.net;
        let mut dist = vec![UNREACHABLE; net.n_nodes()];
        dist[target] = 0;
        match self.metric {
            Metric::Hops => {
                let mut queue = std::collections::VecDeque::new();
                queue.push_back(target as u32);
                while let Some(v) = queue.pop_front() {
                    let v = v as usize;
                    if v != target && !net.is_transit(v) {
                        continue;
                    }
                    let dv = dist[v];
                    for &l in net.in_links(v) {
                        let u = net.src(l as usize);
                        if dist[u] == UNREACHABLE {
                            dist[u] = dv + 1;
                            queue.push_back(u as u32);
                        }
                    }
                }
            }
            Metric::Latency => {
                use std::cmp::Reverse;
                let mut heap = std::collections::BinaryHeap::new();
                heap.push(Reverse((0u64, target as u32)));
                while let Some(Reverse((d, v))) = heap.pop() {
                    let v = v as usize;
                    if d > dist[v] as u64 || (v != target && !net.is_transit(v)) {
                        continue;
                    }
                    for &l in net.in_links(v) {
                        let u = net.src(l as usize);
                        let nd = (d + self.weight(l as usize) as u64).min(UNREACHABLE as u64 - 1);
                        if nd < dist[u] as u64 {
                            dist[u] = nd as u32;
                            heap.push(Reverse((nd, u as u32)));
                        }
                    }
                }
            }
        }
        dist.into_boxed_slice()
    }

    fn table(&self, target: usize) -> &[u32] {
        self.tables[target].get_or_init(|| self.build_table(target))
    }

    /// The tables needed to reach `dst`: its own if it forwards, else its transit neighbours'.
    fn tables_for(&self, dst: usize, out: &mut Vec<usize>) {
        if self.net.is_transit(dst) {
            out.push(dst);
        } else {
            for &l in self.net.in_links(dst) {
                let v = self.net.src(l as usize);
                if self.net.is_transit(v) {
                    out.push(v);
                }
            }
        }
    }

    /// Build (in parallel) every table needed to route to `dsts`. Returns how many tables exist.
    pub fn precompute(&self, dsts: &[usize]) -> Result<usize> {
        let mut need = Vec::new();
        for &d in dsts {
            self.net.check_node("destination", d)?;
            self.tables_for(d, &mut need);
        }
        need.sort_unstable();
        need.dedup();
        need.par_iter().for_each(|&v| {
            self.table(v);
        });
        Ok(self.tables.iter().filter(|t| t.get().is_some()).count())
    }

    /// Routing tables for every endpoint (GPU / edge site) and every switch.
    pub fn precompute_all(&self) -> Result<usize> {
        let all: Vec<usize> = (0..self.net.n_nodes()).collect();
        self.precompute(&all)
    }

    /// How to read distances toward `dst`: looked up once per route, not once per hop and
    /// candidate (the walks of a Monte Carlo sample spend their time here).
    fn toward(&self, dst: usize) -> Toward<'_> {
        let net = &*self.net;
        if net.is_transit(dst) {
            return Toward {
                dst,
                own: Some(self.table(dst)),
                into: Vec::new(),
            };
        }
        let into = net
            .in_links(dst)
            .iter()
            .map(|&l| {
                let v = net.src(l as usize);
                let table = net.is_transit(v).then(|| self.table(v));
                (v, table, self.weight(l as usize))
            })
            .collect();
        Toward {
            dst,
            own: None,
            into,
        }
    }

    /// Shortest distance from `u` to `dst` in the routing metric (`UNREACHABLE` if none).
    pub fn dist(&self, u: usize, dst: usize) -> u32 {
        self.toward(dst).dist(u)
    }

    /// Equal-cost next hops (out-link ids, increasing) of `u` toward `to.dst`; `du` = its
    /// distance.
    fn next_hops_into(&self, u: usize, to: &Toward<'_>, du: u32, out: &mut Vec<u32>) {
        out.clear();
        if du == UNREACHABLE || u == to.dst {
            return;
        }
        let net = &*self.net;
        for &l in net.out_links(u) {
            let v = net.dst(l as usize);
            if v != to.dst && !net.is_transit(v) {
                continue;
            }
            let dv = to.dist(v);
            if dv != UNREACHABLE && dv as u64 + self.weight(l as usize) as u64 == du as u64 {
                out.push(l);
            }
        }
    }

    pub fn next_hops(&self, u: usize, dst: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let to = self.toward(dst);
        self.next_hops_into(u, &to, to.dist(u), &mut out);
        out
    }

    fn check_pair(&self, src: usize, dst: usize) -> Result<Toward<'_>> {
        self.net.check_node("src", src)?;
        self.net.check_node("dst", dst)?;
        let to = self.toward(dst);
        if to.dist(src) == UNREACHABLE {
            return Err(CoreError::Unreachable { src, dst });
        }
        Ok(to)
    }

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

/// Routes for many flows, computed in parallel. `via[i] == u32::MAX` means no waypoint.
#[derive(Clone, Debug, Default)]
pub struct RoutedFlows {
    pub ptr: Vec<usize>,
    pub links: Vec<u32>,
    pub fractions: Vec<f64>,
    pub latency_s: Vec<f64>,
}

impl RoutedFlows {
    /// Append `route` as the next one.
    pub(crate) fn push(&mut self, route: &Route) {
        if self.ptr.is_empty() {
            self.ptr.push(0);
        }
        self.links.extend_from_slice(&route.links);
        self.fractions.extend_from_slice(&route.fractions);
        self.latency_s.push(route.latency_s);
        self.ptr.push(self.links.len());
    }

    /// One route per flow, flow `i` taking route `rep_of[i]` of these.
    pub(crate) fn expand(&self, rep_of: &[u32]) -> RoutedFlows {
        let span = |r: u32| self.ptr[r as usize]..self.ptr[r as usize + 1];
        let total: usize = rep_of.iter().map(|&r| span(r).len()).sum();
        let mut out = RoutedFlows {
            ptr: Vec::with_capacity(rep_of.len() + 1),
            links: Vec::with_capacity(total),
            fractions: Vec::with_capacity(total),
            latency_s: Vec::with_capacity(rep_of.len()),
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
        out
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

pub const NO_VIA: u32 = u32::MAX;

#[allow(clippy::too_many_arguments)]
pub fn route_flows(
    router: &Router,
    src: &[u32],
    dst: &[u32],
    via: &[u32],
    flow_key: &[u64],
    policy: Policy,
    seed: u64,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<RoutedFlows> {
    let n = src.len();
    if dst.len() != n || via.len() != n || flow_key.len() != n {
        return Err(invalid(
            "flows",
            "src, dst, via and flow_key must have one entry per flow",
        ));
    }
    // Warm the tables in parallel first so the per-flow walks only read.
    let mut targets: Vec<usize> = dst.iter().map(|&d| d as usize).collect();
    targets.extend(via.iter().filter(|&&v| v != NO_VIA).map(|&v| v as usize));
    targets.sort_unstable();
    targets.dedup();
    router.precompute(&targets)?;
    let (rep_of, reps) = connections(src, dst, via, flow_key);
    route_connections(
        router, src, dst, via, flow_key, &rep_of, &reps, policy, seed, cancel,
    )
}

/// Group flows into connections (same endpoints, waypoint and hash key: e.g. every step of a
/// collective channel), which take the same route. Returns, per flow, its connection's number,
/// and per connection, one flow of it. `dst`, `via` and `flow_key` must be as long as `src`
/// (checked by the callers).
pub(crate) fn connections(
    src: &[u32],
    dst: &[u32],
    via: &[u32],
    flow_key: &[u64],
) -> (Vec<u32>, Vec<u32>) {
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

/// Route each connection once (see [`connections`]) and give every flow its connection's route.
#[allow(clippy::too_many_arguments)]
pub(crate) fn route_connections(
    router: &Router,
    src: &[u32],
    dst: &[u32],
    via: &[u32],
    flow_key: &[u64],
    rep_of: &[u32],
    reps: &[u32],
    policy: Policy,
    seed: u64,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<RoutedFlows> {
    let n = src.len();
    if rep_of.len() != n || reps.iter().any(|&i| i as usize >= n) {
        return Err(invalid("flows", "connection groups do not match the flows"));
    }
    let routes: Vec<Result<Route>> = reps
        .par_iter()
        .with_min_len(64)
        .map(|&i| {
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
        })
        .collect();
    let routes: Vec<Route> = routes.into_iter().collect::<Result<_>>()?;
    Ok(expand(rep_of, &routes))
}

/// Every flow's route from its connection's (`rep_of[i]` indexes `routes`).
pub(crate) fn expand(rep_of: &[u32], routes: &[Route]) -> RoutedFlows {
    let mut conns = RoutedFlows::default();
    routes.iter().for_each(|r| conns.push(r));
    conns.expand(rep_of)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (rep_of, reps) = connections(&src, &dst, &via, &key);
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
        let routes = route_flows(
            &router,
            &[0, 1],
            &[1, 0],
            &[NO_VIA; 2],
            &[0, 0],
            Policy::Spray,
            0,
            &never,
        )
        .unwrap();
        let bytes = routes
            .link_bytes(&[8.0, 4.0], router.net.n_links())
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
        assert!(routes.link_bytes(&[1.0], router.net.n_links()).is_err());
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
