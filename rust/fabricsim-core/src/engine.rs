//! Event-driven, max-min fair flow-level simulation.
//!
//! Semantics (shared with `fabricsim.reference`, see DEVELOPERS.md):
//! - a flow starts at `max(release, finish of every predecessor) + delay`;
//! - active flows share directed links max-min fairly (weighted progressive filling: a flow
//!   loads link `l` with `fraction_l * rate`);
//! - a flow's transfer ends when its bytes are sent; it finishes one propagation latency later;
//! - rates change only at events (starts, transfer ends), and only for flows connected through
//!   shared links to the flows that started or ended: max-min allocations decompose over the
//!   connected components of the flow-link graph, so recomputing just those is exact.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::csr::group_by_key;
use crate::error::{invalid, CoreError, Result};
use crate::network::Network;
use crate::routing::RoutedFlows;

/// Flows to simulate. Routes come from [`crate::routing::route_flows`] (or are built by hand).
#[derive(Clone, Debug, Default)]
pub struct FlowSet {
    pub size_bytes: Vec<f64>,
    pub release_s: Vec<f64>,
    pub delay_s: Vec<f64>,
    /// Predecessors of flow `i`: `dep_idx[dep_ptr[i]..dep_ptr[i + 1]]`.
    pub dep_ptr: Vec<usize>,
    pub dep_idx: Vec<u32>,
    pub routes: RoutedFlows,
    /// Propagation latency is counted this many times (default 1; empty = all 1). A flow that
    /// stands for `g` pipelined steps of a collective pays `g` path latencies.
    pub latency_scale: Vec<f64>,
}

impl FlowSet {
    #[inline]
    fn latency(&self, f: usize) -> f64 {
        let scale = if self.latency_scale.is_empty() {
            1.0
        } else {
            self.latency_scale[f]
        };
        self.routes.latency_s[f] * scale
    }
}

/// What happened, per flow and per link.
#[derive(Clone, Debug, Default)]
pub struct SimOutput {
    pub start_s: Vec<f64>,
    pub transfer_end_s: Vec<f64>,
    pub finish_s: Vec<f64>,
    pub min_rate_bps: Vec<f64>,
    pub max_rate_bps: Vec<f64>,
    pub link_bytes: Vec<f64>,
    pub link_busy_s: Vec<f64>,
    pub link_peak_utilization: Vec<f64>,
    /// Number of event batches processed and rate recomputations done (for benchmarks).
    pub events: u64,
    pub flows_rerated: u64,
    /// Re-ratings whose first search, stopped at unsaturated links, proved too narrow.
    pub searches_widened: u64,
    /// Re-rating searches that met another at a link with spare capacity (filled together).
    pub groups_merged: u64,
}

impl SimOutput {
    /// Time the last flow finished (0 for no flows).
    pub fn makespan_s(&self) -> f64 {
        self.finish_s.iter().fold(0.0, |a, &b| a.max(b))
    }

    /// size / transfer time per flow (NaN when the transfer took no time).
    pub fn mean_rate_bps(&self, size_bytes: &[f64]) -> Vec<f64> {
        size_bytes
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let dt = self.transfer_end_s[i] - self.start_s[i];
                if dt > 0.0 {
                    s / dt
                } else {
                    f64::NAN
                }
            })
            .collect()
    }
}

/// A min-heap entry ordered by time, then id (deterministic tie-breaking), packed into one
/// integer whose order is that order, so that heap comparisons are a single compare. The low
/// 32 bits carry a version (a transfer-end projection goes stale when its flow's rate changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ev(u128);

impl Ev {
    #[inline]
    fn new(t: f64, id: u32, version: u32) -> Ev {
        // f64::total_cmp's order as an unsigned integer.
        let b = t.to_bits() as i64;
        let k = (b ^ ((((b >> 63) as u64) >> 1) as i64)) as u64 ^ (1 << 63);
        Ev(((k as u128) << 64) | ((id as u128) << 32) | version as u128)
    }

    #[inline]
    fn t(self) -> f64 {
        let k = ((self.0 >> 64) as u64 ^ (1 << 63)) as i64;
        f64::from_bits((k ^ ((((k >> 63) as u64) >> 1) as i64)) as u64)
    }

    #[inline]
    fn id(self) -> u32 {
        (self.0 >> 32) as u32
    }

    #[inline]
    fn version(self) -> u32 {
        self.0 as u32
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
enum State {
    Waiting,
    Scheduled,
    Active,
    Propagating,
    Done,
}

/// Check `flows` for the engine: array shapes in full, values from flow `from` on (the flows
/// before it are known good: a Monte Carlo sample's template, checked once, and routes the
/// router made for it).
fn validate(net: &Network, flows: &FlowSet, from: usize) -> Result<()> {
    let n = flows.size_bytes.len();
    let r = &flows.routes;
    if flows.release_s.len() != n || flows.delay_s.len() != n || r.latency_s.len() != n {
        return Err(invalid(
            "flows",
            "size, release, delay and latency need one entry per flow",
        ));
    }
    if !(flows.latency_scale.is_empty() || flows.latency_scale.len() == n) {
        return Err(invalid("flows", "latency_scale needs one entry per flow"));
    }
    if flows.dep_ptr.len() != n + 1 || r.ptr.len() != n + 1 {
        return Err(invalid(
            "flows",
            "dependency and route pointers need n_flows + 1 entries",
        ));
    }
    if r.links.len() != r.fractions.len()
        || r.ptr[0] != 0
        || r.ptr[n] != r.links.len()
        || flows.dep_ptr[0] != 0
        || flows.dep_ptr[n] != flows.dep_idx.len()
    {
        return Err(invalid(
            "flows",
            "route or dependency arrays are inconsistent",
        ));
    }
    if r.links.len() >= u32::MAX as usize || n >= u32::MAX as usize {
        return Err(invalid(
            "flows",
            format!(
                "{} route entries and {n} flows: the engine indexes them with 32 bits",
                r.links.len()
            ),
        ));
    }
    let from = from.min(n);
    let scale = flows.latency_scale.get(from..).unwrap_or(&[]);
    check_values(
        &flows.size_bytes[from..],
        &flows.release_s[from..],
        &flows.delay_s[from..],
        scale,
        from,
    )?;
    for i in from..n {
        if r.ptr[i] > r.ptr[i + 1] || flows.dep_ptr[i] > flows.dep_ptr[i + 1] {
            return Err(invalid(
                "flows",
                "route or dependency pointers must be non-decreasing",
            ));
        }
    }
    let e0 = r.ptr[from];
    for (&l, &f) in r.links[e0..].iter().zip(&r.fractions[e0..]) {
        if l as usize >= net.n_links() {
            return Err(invalid(
                "flows",
                format!("route uses link {l}, but the network has {}", net.n_links()),
            ));
        }
        if !(f.is_finite() && f > 0.0) {
            return Err(invalid(
                "flows",
                format!("route fraction must be finite and > 0, got {f}"),
            ));
        }
    }
    for &d in &flows.dep_idx[flows.dep_ptr[from]..] {
        if d as usize >= n {
            return Err(invalid(
                "flows",
                format!("dependency on flow {d}, but there are {n} flows"),
            ));
        }
    }
    Ok(())
}

/// Per-flow values the engine needs: sizes, start times and delays finite and >= 0, latency
/// scales (if any) too. Flow numbers in messages start at `first`.
pub(crate) fn check_values(
    size_bytes: &[f64],
    release_s: &[f64],
    delay_s: &[f64],
    latency_scale: &[f64],
    first: usize,
) -> Result<()> {
    let bad = |x: f64| !(x.is_finite() && x >= 0.0);
    // One pass without early exits, on the bits (it vectorises): finite and >= 0 means sign
    // clear and exponent not all ones, or -0.0. Then find the culprit if there is one.
    let any_bad = |xs: &[f64]| {
        xs.iter().fold(false, |acc, x| {
            let b = x.to_bits();
            acc | (b >= 0x7ff0_0000_0000_0000 && b != 0x8000_0000_0000_0000)
        })
    };
    if !(any_bad(size_bytes) || any_bad(release_s) || any_bad(delay_s) || any_bad(latency_scale)) {
        return Ok(());
    }
    for (i, ((&s, &rel), &del)) in size_bytes.iter().zip(release_s).zip(delay_s).enumerate() {
        let i = i + first;
        if bad(s) {
            return Err(invalid(
                format!("flow {i}"),
                format!("size_bytes must be finite and >= 0, got {s}"),
            ));
        }
        if bad(rel) {
            return Err(invalid(
                format!("flow {i}"),
                format!("start time must be finite and >= 0, got {rel}"),
            ));
        }
        if bad(del) {
            return Err(invalid(
                format!("flow {i}"),
                format!("delay must be finite and >= 0, got {del}"),
            ));
        }
    }
    if let Some(x) = latency_scale.iter().find(|&&x| bad(x)) {
        return Err(invalid(
            "latency_scale",
            format!("must be finite and >= 0, got {x}"),
        ));
    }
    Ok(())
}

/// Kahn's algorithm: every flow must be reachable from the roots, else there is a cycle.
/// `succ` is [`successors`] of the same dependencies.
pub(crate) fn check_acyclic(
    dep_ptr: &[usize],
    dep_idx: &[u32],
    succ: &(Vec<usize>, Vec<u32>),
) -> Result<()> {
    let n = dep_ptr.len() - 1;
    let mut indeg: Vec<u32> = (0..n)
        .map(|i| (dep_ptr[i + 1] - dep_ptr[i]) as u32)
        .collect();
    let mut stack: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = stack.pop() {
        seen += 1;
        for &j in &succ.1[succ.0[i]..succ.0[i + 1]] {
            indeg[j as usize] -= 1;
            if indeg[j as usize] == 0 {
                stack.push(j as usize);
            }
        }
    }
    if seen != n {
        // Walk predecessors among the unresolved flows until one repeats: it is on a cycle
        // (the first unresolved flow may only sit downstream of one).
        let mut f = (0..n).find(|&i| indeg[i] > 0).unwrap_or(0);
        let mut visited = vec![false; n];
        while !visited[f] {
            visited[f] = true;
            let preds = &dep_idx[dep_ptr[f]..dep_ptr[f + 1]];
            match preds.iter().find(|&&p| indeg[p as usize] > 0) {
                Some(&p) => f = p as usize,
                None => break,
            }
        }
        return Err(CoreError::DependencyCycle { flow: f });
    }
    Ok(())
}

/// Smallest level `x >= 0` at which a link of capacity `cap` saturates when flows of total
/// weight `w_new` run at `x` beside flows `(rate, fraction)` each capped at their rate:
/// `sum(fraction * min(rate, x)) + w_new * x = cap`, with `w_all = w_new + sum(fraction)`.
/// The load is concave and piecewise linear in `x`, so Newton steps from the lower bound
/// `cap / w_all` never overshoot and stop once a step crosses no rate; a sort is the fallback.
fn saturation_level(cap: f64, w_new: f64, w_all: f64, others: &mut [(f64, f64)]) -> f64 {
    let mut x = cap / w_all;
    let mut above_prev = usize::MAX;
    for _ in 0..6 {
        let (mut load, mut slope, mut above) = (w_new * x, w_new, 0usize);
        for &(r, frac) in others.iter() {
            if r > x {
                load += frac * x;
                slope += frac;
                above += 1;
            } else {
                load += frac * r;
            }
        }
        if above == above_prev || load >= cap {
            return x.max(0.0);
        }
        above_prev = above;
        x += (cap - load) / slope;
    }
    others.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let (mut below, mut w_above) = (0.0, w_all);
    for &(r, frac) in others.iter() {
        let x = (cap - below) / w_above;
        if x <= r {
            return x.max(0.0);
        }
        below += frac * r;
        w_above -= frac;
    }
    ((cap - below) / w_new).max(0.0)
}

/// Successors of every flow (the transpose of its predecessor lists), in increasing order.
pub(crate) fn successors(dep_ptr: &[usize], dep_idx: &[u32]) -> (Vec<usize>, Vec<u32>) {
    let n = dep_ptr.len() - 1;
    let pairs = (0..n).flat_map(|i| {
        dep_idx[dep_ptr[i]..dep_ptr[i + 1]]
            .iter()
            .map(move |&d| (d as usize, i as u32))
    });
    group_by_key(n, pairs)
}

/// One connected group of flows to re-rate: its ranges of `comp_links` and `comp_flows`, and the
/// stamps of the searches it is made of (`lo..=hi`; more than one when searches met).
#[derive(Clone, Copy, Debug)]
struct Group {
    links: (usize, usize),
    flows: (usize, usize),
    // The links its search stopped at: lazy_links[lazy.0..lazy.1].
    lazy: (usize, usize),
    lo: u32,
    hi: u32,
}

impl Group {
    fn has(&self, stamps: &[u32]) -> bool {
        stamps.iter().any(|&s| self.lo <= s && s <= self.hi)
    }
}

/// Make the current group `g` (the last ranges of the three lists) the union of itself and the
/// earlier groups whose stamps are in `met`: those move next to it, the others found since the
/// first of them move before them, keeping their order.
fn merge_met(
    met: &[u32],
    g: &mut Group,
    comps: &mut Vec<Group>,
    comp_links: &mut [u32],
    comp_flows: &mut [u32],
    lazy_links: &mut [u32],
) {
    let Some(first) = comps.iter().position(|e| e.has(met)) else {
        return;
    };
    let tail: Vec<Group> = comps.drain(first..).collect();
    let base = (tail[0].links.0, tail[0].flows.0, tail[0].lazy.0);
    let (mut links, mut flows, mut lazy) = (
        Vec::with_capacity(comp_links.len() - base.0),
        Vec::with_capacity(comp_flows.len() - base.1),
        Vec::with_capacity(lazy_links.len() - base.2),
    );
    let mut copy = |e: &Group| {
        links.extend_from_slice(&comp_links[e.links.0..e.links.1]);
        flows.extend_from_slice(&comp_flows[e.flows.0..e.flows.1]);
        lazy.extend_from_slice(&lazy_links[e.lazy.0..e.lazy.1]);
        (links.len(), flows.len(), lazy.len())
    };
    let mut at = (0, 0, 0);
    for e in tail.iter().filter(|e| !e.has(met)) {
        let end = copy(e);
        comps.push(Group {
            links: (base.0 + at.0, base.0 + end.0),
            flows: (base.1 + at.1, base.1 + end.1),
            lazy: (base.2 + at.2, base.2 + end.2),
            ..*e
        });
        at = end;
    }
    for e in tail.iter().filter(|e| e.has(met)) {
        copy(e);
        g.lo = g.lo.min(e.lo);
    }
    comp_links[base.0..base.0 + links.len()].copy_from_slice(&links);
    comp_flows[base.1..base.1 + flows.len()].copy_from_slice(&flows);
    lazy_links[base.2..base.2 + lazy.len()].copy_from_slice(&lazy);
    (g.links.0, g.flows.0, g.lazy.0) = (base.0 + at.0, base.1 + at.1, base.2 + at.2);
}

#[derive(Default)]
struct Scratch {
    links: Vec<u32>,
    others: Vec<(f64, f64)>,
    comp_links: Vec<u32>,
    comp_flows: Vec<u32>,
    stack: Vec<u32>,
    comps: Vec<Group>,
    lazy_links: Vec<u32>,
    met: Vec<u32>,
    old_rate: Vec<f64>,
    heap: BinaryHeap<Ev>,
}

/// An active flow on a link: its rate (+inf until it gets its first) and its share of the
/// link, kept beside the link so that scanning a link reads one array.
#[derive(Clone, Copy, Debug)]
struct Slot {
    rate: f64,
    frac: f64,
    entry: u32,
    flow: u32,
}

/// What the engine tracks per flow. Remaining bytes are settled lazily when a rate changes.
#[derive(Clone, Debug)]
struct FlowState {
    rate: f64,
    remaining: f64,
    settled_at: f64,
    min_rate: f64,
    max_rate: f64,
    // The flow's route entries: routes.links[first..last].
    first: u32,
    last: u32,
    version: u32,
    mark: u32,
    frozen: bool,
    state: State,
}

impl Default for FlowState {
    fn default() -> Self {
        FlowState {
            rate: 0.0,
            remaining: 0.0,
            settled_at: 0.0,
            min_rate: f64::INFINITY,
            max_rate: f64::NEG_INFINITY,
            first: 0,
            last: 0,
            version: 0,
            mark: 0,
            frozen: false,
            state: State::Waiting,
        }
    }
}

impl FlowState {
    /// Record the rate just set (`self.rate`, flow `f`) and queue its projected transfer end;
    /// the older projection goes stale.
    fn project_end(&mut self, f: u32, t: f64, ends: &mut BinaryHeap<Ev>) {
        self.min_rate = self.min_rate.min(self.rate);
        self.max_rate = self.max_rate.max(self.rate);
        self.version = self.version.wrapping_add(1);
        ends.push(Ev::new(t + self.remaining / self.rate, f, self.version));
    }
}

/// What a re-rating tracks per link.
#[derive(Clone, Debug, Default)]
struct LinkState {
    cap: f64,
    frozen_load: f64,
    unfrozen_w: f64,
    added_w: f64,
    unfrozen_n: u32,
    // The re-rated flows on the link: u_pos[u_start..u_end].
    u_start: u32,
    u_end: u32,
    mark: u32,
    // Stamps: touched by this batch; the search stopped here (then `top_other` is the highest
    // rate among the flows on it that it did not re-rate).
    root: u32,
    lazy: u32,
    top_other: f64,
}

struct Sim<'a> {
    flows: &'a FlowSet,
    cancel: &'a dyn Fn() -> bool,
    cancelled: bool,
    // Per-flow state, one cache line per flow.
    fl: Vec<FlowState>,
    waiting_preds: Vec<u32>,
    ready_s: Vec<f64>,
    // While its flow is active, route entry `e` (an index into routes.links) sits at position
    // entry_pos[e] of slots[link].
    entry_pos: Vec<u32>,
    slots: Vec<Vec<Slot>>,
    // During a re-rating: positions (in slots[l]) of the flows being re-rated on each
    // reached link l, as u_pos[u_start[l]..u_end[l]].
    u_pos: Vec<u32>,
    // Scratch for component search and water-filling, stamped to avoid clearing.
    // Per-link state of the re-rating, one struct per link.
    ls: Vec<LinkState>,
    stamp: u32,
    busy_since: Vec<f64>,
    n_active: usize,
    // This event batch: flows activated and the lowest rate among flows that ended.
    added: Vec<u32>,
    removed_min_rate: f64,
    // Buffers reused by every re-rating (events are many and mostly small).
    scratch: Scratch,
    // False re-rates whole connected components (the plain algorithm, kept as a test oracle).
    incremental: bool,
    out: SimOutput,
}

impl<'a> Sim<'a> {
    fn entries(&self, f: usize) -> std::ops::Range<usize> {
        self.fl[f].first as usize..self.fl[f].last as usize
    }

    /// Bring flow `f`'s remaining bytes and its links' byte counters up to time `t`.
    fn settle(&mut self, f: usize, t: f64) {
        let dt = t - self.fl[f].settled_at;
        if dt > 0.0 && self.fl[f].rate > 0.0 {
            let sent = (self.fl[f].rate * dt).min(self.fl[f].remaining);
            self.fl[f].remaining -= sent;
        }
        self.fl[f].settled_at = t;
    }

    fn activate(&mut self, f: usize, t: f64, touched: &mut Vec<u32>) {
        self.fl[f].state = State::Active;
        self.n_active += 1;
        self.fl[f].remaining = self.flows.size_bytes[f];
        self.fl[f].settled_at = t;
        self.fl[f].rate = 0.0;
        self.added.push(f as u32);
        for e in self.entries(f) {
            let l = self.flows.routes.links[e] as usize;
            if self.slots[l].is_empty() {
                self.busy_since[l] = t;
            }
            self.entry_pos[e] = self.slots[l].len() as u32;
            self.slots[l].push(Slot {
                rate: f64::INFINITY,
                frac: self.flows.routes.fractions[e],
                entry: e as u32,
                flow: f as u32,
            });
            touched.push(l as u32);
        }
    }

    fn deactivate(&mut self, f: usize, t: f64, touched: &mut Vec<u32>) {
        // Whatever is left is within rounding of zero: count it as sent now.
        let (touched0, mut shared) = (touched.len(), false);
        for e in self.entries(f) {
            let l = self.flows.routes.links[e] as usize;
            let pos = self.entry_pos[e] as usize;
            let list = &mut self.slots[l];
            list.swap_remove(pos);
            if pos < list.len() {
                let moved = list[pos].entry as usize;
                self.entry_pos[moved] = pos as u32;
            }
            if list.is_empty() {
                self.out.link_busy_s[l] += t - self.busy_since[l];
            } else {
                shared = true;
            }
            touched.push(l as u32);
        }
        self.fl[f].remaining = 0.0;
        if shared || !self.incremental {
            self.removed_min_rate = self.removed_min_rate.min(self.fl[f].rate);
        } else {
            // It had its links to itself: nobody else's rate depends on it.
            touched.truncate(touched0);
        }
        self.fl[f].rate = 0.0;
        self.fl[f].version = self.fl[f].version.wrapping_add(1);
        self.fl[f].state = State::Propagating;
        self.n_active -= 1;
        self.out.transfer_end_s[f] = t;
    }

    /// New flows that have every one of their links to themselves (the common case when a ring
    /// step follows the previous one on an idle path) take their tightest link's capacity
    /// without a search, and leave the batch: they cannot change anyone else's rate. Their
    /// links are marked so that the search below skips them.
    fn start_isolated(&mut self, t: f64, stamp: u32, ends: &mut BinaryHeap<Ev>) {
        let mut added = std::mem::take(&mut self.added);
        let (fl, ls, slots) = (&mut self.fl[..], &mut self.ls[..], &mut self.slots[..]);
        let entry_pos = &self.entry_pos[..];
        let routes = &self.flows.routes;
        let (route_links, route_fracs) = (&routes.links[..], &routes.fractions[..]);
        let peak = &mut self.out.link_peak_utilization[..];
        let isolated = &mut self.out.flows_rerated;
        added.retain(|&f| {
            let x = &mut fl[f as usize];
            let (a, b) = (x.first as usize, x.last as usize);
            if route_links[a..b]
                .iter()
                .any(|&l| slots[l as usize].len() != 1)
            {
                return true;
            }
            let mut level = f64::INFINITY;
            for (&l, &frac) in route_links[a..b].iter().zip(&route_fracs[a..b]) {
                level = level.min(ls[l as usize].cap / frac);
            }
            for ((&l, &frac), &pos) in route_links[a..b]
                .iter()
                .zip(&route_fracs[a..b])
                .zip(&entry_pos[a..b])
            {
                let l = l as usize;
                slots[l][pos as usize].rate = level;
                ls[l].mark = stamp;
                peak[l] = peak[l].max(frac * level / ls[l].cap);
            }
            x.mark = stamp;
            x.rate = level;
            x.settled_at = t;
            *isolated += 1;
            x.project_end(f, t, ends);
            false
        });
        self.added = added;
    }

    /// The level below which the max-min filling is unchanged by this batch's new flows: the
    /// lowest level at which one of their links would saturate, given the rates the other
    /// flows on it have now (each adds `fraction * min(rate, level)` to the link's load).
    fn addition_threshold(&mut self) -> f64 {
        let mut links = std::mem::take(&mut self.scratch.links);
        let mut others = std::mem::take(&mut self.scratch.others);
        links.clear();
        for k in 0..self.added.len() {
            let f = self.added[k] as usize;
            for e in self.entries(f) {
                let l = self.flows.routes.links[e] as usize;
                if self.ls[l].added_w == 0.0 {
                    links.push(l as u32);
                }
                self.ls[l].added_w += self.flows.routes.fractions[e];
            }
        }
        let mut lowest = f64::INFINITY;
        for &l in &links {
            let l = l as usize;
            let w_new = std::mem::take(&mut self.ls[l].added_w);
            others.clear();
            let mut w_all = w_new;
            for s in &self.slots[l] {
                if s.rate < f64::INFINITY {
                    others.push((s.rate, s.frac));
                    w_all += s.frac;
                }
            }
            let level = saturation_level(self.ls[l].cap, w_new, w_all, &mut others);
            lowest = lowest.min(level);
        }
        self.scratch.links = links;
        self.scratch.others = others;
        // Rounding must not lift the threshold above flows tied at it.
        lowest * (1.0 - 1e-9)
    }

    /// A fresh stamp. `need` more will follow in this batch without a reset in between (a
    /// reset clears every mark, and a batch compares its marks for order).
    fn next_stamp(&mut self, need: usize) -> u32 {
        if self.stamp as u64 + need as u64 + 2 >= u32::MAX as u64 {
            self.ls.iter_mut().for_each(|x| {
                x.mark = 0;
                x.root = 0;
                x.lazy = 0;
            });
            self.fl.iter_mut().for_each(|x| x.mark = 0);
            self.stamp = 0;
        }
        self.stamp += 1;
        self.stamp
    }

    /// Recompute max-min fair rates after this batch's starts and transfer ends, push the
    /// changed flows' new projected transfer ends.
    ///
    /// Progressive filling raises every flow's rate together and freezes the flows of each
    /// link as it saturates. Below the lowest rate of an ended flow, and below the level where
    /// a new flow's link would first saturate, the filling runs exactly as it did before this
    /// batch (an ended flow crosses no link that saturated below its rate; a new flow changes
    /// nothing until one of its links saturates). So flows with a lower rate keep it, and the
    /// filling resumes from that threshold for the others, and only for those connected to the
    /// touched links through other flows above it: the rest of the network cannot notice.
    /// Max-min rates decompose over connected groups of those flows; each is filled on its
    /// own (most are a single flow).
    ///
    /// The search first stops at links that were not saturated (see [`Sim::reach`]); if that
    /// proves too narrow, it runs again without stopping.
    fn rerate(&mut self, t: f64, touched: &[u32], ends: &mut BinaryHeap<Ev>) {
        let event = self.next_stamp(2 * touched.len() + 2);
        if self.incremental {
            self.start_isolated(t, event, ends);
        }
        let mut threshold = if self.incremental {
            self.removed_min_rate
        } else {
            f64::NEG_INFINITY
        };
        if self.incremental && !self.added.is_empty() {
            threshold = threshold.min(self.addition_threshold());
        }
        self.removed_min_rate = f64::INFINITY;
        self.added.clear();
        for &l in touched {
            self.ls[l as usize].root = event;
        }
        let mut comp_links = std::mem::take(&mut self.scratch.comp_links);
        let mut comp_flows = std::mem::take(&mut self.scratch.comp_flows);
        let mut comps = std::mem::take(&mut self.scratch.comps);
        self.scratch.old_rate.clear();
        self.reach(
            threshold,
            touched,
            event,
            self.incremental,
            &mut comp_links,
            &mut comp_flows,
            &mut comps,
        );
        let mut ok = true;
        for g in &comps {
            let (links, flows) = (
                &comp_links[g.links.0..g.links.1],
                &comp_flows[g.flows.0..g.flows.1],
            );
            ok = self.fill(t, g, links, flows);
            if !ok || self.cancelled {
                break;
            }
        }
        if !ok && !self.cancelled {
            // The search that stopped at spare capacity was too narrow somewhere: put back
            // the rates filled so far and search everything.
            self.out.searches_widened += 1;
            let filled = self.scratch.old_rate.len();
            for (&f, &r) in comp_flows[..filled].iter().zip(&self.scratch.old_rate) {
                self.fl[f as usize].rate = r;
            }
            self.scratch.old_rate.clear();
            let event = self.next_stamp(touched.len() + 1); // above every mark so far
            self.reach(
                threshold,
                touched,
                event,
                false,
                &mut comp_links,
                &mut comp_flows,
                &mut comps,
            );
            for g in &comps {
                let (links, flows) = (
                    &comp_links[g.links.0..g.links.1],
                    &comp_flows[g.flows.0..g.flows.1],
                );
                self.fill(t, g, links, flows);
                if self.cancelled {
                    break;
                }
            }
        }
        if !self.cancelled && !comp_flows.is_empty() {
            self.publish(t, &comp_links, &comp_flows, ends);
        }
        self.scratch.comp_links = comp_links;
        self.scratch.comp_flows = comp_flows;
        self.scratch.comps = comps;
    }

    /// The flows to re-rate, one connected group at a time (`comps`): new ones and those at or
    /// above `threshold`, reached from the `touched` links through one another, with the links
    /// they cross (each link's frozen load and re-rated flows set up for the filling). Links and
    /// flows marked above `event` belong to this batch.
    ///
    /// With `lazy`, the search does not go on through a link (other than a touched one) that
    /// was not saturated: the flows on it that nothing else reaches keep their rates, as long
    /// as the link does not end up limiting a re-rated flow below one of them (the filling
    /// checks, see [`Sim::fill`]). A link with spare capacity is nobody's bottleneck, so
    /// without that they still have theirs, unchanged. Two searches can only meet at such a
    /// link (a link searched through takes every flow on it above the threshold); their
    /// groups are then filled as one.
    #[allow(clippy::too_many_arguments)]
    fn reach(
        &mut self,
        threshold: f64,
        touched: &[u32],
        event: u32,
        lazy: bool,
        comp_links: &mut Vec<u32>,
        comp_flows: &mut Vec<u32>,
        comps: &mut Vec<Group>,
    ) {
        let mut stack = std::mem::take(&mut self.scratch.stack);
        let mut lazy_links = std::mem::take(&mut self.scratch.lazy_links);
        let mut met = std::mem::take(&mut self.scratch.met);
        let route_links = &self.flows.routes.links[..];
        self.u_pos.clear();
        comp_links.clear();
        comp_flows.clear();
        comps.clear();
        stack.clear();
        lazy_links.clear();
        for &root in touched {
            if self.ls[root as usize].mark >= event {
                continue; // reached by an earlier group, or a flow alone on its links
            }
            let group = self.next_stamp(0);
            // Plain slices, so the compiler keeps them in registers across the stores below.
            let (slots, fl, ls, u_pos) = (&self.slots, &mut self.fl, &mut self.ls, &mut self.u_pos);
            ls[root as usize].mark = group;
            stack.push(root);
            let mut g = Group {
                links: (comp_links.len(), 0),
                flows: (comp_flows.len(), 0),
                lazy: (lazy_links.len(), 0),
                lo: group,
                hi: group,
            };
            met.clear();
            while let Some(l) = stack.pop() {
                comp_links.push(l);
                let l = l as usize;
                // One pass over the link: flows below the threshold keep their rates and make
                // up its frozen load; the others (new flows read +inf) are re-rated.
                let (mut w, mut frozen_load, mut load) = (0.0, 0.0, 0.0);
                let u_start = u_pos.len();
                for (k, slot) in slots[l].iter().enumerate() {
                    load += slot.frac * slot.rate;
                    if slot.rate < threshold {
                        frozen_load += slot.frac * slot.rate;
                        continue;
                    }
                    w += slot.frac;
                    u_pos.push(k as u32);
                }
                let y = &mut ls[l];
                if lazy && y.root != event && load < y.cap * (1.0 - 1e-9) {
                    // Settled once this group's search is over.
                    u_pos.truncate(u_start);
                    y.lazy = group;
                    lazy_links.push(l as u32);
                    continue;
                }
                let u_end = u_pos.len();
                y.u_start = u_start as u32;
                y.u_end = u_end as u32;
                y.unfrozen_w = w;
                y.unfrozen_n = (u_end - u_start) as u32;
                y.frozen_load = frozen_load;
                for &k in &u_pos[u_start..u_end] {
                    let flow = slots[l][k as usize].flow;
                    let x = &mut fl[flow as usize];
                    if x.mark == group {
                        continue;
                    }
                    x.mark = group;
                    comp_flows.push(flow);
                    for &l2 in &route_links[x.first as usize..x.last as usize] {
                        let y2 = &mut ls[l2 as usize];
                        if y2.mark == group {
                            continue;
                        }
                        if y2.mark > event {
                            // An earlier group stopped at this link: fill them together.
                            if !met.contains(&y2.mark) {
                                met.push(y2.mark);
                            }
                            continue;
                        }
                        y2.mark = group;
                        stack.push(l2);
                    }
                }
            }
            if comp_flows.len() == g.flows.0 {
                // Nothing to re-rate: the root's other flows keep their rates.
                comp_links.truncate(g.links.0);
                continue;
            }
            if !met.is_empty() {
                merge_met(&met, &mut g, comps, comp_links, comp_flows, &mut lazy_links);
                self.out.groups_merged += 1;
            }
            // The links this group stopped at: the flows it reached by other links are
            // re-rated, the others count as frozen load at their rates.
            for &l in &lazy_links[g.lazy.0..] {
                let l = l as usize;
                let (mut w, mut frozen_load, mut top_other) = (0.0, 0.0, 0.0f64);
                let u_start = u_pos.len();
                for (k, slot) in slots[l].iter().enumerate() {
                    if fl[slot.flow as usize].mark >= g.lo {
                        w += slot.frac;
                        u_pos.push(k as u32);
                    } else {
                        frozen_load += slot.frac * slot.rate;
                        top_other = top_other.max(slot.rate);
                    }
                }
                let y = &mut ls[l];
                y.u_start = u_start as u32;
                y.u_end = u_pos.len() as u32;
                y.unfrozen_w = w;
                y.unfrozen_n = y.u_end - y.u_start;
                y.frozen_load = frozen_load;
                y.top_other = top_other;
            }
            (g.links.1, g.flows.1, g.lazy.1) =
                (comp_links.len(), comp_flows.len(), lazy_links.len());
            comps.push(g);
        }
        self.scratch.stack = stack;
        self.scratch.lazy_links = lazy_links;
        self.scratch.met = met;
    }

    /// Progressive filling of group `g`'s flows (the others on its links keep their rates).
    /// False if a link its search stopped at (`LinkState::lazy` in `g.lo..=g.hi`) froze a flow
    /// below the rate of a flow the search left alone there: that one would have had to give way.
    fn fill(&mut self, t: f64, g: &Group, comp_links: &[u32], comp_flows: &[u32]) -> bool {
        self.out.flows_rerated += comp_flows.len() as u64;
        let mut old_rate = std::mem::take(&mut self.scratch.old_rate);
        let mut heap = std::mem::take(&mut self.scratch.heap);
        // Plain slices, so the compiler keeps them in registers across the stores below.
        let (fl, ls, slots) = (&mut self.fl[..], &mut self.ls[..], &self.slots[..]);
        let u_pos = &self.u_pos[..];
        let routes = &self.flows.routes;
        let (route_links, route_fracs) = (&routes.links[..], &routes.fractions[..]);
        let level_of =
            |y: &LinkState| (y.cap - y.frozen_load).max(0.0) / y.unfrozen_w.max(f64::MIN_POSITIVE);
        // Where a stopped-at link limits re-rated flows to `level`, no flow it kept may be faster.
        let too_narrow = |y: &LinkState, level: f64| {
            (g.lo..=g.hi).contains(&y.lazy) && y.top_other > level * (1.0 + 1e-9)
        };
        let mut ok = true;
        heap.clear();
        for &f in comp_flows {
            let x = &mut fl[f as usize];
            old_rate.push(x.rate);
            // Settle the bytes sent at the old rate.
            let dt = t - x.settled_at;
            if dt > 0.0 && x.rate > 0.0 {
                x.remaining -= (x.rate * dt).min(x.remaining);
            }
            x.settled_at = t;
            x.frozen = false;
        }
        if let [f] = *comp_flows {
            // One flow to re-rate: it takes the tightest of its links.
            let x = &mut fl[f as usize];
            let (mut level, mut at) = (f64::INFINITY, usize::MAX);
            for &l in comp_links {
                let y = &ls[l as usize];
                if y.unfrozen_n > 0 && level_of(y) < level {
                    (level, at) = (level_of(y), l as usize);
                }
            }
            if at != usize::MAX && too_narrow(&ls[at], level) {
                ok = false;
            }
            x.frozen = true;
            x.rate = level;
            let (a, b) = (x.first as usize, x.last as usize);
            for (&l, &frac) in route_links[a..b].iter().zip(&route_fracs[a..b]) {
                ls[l as usize].frozen_load += frac * level;
            }
        } else {
            // Progressive filling with a lazy heap of link saturation levels (built in one
            // heapify: most links never become a bottleneck).
            let mut levels = heap.into_vec();
            levels.clear();
            for &l in comp_links {
                let y = &ls[l as usize];
                if y.unfrozen_n > 0 {
                    levels.push(Ev::new(level_of(y), l, 0));
                }
            }
            heap = BinaryHeap::from(levels);
            let mut rounds = 0u64;
            // A link's level only rises as flows freeze, so a queued level may be stale (too
            // low): recompute it when it comes up and queue it again if it rose.
            let mut level_now = 0.0f64;
            let mut unfrozen = comp_flows.len();
            while let Some(top) = heap.pop() {
                let (queued, l) = (top.t(), top.id());
                let y = &ls[l as usize];
                if y.unfrozen_n == 0 {
                    continue;
                }
                let current = level_of(y).max(level_now);
                if current > queued {
                    heap.push(Ev::new(current, l, 0));
                    continue;
                }
                let level = queued.max(level_now);
                if too_narrow(y, level) {
                    ok = false;
                    break;
                }
                level_now = level;
                let (u0, u1) = (y.u_start as usize, y.u_end as usize);
                let on_link = &slots[l as usize];
                for &k in &u_pos[u0..u1] {
                    let x = &mut fl[on_link[k as usize].flow as usize];
                    if x.frozen {
                        continue;
                    }
                    x.frozen = true;
                    x.rate = level;
                    unfrozen -= 1;
                    let (a, b) = (x.first as usize, x.last as usize);
                    for (&l2, &frac) in route_links[a..b].iter().zip(&route_fracs[a..b]) {
                        let y2 = &mut ls[l2 as usize];
                        y2.frozen_load += frac * level;
                        y2.unfrozen_w -= frac;
                        y2.unfrozen_n -= 1;
                    }
                }
                if unfrozen == 0 {
                    break; // the links still queued carry no flow left to rate
                }
                rounds += 1;
                if rounds % 256 == 0 && (self.cancel)() {
                    self.cancelled = true;
                    break;
                }
            }
        }
        self.scratch.old_rate = old_rate;
        self.scratch.heap = heap;
        ok
    }

    /// Make the filled rates current: on the links, in the peak utilisations and as new
    /// projected transfer ends for the flows whose rate changed.
    fn publish(
        &mut self,
        t: f64,
        comp_links: &[u32],
        comp_flows: &[u32],
        ends: &mut BinaryHeap<Ev>,
    ) {
        let (fl, ls, slots) = (&mut self.fl[..], &self.ls[..], &mut self.slots[..]);
        let entry_pos = &self.entry_pos[..];
        let route_links = &self.flows.routes.links[..];
        let peak = &mut self.out.link_peak_utilization[..];
        for &l in comp_links {
            let y = &ls[l as usize];
            let util = y.frozen_load / y.cap;
            if util > peak[l as usize] {
                peak[l as usize] = util;
            }
        }
        for (&f, &old) in comp_flows.iter().zip(&self.scratch.old_rate) {
            let x = &mut fl[f as usize];
            let r = x.rate;
            let (a, b) = (x.first as usize, x.last as usize);
            for (&l, &pos) in route_links[a..b].iter().zip(&entry_pos[a..b]) {
                slots[l as usize][pos as usize].rate = r;
            }
            // Same rate, same projected end: the queued event stays valid.
            if r != old {
                x.project_end(f, t, ends);
            }
        }
        // Stale projections pile up when rates change often: rebuild the heap now and then.
        if ends.len() > 4 * self.n_active + 65_536 {
            let fl = &self.fl;
            ends.retain(|e| {
                let x = &fl[e.id() as usize];
                x.state == State::Active && e.version() == x.version
            });
        }
    }
}

/// Run the simulation. `cancel` is polled at every event and every few hundred water-filling
/// rounds (keep it cheap, e.g. an atomic load); returning true stops the run with
/// [`CoreError::Interrupted`].
pub fn simulate(net: &Network, flows: &FlowSet, cancel: &dyn Fn() -> bool) -> Result<SimOutput> {
    simulate_until(net, flows, None, cancel)
}

/// Like [`simulate`], but stop as soon as the first `watch` flows (e.g. a job among background
/// traffic) have all finished; flows still running then keep NaN times.
pub fn simulate_until(
    net: &Network,
    flows: &FlowSet,
    watch: Option<usize>,
    cancel: &dyn Fn() -> bool,
) -> Result<SimOutput> {
    run(net, flows, watch, cancel, true, None, 0)
}

/// [`simulate_until`] for flows whose dependencies are known to be acyclic, with their
/// successors (as [`successors`] gives them) already at hand, and the values of the first
/// `checked` flows already checked ([`check_values`]; their routes from the router): the Monte
/// Carlo samples of one checked template.
pub(crate) fn simulate_until_acyclic(
    net: &Network,
    flows: &FlowSet,
    watch: Option<usize>,
    succ: (&[usize], &[u32]),
    checked: usize,
    cancel: &dyn Fn() -> bool,
) -> Result<SimOutput> {
    run(net, flows, watch, cancel, true, Some(succ), checked)
}

fn run(
    net: &Network,
    flows: &FlowSet,
    watch: Option<usize>,
    cancel: &dyn Fn() -> bool,
    incremental: bool,
    acyclic_with: Option<(&[usize], &[u32])>,
    checked: usize,
) -> Result<SimOutput> {
    validate(net, flows, checked)?;
    let computed;
    let (succ_ptr, succ_idx) = match acyclic_with {
        Some((ptr, idx))
            if ptr.len() == flows.dep_ptr.len() && idx.len() == flows.dep_idx.len() =>
        {
            (ptr, idx)
        }
        Some(_) => {
            return Err(invalid(
                "successors",
                "do not match the flows' dependencies",
            ))
        }
        None => {
            computed = successors(&flows.dep_ptr, &flows.dep_idx);
            check_acyclic(&flows.dep_ptr, &flows.dep_idx, &computed)?;
            (&computed.0[..], &computed.1[..])
        }
    };
    let mut watching = watch.map(|w| w.min(flows.size_bytes.len())).unwrap_or(0);
    let n = flows.size_bytes.len();
    let m = net.n_links();
    let n_entries = flows.routes.links.len();
    let mut sim = Sim {
        flows,
        cancel,
        cancelled: false,
        fl: (0..n)
            .map(|f| FlowState {
                first: flows.routes.ptr[f] as u32,
                last: flows.routes.ptr[f + 1] as u32,
                ..FlowState::default()
            })
            .collect(),
        waiting_preds: (0..n)
            .map(|i| (flows.dep_ptr[i + 1] - flows.dep_ptr[i]) as u32)
            .collect(),
        ready_s: vec![0.0; n],
        entry_pos: vec![0; n_entries],
        slots: vec![Vec::new(); m],
        u_pos: Vec::new(),
        ls: (0..m)
            .map(|l| LinkState {
                cap: net.capacity_bps(l),
                ..LinkState::default()
            })
            .collect(),
        stamp: 0,
        busy_since: vec![0.0; m],
        n_active: 0,
        added: Vec::new(),
        removed_min_rate: f64::INFINITY,
        scratch: Scratch::default(),
        incremental,
        out: SimOutput {
            start_s: vec![f64::NAN; n],
            transfer_end_s: vec![f64::NAN; n],
            finish_s: vec![f64::NAN; n],
            min_rate_bps: vec![f64::NAN; n],
            max_rate_bps: vec![f64::NAN; n],
            link_bytes: vec![0.0; m],
            link_busy_s: vec![0.0; m],
            link_peak_utilization: vec![0.0; m],
            events: 0,
            flows_rerated: 0,
            searches_widened: 0,
            groups_merged: 0,
        },
    };
    let mut starts: BinaryHeap<Ev> = BinaryHeap::new();
    let mut ends: BinaryHeap<Ev> = BinaryHeap::new();
    let mut finishes: BinaryHeap<Ev> = BinaryHeap::new();
    for i in 0..n {
        if sim.waiting_preds[i] == 0 {
            sim.fl[i].state = State::Scheduled;
            starts.push(Ev::new(flows.release_s[i] + flows.delay_s[i], i as u32, 0));
        }
    }
    let mut touched: Vec<u32> = Vec::new();
    let mut starting_now: Vec<Ev> = Vec::new();
    let mut last_t = 0.0f64;
    loop {
        // Drop stale transfer-end projections.
        while let Some(top) = ends.peek() {
            let f = top.id() as usize;
            if sim.fl[f].state != State::Active || top.version() != sim.fl[f].version {
                ends.pop();
            } else {
                break;
            }
        }
        let t = [starts.peek(), ends.peek(), finishes.peek()]
            .iter()
            .flatten()
            .map(|e| e.t())
            .fold(f64::INFINITY, f64::min);
        if t == f64::INFINITY || (watch.is_some() && watching == 0) {
            break;
        }
        sim.out.events += 1;
        if cancel() {
            return Err(CoreError::Interrupted);
        }
        touched.clear();
        // 1. Transfers ending now (within rounding) end together.
        let window = t * (1.0 + 1e-12) + 1e-15;
        while let Some(top) = ends.peek().copied() {
            if top.t() > window {
                break;
            }
            ends.pop();
            let f = top.id() as usize;
            if sim.fl[f].state != State::Active || top.version() != sim.fl[f].version {
                continue;
            }
            sim.settle(f, t);
            sim.deactivate(f, t, &mut touched);
            finishes.push(Ev::new(t + flows.latency(f), f as u32, 0));
        }
        // 2./3. Finishes release successors; starts activate flows. Zero-time chains (empty
        // routes, zero bytes, zero latency) can cascade within the same instant.
        loop {
            let mut progressed = false;
            while let Some(top) = finishes.peek().copied() {
                if top.t() > t {
                    break;
                }
                finishes.pop();
                progressed = true;
                let f = top.id() as usize;
                sim.fl[f].state = State::Done;
                sim.out.finish_s[f] = top.t();
                if watch.is_some_and(|w| f < w) {
                    watching -= 1;
                }
                for &j in &succ_idx[succ_ptr[f]..succ_ptr[f + 1]] {
                    let j = j as usize;
                    sim.ready_s[j] = sim.ready_s[j].max(top.t());
                    sim.waiting_preds[j] -= 1;
                    if sim.waiting_preds[j] == 0 {
                        sim.fl[j].state = State::Scheduled;
                        let s = flows.release_s[j].max(sim.ready_s[j]) + flows.delay_s[j];
                        // Most successors start right away: skip the heap for them.
                        let ev = Ev::new(s, j as u32, 0);
                        if s <= t {
                            starting_now.push(ev);
                        } else {
                            starts.push(ev);
                        }
                    }
                }
            }
            starting_now.reverse(); // pop in the order they were released
            loop {
                let top = match starting_now.pop() {
                    Some(ev) => ev,
                    None => match starts.peek() {
                        Some(&ev) if ev.t() <= t => {
                            starts.pop();
                            ev
                        }
                        _ => break,
                    },
                };
                progressed = true;
                let f = top.id() as usize;
                sim.out.start_s[f] = top.t();
                if flows.size_bytes[f] == 0.0 || flows.routes.ptr[f] == flows.routes.ptr[f + 1] {
                    sim.fl[f].state = State::Propagating;
                    sim.out.transfer_end_s[f] = top.t();
                    finishes.push(Ev::new(top.t() + flows.latency(f), f as u32, 0));
                } else {
                    sim.activate(f, t, &mut touched);
                }
            }
            if !progressed {
                break;
            }
        }
        if !touched.is_empty() {
            // Repeated links are fine: the re-rating marks each one it reaches.
            let tl = std::mem::take(&mut touched);
            sim.rerate(t, &tl, &mut ends);
            if sim.cancelled {
                return Err(CoreError::Interrupted);
            }
            touched = tl;
        }
        last_t = t;
    }
    // Bytes each flow sent (all of it, unless the run stopped early), spread over its links.
    for f in 0..n {
        let sent = match sim.fl[f].state {
            State::Done | State::Propagating => flows.size_bytes[f],
            State::Active => {
                sim.settle(f, last_t);
                flows.size_bytes[f] - sim.fl[f].remaining
            }
            _ => 0.0,
        };
        if sent > 0.0 {
            for e in flows.routes.ptr[f]..flows.routes.ptr[f + 1] {
                sim.out.link_bytes[flows.routes.links[e] as usize] +=
                    sent * flows.routes.fractions[e];
            }
        }
    }
    let mut out = sim.out;
    for (f, x) in sim.fl.iter().enumerate() {
        // NaN for flows never rated (zero bytes, no route, never started).
        if x.min_rate != f64::INFINITY {
            out.min_rate_bps[f] = x.min_rate;
            out.max_rate_bps[f] = x.max_rate;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::{route_flows, Metric, Policy, Router, NO_VIA};
    use std::sync::Arc;

    fn never() -> bool {
        false
    }

    /// A line 0 - 1 - 2 with the given capacities (bytes/s) and 1 us per link.
    fn line(c01: f64, c12: f64) -> Arc<Network> {
        Arc::new(
            Network::new(
                3,
                vec![0, 1, 1, 2],
                vec![1, 0, 2, 1],
                vec![c01, c01, c12, c12],
                vec![1e-6; 4],
                vec![false, true, false],
            )
            .unwrap(),
        )
    }

    fn flowset(net: &Arc<Network>, pairs: &[(u32, u32, f64)], deps: &[Vec<u32>]) -> FlowSet {
        let router = Router::new(net.clone(), Metric::Hops);
        let src: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        let dst: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        let n = pairs.len();
        let keys: Vec<u64> = (0..n as u64).collect();
        let routes = route_flows(
            &router,
            &src,
            &dst,
            &vec![NO_VIA; n],
            &keys,
            Policy::Ecmp,
            0,
            &|| false,
        )
        .unwrap();
        let mut dep_ptr = vec![0];
        let mut dep_idx = vec![];
        for i in 0..n {
            if let Some(d) = deps.get(i) {
                dep_idx.extend(d);
            }
            dep_ptr.push(dep_idx.len());
        }
        FlowSet {
            size_bytes: pairs.iter().map(|p| p.2).collect(),
            release_s: vec![0.0; n],
            delay_s: vec![0.0; n],
            dep_ptr,
            dep_idx,
            routes,
            latency_scale: vec![],
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-9)
    }

    #[test]
    fn single_flow_time_is_size_over_bottleneck_plus_latency() {
        let net = line(1e9, 5e8);
        let out = simulate(&net, &flowset(&net, &[(0, 2, 1e6)], &[]), &never).unwrap();
        assert!(close(out.finish_s[0], 1e6 / 5e8 + 2e-6));
        assert!(close(out.link_bytes[0], 1e6));
        assert!(close(out.link_peak_utilization[2], 1.0));
        assert!(close(out.link_peak_utilization[0], 0.5));
    }

    #[test]
    fn two_flows_share_then_speed_up() {
        let net = line(1e9, 1e9);
        // 1 MB and 3 MB over the same path: 0.5 GB/s each until the first ends at 2 ms;
        // the second then has 2 MB left at 1 GB/s: ends at 4 ms.
        let out = simulate(
            &net,
            &flowset(&net, &[(0, 2, 1e6), (0, 2, 3e6)], &[]),
            &never,
        )
        .unwrap();
        assert!(close(out.transfer_end_s[0], 2e-3));
        assert!(close(out.transfer_end_s[1], 4e-3));
        assert!(close(out.finish_s[1], 4e-3 + 2e-6));
        assert!(close(out.min_rate_bps[1], 5e8) && close(out.max_rate_bps[1], 1e9));
    }

    #[test]
    fn dependencies_and_delays_chain() {
        let net = line(1e9, 1e9);
        let mut fs = flowset(&net, &[(0, 2, 1e6), (2, 0, 1e6)], &[vec![], vec![0]]);
        fs.delay_s[1] = 5e-6;
        fs.latency_scale = vec![1.0, 3.0];
        let out = simulate(&net, &fs, &never).unwrap();
        let first = 1e-3 + 2e-6;
        assert!(close(out.start_s[1], first + 5e-6));
        assert!(close(out.finish_s[1], 2.0 * first + 5e-6 + 4e-6));
    }

    #[test]
    fn cycles_are_rejected() {
        let net = line(1e9, 1e9);
        let fs = flowset(&net, &[(0, 2, 1.0), (2, 0, 1.0)], &[vec![1], vec![0]]);
        assert!(matches!(
            simulate(&net, &fs, &never),
            Err(CoreError::DependencyCycle { .. })
        ));
        // flow 0 only waits on the 1 <-> 2 cycle: the error must name a flow on it
        let fs = flowset(
            &net,
            &[(0, 2, 1.0), (2, 0, 1.0), (0, 2, 1.0)],
            &[vec![1], vec![2], vec![1]],
        );
        match simulate(&net, &fs, &never) {
            Err(CoreError::DependencyCycle { flow }) => assert!(flow == 1 || flow == 2),
            other => panic!("expected a cycle error, got {other:?}"),
        }
    }

    #[test]
    fn zero_byte_and_local_flows_take_only_latency() {
        let net = line(1e9, 1e9);
        let out = simulate(
            &net,
            &flowset(&net, &[(0, 2, 0.0), (0, 0, 1e9)], &[]),
            &never,
        )
        .unwrap();
        assert!(close(out.finish_s[0], 2e-6));
        assert_eq!(out.finish_s[1], 0.0);
    }

    #[test]
    fn max_min_classic_three_flows() {
        // Links A (0->1, cap 1) and B (1->2, cap 2): flow x on A+B, y on A, z on B.
        // Max-min: x = y = 0.5 (A saturates), z = 1.5.
        let net = line(1.0, 2.0);
        let fs = flowset(&net, &[(0, 2, 10.0), (0, 1, 10.0), (1, 2, 100.0)], &[]);
        let out = simulate(&net, &fs, &never).unwrap();
        assert!(close(out.min_rate_bps[0], 0.5));
        assert!(close(out.transfer_end_s[0], 20.0));
        assert!(close(out.min_rate_bps[2], 1.5));
        assert!(close(out.max_rate_bps[2], 2.0)); // z speeds up once x ends
        assert!(close(out.transfer_end_s[2], 20.0 + 70.0 / 2.0));
    }

    #[test]
    fn interrupt_is_honoured() {
        let net = line(1.0, 1.0);
        let pairs: Vec<(u32, u32, f64)> = (0..500).map(|i| (0, 2, 1.0 + i as f64)).collect();
        let fs = flowset(&net, &pairs, &[]);
        assert!(matches!(
            simulate(&net, &fs, &|| true),
            Err(CoreError::Interrupted)
        ));
    }

    /// A two-tier leaf-spine with uneven capacities: `leaves` x `hosts` hosts, `spines` spines.
    fn leaf_spine(leaves: u32, spines: u32, hosts: u32) -> Arc<Network> {
        let (mut src, mut dst, mut cap) = (vec![], vec![], vec![]);
        let n_hosts = leaves * hosts;
        let mut link = |a: u32, b: u32, c: f64| {
            src.extend([a, b]);
            dst.extend([b, a]);
            cap.extend([c, c]);
        };
        for h in 0..n_hosts {
            link(h, n_hosts + h / hosts, 1e9 * (1.0 + (h % 3) as f64));
        }
        for l in 0..leaves {
            for s in 0..spines {
                link(
                    n_hosts + l,
                    n_hosts + leaves + s,
                    1.5e9 + 0.5e9 * ((l + s) % 2) as f64,
                );
            }
        }
        let n = (n_hosts + leaves + spines) as usize;
        let transit = (0..n).map(|i| i >= n_hosts as usize).collect();
        let m = src.len();
        Arc::new(Network::new(n, src, dst, cap, vec![1e-6; m], transit).unwrap())
    }

    /// Random flows (with dependencies and staggered releases) between the `hosts` first
    /// nodes: the incremental engine must give the finish times of full recomputation.
    /// Returns how often its first, narrowed search had to be widened.
    /// Returns how often the incremental run widened a search and merged groups.
    fn check_against_full(net: &Arc<Network>, hosts: u64, seed: u64) -> (u64, u64) {
        use crate::rng::Rng;
        let mut rng = Rng::new(seed);
        let n = 20 + rng.below(120) as usize;
        let pairs: Vec<(u32, u32, f64)> = (0..n)
            .map(|_| {
                let a = rng.below(hosts) as u32;
                let b = ((a as u64 + 1 + rng.below(hosts - 1)) % hosts) as u32;
                (a, b, 1e3 * (1.0 + rng.below(1000) as f64))
            })
            .collect();
        let deps: Vec<Vec<u32>> = (0..n)
            .map(|i| {
                if i > 0 && rng.below(3) == 0 {
                    vec![rng.below(i as u64) as u32]
                } else {
                    vec![]
                }
            })
            .collect();
        let mut fs = flowset(net, &pairs, &deps);
        for i in 0..n {
            fs.release_s[i] = if rng.below(2) == 0 {
                0.0
            } else {
                1e-6 * rng.below(500) as f64
            };
        }
        let inc = run(net, &fs, None, &never, true, None, 0).unwrap();
        let full = run(net, &fs, None, &never, false, None, 0).unwrap();
        assert_eq!((full.searches_widened, full.groups_merged), (0, 0));
        for f in 0..n {
            assert!(
                close(inc.finish_s[f], full.finish_s[f])
                    || (inc.finish_s[f] - full.finish_s[f]).abs() <= 1e-9 * full.finish_s[f],
                "seed {seed} flow {f}: {} vs {}",
                inc.finish_s[f],
                full.finish_s[f]
            );
        }
        (inc.searches_widened, inc.groups_merged)
    }

    #[test]
    fn incremental_rerating_matches_full_recomputation() {
        let net = leaf_spine(4, 3, 4);
        let (mut widened, mut merged) = (0, 0);
        for seed in 0..40 {
            let (w, m) = check_against_full(&net, 16, seed);
            (widened, merged) = (widened + w, merged + m);
        }
        // Uneven link capacities leave links with spare capacity for the search to stop at,
        // where searches meet, and sometimes one of them ends up limiting a re-rated flow: every
        // path runs.
        for seed in 0..60u64 {
            let mut rng = crate::rng::Rng::new(1000 + seed);
            let base = leaf_spine(4, 3, 4);
            let caps: Vec<f64> = (0..base.n_links())
                .map(|_| 0.5e9 * (1 + rng.below(8)) as f64)
                .collect();
            let net = Arc::new(
                base.scaled(
                    &caps
                        .iter()
                        .enumerate()
                        .map(|(l, c)| c / base.capacity_bps(l))
                        .collect::<Vec<_>>(),
                )
                .unwrap(),
            );
            let (w, m) = check_against_full(&net, 16, seed);
            (widened, merged) = (widened + w, merged + m);
        }
        assert!(widened > 0, "the widening path never ran");
        assert!(merged > 0, "no two searches ever met");
    }

    #[test]
    fn saturation_level_solves_the_load_equation() {
        use crate::rng::Rng;
        let mut rng = Rng::new(7);
        for _ in 0..2000 {
            let k = rng.below(40) as usize;
            let mut others: Vec<(f64, f64)> = (0..k)
                .map(|_| {
                    (
                        1.0 + rng.below(20) as f64,
                        if rng.below(2) == 0 { 1.0 } else { 0.25 },
                    )
                })
                .collect();
            let used: f64 = others.iter().map(|o| o.0 * o.1).sum();
            let cap = used + 1.0 + rng.below(50) as f64;
            let w_new = 0.5 + rng.below(3) as f64;
            let w_all = w_new + others.iter().map(|o| o.1).sum::<f64>();
            let load = |x: f64, o: &[(f64, f64)]| {
                w_new * x + o.iter().map(|&(r, f)| f * r.min(x)).sum::<f64>()
            };
            let x = saturation_level(cap, w_new, w_all, &mut others);
            assert!(
                (load(x, &others) - cap).abs() <= 1e-9 * cap,
                "load {} vs cap {cap}",
                load(x, &others)
            );
        }
    }
}
