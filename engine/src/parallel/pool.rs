//! The worker threads of a [`ParallelExecutor`](super::ParallelExecutor):
//! spawned once, parked between blocks, and handed one job per block.
//!
//! The pool uses `std` directly, not the `sync` facade: it only starts and
//! joins the workers of a block, and the loom tests drive the worker loop
//! with threads of their own.

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

    /// Runs `job(0)` on the calling thread and offers `job(1..workers)` to
    /// helpers; returns when the caller's part has returned and every
    /// helper that joined in time has too. A helper joins if it wakes up
    /// before the caller's part is done, so `job` must be correct with any
    /// number of the offered workers (Block-STM is: the workers share one
    /// scheduler). `job` must not unwind: a helper's panic is caught and
    /// dropped.
    pub(crate) fn run<'job>(&self, workers: usize, job: &'job (dyn Fn(usize) + Sync + 'job)) {
        let helpers = workers.saturating_sub(1).min(self.helpers.len());
        if helpers > 0 {
            // SAFETY: only the lifetime is erased; `CloseAndWait` below does
            // not let this function return (or unwind) before every helper
            // that joined has finished with the pointer, and no helper joins
            // after it closed the job.
            let ptr: *const Job = unsafe {
                std::mem::transmute::<&'job (dyn Fn(usize) + Sync + 'job), &'static Job>(job)
            };
            self.shared.finished.store(0, Ordering::SeqCst);
            let mut dispatch = lock(&self.shared.dispatch);
            dispatch.generation += 1;
            dispatch.job = Some(JobPtr(ptr));
            dispatch.last_helper = helpers;
            dispatch.closed = false;
            dispatch.joined = 0;
            drop(dispatch);
            self.shared.start.notify_all();
        }
        let _wait = CloseAndWait(&self.shared, helpers > 0);
        job(0);
    }
}

/// Closes the current job and blocks until every helper that joined it has
/// finished, also when the caller's own part unwinds.
struct CloseAndWait<'a>(&'a Shared, bool);

impl Drop for CloseAndWait<'_> {
    fn drop(&mut self) {
        let CloseAndWait(shared, offered) = *self;
        if !offered {
            return;
        }
        let joined = {
            let mut dispatch = lock(&shared.dispatch);
            dispatch.closed = true;
            dispatch.job = None;
            dispatch.joined
        };
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

    #[test]
    fn the_caller_always_runs_and_helpers_join_at_most_once_per_job() {
        let pool = WorkerPool::new(4).unwrap();
        for workers in [1, 2, 4, 3, 4, 1] {
            let ids = Mutex::new(Vec::new());
            pool.run(workers, &|id| {
                // Long enough for woken helpers to join.
                std::thread::sleep(std::time::Duration::from_millis(20));
                ids.lock().unwrap().push(id);
            });
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
            pool.run(2, &|_| {
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
        pool.run(2, &|id| {
            if id == 1 {
                panic!("helper fails");
            }
        });
        let calls = AtomicUsize::new(0);
        pool.run(2, &|_| {
            calls.fetch_add(1, Ordering::SeqCst);
        });
        assert!(calls.load(Ordering::SeqCst) >= 1);
    }
}
