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

mod ends;
mod event;
mod levels;
mod rerate;
mod validate;

use std::borrow::Cow;
use std::collections::BinaryHeap;

use crate::demand::Demand;
use crate::error::{filled, invalid, reserve, with_capacity, CoreError, Result};
use crate::network::Network;
use crate::routing::RoutedFlows;

use ends::EndQueue;
use event::{Ev, State};
use rerate::{LinkState, Scratch};
use validate::validate;
pub(crate) use validate::{check_acyclic, check_values, successors};

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
    /// Re-rating searches that proved too narrow and ran again (see `Sim::rerate`).
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
            mark: 0,
            frozen: false,
            state: State::Waiting,
        }
    }
}

impl FlowState {
    /// Record the rate just set (`self.rate`, flow `f`) and queue its projected transfer end;
    /// the older projection goes stale.
    fn project_end(&mut self, f: u32, t: f64, ends: &mut EndQueue) {
        self.min_rate = self.min_rate.min(self.rate);
        self.max_rate = self.max_rate.max(self.rate);
        ends.set(Ev::new(t + self.remaining / self.rate, f, 0));
    }
}

struct Sim<'a> {
    demand: Cow<'a, Demand>,
    routes: Cow<'a, RoutedFlows>,
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
    narrow_retries: u32,
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
        self.fl[f].remaining = self.demand.size_bytes[f];
        self.fl[f].settled_at = t;
        self.fl[f].rate = 0.0;
        self.added.push(f as u32);
        for e in self.entries(f) {
            let l = self.routes.links[e] as usize;
            if self.slots[l].is_empty() {
                self.busy_since[l] = t;
            }
            self.entry_pos[e] = self.slots[l].len() as u32;
            self.ls[l].n_new += 1;
            self.slots[l].push(Slot {
                rate: f64::INFINITY,
                frac: self.routes.fractions[e],
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
            let l = self.routes.links[e] as usize;
            let pos = self.entry_pos[e] as usize;
            let list = &mut self.slots[l];
            let gone = list.swap_remove(pos);
            let y = &mut self.ls[l];
            if gone.rate == f64::INFINITY {
                y.n_new -= 1;
            } else {
                y.load -= gone.frac * gone.rate;
            }
            if pos < list.len() {
                let moved = list[pos].entry as usize;
                self.entry_pos[moved] = pos as u32;
            }
            if list.is_empty() {
                y.load = 0.0; // no drift left behind
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
        self.fl[f].state = State::Propagating;
        self.n_active -= 1;
        self.out.transfer_end_s[f] = t;
    }
}

/// Run the simulation of `demand` over `routes` (one per flow, as
/// [`crate::routing::route_flows`] gives them, or built by hand). `cancel` is polled at every
/// event and every few hundred water-filling rounds (keep it cheap, e.g. an atomic load);
/// returning true stops the run with [`CoreError::Interrupted`].
pub fn simulate(
    net: &Network,
    demand: &Demand,
    routes: &RoutedFlows,
    cancel: &dyn Fn() -> bool,
) -> Result<SimOutput> {
    simulate_until(net, demand, routes, None, cancel)
}

/// Like [`simulate`], but stop as soon as the first `watch` flows (e.g. a job among background
/// traffic) have all finished; flows still running then keep NaN times.
pub fn simulate_until(
    net: &Network,
    demand: &Demand,
    routes: &RoutedFlows,
    watch: Option<usize>,
    cancel: &dyn Fn() -> bool,
) -> Result<SimOutput> {
    let how = Mode {
        watch,
        ..Mode::default()
    };
    run(net, demand, routes, how, cancel)
}

/// A [`Run`] of flows whose dependencies are known to be acyclic, with their successors (as
/// [`successors`] gives them) already at hand, and the values of the first `checked` flows
/// already checked ([`check_values`]; their routes from the router): the Monte Carlo samples
/// of one checked template. It stops once the first `watch` flows have finished; past
/// `work_budget` re-rated flows (0: no limit) it stops with [`CoreError::WorkBudget`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn start_acyclic<'a>(
    net: &Network,
    demand: Demand,
    routes: RoutedFlows,
    watch: Option<usize>,
    succ: (&'a [usize], &'a [u32]),
    checked: usize,
    work_budget: u64,
    cancel: &'a dyn Fn() -> bool,
) -> Result<Run<'a>> {
    let how = Mode {
        watch,
        succ: Some(succ),
        checked,
        work_budget,
        ..Mode::default()
    };
    Run::new(net, Cow::Owned(demand), Cow::Owned(routes), how, cancel)
}

/// How [`run`] runs.
struct Mode<'a> {
    /// Stop once the first `watch` flows have finished.
    watch: Option<usize>,
    /// False re-rates whole connected components (the plain algorithm, kept as a test oracle).
    incremental: bool,
    /// The flows' successors, when their dependencies are known to be acyclic.
    succ: Option<(&'a [usize], &'a [u32])>,
    /// The values of the first `checked` flows are known to be good.
    checked: usize,
    /// Stop with [`CoreError::WorkBudget`] past this many re-rated flows (0: no limit).
    work_budget: u64,
    /// How many times a re-rating's narrow search may run again before it searches everything
    /// (tests set 0 to take the last path at once).
    narrow_retries: u32,
}

impl Default for Mode<'_> {
    fn default() -> Self {
        Mode {
            watch: None,
            incremental: true,
            succ: None,
            checked: 0,
            work_budget: 0,
            narrow_retries: rerate::MAX_NARROW_RETRIES,
        }
    }
}

/// Flow `f`'s propagation latency: its route's, times its latency scale.
#[inline]
fn latency(demand: &Demand, routes: &RoutedFlows, f: usize) -> f64 {
    routes.latency_s[f] * demand.latency_scale_of(f)
}

fn run(
    net: &Network,
    demand: &Demand,
    routes: &RoutedFlows,
    how: Mode<'_>,
    cancel: &dyn Fn() -> bool,
) -> Result<SimOutput> {
    let mut r = Run::new(
        net,
        Cow::Borrowed(demand),
        Cow::Borrowed(routes),
        how,
        cancel,
    )?;
    r.advance(f64::INFINITY)?;
    Ok(r.finish().2)
}

/// What [`Run::advance`] stopped at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Pause {
    /// Every event is processed (or the watched flows have all finished).
    Done,
    /// The next event is at or after the horizon (this time) and the watched flows have not
    /// all finished: flows released from the horizon on can still be added ([`Run::extend`]).
    At(f64),
}

/// A run in progress: it can stop at a horizon, take more flows released from that horizon
/// on, and go on exactly as if they had been there from the start (a flow changes nothing
/// before it starts). The Monte Carlo uses it to draw background arrivals window by window
/// instead of rerunning a sample whose job outlasts its arrival window.
pub(crate) struct Run<'a> {
    sim: Sim<'a>,
    succ_ptr: Cow<'a, [usize]>,
    succ_idx: Cow<'a, [u32]>,
    watch: Option<usize>,
    watching: usize,
    work_budget: u64,
    starts: BinaryHeap<Ev>,
    ends: EndQueue,
    finishes: BinaryHeap<Ev>,
    touched: Vec<u32>,
    starting_now: Vec<Ev>,
    last_t: f64,
}

impl<'a> Run<'a> {
    fn new(
        net: &Network,
        demand: Cow<'a, Demand>,
        routes: Cow<'a, RoutedFlows>,
        how: Mode<'a>,
        cancel: &'a dyn Fn() -> bool,
    ) -> Result<Run<'a>> {
        let Mode {
            watch,
            incremental,
            succ: acyclic_with,
            checked,
            work_budget,
            narrow_retries,
        } = how;
        validate(net, &demand, &routes, checked)?;
        let (succ_ptr, succ_idx): (Cow<'a, [usize]>, Cow<'a, [u32]>) = match acyclic_with {
            Some((ptr, idx))
                if ptr.len() == demand.dep_ptr.len() && idx.len() == demand.dep_idx.len() =>
            {
                (Cow::Borrowed(ptr), Cow::Borrowed(idx))
            }
            Some(_) => {
                return Err(invalid(
                    "successors",
                    "do not match the flows' dependencies",
                ))
            }
            None => {
                let computed = successors(&demand.dep_ptr, &demand.dep_idx);
                check_acyclic(&demand.dep_ptr, &demand.dep_idx, &computed)?;
                (Cow::Owned(computed.0), Cow::Owned(computed.1))
            }
        };
        let watching = watch.map(|w| w.min(demand.size_bytes.len())).unwrap_or(0);
        let n = demand.size_bytes.len();
        let m = net.n_links();
        let n_entries = routes.links.len();
        // Per-flow and per-link state, allocated fallibly: the largest allocations of a run.
        let mut fl = with_capacity(n, "the engine's per-flow state")?;
        fl.extend((0..n).map(|f| FlowState {
            first: routes.ptr[f] as u32,
            last: routes.ptr[f + 1] as u32,
            ..FlowState::default()
        }));
        let mut waiting_preds = with_capacity(n, "the engine's per-flow state")?;
        waiting_preds.extend((0..n).map(|i| (demand.dep_ptr[i + 1] - demand.dep_ptr[i]) as u32));
        let mut ls = with_capacity(m, "the engine's per-link state")?;
        ls.extend((0..m).map(|l| LinkState::new(net.capacity_bps(l))));
        let per_flow = |x: f64| filled(n, x, "the engine's per-flow results");
        let per_link = |x: f64| filled(m, x, "the engine's per-link state");
        let mut sim = Sim {
            demand,
            routes,
            cancel,
            cancelled: false,
            fl,
            waiting_preds,
            ready_s: per_flow(0.0)?,
            entry_pos: filled(n_entries, 0, "the engine's per-route-entry state")?,
            slots: filled(m, Vec::new(), "the engine's per-link state")?,
            u_pos: Vec::new(),
            ls,
            stamp: 0,
            busy_since: per_link(0.0)?,
            n_active: 0,
            added: Vec::new(),
            removed_min_rate: f64::INFINITY,
            scratch: Scratch::default(),
            incremental,
            narrow_retries,
            out: SimOutput {
                start_s: per_flow(f64::NAN)?,
                transfer_end_s: per_flow(f64::NAN)?,
                finish_s: per_flow(f64::NAN)?,
                min_rate_bps: per_flow(f64::NAN)?,
                max_rate_bps: per_flow(f64::NAN)?,
                link_bytes: per_link(0.0)?,
                link_busy_s: per_link(0.0)?,
                link_peak_utilization: per_link(0.0)?,
                events: 0,
                flows_rerated: 0,
                searches_widened: 0,
                groups_merged: 0,
            },
        };
        let mut ends = EndQueue::default();
        ends.grow(n, "the engine's per-flow state")?;
        let mut starts: BinaryHeap<Ev> = BinaryHeap::new();
        for i in 0..n {
            if sim.waiting_preds[i] == 0 {
                sim.fl[i].state = State::Scheduled;
                starts.push(Ev::new(
                    sim.demand.release_s[i] + sim.demand.delay_s[i],
                    i as u32,
                    0,
                ));
            }
        }
        Ok(Run {
            sim,
            succ_ptr,
            succ_idx,
            watch,
            watching,
            work_budget,
            starts,
            ends,
            finishes: BinaryHeap::new(),
            touched: Vec::new(),
            starting_now: Vec::new(),
            last_t: 0.0,
        })
    }

    /// Add flows without dependencies (their routes in `more_routes`), every one released at
    /// or after the time the run paused at ([`Pause::At`]) and no flow before them depending
    /// on them. Their values are checked here.
    pub(crate) fn extend(
        &mut self,
        net: &Network,
        more: &Demand,
        more_routes: &RoutedFlows,
    ) -> Result<()> {
        let k = more.len();
        let sim = &mut self.sim;
        let n0 = sim.demand.len();
        if !more.dep_idx.is_empty() || more.dep_ptr.len() != k + 1 {
            return Err(invalid("flows", "added flows take no dependencies"));
        }
        validate(net, more, more_routes, 0)?;
        if let Some(i) = (0..k).find(|&i| more.release_s[i] + more.delay_s[i] < self.last_t) {
            return Err(invalid(
                format!("flow {}", n0 + i),
                format!(
                    "added at {} s starts at {} s, before the time the run has reached",
                    self.last_t,
                    more.release_s[i] + more.delay_s[i]
                ),
            ));
        }
        let what = "the engine's per-flow state";
        let e0 = sim.routes.links.len();
        if e0 + more_routes.links.len() >= u32::MAX as usize || n0 + k >= u32::MAX as usize {
            return Err(invalid(
                "flows",
                "the engine indexes flows and route entries with 32 bits",
            ));
        }
        {
            let d = sim.demand.to_mut();
            let last = *d.dep_ptr.last().unwrap_or(&0);
            for (v, x) in [
                (&mut d.src, &more.src),
                (&mut d.dst, &more.dst),
                (&mut d.via, &more.via),
            ] {
                reserve(v, k, what)?;
                v.extend_from_slice(x);
            }
            reserve(&mut d.flow_key, k, what)?;
            d.flow_key.extend_from_slice(&more.flow_key);
            for (v, x) in [
                (&mut d.size_bytes, &more.size_bytes),
                (&mut d.release_s, &more.release_s),
                (&mut d.delay_s, &more.delay_s),
            ] {
                reserve(v, k, what)?;
                v.extend_from_slice(x);
            }
            reserve(&mut d.dep_ptr, k, what)?;
            d.dep_ptr.resize(n0 + k + 1, last);
            if !d.latency_scale.is_empty() || !more.latency_scale.is_empty() {
                reserve(&mut d.latency_scale, k, what)?;
                d.latency_scale.resize(n0, 1.0);
                if more.latency_scale.is_empty() {
                    d.latency_scale.resize(n0 + k, 1.0);
                } else {
                    d.latency_scale.extend_from_slice(&more.latency_scale);
                }
            }
        }
        {
            let r = sim.routes.to_mut();
            reserve(&mut r.ptr, k, "routed flows")?;
            r.ptr.extend(more_routes.ptr[1..].iter().map(|&p| p + e0));
            reserve(&mut r.links, more_routes.links.len(), "routed flows' links")?;
            r.links.extend_from_slice(&more_routes.links);
            reserve(
                &mut r.fractions,
                more_routes.links.len(),
                "routed flows' links",
            )?;
            r.fractions.extend_from_slice(&more_routes.fractions);
            reserve(&mut r.latency_s, k, "routed flows")?;
            r.latency_s.extend_from_slice(&more_routes.latency_s);
        }
        reserve(&mut sim.entry_pos, more_routes.links.len(), what)?;
        sim.entry_pos.resize(e0 + more_routes.links.len(), 0);
        reserve(&mut sim.fl, k, what)?;
        self.ends.grow(n0 + k, what)?;
        for f in n0..n0 + k {
            sim.fl.push(FlowState {
                first: sim.routes.ptr[f] as u32,
                last: sim.routes.ptr[f + 1] as u32,
                state: State::Scheduled,
                ..FlowState::default()
            });
        }
        reserve(&mut sim.waiting_preds, k, what)?;
        sim.waiting_preds.resize(n0 + k, 0);
        reserve(&mut sim.ready_s, k, what)?;
        sim.ready_s.resize(n0 + k, 0.0);
        let out = &mut sim.out;
        for v in [
            &mut out.start_s,
            &mut out.transfer_end_s,
            &mut out.finish_s,
            &mut out.min_rate_bps,
            &mut out.max_rate_bps,
        ] {
            reserve(v, k, "the engine's per-flow results")?;
            v.resize(n0 + k, f64::NAN);
        }
        for f in n0..n0 + k {
            let s = sim.demand.release_s[f] + sim.demand.delay_s[f];
            self.starts.push(Ev::new(s, f as u32, 0));
        }
        Ok(())
    }

    /// Process events until the watched flows have all finished, no event is left, or the next
    /// event is at or after `horizon` (then nothing at or after it has been processed).
    pub(crate) fn advance(&mut self, horizon: f64) -> Result<Pause> {
        let Run {
            sim,
            succ_ptr,
            succ_idx,
            watch,
            watching,
            work_budget,
            starts,
            ends,
            finishes,
            touched,
            starting_now,
            last_t,
        } = self;
        let (watch, work_budget) = (*watch, *work_budget);
        let n_succ = succ_ptr.len() - 1;
        loop {
            let t = [
                starts.peek().copied(),
                ends.peek(),
                finishes.peek().copied(),
            ]
            .iter()
            .flatten()
            .map(|e| e.t())
            .fold(f64::INFINITY, f64::min);
            if t == f64::INFINITY || (watch.is_some() && *watching == 0) {
                return Ok(Pause::Done);
            }
            if t >= horizon {
                return Ok(Pause::At(t));
            }
            sim.out.events += 1;
            if (sim.cancel)() {
                return Err(CoreError::Interrupted);
            }
            touched.clear();
            // 1. Transfers ending now (within rounding) end together.
            let window = t * (1.0 + 1e-12) + 1e-15;
            while let Some(top) = ends.peek() {
                if top.t() > window {
                    break;
                }
                ends.pop();
                let f = top.id() as usize;
                debug_assert_eq!(sim.fl[f].state, State::Active);
                sim.settle(f, t);
                sim.deactivate(f, t, touched);
                let done = t + latency(&sim.demand, &sim.routes, f);
                finishes.push(Ev::new(done, f as u32, 0));
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
                        *watching -= 1;
                    }
                    if f >= n_succ {
                        continue; // added by `extend`: no successors
                    }
                    for &j in &succ_idx[succ_ptr[f]..succ_ptr[f + 1]] {
                        let j = j as usize;
                        sim.ready_s[j] = sim.ready_s[j].max(top.t());
                        sim.waiting_preds[j] -= 1;
                        if sim.waiting_preds[j] == 0 {
                            sim.fl[j].state = State::Scheduled;
                            let s =
                                sim.demand.release_s[j].max(sim.ready_s[j]) + sim.demand.delay_s[j];
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
                    if sim.demand.size_bytes[f] == 0.0 || sim.routes.ptr[f] == sim.routes.ptr[f + 1]
                    {
                        sim.fl[f].state = State::Propagating;
                        sim.out.transfer_end_s[f] = top.t();
                        let done = top.t() + latency(&sim.demand, &sim.routes, f);
                        finishes.push(Ev::new(done, f as u32, 0));
                    } else {
                        sim.activate(f, t, touched);
                    }
                }
                if !progressed {
                    break;
                }
            }
            if !touched.is_empty() {
                // Repeated links are fine: the re-rating marks each one it reaches.
                let tl = std::mem::take(touched);
                sim.rerate(t, &tl, ends);
                if sim.cancelled {
                    return Err(CoreError::Interrupted);
                }
                *touched = tl;
                // Counted in re-rated flows, the engine's work: the same for a seed on any
                // machine.
                if work_budget > 0 && sim.out.flows_rerated > work_budget {
                    return Err(CoreError::WorkBudget);
                }
            }
            *last_t = t;
        }
    }

    /// The flows (with any added), their routes and what happened to them.
    pub(crate) fn finish(self) -> (Cow<'a, Demand>, Cow<'a, RoutedFlows>, SimOutput) {
        let Run {
            mut sim, last_t, ..
        } = self;
        let n = sim.demand.len();
        // Bytes each flow sent (all of it, unless the run stopped early), spread over its links.
        for f in 0..n {
            let sent = match sim.fl[f].state {
                State::Done | State::Propagating => sim.demand.size_bytes[f],
                State::Active => {
                    sim.settle(f, last_t);
                    sim.demand.size_bytes[f] - sim.fl[f].remaining
                }
                _ => 0.0,
            };
            if sent > 0.0 {
                let r = &sim.routes;
                for e in r.ptr[f]..r.ptr[f + 1] {
                    sim.out.link_bytes[r.links[e] as usize] += sent * r.fractions[e];
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
        (sim.demand, sim.routes, out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// Flows between the given pairs (ECMP-routed), with the given predecessors.
    fn flowset(
        net: &Arc<Network>,
        pairs: &[(u32, u32, f64)],
        deps: &[Vec<u32>],
    ) -> (Demand, RoutedFlows) {
        let router = Router::new(net.clone(), Metric::Hops);
        let n = pairs.len();
        let mut dep_ptr = vec![0];
        let mut dep_idx = vec![];
        for i in 0..n {
            if let Some(d) = deps.get(i) {
                dep_idx.extend(d);
            }
            dep_ptr.push(dep_idx.len());
        }
        let demand = Demand {
            src: pairs.iter().map(|p| p.0).collect(),
            dst: pairs.iter().map(|p| p.1).collect(),
            via: vec![NO_VIA; n],
            flow_key: (0..n as u64).collect(),
            size_bytes: pairs.iter().map(|p| p.2).collect(),
            release_s: vec![0.0; n],
            delay_s: vec![0.0; n],
            dep_ptr,
            dep_idx,
            latency_scale: vec![],
        };
        let routes = route_flows(&router, &demand, Policy::Ecmp, 0, &|| false).unwrap();
        (demand, routes)
    }

    fn sim(net: &Network, flows: &(Demand, RoutedFlows)) -> Result<SimOutput> {
        simulate(net, &flows.0, &flows.1, &never)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-9)
    }

    #[test]
    fn single_flow_time_is_size_over_bottleneck_plus_latency() {
        let net = line(1e9, 5e8);
        let out = sim(&net, &flowset(&net, &[(0, 2, 1e6)], &[])).unwrap();
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
        let out = sim(&net, &flowset(&net, &[(0, 2, 1e6), (0, 2, 3e6)], &[])).unwrap();
        assert!(close(out.transfer_end_s[0], 2e-3));
        assert!(close(out.transfer_end_s[1], 4e-3));
        assert!(close(out.finish_s[1], 4e-3 + 2e-6));
        assert!(close(out.min_rate_bps[1], 5e8) && close(out.max_rate_bps[1], 1e9));
    }

    #[test]
    fn dependencies_and_delays_chain() {
        let net = line(1e9, 1e9);
        let mut fs = flowset(&net, &[(0, 2, 1e6), (2, 0, 1e6)], &[vec![], vec![0]]);
        fs.0.delay_s[1] = 5e-6;
        fs.0.latency_scale = vec![1.0, 3.0];
        let out = sim(&net, &fs).unwrap();
        let first = 1e-3 + 2e-6;
        assert!(close(out.start_s[1], first + 5e-6));
        assert!(close(out.finish_s[1], 2.0 * first + 5e-6 + 4e-6));
    }

    #[test]
    fn cycles_are_rejected() {
        let net = line(1e9, 1e9);
        let fs = flowset(&net, &[(0, 2, 1.0), (2, 0, 1.0)], &[vec![1], vec![0]]);
        assert!(matches!(
            sim(&net, &fs),
            Err(CoreError::DependencyCycle { .. })
        ));
        // flow 0 only waits on the 1 <-> 2 cycle: the error must name a flow on it
        let fs = flowset(
            &net,
            &[(0, 2, 1.0), (2, 0, 1.0), (0, 2, 1.0)],
            &[vec![1], vec![2], vec![1]],
        );
        match sim(&net, &fs) {
            Err(CoreError::DependencyCycle { flow }) => assert!(flow == 1 || flow == 2),
            other => panic!("expected a cycle error, got {other:?}"),
        }
    }

    #[test]
    fn zero_byte_and_local_flows_take_only_latency() {
        let net = line(1e9, 1e9);
        let out = sim(&net, &flowset(&net, &[(0, 2, 0.0), (0, 0, 1e9)], &[])).unwrap();
        assert!(close(out.finish_s[0], 2e-6));
        assert_eq!(out.finish_s[1], 0.0);
    }

    #[test]
    fn max_min_classic_three_flows() {
        // Links A (0->1, cap 1) and B (1->2, cap 2): flow x on A+B, y on A, z on B.
        // Max-min: x = y = 0.5 (A saturates), z = 1.5.
        let net = line(1.0, 2.0);
        let fs = flowset(&net, &[(0, 2, 10.0), (0, 1, 10.0), (1, 2, 100.0)], &[]);
        let out = sim(&net, &fs).unwrap();
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
            simulate(&net, &fs.0, &fs.1, &|| true),
            Err(CoreError::Interrupted)
        ));
    }

    /// A two-tier leaf-spine with uneven capacities: `leaves` x `hosts` hosts, `spines` spines.
    pub(crate) fn leaf_spine(leaves: u32, spines: u32, hosts: u32) -> Arc<Network> {
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

    /// `n` flows (source, destination, bytes) between distinct nodes among the `hosts` first,
    /// 1 to 1,000 kB each.
    fn random_pairs(rng: &mut crate::rng::Rng, n: usize, hosts: u64) -> Vec<(u32, u32, f64)> {
        (0..n)
            .map(|_| {
                let a = rng.below(hosts) as u32;
                let b = ((a as u64 + 1 + rng.below(hosts - 1)) % hosts) as u32;
                (a, b, 1e3 * (1.0 + rng.below(1000) as f64))
            })
            .collect()
    }

    /// Random flows (with dependencies and staggered releases) between the `hosts` first
    /// nodes: the incremental engine must give the finish times of full recomputation, with
    /// its usual retries of a search found too narrow and with none (a search found too narrow
    /// goes through everything at once). Returns how often the incremental runs widened a
    /// search (with retries, without) and merged groups.
    fn check_against_full(net: &Arc<Network>, hosts: u64, seed: u64) -> (u64, u64, u64) {
        use crate::rng::Rng;
        let mut rng = Rng::new(seed);
        let n = 20 + rng.below(120) as usize;
        let pairs = random_pairs(&mut rng, n, hosts);
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
            fs.0.release_s[i] = if rng.below(2) == 0 {
                0.0
            } else {
                1e-6 * rng.below(500) as f64
            };
        }
        let inc = run(net, &fs.0, &fs.1, Mode::default(), &never).unwrap();
        let how = Mode {
            narrow_retries: 0,
            ..Mode::default()
        };
        let at_once = run(net, &fs.0, &fs.1, how, &never).unwrap();
        let full = run(
            net,
            &fs.0,
            &fs.1,
            Mode {
                incremental: false,
                ..Mode::default()
            },
            &never,
        )
        .unwrap();
        assert_eq!((full.searches_widened, full.groups_merged), (0, 0));
        for inc in [&inc, &at_once] {
            for f in 0..n {
                assert!(
                    close(inc.finish_s[f], full.finish_s[f])
                        || (inc.finish_s[f] - full.finish_s[f]).abs() <= 1e-9 * full.finish_s[f],
                    "seed {seed} flow {f}: {} vs {}",
                    inc.finish_s[f],
                    full.finish_s[f]
                );
            }
        }
        (
            inc.searches_widened,
            at_once.searches_widened,
            inc.groups_merged,
        )
    }

    /// The load each link keeps between re-ratings (what a stopped-at link's frozen load is
    /// worked out from) is the sum over its flows at their rates, within rounding, at every
    /// pause of a busy run; no flow is left without a rate.
    #[test]
    fn kept_link_loads_match_their_flows() {
        use crate::rng::Rng;
        let net = leaf_spine(4, 3, 4);
        for seed in 0..10u64 {
            let mut rng = Rng::new(5 + seed);
            let n = 200 + rng.below(200) as usize;
            let pairs = random_pairs(&mut rng, n, 16);
            let mut fs = flowset(&net, &pairs, &[]);
            let mut t = 0.0;
            for i in 0..n {
                t += 1e-7 * rng.below(20) as f64;
                fs.0.release_s[i] = t;
            }
            let mut run = Run::new(
                &net,
                Cow::Borrowed(&fs.0),
                Cow::Borrowed(&fs.1),
                Mode::default(),
                &never,
            )
            .unwrap();
            let mut horizon = 0.0;
            let mut checked = 0;
            while let Pause::At(_) = run.advance(horizon).unwrap() {
                horizon += 2e-7;
                for (l, y) in run.sim.ls.iter().enumerate() {
                    let sum: f64 = run.sim.slots[l].iter().map(|s| s.frac * s.rate).sum();
                    assert_eq!(y.n_new, 0, "seed {seed} link {l}");
                    assert!(
                        (y.load - sum).abs() <= 1e-9 * y.cap,
                        "seed {seed} link {l}: kept {} vs {sum}",
                        y.load
                    );
                    checked += !run.sim.slots[l].is_empty() as usize;
                }
            }
            assert!(
                checked > 100,
                "seed {seed}: only {checked} busy links checked"
            );
        }
    }

    /// A run paused at a horizon and given the flows released from it on ends exactly as a run
    /// that had them from the start (the Monte Carlo's arrival windows rely on it).
    #[test]
    fn pausing_and_adding_later_flows_changes_nothing() {
        use crate::rng::Rng;
        let net = leaf_spine(4, 3, 4);
        for seed in 0..20u64 {
            let mut rng = Rng::new(77 + seed);
            let n = 40 + rng.below(80) as usize;
            let pairs = random_pairs(&mut rng, n, 16);
            let mut all = flowset(&net, &pairs, &[]);
            let mut t = 0.0;
            for i in 0..n {
                t += 1e-6 * rng.below(20) as f64;
                all.0.release_s[i] = t;
            }
            let full = sim(&net, &all).unwrap();
            // The first `k` flows, paused at the horizon, then the rest (released from it on).
            let horizon = all.0.release_s[n / 2];
            let k = all.0.release_s.partition_point(|&r| r < horizon);
            let part = |d: &Demand, r: &RoutedFlows, a: usize, b: usize| {
                let demand = Demand {
                    src: d.src[a..b].to_vec(),
                    dst: d.dst[a..b].to_vec(),
                    via: d.via[a..b].to_vec(),
                    flow_key: d.flow_key[a..b].to_vec(),
                    size_bytes: d.size_bytes[a..b].to_vec(),
                    release_s: d.release_s[a..b].to_vec(),
                    delay_s: d.delay_s[a..b].to_vec(),
                    dep_ptr: vec![0; b - a + 1],
                    dep_idx: vec![],
                    latency_scale: vec![],
                };
                let routes = RoutedFlows {
                    ptr: r.ptr[a..=b].iter().map(|&p| p - r.ptr[a]).collect(),
                    links: r.links[r.ptr[a]..r.ptr[b]].to_vec(),
                    fractions: r.fractions[r.ptr[a]..r.ptr[b]].to_vec(),
                    latency_s: r.latency_s[a..b].to_vec(),
                };
                (demand, routes)
            };
            let (d0, r0) = part(&all.0, &all.1, 0, k);
            let (d1, r1) = part(&all.0, &all.1, k, n);
            let how = Mode::default();
            let mut run = Run::new(&net, Cow::Owned(d0), Cow::Owned(r0), how, &never).unwrap();
            assert!(matches!(run.advance(horizon).unwrap(), Pause::At(t) if t >= horizon));
            run.extend(&net, &d1, &r1).unwrap();
            assert_eq!(run.advance(f64::INFINITY).unwrap(), Pause::Done);
            let (demand, routes, out) = run.finish();
            assert_eq!(demand.release_s, all.0.release_s);
            assert_eq!(routes.links, all.1.links);
            assert_eq!(out.finish_s, full.finish_s, "seed {seed}");
            assert_eq!(out.min_rate_bps, full.min_rate_bps);
            assert_eq!(out.link_bytes, full.link_bytes);
            assert_eq!(out.flows_rerated, full.flows_rerated);
        }
    }

    #[test]
    fn incremental_rerating_matches_full_recomputation() {
        let net = leaf_spine(4, 3, 4);
        let (mut widened, mut widened_at_once, mut merged) = (0, 0, 0);
        for seed in 0..40 {
            let (w, w0, m) = check_against_full(&net, 16, seed);
            (widened, widened_at_once, merged) = (widened + w, widened_at_once + w0, merged + m);
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
            let (w, w0, m) = check_against_full(&net, 16, seed);
            (widened, widened_at_once, merged) = (widened + w, widened_at_once + w0, merged + m);
        }
        assert!(widened > 0, "the widening path never ran");
        assert!(
            widened_at_once > 0,
            "no narrow search ever gave way to a full one"
        );
        assert!(merged > 0, "no two searches ever met");
    }
}
