//! Binding of the Monte Carlo tail-latency runner: samples run on a rayon pool (see
//! `run_detached` for how Ctrl-C reaches them).

use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use fabricsim_core::background::{Background, Pattern, SizeDist};
use fabricsim_core::montecarlo::{self, Config};
use fabricsim_core::routing::Policy;

use crate::errors::{to_pyerr, unknown_name};
use crate::{indices, run_detached, CoreFabric, FlowArrays};

#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (fabric, src, dst, via, flow_key, size_bytes, release_s, delay_s, dep_ptr, dep_idx,
                    latency_scale, n_job, samples, seed, policy = "ecmp", metric = "hops",
                    vary_hash = true, placement_pool = None, capacity_factor = None, threads = 0,
                    bg_endpoints = None, bg_inject_bps = None, bg_load = 0.0, bg_pattern = "uniform",
                    bg_receivers = 1, bg_size_values = None, bg_size_cdf = None, bg_start_s = 0.0,
                    bg_end_s = 0.0, event_budget = 0, work_budget = 0, first_sample = 0))]
pub fn monte_carlo<'py>(
    py: Python<'py>,
    fabric: &CoreFabric,
    src: PyReadonlyArray1<i64>,
    dst: PyReadonlyArray1<i64>,
    via: PyReadonlyArray1<i64>,
    flow_key: PyReadonlyArray1<u64>,
    size_bytes: PyReadonlyArray1<f64>,
    release_s: PyReadonlyArray1<f64>,
    delay_s: PyReadonlyArray1<f64>,
    dep_ptr: PyReadonlyArray1<i64>,
    dep_idx: PyReadonlyArray1<i64>,
    latency_scale: PyReadonlyArray1<f64>,
    n_job: usize,
    samples: usize,
    seed: u64,
    policy: &str,
    metric: &str,
    vary_hash: bool,
    placement_pool: Option<PyReadonlyArray1<i64>>,
    capacity_factor: Option<PyReadonlyArray1<f64>>,
    threads: usize,
    bg_endpoints: Option<PyReadonlyArray1<i64>>,
    bg_inject_bps: Option<PyReadonlyArray1<f64>>,
    bg_load: f64,
    bg_pattern: &str,
    bg_receivers: usize,
    bg_size_values: Option<PyReadonlyArray1<f64>>,
    bg_size_cdf: Option<PyReadonlyArray1<f64>>,
    bg_start_s: f64,
    bg_end_s: f64,
    event_budget: u64,
    work_budget: u64,
    first_sample: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let n_nodes = fabric.net.n_nodes();
    let router = fabric.router(py, metric)?.clone();
    let policy = Policy::parse(policy).map_err(|e| to_pyerr(py, e))?;
    let tpl = FlowArrays {
        src,
        dst,
        via,
        flow_key,
        size_bytes,
        release_s,
        delay_s,
        dep_ptr,
        dep_idx,
        latency_scale: Some(latency_scale),
    }
    .demand(n_nodes)?;
    let pool = match placement_pool {
        Some(p) => Some(indices("placement_pool", &p, n_nodes)?),
        None => None,
    };
    let bg = match bg_endpoints {
        None => None,
        Some(ep) => {
            let pattern = match bg_pattern {
                "uniform" => Pattern::Uniform,
                "permutation" => Pattern::Permutation,
                "incast" => Pattern::Incast {
                    receivers: bg_receivers,
                },
                other => {
                    return Err(unknown_name(format!(
                        "pattern: unknown value {other:?}; valid: uniform, permutation, incast"
                    )))
                }
            };
            let values = bg_size_values
                .map(|a| a.as_array().to_vec())
                .unwrap_or_default();
            let cdf = bg_size_cdf
                .map(|a| a.as_array().to_vec())
                .unwrap_or_default();
            let sizes = SizeDist::new(values, cdf).map_err(|e| to_pyerr(py, e))?;
            Some(Background {
                endpoints: indices("background endpoints", &ep, n_nodes)?,
                inject_bps: bg_inject_bps
                    .map(|a| a.as_array().to_vec())
                    .unwrap_or_default(),
                load: bg_load,
                pattern,
                sizes,
                start_s: bg_start_s,
                end_s: bg_end_s,
            })
        }
    };
    if first_sample.saturating_add(samples as u64) > u64::from(u32::MAX) {
        return Err(crate::errors::invalid_argument(
            "first_sample: first_sample + samples must be at most 2^32 - 1".into(),
        ));
    }
    let cfg = Config {
        samples,
        first_sample,
        n_job,
        seed,
        policy,
        vary_hash,
        placement_pool: pool,
        capacity_factor: capacity_factor.map(|a| a.as_array().to_vec()),
        event_budget,
        work_budget,
    };
    let net = fabric.net.clone();
    let out = run_detached(py, move |cancel| {
        montecarlo::run(&net, &router, &tpl, bg.as_ref(), &cfg, threads, cancel)
    })?;
    let d = PyDict::new(py);
    d.set_item("job_time_s", out.job_time_s.into_pyarray(py))?;
    d.set_item("bg_size_bytes", out.bg_size_bytes.into_pyarray(py))?;
    d.set_item("bg_slowdown", out.bg_slowdown.into_pyarray(py))?;
    d.set_item("bg_fct_s", out.bg_fct_s.into_pyarray(py))?;
    d.set_item("bg_sample", out.bg_sample.into_pyarray(py))?;
    d.set_item("bg_generated", out.bg_generated)?;
    d.set_item("flows_rerated", out.flows_rerated.into_pyarray(py))?;
    d.set_item("budget_exhausted", out.budget_exhausted)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(monte_carlo, m)?)?;
    Ok(())
}
