//! Work spread over rayon's global thread pool, safe across `fork`.
//!
//! A process forked after the pool started (Python's `multiprocessing` forks by default on
//! Linux) inherits the pool's state but not its threads: work handed to it would wait forever.
//! The first process to use the pool owns it; in any other (a forked child) the same work runs
//! on the calling thread instead. Monte Carlo samples build their own pool per call, so they
//! stay parallel in a child.

use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

/// The process that started rayon's global pool (0: none yet). An atomic, not a lock: a fork
/// while another thread holds a lock would leave the child waiting for it.
static OWNER: AtomicU32 = AtomicU32::new(0);

/// Whether this thread may hand work to rayon's pools: on one of them already (a pool built
/// in this process, e.g. a Monte Carlo's), or in the process that started (or now starts) the
/// global pool. Call before any use of the global pool, so that its starter is recorded.
pub fn global_pool_usable() -> bool {
    if rayon::current_thread_index().is_some() {
        return true; // a worker of a live pool: nested work stays on it
    }
    let pid = std::process::id();
    match OWNER.compare_exchange(0, pid, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => true,
        Err(owner) => owner == pid,
    }
}

/// `f` over `items`, in order: on the global pool (batches of at least `min_len`) where this
/// process may use it, else on the calling thread.
pub(crate) fn map_collect<T, R, F>(items: &[T], min_len: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync + Send,
{
    if items.len() > min_len && global_pool_usable() {
        items.par_iter().with_min_len(min_len).map(f).collect()
    } else {
        items.iter().map(f).collect()
    }
}

/// `f` on each of `items`, on the global pool where this process may use it.
pub(crate) fn for_each<T, F>(items: &[T], f: F)
where
    T: Sync,
    F: Fn(&T) + Sync + Send,
{
    if items.len() > 1 && global_pool_usable() {
        items.par_iter().for_each(f);
    } else {
        items.iter().for_each(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_process_owns_the_pool_and_results_keep_their_order() {
        assert!(global_pool_usable());
        let items: Vec<u64> = (0..1000).collect();
        let squares = map_collect(&items, 8, |&x| x * x);
        assert_eq!(squares, items.iter().map(|x| x * x).collect::<Vec<_>>());
        let sum = std::sync::atomic::AtomicU64::new(0);
        for_each(&items, |&x| {
            sum.fetch_add(x, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(sum.into_inner(), 999 * 1000 / 2);
    }
}
