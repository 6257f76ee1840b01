//! `fabricsim._core`: the thin PyO3 layer over `fabricsim-core`.
//!
//! It only converts numpy arrays to plain Rust vectors, runs the core with the GIL released
//! (polling for Ctrl-C), maps core errors onto `fabricsim.exceptions`, and converts results
//! back to numpy. Validation that needs node labels happens in Python before we get here.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use fabricsim_core::engine;
use fabricsim_core::parallel::with_threads;
use fabricsim_core::routing::{self, Metric, Policy, Router, NO_VIA};
use fabricsim_core::{CoreError, Demand, Network};

mod errors;
mod montecarlo;

use errors::{internal_error, invalid_argument, parse, to_pyerr};

/// How often the calling thread looks for Ctrl-C while the worker runs.
const SIGNAL_POLL: Duration = Duration::from_millis(5);
/// How long the caller busy-waits for a result, and a worker for its next job, before blocking.
/// On an idle VM waking a blocked thread on the other vCPU costs ~50 us (the hypervisor has to
/// wake that vCPU), ten times a tiny call's work; a short spin keeps back-to-back calls at
/// ~10-20 us and costs at most this much CPU after the last one.
const SPIN: Duration = Duration::from_micros(200);

/// Busy-wait up to [`SPIN`] for a message, then block (with `timeout` if given).
fn spin_then_recv<M>(
    rx: &mpsc::Receiver<M>,
    timeout: Option<Duration>,
) -> Result<M, RecvTimeoutError> {
    let deadline = Instant::now() + SPIN;
    loop {
        match rx.try_recv() {
            Ok(m) => return Ok(m),
            Err(mpsc::TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
            Err(mpsc::TryRecvError::Empty) if Instant::now() < deadline => std::hint::spin_loop(),
            Err(mpsc::TryRecvError::Empty) => break,
        }
    }
    match timeout {
        Some(t) => rx.recv_timeout(t),
        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
    }
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Worker threads kept between calls (starting a thread costs more than a tiny call), with the
/// process they belong to: a forked child inherits the list but not the threads.
static IDLE_WORKERS: Mutex<(u32, Vec<mpsc::Sender<Job>>)> = Mutex::new((0, Vec::new()));

/// An idle worker of this process, or a new one.
fn take_worker() -> std::io::Result<mpsc::Sender<Job>> {
    // try_lock: a child forked while another thread held the lock would wait forever.
    if let Ok(mut idle) = IDLE_WORKERS.try_lock() {
        if idle.0 != std::process::id() {
            // Forked: the threads behind these senders do not exist here.
            std::mem::forget(std::mem::take(&mut idle.1));
            idle.0 = std::process::id();
        }
        if let Some(w) = idle.1.pop() {
            return Ok(w);
        }
    }
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("fabricsim-core".into())
        .spawn(move || {
            while let Ok(job) = spin_then_recv(&rx, None) {
                job();
            }
        })?;
    Ok(tx)
}

/// Give a worker back for the next call (or let it end, if the list is busy).
fn return_worker(worker: mpsc::Sender<Job>) {
    if let Ok(mut idle) = IDLE_WORKERS.try_lock() {
        if idle.0 == std::process::id() {
            idle.1.push(worker);
        }
    }
}

/// Run `work` without the GIL on a worker thread while this (the main) thread watches for
/// Ctrl-C: Python delivers signals only to the main thread, so the work itself polls a cheap
/// atomic flag. The worker sends its result through a channel, so the caller wakes the moment
/// it is written (a tiny call costs the hand-off, not a poll interval); workers are reused
/// across calls. A panic becomes `fabricsim.InternalError` (a bug report, never a crash); core
/// errors become Python exceptions.
pub(crate) fn run_detached<T: Send + 'static>(
    py: Python<'_>,
    work: impl FnOnce(&(dyn Fn() -> bool + Sync)) -> Result<T, CoreError> + Send + 'static,
) -> PyResult<T> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::sync_channel(1);
    let job: Job = {
        let stop = stop.clone();
        Box::new(move || {
            let cancel = || stop.load(Ordering::Relaxed);
            // The caller waits for this: the send cannot fail.
            let _ = tx.send(catch_unwind(AssertUnwindSafe(|| work(&cancel))));
        })
    };
    let result = py.detach(move || {
        let worker =
            take_worker().map_err(|e| format!("fabricsim cannot start a worker thread: {e}"))?;
        worker
            .send(job)
            .map_err(|_| "fabricsim lost a worker thread (this is a bug, please report it)")?;
        let mut first = true;
        let out = loop {
            let got = if first {
                first = false;
                spin_then_recv(&rx, Some(SIGNAL_POLL))
            } else {
                rx.recv_timeout(SIGNAL_POLL)
            };
            match got {
                Ok(out) => break out,
                Err(RecvTimeoutError::Timeout) => {
                    if Python::attach(|py| py.check_signals().is_err()) {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                // The worker ended without sending: it catches panics, so this is a bug.
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("fabricsim's worker thread ended without a result \
                                (this is a bug, please report it)"
                        .to_string())
                }
            }
        };
        return_worker(worker);
        Ok(out)
    });
    match result {
        Ok(r) => finish(py, r),
        Err(msg) => Err(internal_error(msg)),
    }
}

/// Run `work` on this thread with the GIL released, for the calls that run on one thread (or
/// on rayon's pool for part of the way): no hand-off to a worker, so nothing waits or spins
/// beside the work, which matters when every core is busy (a sweep runs one point per core and
/// such calls come ~70 times a point). Ctrl-C: the core polls `cancel` at every event, every
/// few hundred water-filling rounds and every routed flow; on this thread, at most every
/// [`SIGNAL_POLL`], that poll takes the GIL for `PyErr_CheckSignals` (rayon's threads, routing
/// a large flow set, only read the flag). Errors and panics map as in [`run_detached`].
pub(crate) fn run_inline<T: Send>(
    py: Python<'_>,
    work: impl FnOnce(&(dyn Fn() -> bool + Sync)) -> Result<T, CoreError> + Send,
) -> PyResult<T> {
    let stop = AtomicBool::new(false);
    let caller = std::thread::current().id();
    let start = Instant::now();
    let poll_ns = SIGNAL_POLL.as_nanos() as u64;
    let next_check_ns = AtomicU64::new(poll_ns);
    let cancel = || {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let now = start.elapsed().as_nanos() as u64;
        if now >= next_check_ns.load(Ordering::Relaxed) && std::thread::current().id() == caller {
            next_check_ns.store(now + poll_ns, Ordering::Relaxed);
            if Python::attach(|py| py.check_signals().is_err()) {
                stop.store(true, Ordering::Relaxed);
                return true;
            }
        }
        false
    };
    let result = py.detach(|| catch_unwind(AssertUnwindSafe(|| work(&cancel))));
    finish(py, result)
}

/// Flow sets up to this size run inline ([`run_inline`]); larger ones on a worker thread
/// ([`run_detached`]). Routing a flow set runs on rayon's threads, which cannot see Ctrl-C:
/// inline, routing this many flows takes a few ms, so Ctrl-C still lands within ~10 ms, while a
/// million-flow routing needs the watching caller of `run_detached` (whose two hand-offs,
/// tens of us, are nothing next to such a call).
const INLINE_MAX_FLOWS: usize = 16_384;

/// [`run_inline`] or [`run_detached`].
pub(crate) fn run_core<T: Send + 'static>(
    py: Python<'_>,
    inline: bool,
    work: impl FnOnce(&(dyn Fn() -> bool + Sync)) -> Result<T, CoreError> + Send + 'static,
) -> PyResult<T> {
    if inline {
        run_inline(py, work)
    } else {
        run_detached(py, work)
    }
}

/// A core call's outcome as Python sees it: the value, the mapped core error, or
/// `fabricsim.InternalError` for a panic.
fn finish<T>(py: Python<'_>, result: std::thread::Result<Result<T, CoreError>>) -> PyResult<T> {
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_pyerr(py, e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(internal_error(format!(
                "fabricsim core panicked (this is a bug, please report it): {what}"
            )))
        }
    }
}

pub(crate) fn indices(what: &str, a: &PyReadonlyArray1<i64>, bound: usize) -> PyResult<Vec<u32>> {
    let mut out = Vec::with_capacity(a.len()?);
    for (i, &x) in a.as_array().iter().enumerate() {
        if x < 0 || x as u64 >= bound as u64 {
            return Err(invalid_argument(format!(
                "{what}[{i}] = {x} is not a node index in 0..{bound}"
            )));
        }
        out.push(x as u32);
    }
    Ok(out)
}

/// Waypoints: a negative entry means none.
fn waypoints(via: &PyReadonlyArray1<i64>, n_nodes: usize) -> PyResult<Vec<u32>> {
    let mut out = Vec::with_capacity(via.len()?);
    for (i, &v) in via.as_array().iter().enumerate() {
        if v < 0 {
            out.push(NO_VIA);
        } else if v as u64 >= n_nodes as u64 {
            return Err(invalid_argument(format!(
                "via[{i}] = {v} is not a node index in 0..{n_nodes}"
            )));
        } else {
            out.push(v as u32);
        }
    }
    Ok(out)
}

/// A compiled fabric: the network plus lazily built routing tables for both metrics.
#[pyclass(frozen, module = "fabricsim._core")]
pub struct CoreFabric {
    pub(crate) net: Arc<Network>,
    hops: Arc<Router>,
    latency: Arc<Router>,
}

impl CoreFabric {
    pub(crate) fn router(&self, py: Python<'_>, metric: &str) -> PyResult<&Arc<Router>> {
        Ok(match parse(py, Metric::parse(metric))? {
            Metric::Hops => &self.hops,
            Metric::Latency => &self.latency,
        })
    }
}

/// Where a flow set's flows go, checked: node indices in range, waypoints (negative = none),
/// the ECMP keys. The rest of the demand is left empty.
pub(crate) fn endpoints(
    src: &PyReadonlyArray1<i64>,
    dst: &PyReadonlyArray1<i64>,
    via: &PyReadonlyArray1<i64>,
    flow_key: &PyReadonlyArray1<u64>,
    n_nodes: usize,
) -> PyResult<Demand> {
    Ok(Demand {
        src: indices("src", src, n_nodes)?,
        dst: indices("dst", dst, n_nodes)?,
        via: waypoints(via, n_nodes)?,
        flow_key: flow_key.as_array().to_vec(),
        ..Demand::default()
    })
}

/// A flow set's arrays as `fabricsim.flows.FlowSet` passes them.
pub(crate) struct FlowArrays<'py> {
    pub src: PyReadonlyArray1<'py, i64>,
    pub dst: PyReadonlyArray1<'py, i64>,
    pub via: PyReadonlyArray1<'py, i64>,
    pub flow_key: PyReadonlyArray1<'py, u64>,
    pub size_bytes: PyReadonlyArray1<'py, f64>,
    pub release_s: PyReadonlyArray1<'py, f64>,
    pub delay_s: PyReadonlyArray1<'py, f64>,
    pub dep_ptr: PyReadonlyArray1<'py, i64>,
    pub dep_idx: PyReadonlyArray1<'py, i64>,
    pub latency_scale: Option<PyReadonlyArray1<'py, f64>>,
}

impl FlowArrays<'_> {
    /// The demand, with its node and flow indices checked (the core checks the rest).
    pub(crate) fn demand(&self, n_nodes: usize) -> PyResult<Demand> {
        let mut d = endpoints(&self.src, &self.dst, &self.via, &self.flow_key, n_nodes)?;
        d.dep_ptr = self
            .dep_ptr
            .as_array()
            .iter()
            .map(|&x| x.max(0) as usize)
            .collect();
        d.dep_idx = indices("dependencies", &self.dep_idx, d.len().max(1))?;
        d.size_bytes = self.size_bytes.as_array().to_vec();
        d.release_s = self.release_s.as_array().to_vec();
        d.delay_s = self.delay_s.as_array().to_vec();
        d.latency_scale = match &self.latency_scale {
            Some(a) => a.as_array().to_vec(),
            None => Vec::new(),
        };
        Ok(d)
    }
}

// The Python signatures take one array per field, as fabricsim.flows passes them.
#[allow(clippy::too_many_arguments)]
#[pymethods]
impl CoreFabric {
    #[new]
    fn new(
        py: Python<'_>,
        n_nodes: usize,
        link_src: PyReadonlyArray1<i64>,
        link_dst: PyReadonlyArray1<i64>,
        capacity_bps: PyReadonlyArray1<f64>,
        latency_s: PyReadonlyArray1<f64>,
        transit: PyReadonlyArray1<bool>,
    ) -> PyResult<Self> {
        let src = indices("link_src", &link_src, n_nodes)?;
        let dst = indices("link_dst", &link_dst, n_nodes)?;
        let net = parse(
            py,
            Network::new(
                n_nodes,
                src,
                dst,
                capacity_bps.as_array().to_vec(),
                latency_s.as_array().to_vec(),
                transit.as_array().to_vec(),
            ),
        )?;
        let net = Arc::new(net);
        Ok(CoreFabric {
            hops: Arc::new(Router::new(net.clone(), Metric::Hops)),
            latency: Arc::new(Router::new(net.clone(), Metric::Latency)),
            net,
        })
    }

    #[getter]
    fn n_nodes(&self) -> usize {
        self.net.n_nodes()
    }

    #[getter]
    fn n_links(&self) -> usize {
        self.net.n_links()
    }

    /// Routing distance from src to dst (hops or whole ns), None if unreachable.
    #[pyo3(signature = (src, dst, metric = "hops"))]
    fn distance(
        &self,
        py: Python<'_>,
        src: usize,
        dst: usize,
        metric: &str,
    ) -> PyResult<Option<u32>> {
        let router = self.router(py, metric)?;
        parse(py, self.net.check_node("src", src))?;
        parse(py, self.net.check_node("dst", dst))?;
        let d = router.dist(src, dst);
        Ok((d != routing::UNREACHABLE).then_some(d))
    }

    /// (links, fractions, latency_s) of one flow.
    #[pyo3(signature = (src, dst, policy = "ecmp", seed = 0, flow_key = 0, metric = "hops", via = None))]
    fn route<'py>(
        &self,
        py: Python<'py>,
        src: usize,
        dst: usize,
        policy: &str,
        seed: u64,
        flow_key: u64,
        metric: &str,
        via: Option<usize>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, f64)> {
        let router = self.router(py, metric)?.clone();
        let policy = parse(py, Policy::parse(policy))?;
        let r = run_inline(py, move |_| match via {
            None => router.route(src, dst, policy, seed, flow_key),
            Some(v) => router.route_via(src, v, dst, policy, seed, flow_key),
        })?;
        let links: Vec<i64> = r.links.iter().map(|&l| l as i64).collect();
        Ok((
            links.into_pyarray(py).into_any(),
            r.fractions.into_pyarray(py).into_any(),
            r.latency_s,
        ))
    }

    /// Every equal-cost path as a list of link ids (at most `limit`).
    #[pyo3(signature = (src, dst, metric = "hops", limit = 1024))]
    fn paths(
        &self,
        py: Python<'_>,
        src: usize,
        dst: usize,
        metric: &str,
        limit: usize,
    ) -> PyResult<Vec<Vec<u32>>> {
        let router = self.router(py, metric)?.clone();
        run_inline(py, move |_| router.paths(src, dst, limit))
    }

    /// Build routing tables toward `dsts` (all nodes when None) on at most `threads` threads
    /// (0: rayon's global pool); returns how many tables exist.
    #[pyo3(signature = (dsts = None, metric = "hops", threads = 0))]
    fn precompute(
        &self,
        py: Python<'_>,
        dsts: Option<PyReadonlyArray1<i64>>,
        metric: &str,
        threads: usize,
    ) -> PyResult<usize> {
        let router = self.router(py, metric)?.clone();
        match dsts {
            None => run_detached(py, move |_| {
                with_threads(threads, || router.precompute_all())
            }),
            Some(d) => {
                let d: Vec<usize> = indices("dsts", &d, self.net.n_nodes())?
                    .into_iter()
                    .map(|x| x as usize)
                    .collect();
                run_detached(py, move |_| with_threads(threads, || router.precompute(&d)))
            }
        }
    }

    /// Bytes per link when every flow sends its `size_bytes` over its routes (no timing, no
    /// simulation): the offered load of a traffic matrix. Routing runs on at most `threads`
    /// threads (0: rayon's global pool).
    #[pyo3(signature = (src, dst, size_bytes, via, flow_key, policy = "ecmp", seed = 0,
                        metric = "hops", threads = 0))]
    fn offered_link_bytes<'py>(
        &self,
        py: Python<'py>,
        src: PyReadonlyArray1<i64>,
        dst: PyReadonlyArray1<i64>,
        size_bytes: PyReadonlyArray1<f64>,
        via: PyReadonlyArray1<i64>,
        flow_key: PyReadonlyArray1<u64>,
        policy: &str,
        seed: u64,
        metric: &str,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let router = self.router(py, metric)?.clone();
        let policy = parse(py, Policy::parse(policy))?;
        let demand = Demand {
            size_bytes: size_bytes.as_array().to_vec(),
            ..endpoints(&src, &dst, &via, &flow_key, self.net.n_nodes())?
        };
        let n_links = self.net.n_links();
        let inline = demand.len() <= INLINE_MAX_FLOWS;
        let bytes = run_core(py, inline, move |cancel| {
            with_threads(threads, || {
                let routes = routing::route_flows(&router, &demand, policy, seed, cancel)?;
                routes.link_bytes(&demand.size_bytes, n_links)
            })
        })?;
        Ok(bytes.into_pyarray(py))
    }

    /// Route and simulate a flow set. Returns a dict of numpy arrays (see fabricsim.flows).
    /// With `lane_ptr` (and `lane_src`, `lane_dst`, `lane_via`, `lane_key`), flow `f` is
    /// routed as its lanes `lane_ptr[f]..lane_ptr[f + 1]` together, its rate split equally
    /// over them (`routing::merge_lanes`); its own `src`, `dst`, `via` and `flow_key` are not
    /// routed. Routing runs on at most `threads` threads (0: rayon's global pool).
    #[pyo3(signature = (src, dst, size_bytes, release_s, delay_s, dep_ptr, dep_idx, via, flow_key,
                        policy = "ecmp", seed = 0, metric = "hops", capacity_factor = None,
                        latency_scale = None, lane_ptr = None, lane_src = None, lane_dst = None,
                        lane_via = None, lane_key = None, threads = 0))]
    fn simulate<'py>(
        &self,
        py: Python<'py>,
        src: PyReadonlyArray1<i64>,
        dst: PyReadonlyArray1<i64>,
        size_bytes: PyReadonlyArray1<f64>,
        release_s: PyReadonlyArray1<f64>,
        delay_s: PyReadonlyArray1<f64>,
        dep_ptr: PyReadonlyArray1<i64>,
        dep_idx: PyReadonlyArray1<i64>,
        via: PyReadonlyArray1<i64>,
        flow_key: PyReadonlyArray1<u64>,
        policy: &str,
        seed: u64,
        metric: &str,
        capacity_factor: Option<PyReadonlyArray1<f64>>,
        latency_scale: Option<PyReadonlyArray1<f64>>,
        lane_ptr: Option<PyReadonlyArray1<i64>>,
        lane_src: Option<PyReadonlyArray1<i64>>,
        lane_dst: Option<PyReadonlyArray1<i64>>,
        lane_via: Option<PyReadonlyArray1<i64>>,
        lane_key: Option<PyReadonlyArray1<u64>>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let router = self.router(py, metric)?.clone();
        let policy = parse(py, Policy::parse(policy))?;
        let lanes = match (lane_ptr, lane_src, lane_dst, lane_via, lane_key) {
            (None, None, None, None, None) => None,
            (Some(ptr), Some(s), Some(d), Some(v), Some(k)) => {
                let lanes = endpoints(&s, &d, &v, &k, self.net.n_nodes())?;
                let mut p = Vec::with_capacity(ptr.len()?);
                for (i, &x) in ptr.as_array().iter().enumerate() {
                    if x < 0 {
                        return Err(invalid_argument(format!("lane_ptr[{i}] = {x} is negative")));
                    }
                    p.push(x as usize);
                }
                if p.len() != src.len()? + 1 {
                    return Err(invalid_argument(format!(
                        "lane_ptr: expected {} entries (flows + 1), got {}",
                        src.len()? + 1,
                        p.len()
                    )));
                }
                Some((lanes, p))
            }
            _ => {
                return Err(invalid_argument(
                    "lanes: give lane_ptr, lane_src, lane_dst, lane_via and lane_key together"
                        .to_string(),
                ))
            }
        };
        let demand = FlowArrays {
            src,
            dst,
            via,
            flow_key,
            size_bytes,
            release_s,
            delay_s,
            dep_ptr,
            dep_idx,
            latency_scale,
        }
        .demand(self.net.n_nodes())?;
        let factor = capacity_factor.map(|f| f.as_array().to_vec());
        let net = self.net.clone();
        // what gets routed: the lanes when there are any (each is a connection of its own)
        let routed = lanes.as_ref().map_or(demand.len(), |(l, _)| l.len());
        let inline = demand.len().max(routed) <= INLINE_MAX_FLOWS;
        let out = run_core(py, inline, move |cancel| {
            let scaled;
            let net_ref: &Network = match &factor {
                Some(f) => {
                    scaled = net.scaled(f)?;
                    &scaled
                }
                None => &net,
            };
            let t0 = Instant::now();
            let routes = with_threads(threads, || match &lanes {
                None => routing::route_flows(&router, &demand, policy, seed, cancel),
                Some((lanes, ptr)) => routing::merge_lanes(
                    &routing::route_flows(&router, lanes, policy, seed, cancel)?,
                    ptr,
                ),
            })?;
            let route_s = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let out = engine::simulate(net_ref, &demand, &routes, cancel)?;
            let engine_s = t1.elapsed().as_secs_f64();
            let mean = out.mean_rate_bps(&demand.size_bytes);
            let latency: Vec<f64> = (0..demand.len())
                .map(|f| routes.latency_s[f] * demand.latency_scale.get(f).copied().unwrap_or(1.0))
                .collect();
            Ok((out, mean, latency, route_s, engine_s))
        })?;
        let (out, mean, latency, route_s, engine_s) = out;
        let d = PyDict::new(py);
        d.set_item("start_s", out.start_s.into_pyarray(py))?;
        d.set_item("transfer_end_s", out.transfer_end_s.into_pyarray(py))?;
        d.set_item("finish_s", out.finish_s.into_pyarray(py))?;
        d.set_item("mean_rate_Bps", mean.into_pyarray(py))?;
        d.set_item("min_rate_Bps", out.min_rate_bps.into_pyarray(py))?;
        d.set_item("max_rate_Bps", out.max_rate_bps.into_pyarray(py))?;
        d.set_item("latency_s", latency.into_pyarray(py))?;
        d.set_item("link_bytes", out.link_bytes.into_pyarray(py))?;
        d.set_item("link_busy_s", out.link_busy_s.into_pyarray(py))?;
        d.set_item(
            "link_peak_utilization",
            out.link_peak_utilization.into_pyarray(py),
        )?;
        d.set_item("events", out.events)?;
        d.set_item("flows_rerated", out.flows_rerated)?;
        d.set_item("searches_widened", out.searches_widened)?;
        d.set_item("groups_merged", out.groups_merged)?;
        d.set_item("route_s", route_s)?;
        d.set_item("engine_s", engine_s)?;
        Ok(d)
    }
}

/// Number of threads the core's thread pool uses.
#[pyfunction]
fn thread_count() -> usize {
    // Reading it starts the pool: record this process as its owner first (see
    // `fabricsim_core::parallel`), so that a forked child does not hand work to it.
    fabricsim_core::parallel::global_pool_usable();
    rayon::current_num_threads()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<CoreFabric>()?;
    m.add_function(wrap_pyfunction!(thread_count, m)?)?;
    montecarlo::register(m)?;
    Ok(())
}
