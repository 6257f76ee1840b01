//! Distance tables: one per forwarding node, built lazily (and in parallel on request), and
//! read through [`Toward`] for endpoints that do not forward.
//!
//! A table holds the distances of the *forwarding* nodes only: an endpoint (a GPU) never
//! forwards, so its distance is only ever asked for when it is a flow's source, and it is
//! worked out then from its few out-links (`Toward::dist`), exactly as the search would have
//! set it. A table is dense over the forwarding nodes (indexed by [`Router`]'s compact
//! numbering) unless few of them reach its target: an NVSwitch whose only neighbours are its
//! host's GPUs is reached by no other forwarding node, so its table holds one entry. At
//! 131,072 GPUs (155,656 nodes, 24,584 of them forwarding) a leaf's table is 24,584 entries
//! instead of 155,656, and building it visits the 8,200 switches instead of every GPU too.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use super::{Metric, UNREACHABLE};
use crate::error::{CoreError, Result};
use crate::network::Network;

/// Distances from the forwarding nodes to one target: dense (indexed by the forwarding
/// node's compact number), or (when at most 1 forwarding node in [`SPARSE_RATIO`] reaches the
/// target) the reaching nodes in increasing order with their distances. Both answer the same
/// distances.
pub(super) enum Dist {
    Dense(Box<[u32]>),
    Sparse { nodes: Box<[u32]>, dist: Box<[u32]> },
}

/// One target's distances, and the equal-cost next hops toward it of the *hubs* (forwarding
/// nodes with at least [`HUB_DEGREE`] out-links, e.g. a core switch linked to every spine),
/// found once each: routing through a hub would otherwise scan all its links per route (at
/// 131,072 GPUs a core switch has 4,096).
pub(super) struct Table {
    dist: Dist,
    hubs: OnceLock<Box<[HubHops]>>,
}

/// One hub's next hops toward a table's target, found on first use.
type HubHops = OnceLock<Box<[u32]>>;

/// Out-degree from which a forwarding node's next hops are remembered per table.
const HUB_DEGREE: usize = 128;

/// A table is stored sparse when fewer than 1 in `SPARSE_RATIO` forwarding nodes reach its
/// target.
const SPARSE_RATIO: usize = 16;

/// Not a forwarding node (in [`Router::compact`]).
const NOT_COMPACT: u32 = u32::MAX;

impl Table {
    /// Distance of node `u` whose compact number is `cu` (`NOT_COMPACT` if it does not forward:
    /// tables hold no endpoint but their target).
    #[inline]
    pub(super) fn get(&self, u: usize, cu: u32) -> u32 {
        match &self.dist {
            Dist::Dense(t) => {
                if cu == NOT_COMPACT {
                    UNREACHABLE
                } else {
                    t[cu as usize]
                }
            }
            Dist::Sparse { nodes, dist } => match nodes.binary_search(&(u as u32)) {
                Ok(i) => dist[i],
                Err(_) => UNREACHABLE,
            },
        }
    }

    fn entries(&self) -> usize {
        match &self.dist {
            Dist::Dense(t) => t.len(),
            Dist::Sparse { nodes, .. } => nodes.len(),
        }
    }
}

thread_local! {
    /// Per-thread scratch for table builds: distances (all `UNREACHABLE` between builds) and
    /// the nodes a build touched, so a build costs what it reaches, not the node count.
    static SCRATCH: RefCell<(Vec<u32>, Vec<u32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Distances toward one destination: its own table if it forwards, else through the nodes
/// that link into it (a GPU's NVSwitch and NIC), as (node, its table if it forwards, weight).
pub(super) struct Toward<'r> {
    pub(super) dst: usize,
    router: &'r Router,
    own: Option<&'r Table>,
    into: Vec<(usize, Option<&'r Table>, u32)>,
}

impl Toward<'_> {
    #[inline]
    pub(super) fn dist(&self, u: usize) -> u32 {
        if u == self.dst {
            return 0;
        }
        let net = &*self.router.net;
        if !net.is_transit(u) {
            // An endpoint: through its out-links, into the destination or a forwarding node
            // (what the table search gave it when it stored endpoints too).
            let mut best = UNREACHABLE;
            for &l in net.out_links(u) {
                let v = net.dst(l as usize);
                let dv = if v == self.dst {
                    0
                } else if net.is_transit(v) {
                    self.dist_forwarding(v)
                } else {
                    continue;
                };
                if dv != UNREACHABLE {
                    best = best.min(dv.saturating_add(self.router.weight(l as usize)));
                }
            }
            return best;
        }
        self.dist_forwarding(u)
    }

    /// [`Toward::dist`] of a forwarding node `u` (not the destination).
    #[inline]
    fn dist_forwarding(&self, u: usize) -> u32 {
        let cu = self.router.compact[u];
        if let Some(t) = self.own {
            return t.get(u, cu);
        }
        let mut best = UNREACHABLE;
        for &(v, table, w) in &self.into {
            let through = if v == u {
                w
            } else if let Some(t) = table {
                let tu = t.get(u, cu);
                if tu == UNREACHABLE {
                    continue;
                }
                tu.saturating_add(w)
            } else {
                continue;
            };
            best = best.min(through);
        }
        best
    }
}

pub struct Router {
    pub(super) net: Arc<Network>,
    metric: Metric,
    tables: Vec<OnceLock<Table>>,
    /// Per node, its number among the forwarding nodes (`NOT_COMPACT` for endpoints): the
    /// index of its entry in a dense table.
    compact: Vec<u32>,
    n_forwarding: usize,
    /// Per node, its number among the hubs (forwarding, >= `HUB_DEGREE` out-links), else
    /// `NOT_COMPACT`.
    hub: Vec<u32>,
    n_hubs: usize,
}

impl Router {
    pub fn new(net: Arc<Network>, metric: Metric) -> Self {
        let tables = (0..net.n_nodes()).map(|_| OnceLock::new()).collect();
        let mut n_forwarding = 0usize;
        let compact = (0..net.n_nodes())
            .map(|u| {
                if net.is_transit(u) {
                    n_forwarding += 1;
                    (n_forwarding - 1) as u32
                } else {
                    NOT_COMPACT
                }
            })
            .collect();
        let mut n_hubs = 0usize;
        let hub = (0..net.n_nodes())
            .map(|u| {
                if net.is_transit(u) && net.out_links(u).len() >= HUB_DEGREE {
                    n_hubs += 1;
                    (n_hubs - 1) as u32
                } else {
                    NOT_COMPACT
                }
            })
            .collect();
        Router {
            net,
            metric,
            tables,
            compact,
            n_forwarding,
            hub,
            n_hubs,
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

    /// Distances from every forwarding node to `target` (itself a forwarding node), relaxing
    /// only through forwarding nodes. Dijkstra with a binary heap; BFS when every weight is 1.
    fn build_table(&self, target: usize) -> Table {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let (dist, touched) = &mut *scratch;
            let n = self.net.n_nodes();
            if dist.len() != n {
                dist.clear();
                dist.resize(n, UNREACHABLE);
            }
            touched.clear();
            self.search(target, dist, touched);
            let table = if touched.len() * SPARSE_RATIO < self.n_forwarding {
                touched.sort_unstable();
                let d: Vec<u32> = touched.iter().map(|&u| dist[u as usize]).collect();
                Dist::Sparse {
                    nodes: touched.clone().into_boxed_slice(),
                    dist: d.into_boxed_slice(),
                }
            } else {
                let mut t = vec![UNREACHABLE; self.n_forwarding];
                for &u in touched.iter() {
                    t[self.compact[u as usize] as usize] = dist[u as usize];
                }
                Dist::Dense(t.into_boxed_slice())
            };
            for &u in touched.iter() {
                dist[u as usize] = UNREACHABLE;
            }
            Table {
                dist: table,
                hubs: OnceLock::new(),
            }
        })
    }

    /// The search behind [`Router::build_table`]: fills `dist` (all `UNREACHABLE` on entry) for
    /// the forwarding nodes that reach `target` through forwarding nodes, and lists them in
    /// `touched`. Endpoints are not visited (see [`Toward::dist`]).
    fn search(&self, target: usize, dist: &mut [u32], touched: &mut Vec<u32>) {
        let net = &*self.net;
        dist[target] = 0;
        touched.push(target as u32);
        match self.metric {
            Metric::Hops => {
                let mut queue = std::collections::VecDeque::new();
                queue.push_back(target as u32);
                while let Some(v) = queue.pop_front() {
                    let v = v as usize;
                    let dv = dist[v];
                    for &l in net.in_links(v) {
                        let u = net.src(l as usize);
                        if dist[u] == UNREACHABLE && net.is_transit(u) {
                            dist[u] = dv + 1;
                            touched.push(u as u32);
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
                    if d > dist[v] as u64 {
                        continue;
                    }
                    for &l in net.in_links(v) {
                        let u = net.src(l as usize);
                        if !net.is_transit(u) {
                            continue;
                        }
                        let nd = (d + self.weight(l as usize) as u64).min(UNREACHABLE as u64 - 1);
                        if nd < dist[u] as u64 {
                            if dist[u] == UNREACHABLE {
                                touched.push(u as u32);
                            }
                            dist[u] = nd as u32;
                            heap.push(Reverse((nd, u as u32)));
                        }
                    }
                }
            }
        }
    }

    /// Entries held by the tables built so far (dense tables count every forwarding node).
    pub fn table_entries(&self) -> usize {
        self.tables
            .iter()
            .filter_map(|t| t.get())
            .map(Table::entries)
            .sum()
    }

    fn table(&self, target: usize) -> &Table {
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
        crate::parallel::for_each(&need, |&v| {
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
                router: self,
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
            router: self,
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
    pub(super) fn next_hops_into(&self, u: usize, to: &Toward<'_>, du: u32, out: &mut Vec<u32>) {
        out.clear();
        if du == UNREACHABLE || u == to.dst {
            return;
        }
        if self.hub[u] != NOT_COMPACT {
            self.hub_next_hops(u, to, du, out);
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

    /// [`Router::next_hops_into`] of a hub `u`: the union of its remembered next hops in each
    /// table toward `to.dst` that gives `u` its distance `du`, and its links straight into an
    /// endpoint destination that long. The same links: `u` forwards, so for a table `k`
    /// (target `t_k`, weight `w_k` on from it) `T_k[u] <= w(l) + T_k[v]` for every link
    /// `l = u -> v` to a forwarding `v`, and `dist(v) + w(l) == du` holds exactly when some
    /// `k` has `T_k[u] + w_k == du` and `T_k[v] + w(l) == T_k[u]`.
    fn hub_next_hops(&self, u: usize, to: &Toward<'_>, du: u32, out: &mut Vec<u32>) {
        let net = &*self.net;
        let cu = self.compact[u];
        let mut add = |table: &Table, w: u32| {
            let tu = table.get(u, cu);
            if tu != UNREACHABLE && tu as u64 + w as u64 == du as u64 {
                out.extend_from_slice(self.table_hub_hops(table, u));
            }
        };
        if let Some(t) = to.own {
            add(t, 0);
        } else {
            for &(_, table, w) in &to.into {
                if let Some(t) = table {
                    add(t, w);
                }
            }
            for &l in net.out_links(u) {
                if net.dst(l as usize) == to.dst && self.weight(l as usize) == du {
                    out.push(l);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// Hub `u`'s next hops toward `table`'s target (out-links in increasing id order).
    fn table_hub_hops<'t>(&self, table: &'t Table, u: usize) -> &'t [u32] {
        let hubs = table
            .hubs
            .get_or_init(|| (0..self.n_hubs).map(|_| OnceLock::new()).collect());
        hubs[self.hub[u] as usize].get_or_init(|| {
            let net = &*self.net;
            let tu = table.get(u, self.compact[u]);
            net.out_links(u)
                .iter()
                .copied()
                .filter(|&l| {
                    let v = net.dst(l as usize);
                    if !net.is_transit(v) {
                        return false;
                    }
                    let tv = table.get(v, self.compact[v]);
                    tv != UNREACHABLE && tv as u64 + self.weight(l as usize) as u64 == tu as u64
                })
                .collect()
        })
    }

    pub fn next_hops(&self, u: usize, dst: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let to = self.toward(dst);
        self.next_hops_into(u, &to, to.dist(u), &mut out);
        out
    }

    pub(super) fn check_pair(&self, src: usize, dst: usize) -> Result<Toward<'_>> {
        self.net.check_node("src", src)?;
        self.net.check_node("dst", dst)?;
        let to = self.toward(dst);
        if to.dist(src) == UNREACHABLE {
            return Err(CoreError::Unreachable { src, dst });
        }
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A brute-force scan of `u`'s out-links (what `next_hops_into` does for a non-hub).
    fn scan(router: &Router, u: usize, dst: usize) -> Vec<u32> {
        let net = &*router.net;
        let to = router.toward(dst);
        let du = to.dist(u);
        if du == UNREACHABLE || u == dst {
            return Vec::new();
        }
        net.out_links(u)
            .iter()
            .copied()
            .filter(|&l| {
                let v = net.dst(l as usize);
                let dv = if v == dst || net.is_transit(v) {
                    to.dist(v)
                } else {
                    UNREACHABLE
                };
                dv != UNREACHABLE && dv as u64 + router.weight(l as usize) as u64 == du as u64
            })
            .collect()
    }

    #[test]
    fn hub_next_hops_match_a_scan() {
        // 140 leaves (nodes 0..140), each with one GPU (140 + i); two hub cores (280, 281)
        // linked to every leaf; a chain between neighbouring leaves; one GPU (140) also
        // linked straight to core 280 (an endpoint link of a hub). Latencies vary so that
        // some pairs tie and some do not.
        let leaves = 140u32;
        let (core0, core1) = (2 * leaves, 2 * leaves + 1);
        let mut edges: Vec<(u32, u32, f64)> = Vec::new();
        for i in 0..leaves {
            edges.push((leaves + i, i, 1e-6));
            edges.push((i, core0, 1e-6 * (1 + i % 3) as f64));
            edges.push((i, core1, 2e-6));
            if i + 1 < leaves {
                edges.push((i, i + 1, 1.5e-6));
            }
        }
        edges.push((leaves, core0, 1e-6));
        let (mut src, mut dst, mut lat) = (Vec::new(), Vec::new(), Vec::new());
        for &(u, v, l) in &edges {
            src.extend([u, v]);
            dst.extend([v, u]);
            lat.extend([l, l]);
        }
        let n = (2 * leaves + 2) as usize;
        let transit: Vec<bool> = (0..n)
            .map(|u| u < leaves as usize || u >= 2 * leaves as usize)
            .collect();
        let m = src.len();
        let net = Arc::new(Network::new(n, src, dst, vec![1e9; m], lat, transit).unwrap());
        for metric in [Metric::Hops, Metric::Latency] {
            let router = Router::new(net.clone(), metric);
            assert_eq!(router.n_hubs, 2);
            for d in (0..n).step_by(7).chain([leaves as usize, core0 as usize]) {
                for u in [core0 as usize, core1 as usize] {
                    assert_eq!(router.next_hops(u, d), scan(&router, u, d), "{u} -> {d}");
                }
            }
        }
    }
}
