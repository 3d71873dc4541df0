//! The worker threads of a [`ParallelExecutor`](super::ParallelExecutor):
//! spawned once, parked between blocks, and handed one job per block.
//!
//! The pool uses `std` directly, not the `sync` facade: it only starts and
//! joins the workers of a block, and the loom tests drive the worker loop
//! with threads of their own.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

/// A job: called once per worker with the worker's id.
type Job = dyn Fn(usize) + Sync;

/// A job with its lifetime erased. Only dereferenced by a helper that joined
/// the job (under the dispatch lock, before the caller closed it), and the
/// caller of [`WorkerPool::run`], which borrows the job, does not return
/// before every helper that joined has finished.
#[derive(Clone, Copy)]
struct JobPtr(*const Job);

// SAFETY: the pointee is `Sync` and outlives every use (see `JobPtr`).
unsafe impl Send for JobPtr {}

struct Dispatch {
    generation: u64,
    job: Option<JobPtr>,
    /// Helpers with an id up to this one may take part in the current job.
    last_helper: usize,
    /// Set by the caller once its own part is done: helpers that wake up
    /// later leave the job alone (a Block-STM block needs no particular
    /// number of workers, and waiting for a slow wake-up would cost more
    /// than a small block).
    closed: bool,
    /// Helpers that joined the current job.
    joined: usize,
    shutdown: bool,
}

struct Shared {
    dispatch: Mutex<Dispatch>,
    start: Condvar,
    /// Helpers that finished the current job; changed under `finished_lock`.
    finished: AtomicUsize,
    finished_lock: Mutex<()>,
    finished_cv: Condvar,
}

/// Threads that run one job at a time, together with the caller.
pub(crate) struct WorkerPool {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// A pool that runs jobs on up to `threads` threads: the caller of
    /// [`run`](Self::run) and `threads - 1` helpers.
    pub(crate) fn new(threads: usize) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            dispatch: Mutex::new(Dispatch {
                generation: 0,
                job: None,
                last_helper: 0,
                closed: true,
                joined: 0,
                shutdown: false,
            }),
            start: Condvar::new(),
            finished: AtomicUsize::new(0),
            finished_lock: Mutex::new(()),
            finished_cv: Condvar::new(),
        });
        let mut pool = Self {
            shared,
            helpers: Vec::with_capacity(threads.saturating_sub(1)),
        };
        for id in 1..threads {
            let shared = Arc::clone(&pool.shared);
            let handle = std::thread::Builder::new()
                .name(format!("parex-worker-{id}"))
                .spawn(move || helper_loop(&shared, id))?;
            pool.helpers.push(handle);
        }
        Ok(pool)
    }

    /// Runs `lead` on the calling thread; once `lead` calls
    /// [`Offer::wake`], offers `job(1..workers)` to helpers. Returns, with
    /// how many helpers joined, when `lead` has returned and every helper
    /// that joined in time has too. A
    /// helper joins if it wakes up before `lead` is done, so `job` must be
    /// correct with any number of the offered workers (Block-STM is: the
    /// workers share one scheduler). `job` must not unwind: a helper's
    /// panic is caught and dropped.
    ///
    /// Waking is left to `lead` because it is not free: the futex wake
    /// costs the caller microseconds, and a block that turns out serial
    /// before it wakes anyone pays none of it.
    pub(crate) fn run<'job, R>(
        &self,
        workers: usize,
        job: &'job (dyn Fn(usize) + Sync + 'job),
        lead: impl FnOnce(&Offer<'_, 'job>) -> R,
    ) -> (R, usize) {
        let offer = Offer {
            shared: &self.shared,
            helpers: workers.saturating_sub(1).min(self.helpers.len()),
            job,
            offered: Cell::new(false),
            joined: Cell::new(0),
        };
        let result = {
            let _wait = CloseAndWait(&offer);
            lead(&offer)
        };
        (result, offer.joined.get())
    }
}

/// The right to hand the current job to the helpers, given to the caller's
/// part of [`WorkerPool::run`].
pub(crate) struct Offer<'p, 'job> {
    shared: &'p Shared,
    helpers: usize,
    job: &'job (dyn Fn(usize) + Sync + 'job),
    offered: Cell<bool>,
    /// Set when the job is closed: the helpers that joined it.
    joined: Cell<usize>,
}

impl<'job> Offer<'_, 'job> {
    /// Wakes the helpers to join the job; only the first call does
    /// anything.
    pub(crate) fn wake(&self) {
        if self.helpers == 0 || self.offered.replace(true) {
            return;
        }
        // SAFETY: only the lifetime is erased; `CloseAndWait`, armed
        // before the caller's part started, does not let `run` return (or
        // unwind) before every helper that joined has finished with the
        // pointer, and no helper joins after it closed the job.
        let ptr: *const Job = unsafe {
            std::mem::transmute::<&'job (dyn Fn(usize) + Sync + 'job), &'static Job>(self.job)
        };
        self.shared.finished.store(0, Ordering::SeqCst);
        let mut dispatch = lock(&self.shared.dispatch);
        dispatch.generation += 1;
        dispatch.job = Some(JobPtr(ptr));
        dispatch.last_helper = self.helpers;
        dispatch.closed = false;
        dispatch.joined = 0;
        drop(dispatch);
        self.shared.start.notify_all();
    }
}

/// Closes the current job and blocks until every helper that joined it has
/// finished, also when the caller's own part unwinds.
struct CloseAndWait<'o, 'p, 'job>(&'o Offer<'p, 'job>);

impl Drop for CloseAndWait<'_, '_, '_> {
    fn drop(&mut self) {
        let offer = self.0;
        if !offer.offered.get() {
            return;
        }
        let shared = offer.shared;
        let joined = {
            let mut dispatch = lock(&shared.dispatch);
            dispatch.closed = true;
            dispatch.job = None;
            dispatch.joined
        };
        offer.joined.set(joined);
        // A short spin first: at the end of a block the helpers that joined
        // finish within microseconds of the caller.
        for _ in 0..256 {
            if shared.finished.load(Ordering::SeqCst) == joined {
                return;
            }
            std::hint::spin_loop();
        }
        let mut guard = lock(&shared.finished_lock);
        while shared.finished.load(Ordering::SeqCst) != joined {
            guard = shared
                .finished_cv
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

fn helper_loop(shared: &Shared, id: usize) {
    let mut seen_generation = 0;
    loop {
        let job = {
            let mut dispatch = lock(&shared.dispatch);
            loop {
                if dispatch.shutdown {
                    return;
                }
                if dispatch.generation != seen_generation {
                    seen_generation = dispatch.generation;
                    if id <= dispatch.last_helper && !dispatch.closed {
                        dispatch.joined += 1;
                        break dispatch.job;
                    }
                }
                dispatch = shared
                    .start
                    .wait(dispatch)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        if let Some(JobPtr(job)) = job {
            // SAFETY: this helper joined the job before it was closed, and
            // `run` does not return before it reports below.
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe { (*job)(id) }));
        }
        // Reported even without a job pointer: the caller counts joins.
        let _guard = lock(&shared.finished_lock);
        shared.finished.fetch_add(1, Ordering::SeqCst);
        shared.finished_cv.notify_all();
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        lock(&self.shared.dispatch).shutdown = true;
        self.shared.start.notify_all();
        for handle in self.helpers.drain(..) {
            let _ = handle.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offers `job` to the helpers at once and runs `job(0)` on the caller.
    fn run_all(pool: &WorkerPool, workers: usize, job: &(dyn Fn(usize) + Sync)) {
        let ((), joined) = pool.run(workers, job, |offer| {
            offer.wake();
            job(0);
        });
        assert!(joined < workers.max(1));
    }

    #[test]
    fn the_caller_always_runs_and_helpers_join_at_most_once_per_job() {
        let pool = WorkerPool::new(4).unwrap();
        for workers in [1, 2, 4, 3, 4, 1] {
            let ids = Mutex::new(Vec::new());
            let job = |id| {
                // Long enough for woken helpers to join.
                std::thread::sleep(std::time::Duration::from_millis(20));
                ids.lock().unwrap().push(id);
            };
            run_all(&pool, workers, &job);
            let mut ids = ids.into_inner().unwrap();
            ids.sort_unstable();
            assert_eq!(ids[0], 0);
            ids.dedup();
            assert!(
                ids.len() <= workers && ids.iter().all(|&id| id < workers),
                "{ids:?}"
            );
        }
    }

    #[test]
    fn a_job_borrowing_the_stack_is_finished_when_run_returns() {
        let pool = WorkerPool::new(2).unwrap();
        for _ in 0..200 {
            let calls = AtomicUsize::new(0);
            run_all(&pool, 2, &|_| {
                calls.fetch_add(1, Ordering::SeqCst);
            });
            // Every helper that joined has returned: the count is final.
            let seen = calls.load(Ordering::SeqCst);
            assert!((1..=2).contains(&seen));
            std::thread::yield_now();
            assert_eq!(calls.load(Ordering::SeqCst), seen);
        }
    }

    #[test]
    fn a_panicking_helper_neither_hangs_nor_poisons_the_pool() {
        let pool = WorkerPool::new(2).unwrap();
        run_all(&pool, 2, &|id| {
            if id == 1 {
                panic!("helper fails");
            }
        });
        let calls = AtomicUsize::new(0);
        run_all(&pool, 2, &|_| {
            calls.fetch_add(1, Ordering::SeqCst);
        });
        assert!(calls.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn helpers_never_woken_never_run_and_cost_no_wait() {
        let pool = WorkerPool::new(4).unwrap();
        let calls = AtomicUsize::new(0);
        let job = |_| {
            calls.fetch_add(1, Ordering::SeqCst);
        };
        for _ in 0..50 {
            assert_eq!(pool.run(4, &job, |_| 7), (7, 0));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        // A later offer reaches each of them once, however often it wakes.
        let ((), joined) = pool.run(4, &job, |offer| {
            offer.wake();
            offer.wake();
            let started = std::time::Instant::now();
            while calls.load(Ordering::SeqCst) < 3 {
                assert!(started.elapsed().as_secs() < 10, "the helpers never joined");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(joined, 3);
    }
}
