//! Monte Carlo tail latency: many independent samples of (job + background) on one fabric, in
//! parallel. Each sample draws its own ECMP hash seed, background arrivals and (optionally) job
//! placement from `splitmix64(seed ^ sample)`, so results do not depend on the thread count.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::background::{sample_distinct, ArrivalStream, Background};
use crate::demand::Demand;
use crate::engine::{self, Pause};
use crate::error::{concat, invalid, reserve_exact, with_capacity, CoreError, Result};
use crate::network::Network;
use crate::parallel;
use crate::rng::{splitmix64, Rng};
use crate::routing::{
    connections, join, route_connections, EcmpPaths, Policy, Route, RoutedFlows, Router, NO_VIA,
};

/// Windows are not extended past this many expected background arrivals per sample. Python
/// refuses a first window above the same figure (`fabricsim.analysis.tail
/// .MAX_BACKGROUND_FLOWS`; `tests/analysis/test_tail.py` holds the two equal).
pub const MAX_BACKGROUND_FLOWS: f64 = 2.0e6;

/// Background flow `k` of a sample (in the order drawn: window by window, each by endpoint
/// then time) hashes on key `BG_KEY + k`, far from the template's keys.
const BG_KEY: u64 = 1 << 62;

#[derive(Clone, Debug)]
pub struct Config {
    pub samples: usize,
    /// Index of the first sample: the run is samples `first_sample .. first_sample + samples`
    /// of the point, each seeded by its own index, so a point run in chunks (for a progress
    /// bar) gives the same samples as one run. `Output::bg_sample` holds these indices.
    pub first_sample: u64,
    /// The template's first `n_job` flows are the job whose completion time is measured; the
    /// rest (e.g. another tenant's repeated collective) are fixed background.
    pub n_job: usize,
    pub seed: u64,
    pub policy: Policy,
    /// Draw a fresh ECMP hash seed per sample (else every sample uses `seed`).
    pub vary_hash: bool,
    /// Random placement: the job's GPUs are re-drawn from this pool in every sample.
    pub placement_pool: Option<Vec<u32>>,
    /// Capacity multiplier per link (static background, protocol what-ifs).
    pub capacity_factor: Option<Vec<f64>>,
    /// Work budget per sample (0: none), counted in the engine's interrupt polls (one per
    /// event, one per few hundred water-filling rounds, one per routed connection): a sample
    /// that exceeds it stops and reports `job_time_s = inf` (a near-saturated point).
    pub event_budget: u64,
    /// Work budget per sample (0: none), counted in re-rated flows (the engine's
    /// `flows_rerated`): a sample past it stops and
    /// reports `job_time_s = inf`. Deterministic, like `event_budget`.
    pub work_budget: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Output {
    /// Per sample: last job flow finish minus first job flow release.
    pub job_time_s: Vec<f64>,
    /// Finished background flows of every sample: size, FCT / ideal FCT, sample index.
    pub bg_size_bytes: Vec<f64>,
    pub bg_slowdown: Vec<f64>,
    pub bg_fct_s: Vec<f64>,
    pub bg_sample: Vec<u32>,
    /// Background flows generated in all samples (finished or not when the job ended).
    pub bg_generated: u64,
    /// Per sample: flows re-rated by the engine (the work that
    /// `Config::work_budget` bounds; empty when the point ran out of a budget).
    pub flows_rerated: Vec<u64>,
    /// Some sample ran out of its event or work budget: the point is saturated, every
    /// sample's `job_time_s` is `inf` and no background flow is reported.
    pub budget_exhausted: bool,
}

struct SampleOut {
    job_time_s: f64,
    size: Vec<f64>,
    slowdown: Vec<f64>,
    fct: Vec<f64>,
    generated: u64,
    rerated: u64,
}

/// At most this many numbers (4 bytes each: 1 MiB per sample running) of pairs' ECMP paths
/// kept per sample: a pair in a leaf-spine holds a few dozen, one across a large 3-tier
/// fat-tree thousands. The background's flows between further pairs are routed hop by hop, as
/// before.
const MAX_CACHED_ENTRIES: usize = 1 << 18;

/// Routes a sample's background flows. Under ECMP, the equal-cost paths between a pair are
/// found once ([`Router::ecmp_paths`]) and walked with each flow's hash: the path
/// [`Router::route`] takes, without looking up every hop's next hops again (a sample of the
/// example at load 0.99 routes ~8,300 flows between 992 pairs; 2 % of its instructions).
struct BackgroundRouter<'a> {
    router: &'a Router,
    policy: Policy,
    paths: std::collections::HashMap<(u32, u32), EcmpPaths>,
    // Numbers held in `paths`, and the most it may hold.
    held: usize,
    max_held: usize,
}

impl<'a> BackgroundRouter<'a> {
    fn new(router: &'a Router, policy: Policy) -> Self {
        BackgroundRouter {
            router,
            policy,
            paths: std::collections::HashMap::new(),
            held: 0,
            max_held: MAX_CACHED_ENTRIES,
        }
    }

    /// Append the route of a flow `s -> d` hashing on `key` to `out` as its next route (`out`
    /// must hold its first `ptr` entry, 0, already).
    fn push(
        &mut self,
        net: &Network,
        (s, d): (u32, u32),
        seed: u64,
        key: u64,
        out: &mut RoutedFlows,
    ) -> Result<()> {
        if self.policy == Policy::Ecmp && s != d {
            if let Some(p) = self.paths.get(&(s, d)) {
                return p.walk_into(net, seed, key, out);
            }
            if self.held < self.max_held {
                let p = self.router.ecmp_paths(s as usize, d as usize)?;
                p.walk_into(net, seed, key, out)?;
                self.held += p.entries();
                self.paths.insert((s, d), p);
                return Ok(());
            }
        }
        let route = self
            .router
            .route(s as usize, d as usize, self.policy, seed, key)?;
        out.push(&route)
    }
}

/// What a sample needs to route one template connection.
enum KnownRoute {
    Fixed(Route),
    Ecmp(EcmpPaths),
    EcmpVia(EcmpPaths, EcmpPaths),
}

/// What every sample shares, worked out once.
struct Samples<'a> {
    net: &'a Network,
    router: &'a Router,
    /// Fixed flows run in every sample (the job first, see [`Config::n_job`]).
    tpl: &'a Demand,
    bg: Option<&'a Background>,
    cfg: &'a Config,
    /// The template's connections: per flow its number, per connection one flow of it.
    groups: (Vec<u32>, Vec<u32>),
    /// How to route each template connection, when every sample has the same ones.
    known: Option<Vec<KnownRoute>>,
    /// The template's dependency successors.
    succ: (Vec<usize>, Vec<u32>),
}

impl Samples<'_> {
    /// Sample number `sample`: its placement, hash seed and background, run until the job ends.
    fn run(&self, sample: u64, cancel: &(dyn Fn() -> bool + Sync)) -> Result<SampleOut> {
        let (net, router, tpl, bg, cfg) = (self.net, self.router, self.tpl, self.bg, self.cfg);
        let (groups, known, succ) = (&self.groups, self.known.as_deref(), &self.succ);
        let sample_seed = splitmix64(cfg.seed ^ splitmix64(sample + 1));
        let mut rng = Rng::new(sample_seed);
        let hash_seed = if cfg.vary_hash {
            rng.next_u64()
        } else {
            cfg.seed
        };
        let (mut src, mut dst, mut via_tpl) = (tpl.src.clone(), tpl.dst.clone(), tpl.via.clone());
        if let Some(pool) = &cfg.placement_pool {
            // Re-place the job: its distinct GPUs map onto a random subset of the pool.
            let mut ranks: Vec<u32> = tpl.src[..cfg.n_job]
                .iter()
                .chain(&tpl.dst[..cfg.n_job])
                .copied()
                .collect();
            ranks.extend(tpl.via[..cfg.n_job].iter().filter(|&&v| v != NO_VIA));
            ranks.sort_unstable();
            ranks.dedup();
            if ranks.len() > pool.len() {
                return Err(invalid(
                    "placement",
                    format!(
                        "the job uses {} GPUs but the placement pool has only {}",
                        ranks.len(),
                        pool.len()
                    ),
                ));
            }
            let pick = sample_distinct(pool.len(), ranks.len(), &mut rng);
            let map = |x: u32| -> u32 {
                match ranks.binary_search(&x) {
                    Ok(k) => pool[pick[k]],
                    Err(_) => x,
                }
            };
            for i in 0..cfg.n_job {
                src[i] = map(src[i]);
                dst[i] = map(dst[i]);
                if via_tpl[i] != NO_VIA {
                    via_tpl[i] = map(via_tpl[i]);
                }
            }
        }
        // Background arrivals are drawn over a window; if the job outlasts it, the run pauses at
        // the window's end and takes the next window's arrivals (1.5x as long from the start,
        // each endpoint's stream going on where it stopped). Arrivals after the job ends cannot
        // change it, and the run goes on exactly as if the later arrivals had been there from
        // the start, so this equals an unbounded window, without rerunning anything.
        let bg_seed = rng.next_u64();
        let mut stream = bg.map(|bg| ArrivalStream::new(bg, bg_seed));
        let n_tpl = src.len();
        let (bs, bd, bz, br) = match (&mut stream, bg) {
            (Some(stream), Some(bg)) => stream.until(bg.end_s),
            _ => Default::default(),
        };
        let mut generated = bs.len() as u64;
        let n = n_tpl + bs.len();
        // The template's flows, then the background's (no dependencies, no waypoint), each
        // array allocated once at its final length.
        let flows = "a Monte Carlo sample's flows";
        let (src, dst) = (concat(&[&src, &bs], flows)?, concat(&[&dst, &bd], flows)?);
        let mut via = with_capacity(n, flows)?;
        via.extend_from_slice(&via_tpl);
        via.resize(n, NO_VIA);
        let mut keys = with_capacity(n, flows)?;
        keys.extend_from_slice(&tpl.flow_key);
        // Background flows hash on their own keys, far from the template's.
        keys.extend((0..bs.len() as u64).map(|k| BG_KEY + k));
        let size = concat(&[&tpl.size_bytes, &bz], flows)?;
        let release = concat(&[&tpl.release_s, &br], flows)?;
        let mut delay = with_capacity(n, flows)?;
        delay.extend_from_slice(&tpl.delay_s);
        delay.resize(n, 0.0);
        let last = *tpl.dep_ptr.last().unwrap_or(&0);
        let mut dep_ptr = with_capacity(n + 1, flows)?;
        dep_ptr.extend_from_slice(&tpl.dep_ptr);
        dep_ptr.resize(n + 1, last);
        let mut scale = Vec::new();
        if !tpl.latency_scale.is_empty() {
            reserve_exact(&mut scale, n, flows)?;
            scale.extend_from_slice(&tpl.latency_scale);
            scale.resize(n, 1.0);
        }
        // The job's connections are the template's (placement maps ranks one to one); each
        // background flow is a connection of its own.
        let n_conn = groups.1.len() as u32;
        let mut rep_of = with_capacity(n, flows)?;
        rep_of.extend_from_slice(&groups.0);
        rep_of.extend(n_conn..n_conn + generated as u32);
        let mut reps = with_capacity(groups.1.len() + generated as usize, flows)?;
        reps.extend_from_slice(&groups.1);
        reps.extend(n_tpl as u32..n as u32);
        let demand = Demand {
            src,
            dst,
            via,
            flow_key: keys,
            size_bytes: size,
            release_s: release,
            delay_s: delay,
            dep_ptr,
            dep_idx: tpl.dep_idx.clone(),
            latency_scale: scale,
        };
        let mut bg_router = BackgroundRouter::new(router, cfg.policy);
        let routes = match known {
            // The template's connections from what is known of them, the background's afresh.
            Some(known) => {
                let mut conns = RoutedFlows {
                    ptr: with_capacity(reps.len() + 1, "routed flows")?,
                    ..Default::default()
                };
                conns.ptr.push(0);
                for (c, k) in known.iter().enumerate() {
                    let key = demand.flow_key[groups.1[c] as usize];
                    match k {
                        KnownRoute::Fixed(r) => conns.push(r)?,
                        KnownRoute::Ecmp(p) => p.walk_into(net, hash_seed, key, &mut conns)?,
                        KnownRoute::EcmpVia(a, b) => conns.push(&join(
                            &a.walk(net, hash_seed, key)?,
                            &b.walk(net, hash_seed, key)?,
                        ))?,
                    }
                }
                for &i in &reps[known.len()..] {
                    let i = i as usize;
                    let pair = (demand.src[i], demand.dst[i]);
                    bg_router.push(net, pair, hash_seed, demand.flow_key[i], &mut conns)?;
                }
                conns.expand(&rep_of)?
            }
            None => route_connections(
                router,
                &demand,
                (&rep_of, &reps),
                cfg.policy,
                hash_seed,
                cancel,
            )?,
        };
        // The template's successors, and none for the background flows.
        let mut succ_ptr = with_capacity(n + 1, flows)?;
        succ_ptr.extend_from_slice(&succ.0);
        succ_ptr.resize(n + 1, succ.1.len());
        let mut run = engine::start_acyclic(
            net,
            demand,
            routes,
            Some(cfg.n_job),
            (&succ_ptr, &succ.1),
            n_tpl,
            cfg.work_budget,
            cancel,
        )?;
        let mut horizon = bg.map_or(f64::INFINITY, |bg| bg.end_s);
        let mut extensions = 0;
        while let Pause::At(_) = run.advance(horizon)? {
            let (Some(bg), Some(stream)) = (bg, &mut stream) else {
                break; // no background: nothing to add
            };
            let longer = Background {
                end_s: bg.start_s + (horizon - bg.start_s).max(1e-6) * 1.5,
                ..bg.clone()
            };
            if extensions >= 24 || longer.expected_arrivals() > MAX_BACKGROUND_FLOWS {
                // A job this slowed would need millions more arrivals: no more (the load tapers
                // off after the window; the caller is told via bg_generated).
                horizon = f64::INFINITY;
                continue;
            }
            let (bs, bd, bz, br) = stream.until(longer.end_s);
            let k = bs.len();
            let more = Demand {
                via: vec![NO_VIA; k],
                flow_key: (generated..generated + k as u64)
                    .map(|j| BG_KEY + j)
                    .collect(),
                size_bytes: bz,
                release_s: br,
                delay_s: vec![0.0; k],
                dep_ptr: vec![0; k + 1],
                dep_idx: vec![],
                latency_scale: vec![],
                src: bs,
                dst: bd,
            };
            let mut more_routes = RoutedFlows {
                ptr: with_capacity(k + 1, "routed flows")?,
                ..Default::default()
            };
            more_routes.ptr.push(0);
            for i in 0..k {
                let pair = (more.src[i], more.dst[i]);
                bg_router.push(net, pair, hash_seed, more.flow_key[i], &mut more_routes)?;
            }
            run.extend(net, &more, &more_routes)?;
            generated += k as u64;
            horizon = longer.end_s;
            extensions += 1;
        }
        let (demand, routes, out) = run.finish();
        let rerated = out.flows_rerated;
        let job_release = tpl.release_s[..cfg.n_job]
            .iter()
            .fold(f64::INFINITY, |a, &b| a.min(b));
        let job_end = out.finish_s[..cfg.n_job]
            .iter()
            .fold(0.0f64, |a, &b| a.max(b));
        let job_time_s = if cfg.n_job == 0 {
            0.0
        } else {
            job_end - job_release
        };
        let (mut bsize, mut slow, mut fct) = (vec![], vec![], vec![]);
        for f in n_tpl..demand.len() {
            let fin = out.finish_s[f];
            if !fin.is_finite() {
                continue; // still running when the job finished (censored)
            }
            // Ideal FCT: the flow alone on the fabric, at its route's bottleneck.
            let r = &routes;
            let mut alone = f64::INFINITY;
            for e in r.ptr[f]..r.ptr[f + 1] {
                alone = alone.min(net.capacity_bps(r.links[e] as usize) / r.fractions[e]);
            }
            let latency = r.latency_s[f];
            let ideal = if alone.is_finite() {
                demand.size_bytes[f] / alone + latency
            } else {
                latency
            };
            let actual = fin - demand.release_s[f];
            bsize.push(demand.size_bytes[f]);
            fct.push(actual);
            slow.push(if ideal > 0.0 {
                (actual / ideal).max(1.0)
            } else {
                1.0
            });
        }
        Ok(SampleOut {
            job_time_s,
            size: bsize,
            slowdown: slow,
            fct,
            generated,
            rerated,
        })
    }
}

/// Run `cfg.samples` independent samples of the template `tpl` (plus `bg`) on `threads` threads
/// (0 = rayon's default): one runs everything on the calling thread; more, on a pool of that
/// many ([`parallel::pool`]), which the routing the samples share runs on too, so no part of
/// the call uses more threads than asked for.
pub fn run(
    net: &Network,
    router: &Router,
    tpl: &Demand,
    bg: Option<&Background>,
    cfg: &Config,
    threads: usize,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<Output> {
    if threads == 1 {
        return parallel::with_threads(1, || run_here(net, router, tpl, bg, cfg, cancel));
    }
    let pool = parallel::pool(threads).map_err(|e| invalid("threads", e.to_string()))?;
    pool.install(|| run_here(net, router, tpl, bg, cfg, cancel))
}

/// [`run`] on this thread, its parallel steps within the thread's bound.
fn run_here(
    net: &Network,
    router: &Router,
    tpl: &Demand,
    bg: Option<&Background>,
    cfg: &Config,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<Output> {
    if cfg.samples == 0 {
        return Err(invalid("samples", "must be at least 1"));
    }
    if let Some(bg) = bg {
        bg.validate()?;
    }
    tpl.check_shapes("template")?;
    if cfg.n_job > tpl.len() {
        return Err(invalid("template", "n_job exceeds the number of flows"));
    }
    let scaled;
    let net = match &cfg.capacity_factor {
        Some(f) => {
            scaled = net.scaled(f)?;
            &scaled
        }
        None => net,
    };
    // Once for all samples: routing tables towards every node a flow can target, and the
    // template's connections.
    let mut targets: Vec<usize> = tpl
        .dst
        .iter()
        .chain(tpl.via.iter().filter(|&&v| v != NO_VIA))
        .map(|&d| d as usize)
        .collect();
    if let Some(bg) = bg {
        targets.extend(bg.endpoints.iter().map(|&e| e as usize));
    }
    if let Some(pool) = &cfg.placement_pool {
        targets.extend(pool.iter().map(|&e| e as usize));
    }
    targets.sort_unstable();
    targets.dedup();
    router.precompute(&targets)?;
    let groups = connections(tpl);
    // Once here; the samples only check the background flows they add.
    engine::check_values(
        &tpl.size_bytes,
        &tpl.release_s,
        &tpl.delay_s,
        &tpl.latency_scale,
        0,
    )?;
    let succ = engine::successors(&tpl.dep_ptr, &tpl.dep_idx);
    // Without random placement the template's connections are the same in every sample: find
    // their equal-cost paths once (or, spraying, which ignores the seed, their routes).
    let known: Option<Vec<KnownRoute>> = if cfg.placement_pool.is_none() {
        let found: Vec<Result<KnownRoute>> = crate::parallel::map_collect(&groups.1, 1, |&i| {
            if cancel() {
                return Err(CoreError::Interrupted);
            }
            let i = i as usize;
            let (s, d, v) = (tpl.src[i] as usize, tpl.dst[i] as usize, tpl.via[i]);
            Ok(match (cfg.policy, v) {
                (Policy::Spray, NO_VIA) => {
                    KnownRoute::Fixed(router.route(s, d, Policy::Spray, 0, 0)?)
                }
                (Policy::Spray, v) => {
                    KnownRoute::Fixed(router.route_via(s, v as usize, d, Policy::Spray, 0, 0)?)
                }
                (Policy::Ecmp, NO_VIA) => KnownRoute::Ecmp(router.ecmp_paths(s, d)?),
                (Policy::Ecmp, v) => KnownRoute::EcmpVia(
                    router.ecmp_paths(s, v as usize)?,
                    router.ecmp_paths(v as usize, d)?,
                ),
            })
        });
        Some(found.into_iter().collect::<Result<_>>()?)
    } else {
        None
    };
    // Background flows add no dependencies: if the template's are acyclic, so is every sample.
    engine::check_acyclic(&tpl.dep_ptr, &tpl.dep_idx, &succ)?;
    let samples = Samples {
        net,
        router,
        tpl,
        bg,
        cfg,
        groups,
        known,
        succ,
    };
    // One sample out of budget makes the point saturated: the others stop too. Whether some
    // sample runs out depends only on the seed (each sample's work does), not on the threads.
    let stop = AtomicBool::new(false);
    let numbers: Vec<usize> = (0..cfg.samples).collect();
    let results: Vec<Result<SampleOut>> = parallel::map_collect(&numbers, 1, |&i| {
        if cancel() {
            return Err(CoreError::Interrupted);
        }
        if stop.load(Relaxed) {
            return Err(CoreError::WorkBudget);
        }
        // The event budget counts this sample's polls: the same work, whatever the
        // threads.
        let polls = AtomicU64::new(0);
        let budgeted = || {
            if stop.load(Relaxed) {
                return true;
            }
            if cfg.event_budget > 0 && polls.fetch_add(1, Relaxed) >= cfg.event_budget {
                stop.store(true, Relaxed);
                return true;
            }
            cancel()
        };
        let r = samples.run(cfg.first_sample + i as u64, &budgeted);
        if let Err(CoreError::WorkBudget) = r {
            stop.store(true, Relaxed);
        }
        r
    });
    let out_of_budget = |e: &CoreError| {
        matches!(e, CoreError::WorkBudget | CoreError::Interrupted) && stop.load(Relaxed)
    };
    // Errors of their own (an unreachable placement, Ctrl-C) come first.
    if let Some(e) = results
        .iter()
        .find_map(|r| r.as_ref().err().filter(|e| !out_of_budget(e)))
    {
        return Err(e.clone());
    }
    if stop.load(Relaxed) {
        if cancel() {
            return Err(CoreError::Interrupted);
        }
        return Ok(Output {
            job_time_s: vec![f64::INFINITY; cfg.samples],
            budget_exhausted: true,
            ..Output::default()
        });
    }
    let results: Vec<SampleOut> = results.into_iter().collect::<Result<_>>()?;
    let total: usize = results.iter().map(|r| r.size.len()).sum();
    let finished = "the finished background flows of every sample";
    let mut out = Output {
        job_time_s: with_capacity(cfg.samples, "per-sample results")?,
        flows_rerated: with_capacity(cfg.samples, "per-sample results")?,
        bg_size_bytes: with_capacity(total, finished)?,
        bg_slowdown: with_capacity(total, finished)?,
        bg_fct_s: with_capacity(total, finished)?,
        bg_sample: with_capacity(total, finished)?,
        ..Output::default()
    };
    for (i, r) in results.into_iter().enumerate() {
        out.job_time_s.push(r.job_time_s);
        out.bg_generated += r.generated;
        out.flows_rerated.push(r.rerated);
        out.bg_sample.extend(std::iter::repeat_n(
            (cfg.first_sample + i as u64) as u32,
            r.size.len(),
        ));
        out.bg_size_bytes.extend(r.size);
        out.bg_slowdown.extend(r.slowdown);
        out.bg_fct_s.extend(r.fct);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::background::{Pattern, SizeDist};
    use std::sync::Arc;

    /// 4 GPUs (0..4) on one switch (4), 1 GB/s links, 1 us each.
    fn star() -> (Arc<Network>, Router) {
        let mut src = vec![];
        let mut dst = vec![];
        for g in 0..4u32 {
            src.extend([g, 4]);
            dst.extend([4, g]);
        }
        let net = Arc::new(
            Network::new(
                5,
                src,
                dst,
                vec![1e9; 8],
                vec![1e-6; 8],
                vec![false, false, false, false, true],
            )
            .unwrap(),
        );
        let router = Router::new(net.clone(), crate::routing::Metric::Hops);
        (net, router)
    }

    /// A background flow's route is the one `Router::route` gives it, whether its pair's paths
    /// are kept or (past the cap) not, under ECMP and spraying.
    #[test]
    fn background_routes_are_the_routers() {
        let net = crate::engine::tests::leaf_spine(4, 3, 4);
        let router = Router::new(net.clone(), crate::routing::Metric::Hops);
        let mut rng = Rng::new(11);
        for (policy, max_held) in [
            (Policy::Ecmp, MAX_CACHED_ENTRIES),
            (Policy::Ecmp, 40),
            (Policy::Spray, 40),
        ] {
            let mut bg = BackgroundRouter::new(&router, policy);
            bg.max_held = max_held;
            let (mut got, mut want) = (RoutedFlows::default(), RoutedFlows::default());
            got.ptr.push(0);
            for key in 0..2000u64 {
                let (s, d) = (rng.below(16) as u32, rng.below(16) as u32);
                let seed = rng.below(3);
                bg.push(&net, (s, d), seed, BG_KEY + key, &mut got).unwrap();
                want.push(
                    &router
                        .route(s as usize, d as usize, policy, seed, BG_KEY + key)
                        .unwrap(),
                )
                .unwrap();
            }
            assert_eq!(
                (&got.ptr, &got.links, &got.fractions),
                (&want.ptr, &want.links, &want.fractions)
            );
            assert_eq!(got.latency_s, want.latency_s);
            // Every pair kept while there was room, and past it none.
            let held: usize = bg.paths.values().map(|p| p.entries()).sum();
            assert_eq!(held, bg.held);
            match (policy, max_held) {
                (Policy::Spray, _) => assert!(bg.paths.is_empty()),
                (_, MAX_CACHED_ENTRIES) => assert_eq!(bg.paths.len(), 16 * 15),
                _ => assert!(bg.paths.len() < 16 && held >= max_held),
            }
        }
    }

    /// Uniform Poisson background on the star's 4 GPUs, 10-100 kB flows, arriving until `end_s`.
    fn uniform_bg(load: f64, end_s: f64) -> Background {
        Background {
            endpoints: vec![0, 1, 2, 3],
            inject_bps: vec![1e9; 4],
            load,
            pattern: Pattern::Uniform,
            sizes: SizeDist::new(vec![1e4, 1e5], vec![0.0, 1.0]).unwrap(),
            start_s: 0.0,
            end_s,
        }
    }

    fn job() -> Demand {
        Demand {
            src: vec![0],
            dst: vec![1],
            via: vec![NO_VIA],
            flow_key: vec![0],
            size_bytes: vec![1e6],
            release_s: vec![1e-3],
            delay_s: vec![0.0],
            dep_ptr: vec![0, 0],
            dep_idx: vec![],
            latency_scale: vec![],
        }
    }

    fn cfg(samples: usize) -> Config {
        Config {
            samples,
            first_sample: 0,
            n_job: 1,
            seed: 5,
            policy: Policy::Ecmp,
            vary_hash: true,
            placement_pool: None,
            capacity_factor: None,
            event_budget: 0,
            work_budget: 0,
        }
    }

    #[test]
    fn no_background_means_no_spread() {
        let (net, router) = star();
        let out = run(&net, &router, &job(), None, &cfg(8), 2, &|| false).unwrap();
        assert!(out
            .job_time_s
            .iter()
            .all(|&t| (t - (1e-3 + 2e-6)).abs() < 1e-15));
    }

    #[test]
    fn bad_template_values_are_rejected_once_up_front() {
        let (net, router) = star();
        let mut tpl = job();
        tpl.size_bytes[0] = f64::NAN;
        let err = run(&net, &router, &tpl, None, &cfg(4), 2, &|| false).unwrap_err();
        assert!(err.to_string().contains("flow 0"), "{err}");
        let mut tpl = job();
        tpl.latency_scale = vec![-1.0];
        let err = run(&net, &router, &tpl, None, &cfg(4), 2, &|| false).unwrap_err();
        assert!(err.to_string().contains("latency_scale"), "{err}");
    }

    #[test]
    fn background_slows_the_job_and_is_thread_independent() {
        let (net, router) = star();
        let bg = uniform_bg(0.6, 5e-3);
        let a = run(&net, &router, &job(), Some(&bg), &cfg(16), 1, &|| false).unwrap();
        let b = run(&net, &router, &job(), Some(&bg), &cfg(16), 2, &|| false).unwrap();
        assert_eq!(a.job_time_s, b.job_time_s);
        assert_eq!(a.bg_slowdown, b.bg_slowdown);
        assert!(a.job_time_s.iter().all(|&t| t >= 1e-3 + 2e-6 - 1e-15));
        assert!(a.job_time_s.iter().any(|&t| t > 1.05e-3));
        assert!(a.bg_slowdown.iter().all(|&s| s >= 1.0));
    }

    /// A window too short for the job is extended without rerunning the sample: the job's time
    /// is the one a window long enough from the start gives (on this star every pair has one
    /// path, so the background flows' hash keys do not matter), whatever the threads.
    #[test]
    fn a_short_window_goes_on_as_an_unbounded_one() {
        let (net, router) = star();
        let bg = |end_s: f64| uniform_bg(0.7, end_s);
        let long = run(&net, &router, &job(), Some(&bg(0.1)), &cfg(8), 2, &|| false).unwrap();
        // The job starts at 1 ms and lasts at least 1 ms: 1.1 ms needs extending.
        for threads in [1, 2] {
            let short = run(
                &net,
                &router,
                &job(),
                Some(&bg(1.1e-3)),
                &cfg(8),
                threads,
                &|| false,
            )
            .unwrap();
            assert!(short.bg_generated < long.bg_generated);
            for (a, b) in short.job_time_s.iter().zip(&long.job_time_s) {
                assert!((a - b).abs() <= 1e-12 * b, "{a} vs {b}");
            }
            let sorted = |x: &[f64]| {
                let mut v = x.to_vec();
                v.sort_by(f64::total_cmp);
                v
            };
            let (s, l) = (sorted(&short.bg_fct_s), sorted(&long.bg_fct_s));
            assert_eq!(s.len(), l.len());
            assert!(s.iter().zip(&l).all(|(a, b)| (a - b).abs() <= 1e-12 * b));
        }
    }

    #[test]
    fn a_point_run_in_chunks_gives_the_samples_of_one_run() {
        let (net, router) = star();
        let bg = uniform_bg(0.6, 5e-3);
        let whole = run(&net, &router, &job(), Some(&bg), &cfg(10), 2, &|| false).unwrap();
        let mut job_time_s = vec![];
        let mut bg_sample = vec![];
        let mut bg_slowdown = vec![];
        for (first, n) in [(0u64, 3usize), (3, 3), (6, 4)] {
            let chunk = Config {
                first_sample: first,
                ..cfg(n)
            };
            let out = run(&net, &router, &job(), Some(&bg), &chunk, 1, &|| false).unwrap();
            job_time_s.extend(out.job_time_s);
            bg_sample.extend(out.bg_sample);
            bg_slowdown.extend(out.bg_slowdown);
        }
        assert_eq!(job_time_s, whole.job_time_s);
        assert_eq!(bg_sample, whole.bg_sample);
        assert_eq!(bg_slowdown, whole.bg_slowdown);
        assert!(whole.bg_sample.contains(&9));
    }

    #[test]
    fn work_budget_saturates_the_point_whatever_the_threads() {
        let (net, router) = star();
        let bg = uniform_bg(0.6, 5e-3);
        let full = run(&net, &router, &job(), Some(&bg), &cfg(16), 2, &|| false).unwrap();
        assert!(!full.budget_exhausted);
        let most = *full.flows_rerated.iter().max().unwrap();
        assert!(most > 10);
        // A budget of exactly the most any sample needs changes nothing.
        let roomy = Config {
            work_budget: most,
            ..cfg(16)
        };
        let same = run(&net, &router, &job(), Some(&bg), &roomy, 1, &|| false).unwrap();
        assert_eq!(same.job_time_s, full.job_time_s);
        assert_eq!(same.flows_rerated, full.flows_rerated);
        // One flow less: the sample that needed it runs out, and the point is saturated.
        let tight = Config {
            work_budget: most - 1,
            ..cfg(16)
        };
        for threads in [1, 2] {
            let out = run(&net, &router, &job(), Some(&bg), &tight, threads, &|| false).unwrap();
            assert!(out.budget_exhausted);
            assert!(out.job_time_s.iter().all(|t| t.is_infinite()));
            assert_eq!(out.job_time_s.len(), 16);
            assert!(out.bg_size_bytes.is_empty() && out.flows_rerated.is_empty());
        }
    }
}
