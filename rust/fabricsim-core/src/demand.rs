//! A traffic demand: the flows to run, as the engine, the router and the Monte Carlo all take
//! them.

use crate::error::{invalid, Result};

/// Flows between node indices: where each goes (`src`, `dst`, an optional waypoint `via`, the
/// `flow_key` ECMP hashes), what it sends (`size_bytes`), when (`release_s` + `delay_s`, after
/// its predecessors finish) and how many path latencies it pays (`latency_scale`).
///
/// Routing reads the endpoints and keys ([`crate::routing::route_flows`]); the engine reads the
/// rest, beside the routes ([`crate::engine::simulate`]); the Monte Carlo runs one as the
/// template of every sample ([`crate::montecarlo::run`]).
#[derive(Clone, Debug, Default)]
pub struct Demand {
    pub src: Vec<u32>,
    pub dst: Vec<u32>,
    /// A waypoint per flow, [`crate::routing::NO_VIA`] for none.
    pub via: Vec<u32>,
    pub flow_key: Vec<u64>,
    pub size_bytes: Vec<f64>,
    pub release_s: Vec<f64>,
    pub delay_s: Vec<f64>,
    /// Predecessors of flow `i`: `dep_idx[dep_ptr[i]..dep_ptr[i + 1]]`.
    pub dep_ptr: Vec<usize>,
    pub dep_idx: Vec<u32>,
    /// Propagation latency is counted this many times (default 1; empty = all 1). A flow that
    /// stands for `g` pipelined steps of a collective pays `g` path latencies.
    pub latency_scale: Vec<f64>,
}

impl Demand {
    /// Number of flows (entries of `src`).
    pub fn len(&self) -> usize {
        self.src.len()
    }

    pub fn is_empty(&self) -> bool {
        self.src.is_empty()
    }

    /// How many path latencies flow `f` pays.
    #[inline]
    pub fn latency_scale_of(&self, f: usize) -> f64 {
        if self.latency_scale.is_empty() {
            1.0
        } else {
            self.latency_scale[f]
        }
    }

    /// What routing needs: `dst`, `via` and `flow_key` as long as `src`. `what` names the
    /// argument in the error.
    pub fn check_endpoints(&self, what: &str) -> Result<()> {
        let n = self.src.len();
        if self.dst.len() != n || self.via.len() != n || self.flow_key.len() != n {
            return Err(invalid(
                what,
                "src, dst, via and flow_key must have one entry per flow",
            ));
        }
        Ok(())
    }

    /// Every array's shape: one entry per flow (latency scales: or none), dependency pointers
    /// from 0, non-decreasing, to the end of `dep_idx`, and dependencies on existing flows.
    pub fn check_shapes(&self, what: &str) -> Result<()> {
        self.check_endpoints(what)?;
        let n = self.src.len();
        if self.size_bytes.len() != n
            || self.release_s.len() != n
            || self.delay_s.len() != n
            || !(self.latency_scale.is_empty() || self.latency_scale.len() == n)
        {
            return Err(invalid(
                what,
                "size, release, delay and latency scale need one entry per flow",
            ));
        }
        if self.dep_ptr.len() != n + 1
            || self.dep_ptr[0] != 0
            || self.dep_ptr.last() != Some(&self.dep_idx.len())
            || self.dep_ptr.windows(2).any(|w| w[0] > w[1])
            || self.dep_idx.iter().any(|&d| d as usize >= n)
        {
            return Err(invalid(what, "dependency arrays are inconsistent"));
        }
        Ok(())
    }
}
