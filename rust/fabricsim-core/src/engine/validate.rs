//! Checks of a flow set before a run: shapes, values, dependencies (acyclic), and the
//! successor lists the run follows.

use crate::csr::transpose;
use crate::demand::Demand;
use crate::error::{invalid, CoreError, Result};
use crate::network::Network;
use crate::routing::RoutedFlows;

/// Check a demand and its routes for the engine: array shapes in full, values from flow `from` on (the flows
/// before it are known good: a Monte Carlo sample's template, checked once, and routes the
/// router made for it).
pub(super) fn validate(net: &Network, flows: &Demand, r: &RoutedFlows, from: usize) -> Result<()> {
    let n = flows.size_bytes.len();
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

/// Successors of every flow (the transpose of its predecessor lists), in increasing order.
pub(crate) fn successors(dep_ptr: &[usize], dep_idx: &[u32]) -> (Vec<usize>, Vec<u32>) {
    transpose(dep_ptr.len() - 1, dep_ptr, dep_idx)
}
