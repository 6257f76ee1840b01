//! Work spread over rayon's thread pools, bounded by the caller's thread count, safe across
//! `fork`.
//!
//! A call runs with a thread *bound* ([`with_threads`]): 0 (none given) spreads its parallel
//! steps over rayon's global pool, as many threads as cores (or `RAYON_NUM_THREADS`); 1 runs
//! every step on the calling thread; `n` runs them on a pool of `n` threads kept for the
//! process ([`pool`]). So a caller that asks for one thread (a sweep, whose parallelism is
//! across points) never has a point's routing spill onto every core.
//!
//! A process forked after a pool started (Python's `multiprocessing` forks by default on
//! Linux) inherits the pool's state but not its threads: work handed to it would wait forever.
//! The first process to use the global pool owns it; in any other (a forked child) the same
//! work runs on the calling thread instead. The pools of [`pool`] remember their process too,
//! and a forked child builds its own, so a bounded call (a Monte Carlo's samples) stays
//! parallel in a child.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuildError, ThreadPoolBuilder};

/// The process that started rayon's global pool (0: none yet). An atomic, not a lock: a fork
/// while another thread holds a lock would leave the child waiting for it.
static OWNER: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// The thread bound of the call this thread is running (0: none).
    static BOUND: Cell<usize> = const { Cell::new(0) };
}

/// Pools built by [`pool`], by thread count (0: rayon's default), oldest first, with the
/// process they belong to: a forked child inherits the list but not the threads.
type Pools = (u32, Vec<(usize, Arc<ThreadPool>)>);
static POOLS: Mutex<Pools> = Mutex::new((0, Vec::new()));

/// Pools kept at most: a Monte Carlo asks for as many threads as samples when it has fewer,
/// so a caller varying the samples would otherwise keep a pool for every count. The oldest
/// goes (its threads end once it is idle).
const POOLS_KEPT: usize = 4;

/// Whether this thread may hand work to rayon's pools: on one of them already (a pool built
/// in this process, e.g. a Monte Carlo's), or in the process that started (or now starts) the
/// global pool. Call before any use of the global pool, so that its starter is recorded.
pub fn global_pool_usable() -> bool {
    if rayon::current_thread_index().is_some() {
        return true; // a worker of a live pool: nested work stays on it
    }
    let pid = std::process::id();
    match OWNER.compare_exchange(0, pid, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            // Named, so that `top -H` or /proc/PID/task tells them apart. Fails (harmlessly)
            // if something in this process already started the global pool.
            let _ = ThreadPoolBuilder::new()
                .thread_name(|i| format!("fabricsim-rayon-{i}"))
                .build_global();
            true
        }
        Err(owner) => owner == pid,
    }
}

/// Run `f` with every parallel step it reaches on this thread bounded to `threads` threads
/// (0: no bound, rayon's global pool; 1: this thread only; `n`: [`pool`]`(n)`). Results never
/// depend on the bound: parallel steps collect in order.
pub fn with_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            BOUND.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(BOUND.with(|b| b.replace(threads)));
    f()
}

/// A pool of `threads` threads (0: rayon's default, `RAYON_NUM_THREADS` or the cores), built
/// once per process and kept (starting threads costs more than a small call's work; the last
/// [`POOLS_KEPT`] sizes asked for are kept).
pub fn pool(threads: usize) -> Result<Arc<ThreadPool>, ThreadPoolBuildError> {
    let build = || {
        ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("fabricsim-pool-{i}"))
            .build()
            .map(Arc::new)
    };
    // try_lock: a child forked while another thread held the lock would wait forever; then
    // (or when two threads ask at once) this call gets a pool of its own.
    let Ok(mut pools) = POOLS.try_lock() else {
        return build();
    };
    let pid = std::process::id();
    if pools.0 != pid {
        // Forked: the threads behind these pools do not exist here, and dropping a pool
        // would signal them.
        std::mem::forget(std::mem::take(&mut pools.1));
        pools.0 = pid;
    }
    if let Some((_, p)) = pools.1.iter().find(|(n, _)| *n == threads) {
        return Ok(p.clone());
    }
    let p = build()?;
    if pools.1.len() >= POOLS_KEPT {
        pools.1.remove(0);
    }
    pools.1.push((threads, p.clone()));
    Ok(p)
}

/// Where a parallel step of `len` items (parallel above `min_len`) runs.
enum Place {
    /// On the calling thread.
    Here,
    /// On the pool this thread belongs to, or the global pool.
    Current,
    /// On a pool of the bound's size.
    Pool(Arc<ThreadPool>),
}

fn place(len: usize, min_len: usize) -> Place {
    if len <= min_len {
        return Place::Here;
    }
    if rayon::current_thread_index().is_some() {
        return Place::Current; // inside a bounded pool already (or nested): stay on it
    }
    match BOUND.with(Cell::get) {
        0 if global_pool_usable() => Place::Current,
        0 | 1 => Place::Here,
        n => pool(n).map_or(Place::Here, Place::Pool),
    }
}

/// `f` over `items`, in order: in parallel (batches of at least `min_len`) within this
/// thread's bound ([`with_threads`]) where this process may use the pool, else on the calling
/// thread.
pub(crate) fn map_collect<T, R, F>(items: &[T], min_len: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync + Send,
{
    let par = || {
        items
            .par_iter()
            .with_min_len(min_len.max(1))
            .map(&f)
            .collect()
    };
    match place(items.len(), min_len) {
        Place::Here => items.iter().map(&f).collect(),
        Place::Current => par(),
        Place::Pool(p) => p.install(par),
    }
}

/// `f` on each of `items`, in parallel within this thread's bound (see [`map_collect`]).
pub(crate) fn for_each<T, F>(items: &[T], f: F)
where
    T: Sync,
    F: Fn(&T) + Sync + Send,
{
    let par = || items.par_iter().for_each(&f);
    match place(items.len(), 1) {
        Place::Here => items.iter().for_each(&f),
        Place::Current => par(),
        Place::Pool(p) => p.install(par),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

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

    /// The threads that ran the items of a parallel step under `bound`.
    fn threads_used(bound: usize) -> HashSet<std::thread::ThreadId> {
        let items: Vec<u64> = (0..4000).collect();
        let seen = Mutex::new(HashSet::new());
        let sums = with_threads(bound, || {
            map_collect(&items, 1, |&x| {
                seen.lock().unwrap().insert(std::thread::current().id());
                // enough work that an idle thread of the pool steals some
                (0..2000u64).fold(x, |a, b| a.wrapping_mul(31).wrapping_add(b))
            })
        });
        let expect: Vec<u64> = items
            .iter()
            .map(|&x| (0..2000u64).fold(x, |a, b| a.wrapping_mul(31).wrapping_add(b)))
            .collect();
        assert_eq!(sums, expect);
        seen.into_inner().unwrap()
    }

    #[test]
    fn a_bound_of_one_keeps_every_step_on_the_calling_thread() {
        let used = threads_used(1);
        assert_eq!(used, HashSet::from([std::thread::current().id()]));
        // the bound ends with the call
        assert_eq!(BOUND.with(Cell::get), 0);
    }

    #[test]
    fn a_bound_of_n_runs_on_a_kept_pool_of_n_threads() {
        let used = threads_used(2);
        assert!(!used.contains(&std::thread::current().id()));
        assert!(!used.is_empty() && used.len() <= 2, "{used:?}");
        // Kept: asked twice, the same pool. Another test may hold the pools' lock at that
        // moment (then a call gets a pool of its own), so a few tries, on a size no other
        // test asks for.
        let kept = (0..200).any(|_| {
            let same = Arc::ptr_eq(&pool(13).unwrap(), &pool(13).unwrap());
            if !same {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            same
        });
        assert!(kept, "pool(13) was built afresh every time");
        assert_eq!(pool(3).unwrap().current_num_threads(), 3);
        // a few sizes are kept, not one per size ever asked for
        for n in 4..12 {
            assert_eq!(pool(n).unwrap().current_num_threads(), n);
        }
        let kept = POOLS.lock().unwrap().1.len();
        assert!(kept <= POOLS_KEPT, "{kept}");
    }
}
