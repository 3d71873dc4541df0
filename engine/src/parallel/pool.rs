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

/// A job with its lifetime erased. Only dereferenced between
/// [`WorkerPool::run`]'s publication of the job and the moment the last
/// helper reports it finished, while `run` — which borrows the job — is
/// still waiting.
#[derive(Clone, Copy)]
struct JobPtr(*const Job);

// SAFETY: the pointee is `Sync` and outlives every use (see `JobPtr`).
unsafe impl Send for JobPtr {}

struct Dispatch {
    generation: u64,
    job: Option<JobPtr>,
    /// Helpers with an id up to this one take part in the current job.
    last_helper: usize,
    shutdown: bool,
}

struct Shared {
    dispatch: Mutex<Dispatch>,
    start: Condvar,
    /// Helpers still running the current job.
    running: AtomicUsize,
    finished_lock: Mutex<()>,
    finished: Condvar,
}

/// Threads that run one job at a time, together with the caller.
pub(crate) struct WorkerPool {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// A pool that runs jobs on `threads` threads: the caller of
    /// [`run`](Self::run) and `threads - 1` helpers.
    pub(crate) fn new(threads: usize) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            dispatch: Mutex::new(Dispatch {
                generation: 0,
                job: None,
                last_helper: 0,
                shutdown: false,
            }),
            start: Condvar::new(),
            running: AtomicUsize::new(0),
            finished_lock: Mutex::new(()),
            finished: Condvar::new(),
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

    /// Runs `job(0)` on the calling thread and `job(1..workers)` on helpers,
    /// and returns when every call has returned. `job` must not unwind: a
    /// helper's panic is caught and dropped.
    pub(crate) fn run<'job>(&self, workers: usize, job: &'job (dyn Fn(usize) + Sync + 'job)) {
        let helpers = workers.saturating_sub(1).min(self.helpers.len());
        if helpers > 0 {
            // SAFETY: only the lifetime is erased; `WaitForHelpers` below does
            // not let this function return (or unwind) before every helper
            // has finished with the pointer.
            let ptr: *const Job = unsafe {
                std::mem::transmute::<&'job (dyn Fn(usize) + Sync + 'job), &'static Job>(job)
            };
            self.shared.running.store(helpers, Ordering::SeqCst);
            let mut dispatch = lock(&self.shared.dispatch);
            dispatch.generation += 1;
            dispatch.job = Some(JobPtr(ptr));
            dispatch.last_helper = helpers;
            drop(dispatch);
            self.shared.start.notify_all();
        }
        let _wait = WaitForHelpers(&self.shared);
        job(0);
    }
}

/// Blocks until every helper has finished the current job, also when the
/// caller's own part unwinds.
struct WaitForHelpers<'a>(&'a Shared);

impl Drop for WaitForHelpers<'_> {
    fn drop(&mut self) {
        let shared = self.0;
        // A short spin first: at the end of a block the helpers finish
        // within microseconds of the caller.
        for _ in 0..256 {
            if shared.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            std::hint::spin_loop();
        }
        let mut guard = lock(&shared.finished_lock);
        while shared.running.load(Ordering::SeqCst) != 0 {
            guard = shared
                .finished
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
                    if id <= dispatch.last_helper {
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
            // SAFETY: `run` keeps the job alive until `running` drops to 0,
            // which happens only after this call.
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe { (*job)(id) }));
            if shared.running.fetch_sub(1, Ordering::SeqCst) == 1 {
                drop(lock(&shared.finished_lock));
                shared.finished.notify_all();
            }
        }
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
    fn every_worker_runs_once_per_job_and_the_pool_is_reused() {
        let pool = WorkerPool::new(4).unwrap();
        for workers in [1, 2, 4, 3, 4] {
            let calls = AtomicUsize::new(0);
            let ids = Mutex::new(Vec::new());
            pool.run(workers, &|id| {
                calls.fetch_add(1, Ordering::SeqCst);
                ids.lock().unwrap().push(id);
            });
            assert_eq!(calls.load(Ordering::SeqCst), workers);
            let mut ids = ids.into_inner().unwrap();
            ids.sort_unstable();
            assert_eq!(ids, (0..workers).collect::<Vec<_>>());
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
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
