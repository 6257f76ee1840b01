//! Incremental max-min re-rating after an event batch: the threshold below which nothing
//! changes, the search for the connected groups of flows to re-rate (stopping at links with
//! spare capacity, merging searches that meet), progressive filling of each group, and
//! publishing the new rates. See DEVELOPERS.md, "Flow engine".

use super::ends::EndQueue;
#[cfg(test)]
use super::event::State;
use super::levels::Levels;
use super::{FlowState, Sim};

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

/// How many times a batch's search goes again through the links found too narrow, before it
/// goes through every link.
pub(super) const MAX_NARROW_RETRIES: u32 = 3;

/// How far a search goes (see [`Sim::reach`]). Both give the exact max-min rates: the
/// narrower one is cheaper, but the filling may find it too narrow and ask for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Search {
    /// From the links the batch touched, through the flows each link limits (those at its
    /// top rate), stopping at links with spare capacity.
    Bottlenecks,
    /// Through every flow at or above the threshold on every link it reaches.
    Everything,
}

/// [`Sim::next_stamp`] on the fields it uses (so that a caller can hold others meanwhile).
fn fresh_stamp(stamp: &mut u32, ls: &mut [LinkState], fl: &mut [FlowState], need: usize) -> u32 {
    if *stamp as u64 + need as u64 + 2 >= u32::MAX as u64 {
        ls.iter_mut().for_each(|x| {
            x.mark = 0;
            x.root = 0;
            x.lazy = 0;
            x.full = 0;
        });
        fl.iter_mut().for_each(|x| x.mark = 0);
        *stamp = 0;
    }
    *stamp += 1;
    *stamp
}

#[derive(Default)]
pub(super) struct Scratch {
    links: Vec<u32>,
    others: Vec<(f64, f64)>,
    comp_links: Vec<u32>,
    comp_flows: Vec<u32>,
    stack: Vec<u32>,
    comps: Vec<Group>,
    lazy_links: Vec<u32>,
    met: Vec<u32>,
    met_links: Vec<u32>,
    // Links a search stopped at, or took the top flows of, that the filling found too narrow.
    narrow: Vec<u32>,
    old_rate: Vec<f64>,
    levels: Levels,
}

/// What a re-rating tracks per link.
#[derive(Clone, Debug, Default)]
pub(super) struct LinkState {
    pub(super) cap: f64,
    // Between re-ratings: the load of the flows on the link with a rate (sum of fraction x
    // rate), kept as rates change, and how many new flows on it have none yet (+inf).
    pub(super) load: f64,
    pub(super) n_new: u32,
    frozen_load: f64,
    unfrozen_w: f64,
    added_w: f64,
    // During a search: the load at their current rates of the flows it re-rates on the link.
    acc_load: f64,
    unfrozen_n: u32,
    // A stopped-at link set up without listing its re-rated flows: the filling finds them
    // (and `top_other`, NaN until then) by scanning the link, in the rare case it needs them.
    scan: bool,
    // The re-rated flows on the link: u_pos[u_start..u_end].
    u_start: u32,
    u_end: u32,
    mark: u32,
    // Stamps: touched by this batch; the search stopped here (then `top_other` is the highest
    // rate among the flows on it that it did not re-rate).
    root: u32,
    lazy: u32,
    // Stamp: a search that proved too narrow here goes through this link in full.
    full: u32,
    top_other: f64,
}

impl LinkState {
    pub(super) fn new(cap: f64) -> Self {
        LinkState {
            cap,
            ..LinkState::default()
        }
    }

    /// Start counting the flows a search re-rates here.
    fn reset_acc(&mut self) {
        self.unfrozen_w = 0.0;
        self.unfrozen_n = 0;
        self.acc_load = 0.0;
    }
}

/// Freeze flow `f` at `level` unless it is frozen already: its links carry it as frozen load.
/// Returns how many it froze (0 or 1).
#[inline(always)]
fn freeze(
    f: u32,
    level: f64,
    fl: &mut [FlowState],
    ls: &mut [LinkState],
    route_links: &[u32],
    route_fracs: &[f64],
) -> usize {
    let x = &mut fl[f as usize];
    if x.frozen {
        return 0;
    }
    x.frozen = true;
    x.rate = level;
    let (a, b) = (x.first as usize, x.last as usize);
    for (&l2, &frac) in route_links[a..b].iter().zip(&route_fracs[a..b]) {
        let y2 = &mut ls[l2 as usize];
        y2.frozen_load += frac * level;
        y2.unfrozen_w -= frac;
        y2.unfrozen_n -= 1;
    }
    1
}

/// `x.max(floor)` for a `floor` that is not NaN, in one instruction where `f64::max` takes
/// several to return the other argument of a NaN: the same value for every `x` but -0.0 (which
/// `max` may return for `max(-0.0, 0.0)`, and no level or capacity difference here is).
#[inline(always)]
fn floored(x: f64, floor: f64) -> f64 {
    if x > floor {
        x
    } else {
        floor
    }
}

/// A flow joins search `group` (of batch `event`): each of its links counts its weight and
/// current load as re-rated; a link new to the search goes on the `stack`, and one where an
/// earlier group of the batch stopped is noted in `met` (that group's stamp) and `met_links`.
/// (The flow's mark test and push stay at the two callers: folded in here they cost 2.4 %
/// more instructions on the example's heaviest point, callgrind.)
#[inline(always)]
fn join_links(
    x: &FlowState,
    (route_links, route_fracs): (&[u32], &[f64]),
    (group, event): (u32, u32),
    ls: &mut [LinkState],
    stack: &mut Vec<u32>,
    (met, met_links): (&mut Vec<u32>, &mut Vec<u32>),
) {
    let (a, b) = (x.first as usize, x.last as usize);
    for (&l2, &frac) in route_links[a..b].iter().zip(&route_fracs[a..b]) {
        let y2 = &mut ls[l2 as usize];
        if y2.mark != group {
            if y2.mark > event {
                // An earlier group stopped at this link: fill them together.
                if !met.contains(&y2.mark) {
                    met.push(y2.mark);
                }
                met_links.push(l2);
                continue;
            }
            y2.mark = group;
            y2.reset_acc();
            stack.push(l2);
        }
        y2.unfrozen_w += frac;
        y2.unfrozen_n += 1;
        y2.acc_load += frac * x.rate;
    }
}

/// Highest rate on link `slots` among flows outside the group of stamps `lo..=hi`.
fn top_other_rate(slots: &[super::Slot], fl: &[FlowState], lo: u32, hi: u32) -> f64 {
    slots
        .iter()
        .filter(|s| !(lo..=hi).contains(&fl[s.flow as usize].mark))
        .fold(0.0f64, |m, s| m.max(s.rate))
}

impl Sim<'_> {
    /// New flows that have every one of their links to themselves (the common case when a ring
    /// step follows the previous one on an idle path) take their tightest link's capacity
    /// without a search, and leave the batch: they cannot change anyone else's rate. Their
    /// links are marked so that the search below skips them.
    fn start_isolated(&mut self, t: f64, stamp: u32, ends: &mut EndQueue) {
        let mut added = std::mem::take(&mut self.added);
        let (fl, ls, slots) = (&mut self.fl[..], &mut self.ls[..], &mut self.slots[..]);
        let entry_pos = &self.entry_pos[..];
        let routes = &self.routes;
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
                ls[l].n_new -= 1;
                ls[l].load += frac * level;
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
                let l = self.routes.links[e] as usize;
                if self.ls[l].added_w == 0.0 {
                    links.push(l as u32);
                }
                self.ls[l].added_w += self.routes.fractions[e];
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
        fresh_stamp(&mut self.stamp, &mut self.ls, &mut self.fl, need)
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
    /// The search first goes only through the flows each link limits, and stops at links with
    /// spare capacity ([`Search::Bottlenecks`], see [`Sim::reach`]). Where the filling finds
    /// that too narrow, it runs again going through those links in full, up to
    /// [`MAX_NARROW_RETRIES`] times (`Mode::narrow_retries`); then through everything above
    /// the threshold.
    pub(super) fn rerate(&mut self, t: f64, touched: &[u32], ends: &mut EndQueue) {
        // One stamp per group of each search, and one per search (below), all in this batch.
        let searches = self.narrow_retries as usize + 2;
        let event = self.next_stamp(searches * (touched.len() + 1));
        if self.incremental {
            self.start_isolated(t, event, ends);
        }
        let mut threshold = if self.incremental {
            // Flows tied with an ended one (rounding apart) are at the threshold too.
            self.removed_min_rate * (1.0 - 1e-9)
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
        let mut search = if self.incremental {
            Search::Bottlenecks
        } else {
            Search::Everything
        };
        let mut event = event;
        let mut retries = 0;
        self.scratch.narrow.clear();
        loop {
            self.reach(
                threshold,
                touched,
                event,
                search,
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
            if ok || self.cancelled || search == Search::Everything {
                break;
            }
            // The search was too narrow somewhere: put back the rates filled so far and
            // search wider.
            self.out.searches_widened += 1;
            let filled = self.scratch.old_rate.len();
            for (&f, &r) in comp_flows[..filled].iter().zip(&self.scratch.old_rate) {
                self.fl[f as usize].rate = r;
            }
            self.scratch.old_rate.clear();
            // Above every mark so far (the first stamp reserved enough for no reset in between).
            event = self.next_stamp(touched.len() + 1);
            for &l in touched {
                self.ls[l as usize].root = event;
            }
            // Go through the links found too narrow in full, a few times; then through all.
            retries += 1;
            if retries > self.narrow_retries {
                search = Search::Everything;
            }
            for &l in &self.scratch.narrow {
                self.ls[l as usize].full = event;
            }
        }
        if !self.cancelled && !comp_flows.is_empty() {
            self.publish(t, &comp_links, &comp_flows, ends);
        }
        #[cfg(test)]
        if !self.cancelled {
            self.check_max_min(search);
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
    /// With [`Search::Bottlenecks`], the search does not go on through a link (other than a
    /// touched one) that was not saturated, and through any other link without new flows (a
    /// touched one too) it goes on only through the flows at the link's top rate, the ones it
    /// limits: each other flow is limited by another link, where it is the fastest. The flows
    /// on such a "stopped-at" link that the search does not reach by another link keep their
    /// rates, as long as the link does not end up limiting a re-rated flow below one of them
    /// (the filling checks, see [`Sim::fill`], and the batch searches again, through that
    /// link in full: see [`Sim::rerate`]). Otherwise they are still limited where they were,
    /// by a link whose flows all keep their rates. Two searches can only meet at a stopped-at
    /// link (a link searched through in full takes every flow on it above the threshold);
    /// their groups are then filled as one.
    #[allow(clippy::too_many_arguments)]
    fn reach(
        &mut self,
        threshold: f64,
        touched: &[u32],
        event: u32,
        search: Search,
        comp_links: &mut Vec<u32>,
        comp_flows: &mut Vec<u32>,
        comps: &mut Vec<Group>,
    ) {
        let mut stack = std::mem::take(&mut self.scratch.stack);
        let mut lazy_links = std::mem::take(&mut self.scratch.lazy_links);
        let mut met = std::mem::take(&mut self.scratch.met);
        let mut met_links = std::mem::take(&mut self.scratch.met_links);
        let narrow = search == Search::Bottlenecks;
        let route_links = &self.routes.links[..];
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
            let group = fresh_stamp(&mut self.stamp, &mut self.ls, &mut self.fl, 0);
            // Plain slices, so the compiler keeps them in registers across the stores below.
            let (slots, fl, ls, u_pos) = (&self.slots, &mut self.fl, &mut self.ls, &mut self.u_pos);
            let route_fracs = &self.routes.fractions[..];
            ls[root as usize].mark = group;
            ls[root as usize].reset_acc();
            stack.push(root);
            let mut g = Group {
                links: (comp_links.len(), 0),
                flows: (comp_flows.len(), 0),
                lazy: (lazy_links.len(), 0),
                lo: group,
                hi: group,
            };
            met.clear();
            met_links.clear();
            while let Some(l) = stack.pop() {
                comp_links.push(l);
                let l = l as usize;
                let y = &mut ls[l];
                // A link with no new flow, not found too narrow by an earlier try of this batch.
                let settled = narrow && y.n_new == 0 && y.full != event;
                if settled && y.root != event && y.load < y.cap * (1.0 - 1e-9) {
                    // Spare capacity: nobody's bottleneck. Settled once this group's search
                    // is over.
                    y.lazy = group;
                    lazy_links.push(l as u32);
                    continue;
                }
                if settled {
                    // Only the flows at the link's top rate (those it limits; after an ended
                    // flow left a touched link, those it limited) are re-rated from here. The
                    // others are limited by another link and keep their rates unless the
                    // search reaches them there. Set up as a stopped-at link once the search
                    // is over.
                    y.lazy = group;
                    lazy_links.push(l as u32);
                    // Its top rate, and its load read afresh (the kept load sheds its rounding
                    // before it sets up the link).
                    let (mut top, mut load) = (0.0f64, 0.0);
                    for s in &slots[l] {
                        top = top.max(s.rate);
                        load += s.frac * s.rate;
                    }
                    y.load = load;
                    let cut = threshold.max(top * (1.0 - 1e-9));
                    for slot in &slots[l] {
                        if slot.rate < cut {
                            continue;
                        }
                        let x = &mut fl[slot.flow as usize];
                        if x.mark == group {
                            continue;
                        }
                        x.mark = group;
                        comp_flows.push(slot.flow);
                        let (route, at) = ((route_links, route_fracs), (group, event));
                        join_links(x, route, at, ls, &mut stack, (&mut met, &mut met_links));
                    }
                    continue;
                }
                // One pass over the link: flows below the threshold keep their rates and make
                // up its frozen load; the others (new flows read +inf) are re-rated (their
                // weight and count add up on the link as they join the group, below).
                let (mut frozen_load, mut load) = (0.0, 0.0);
                let u_start = u_pos.len();
                for (k, slot) in slots[l].iter().enumerate() {
                    load += slot.frac * slot.rate;
                    if slot.rate < threshold {
                        frozen_load += slot.frac * slot.rate;
                        continue;
                    }
                    u_pos.push(k as u32);
                    let x = &mut fl[slot.flow as usize];
                    if x.mark == group {
                        continue;
                    }
                    x.mark = group;
                    comp_flows.push(slot.flow);
                    let (route, at) = ((route_links, route_fracs), (group, event));
                    join_links(x, route, at, ls, &mut stack, (&mut met, &mut met_links));
                }
                let y = &mut ls[l];
                y.u_start = u_start as u32;
                y.u_end = u_pos.len() as u32;
                y.frozen_load = frozen_load;
                y.scan = false;
                if y.n_new == 0 {
                    // Read anyway: the kept load sheds whatever rounding it gathered.
                    y.load = load;
                }
            }
            if comp_flows.len() == g.flows.0 {
                // Nothing to re-rate: the root's other flows keep their rates.
                comp_links.truncate(g.links.0);
                continue;
            }
            // The links to set up as stopped-at: this group's own, and when it met earlier
            // groups, the links of theirs where it met them. Their other stopped-at links
            // carry no flow of this group (it would have reached them), so their set-up holds.
            let own_lazy = g.lazy.0;
            let merged = !met.is_empty();
            if merged {
                merge_met(&met, &mut g, comps, comp_links, comp_flows, &mut lazy_links);
                self.out.groups_merged += 1;
                met_links.sort_unstable();
                met_links.dedup();
                met_links.retain(|&l| (g.lo..=g.hi).contains(&ls[l as usize].lazy));
            }
            // The links this group stopped at: the flows it reached by other links are
            // re-rated, the others count as frozen load at their rates. Its own carry no flow
            // of another group, so their frozen load is what the link carries less what the
            // group's flows on it carried.
            for &l in &lazy_links[own_lazy..] {
                let y = &mut ls[l as usize];
                y.frozen_load = (y.load - y.acc_load).max(0.0);
                y.scan = true;
                y.top_other = f64::NAN;
            }
            // Where it met earlier groups, list them all.
            for &l in if merged { &met_links[..] } else { &[] } {
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
                y.scan = false;
            }
            (g.links.1, g.flows.1, g.lazy.1) =
                (comp_links.len(), comp_flows.len(), lazy_links.len());
            comps.push(g);
        }
        self.scratch.stack = stack;
        self.scratch.lazy_links = lazy_links;
        self.scratch.met = met;
        self.scratch.met_links = met_links;
    }

    /// Progressive filling of group `g`'s flows (the others on its links keep their rates).
    /// False if a link its search stopped at (`LinkState::lazy` in `g.lo..=g.hi`) froze a flow
    /// below the rate of a flow the search left alone there: that one would have had to give way.
    fn fill(&mut self, t: f64, g: &Group, comp_links: &[u32], comp_flows: &[u32]) -> bool {
        self.out.flows_rerated += comp_flows.len() as u64;
        let mut old_rate = std::mem::take(&mut self.scratch.old_rate);
        let mut levels = std::mem::take(&mut self.scratch.levels);
        // Plain slices, so the compiler keeps them in registers across the stores below.
        let (fl, ls, slots) = (&mut self.fl[..], &mut self.ls[..], &self.slots[..]);
        let u_pos = &self.u_pos[..];
        let routes = &self.routes;
        let (route_links, route_fracs) = (&routes.links[..], &routes.fractions[..]);
        let level_of = |y: &LinkState| {
            floored(y.cap - y.frozen_load, 0.0) / floored(y.unfrozen_w, f64::MIN_POSITIVE)
        };
        // Where a stopped-at link limits re-rated flows to `level`, no flow it kept may be faster.
        let (lo, hi) = (g.lo, g.hi);
        let too_narrow = |y: &mut LinkState, on_link: &[super::Slot], fl: &[FlowState], level| {
            if !(lo..=hi).contains(&y.lazy) {
                return false;
            }
            if y.top_other.is_nan() {
                y.top_other = top_other_rate(on_link, fl, lo, hi);
            }
            y.top_other > level * (1.0 + 1e-9)
        };
        let mut ok = true;
        for &f in comp_flows {
            let x = &mut fl[f as usize];
            old_rate.push(x.rate);
            // Settle the bytes sent at the old rate.
            let dt = t - x.settled_at;
            if dt > 0.0 && x.rate > 0.0 {
                // `min` without NaN handling: rate x dt is positive or +inf, never NaN.
                let sent = x.rate * dt;
                x.remaining -= if sent < x.remaining {
                    sent
                } else {
                    x.remaining
                };
            }
            x.settled_at = t;
            x.frozen = false;
        }
        if let [f] = *comp_flows {
            // One flow to re-rate: it takes the tightest of its links.
            let (mut level, mut at) = (f64::INFINITY, usize::MAX);
            for &l in comp_links {
                let y = &ls[l as usize];
                if y.unfrozen_n > 0 && level_of(y) < level {
                    (level, at) = (level_of(y), l as usize);
                }
            }
            if at != usize::MAX && too_narrow(&mut ls[at], &slots[at], fl, level) {
                self.scratch.narrow.push(at as u32);
                ok = false;
            }
            let x = &mut fl[f as usize];
            x.frozen = true;
            x.rate = level;
            let (a, b) = (x.first as usize, x.last as usize);
            for (&l, &frac) in route_links[a..b].iter().zip(&route_fracs[a..b]) {
                ls[l as usize].frozen_load += frac * level;
            }
        } else {
            // Progressive filling with a lazy queue of link saturation levels (a sorted list,
            // and a heap for the links queued again: see `levels.rs`).
            levels.clear();
            for &l in comp_links {
                let y = &ls[l as usize];
                if y.unfrozen_n > 0 {
                    levels.push(level_of(y), l);
                }
            }
            levels.build();
            let mut rounds = 0u64;
            // A link's level only rises as flows freeze, so a queued level may be stale (too
            // low): recompute it when it comes up and queue it again if it rose.
            let mut level_now = 0.0f64;
            let mut unfrozen = comp_flows.len();
            while let Some((queued, l)) = levels.top(|l| ls[l as usize].unfrozen_n > 0) {
                let y = &mut ls[l as usize];
                if y.unfrozen_n == 0 {
                    levels.pop();
                    continue;
                }
                let current = floored(level_of(y), level_now);
                if current > queued {
                    levels.raise_top(current, l);
                    continue;
                }
                levels.pop();
                let on_link = &slots[l as usize];
                let level = floored(queued, level_now);
                if y.scan {
                    // A stopped-at link: its re-rated flows are those of the group, and the
                    // same pass finds the fastest of the others (none may be faster).
                    let mut top_other = 0.0f64;
                    for s in on_link {
                        if (lo..=hi).contains(&fl[s.flow as usize].mark) {
                            unfrozen -= freeze(s.flow, level, fl, ls, route_links, route_fracs);
                        } else {
                            top_other = top_other.max(s.rate);
                        }
                    }
                    let y = &mut ls[l as usize];
                    y.top_other = top_other;
                    if too_narrow(y, on_link, fl, level) {
                        self.scratch.narrow.push(l);
                        ok = false;
                        break;
                    }
                } else {
                    if too_narrow(y, on_link, fl, level) {
                        self.scratch.narrow.push(l);
                        ok = false;
                        break;
                    }
                    let (u0, u1) = (y.u_start as usize, y.u_end as usize);
                    for &k in &u_pos[u0..u1] {
                        let f = on_link[k as usize].flow;
                        unfrozen -= freeze(f, level, fl, ls, route_links, route_fracs);
                    }
                }
                level_now = level;
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
        self.scratch.levels = levels;
        ok
    }

    /// Make the filled rates current: on the links, in the peak utilisations and as new
    /// projected transfer ends for the flows whose rate changed.
    fn publish(&mut self, t: f64, comp_links: &[u32], comp_flows: &[u32], ends: &mut EndQueue) {
        let (fl, ls, slots) = (&mut self.fl[..], &mut self.ls[..], &mut self.slots[..]);
        let entry_pos = &self.entry_pos[..];
        let (route_links, route_fracs) = (&self.routes.links[..], &self.routes.fractions[..]);
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
            // Same rate: its links already show it (a new flow's read +inf), and the queued
            // projected end stays valid.
            if r == old && slots[route_links[a] as usize][entry_pos[a] as usize].rate == r {
                continue;
            }
            for ((&l, &pos), &frac) in route_links[a..b]
                .iter()
                .zip(&entry_pos[a..b])
                .zip(&route_fracs[a..b])
            {
                let slot = &mut slots[l as usize][pos as usize];
                let y = &mut ls[l as usize];
                if slot.rate == f64::INFINITY {
                    y.n_new -= 1;
                    y.load += frac * r;
                } else {
                    y.load += frac * (r - slot.rate);
                }
                slot.rate = r;
            }
            if r != old {
                x.project_end(f, t, ends);
            }
        }
    }
}

#[cfg(test)]
impl Sim<'_> {
    /// After every re-rating of a test run: the rates are max-min fair. No link carries more
    /// than its capacity, and every running flow crosses a saturated link where no flow is
    /// faster (its bottleneck), within rounding.
    fn check_max_min(&self, search: Search) {
        let (mut load, mut top) = (vec![0.0; self.ls.len()], vec![0.0f64; self.ls.len()]);
        for (l, on_link) in self.slots.iter().enumerate() {
            for s in on_link {
                load[l] += s.frac * s.rate;
                top[l] = top[l].max(s.rate);
            }
        }
        for (l, y) in self.ls.iter().enumerate() {
            assert!(
                load[l] <= y.cap * (1.0 + 1e-6),
                "link {l}: {} > {} ({search:?})",
                load[l],
                y.cap
            );
        }
        for (f, x) in self.fl.iter().enumerate() {
            let route = &self.routes.links[x.first as usize..x.last as usize];
            if x.state != State::Active || route.is_empty() {
                continue;
            }
            let limited = |l: &u32| {
                let l = *l as usize;
                load[l] >= self.ls[l].cap * (1.0 - 1e-6) && x.rate >= top[l] * (1.0 - 1e-6)
            };
            assert!(
                route.iter().any(limited),
                "flow {f} at {} has no bottleneck ({search:?})",
                x.rate
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
