//! A fabric as the core sees it: nodes `0..n`, directed links with a capacity and a latency,
//! adjacency in CSR form (out-links and in-links of each node, in increasing link id order).

use crate::csr::transpose;
use crate::error::{invalid, Result};

#[derive(Debug, Clone)]
pub struct Network {
    n_nodes: usize,
    link_src: Vec<u32>,
    link_dst: Vec<u32>,
    capacity_bps: Vec<f64>,
    latency_s: Vec<f64>,
    /// Link latency in whole nanoseconds: the integer weight of the "latency" routing metric,
    /// so equal-cost ties are exact.
    latency_ns: Vec<u32>,
    transit: Vec<bool>,
    out_ptr: Vec<u32>,
    out_links: Vec<u32>,
    in_ptr: Vec<u32>,
    in_links: Vec<u32>,
}

/// Links grouped by a node of theirs (`keys[link]`), each node's in increasing link id order:
/// the transpose of the one-entry-per-link matrix.
fn csr(n: usize, keys: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let one_each: Vec<usize> = (0..=keys.len()).collect();
    let (ptr, links) = transpose(n, &one_each, keys);
    (ptr.into_iter().map(|p| p as u32).collect(), links)
}

impl Network {
    /// Build a network. `capacity_bps` in bytes/s (> 0, finite), `latency_s` in seconds
    /// (>= 0, finite); `transit[u]` is false for endpoints that never forward traffic.
    pub fn new(
        n_nodes: usize,
        link_src: Vec<u32>,
        link_dst: Vec<u32>,
        capacity_bps: Vec<f64>,
        latency_s: Vec<f64>,
        transit: Vec<bool>,
    ) -> Result<Self> {
        let m = link_src.len();
        if link_dst.len() != m || capacity_bps.len() != m || latency_s.len() != m {
            return Err(invalid(
                "links",
                format!(
                    "link_src, link_dst, capacity and latency must have one entry per link \
                     (got {}, {}, {}, {})",
                    m,
                    link_dst.len(),
                    capacity_bps.len(),
                    latency_s.len()
                ),
            ));
        }
        if transit.len() != n_nodes {
            return Err(invalid(
                "transit",
                format!("expected {n_nodes} entries, got {}", transit.len()),
            ));
        }
        if n_nodes >= u32::MAX as usize || m >= u32::MAX as usize {
            return Err(invalid(
                "network",
                "too many nodes or links (limit 2^32 - 1)",
            ));
        }
        let mut latency_ns = Vec::with_capacity(m);
        for l in 0..m {
            let (s, d) = (link_src[l] as usize, link_dst[l] as usize);
            if s >= n_nodes || d >= n_nodes {
                return Err(invalid(
                    format!("link {l}"),
                    format!("node index out of range 0..{n_nodes}"),
                ));
            }
            if s == d {
                return Err(invalid(
                    format!("link {l}"),
                    format!("self-loop at node {s}"),
                ));
            }
            let c = capacity_bps[l];
            if !(c.is_finite() && c > 0.0) {
                return Err(invalid(
                    format!("link {l}"),
                    format!("capacity must be finite and > 0, got {c}"),
                ));
            }
            let lat = latency_s[l];
            if !(lat.is_finite() && lat >= 0.0) {
                return Err(invalid(
                    format!("link {l}"),
                    format!("latency must be finite and >= 0, got {lat}"),
                ));
            }
            let ns = (lat * 1e9).round();
            if ns > u32::MAX as f64 / 4.0 {
                return Err(invalid(
                    format!("link {l}"),
                    format!("latency {lat} s is implausibly large"),
                ));
            }
            latency_ns.push(ns as u32);
        }
        let (out_ptr, out_links) = csr(n_nodes, &link_src);
        let (in_ptr, in_links) = csr(n_nodes, &link_dst);
        Ok(Network {
            n_nodes,
            link_src,
            link_dst,
            capacity_bps,
            latency_s,
            latency_ns,
            transit,
            out_ptr,
            out_links,
            in_ptr,
            in_links,
        })
    }

    #[inline]
    pub fn n_nodes(&self) -> usize {
        self.n_nodes
    }
    #[inline]
    pub fn n_links(&self) -> usize {
        self.link_src.len()
    }
    #[inline]
    pub fn src(&self, link: usize) -> usize {
        self.link_src[link] as usize
    }
    #[inline]
    pub fn dst(&self, link: usize) -> usize {
        self.link_dst[link] as usize
    }
    #[inline]
    pub fn capacity_bps(&self, link: usize) -> f64 {
        self.capacity_bps[link]
    }
    pub fn capacities(&self) -> &[f64] {
        &self.capacity_bps
    }
    #[inline]
    pub fn latency_s(&self, link: usize) -> f64 {
        self.latency_s[link]
    }
    #[inline]
    pub fn latency_ns(&self, link: usize) -> u32 {
        self.latency_ns[link]
    }
    #[inline]
    pub fn is_transit(&self, node: usize) -> bool {
        self.transit[node]
    }
    #[inline]
    pub fn out_links(&self, node: usize) -> &[u32] {
        &self.out_links[self.out_ptr[node] as usize..self.out_ptr[node + 1] as usize]
    }
    #[inline]
    pub fn in_links(&self, node: usize) -> &[u32] {
        &self.in_links[self.in_ptr[node] as usize..self.in_ptr[node + 1] as usize]
    }

    pub fn check_node(&self, what: &str, node: usize) -> Result<()> {
        if node >= self.n_nodes {
            return Err(invalid(
                what,
                format!("node index {node} out of range 0..{}", self.n_nodes),
            ));
        }
        Ok(())
    }

    /// The same network with every capacity multiplied by `factor` (protocol efficiency,
    /// static background load, what-if scaling).
    pub fn scaled(&self, factor: &[f64]) -> Result<Self> {
        if factor.len() != self.n_links() {
            return Err(invalid(
                "capacity_factor",
                format!("expected {} entries, got {}", self.n_links(), factor.len()),
            ));
        }
        let mut out = self.clone();
        for (l, f) in factor.iter().enumerate() {
            if !(f.is_finite() && *f > 0.0) {
                return Err(invalid(
                    "capacity_factor",
                    format!("link {l}: factor must be finite and > 0, got {f}"),
                ));
            }
            out.capacity_bps[l] *= f;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_is_sorted_and_complete() {
        let net = Network::new(
            3,
            vec![0, 1, 1, 2],
            vec![1, 0, 2, 1],
            vec![1.0; 4],
            vec![1e-6; 4],
            vec![false, true, false],
        )
        .unwrap();
        assert_eq!(net.out_links(1), &[1, 2]);
        assert_eq!(net.in_links(1), &[0, 3]);
        assert_eq!(net.latency_ns(0), 1000);
    }

    #[test]
    fn rejects_bad_links() {
        let bad = |src: u32, cap: f64, lat: f64| {
            Network::new(
                2,
                vec![src],
                vec![1],
                vec![cap],
                vec![lat],
                vec![true, true],
            )
        };
        assert!(bad(0, 1.0, 0.0).is_ok());
        assert!(bad(1, 1.0, 0.0).is_err()); // self loop
        assert!(bad(5, 1.0, 0.0).is_err());
        assert!(bad(0, 0.0, 0.0).is_err());
        assert!(bad(0, f64::NAN, 0.0).is_err());
        assert!(bad(0, 1.0, -1.0).is_err());
        assert!(bad(0, 1.0, f64::INFINITY).is_err());
    }
}
