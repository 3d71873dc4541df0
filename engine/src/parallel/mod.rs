//! The Block-STM parallel executor.

mod block;
mod pool;
mod start;
mod streak;
mod view;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

pub use block::{BlockBuffers, ParallelBlock};
use pool::WorkerPool;
use start::{
    at_once, next_start, overhead_per_txn_ns, rest_workers, worth_parallel, OffsetVm, Overlay,
    COLD_START_MARGIN, COLD_STRETCH_END, FIRST_PROBE, PROBE_GROWTH,
};
pub use start::{StartPolicy, AT_ONCE_MAX_TXNS};

use crate::executor::{Executor, VmBlockOutput};
use crate::kept_buffers::KeptBuffers;
use crate::sequential::SequentialRun;
use crate::{BaseStorage, BlockError, EngineError, ExecutionStats, SequentialExecutor, Vm};

/// Executes blocks with Block-STM on a pool of worker threads that is
/// created once and reused for every block.
///
/// The calling thread is one of the workers. A block starts on the
/// [`SequentialExecutor`](crate::SequentialExecutor)'s tables and goes on
/// with Block-STM only once its transactions prove expensive enough to
/// gain from it ([`StartPolicy`]): on two cores, cheap transfers run
/// slower on Block-STM at every block size. After a block that went on
/// with Block-STM, a block of at most [`AT_ONCE_MAX_TXNS`] transactions
/// that would win at that block's price runs on Block-STM from its first
/// transaction instead. Block-STM's part gets
/// `min(threads, ⌈rest / 4⌉)` workers for the `rest` transactions left.
/// [`StartPolicy::ProbeSmall`] runs a block big enough for two workers by
/// count (`txns / min_txns_per_worker`) on Block-STM from its first
/// transaction; a `min_txns_per_worker` of 0 does so for every block
/// (tests use it).
///
/// A block whose transactions conflict so often that it is essentially
/// sequential is halted and finished sequentially, keeping the validated
/// prefix (see [`ParallelBlock::finish`]).
pub struct ParallelExecutor {
    threads: usize,
    /// The cores the workers share, as the cost model counts them
    /// ([`with_cores`](Self::with_cores)).
    cores: usize,
    min_txns_per_worker: usize,
    start: StartPolicy,
    contention_fallback: bool,
    /// Held for a whole block: one block at a time per executor.
    pool: Mutex<WorkerPool>,
    /// The last block's [`BlockBuffers`], for the next block of the same
    /// VM types: a node's blocks then allocate none of them.
    buffers: KeptBuffers,
    /// Runs every block's sequential start, on tables of its own.
    sequential: SequentialExecutor,
    /// Whether the last parallel block halted as serial: the next one
    /// then holds its helpers while its start looks serial
    /// ([`ParallelBlock::with_helpers_held`]).
    expect_serial: AtomicBool,
    /// After how many transactions the next block too small for two
    /// workers by count is first checked, 0 for not at all
    /// ([`start::NextStart::first_check`]).
    next_first_check: AtomicUsize,
    /// What a transaction of the last block cost as the sequential
    /// executor would run it, if the block went on with Block-STM, else 0
    /// ([`start::NextStart::price_ns`]): whether the next block, if small
    /// enough, runs on Block-STM at once ([`start::at_once`]).
    last_price_ns: AtomicU64,
}

impl std::fmt::Debug for ParallelExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelExecutor")
            .field("threads", &self.threads)
            .field("min_txns_per_worker", &self.min_txns_per_worker)
            .field("start", &self.start)
            .field("contention_fallback", &self.contention_fallback)
            .finish_non_exhaustive()
    }
}

/// The default of [`ParallelExecutor::with_min_txns_per_worker`]: a block
/// under 64 transactions is too small for two workers by count, and is
/// checked only after a block of expensive transactions, if it does not
/// run on Block-STM at once after it ([`StartPolicy`]);
/// under [`StartPolicy::ProbeSmall`] a larger one runs on Block-STM from
/// its first transaction. A compromise, not a measured optimum: on the
/// 2-core development machines Block-STM never paid for cheap transfers
/// and paid from 16 transactions of 20 µs each (`docs/BENCHMARKS.md`);
/// `parex calibrate` measures a machine.
pub const DEFAULT_MIN_TXNS_PER_WORKER: usize = 32;

/// The most threads [`ParallelExecutor::new`] takes. Each is an OS thread
/// spawned up front, and Block-STM gains nothing from workers beyond the
/// cores, so a count past the hardware threads of the largest machines
/// (a few hundred) is a mistake: without a bound, a few digits too many
/// spawn a million threads, and a count near `usize::MAX` overflows the
/// pool's allocation.
pub const MAX_THREADS: usize = 1024;

/// The machine's available cores, 1 if unknown, at most [`MAX_THREADS`]:
/// the thread count [`ParallelExecutor::with_available_parallelism`] uses.
pub fn available_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(MAX_THREADS)
}

impl ParallelExecutor {
    /// An executor with `threads` worker threads (the caller included),
    /// at most [`MAX_THREADS`].
    pub fn new(threads: usize) -> Result<Self, EngineError> {
        if threads == 0 {
            return Err(EngineError::ZeroThreads);
        }
        if threads > MAX_THREADS {
            return Err(EngineError::TooManyThreads(threads));
        }
        Ok(Self {
            threads,
            cores: available_threads(),
            min_txns_per_worker: DEFAULT_MIN_TXNS_PER_WORKER,
            start: StartPolicy::default(),
            contention_fallback: true,
            pool: Mutex::new(WorkerPool::new(threads)?),
            buffers: KeptBuffers::default(),
            sequential: SequentialExecutor::new(),
            expect_serial: AtomicBool::new(false),
            next_first_check: AtomicUsize::new(FIRST_PROBE),
            last_price_ns: AtomicU64::new(0),
        })
    }

    /// An executor with one thread per available core, at most
    /// [`MAX_THREADS`].
    pub fn with_available_parallelism() -> Result<Self, EngineError> {
        Self::new(available_threads())
    }

    /// Sets how many transactions each worker needs for a block to be big
    /// enough by count ([`StartPolicy`]); 0 runs Block-STM on every block
    /// from its first transaction, however small or cheap.
    pub fn with_min_txns_per_worker(mut self, min_txns_per_worker: usize) -> Self {
        self.min_txns_per_worker = min_txns_per_worker;
        self
    }

    /// Sets how many cores the cost model that starts blocks
    /// ([`StartPolicy::Probe`]) lets the workers run on at once: its
    /// predictions count at most this many workers, whatever the thread
    /// count. The machine's available parallelism by default; 0 counts as 1.
    ///
    /// Threads past the cores take turns on them: on 2 cores, an executor
    /// of 16 threads predicted 16 workers' speed, and sent every block of
    /// cheap transfers to Block-STM, at 0.30x of the sequential executor.
    pub fn with_cores(mut self, cores: usize) -> Self {
        self.cores = cores.max(1);
        self
    }

    /// Sets how a block starts ([`StartPolicy::Probe`] by default).
    pub fn with_start(mut self, policy: StartPolicy) -> Self {
        self.start = policy;
        self
    }

    /// Sets whether a heavily conflicting block may be finished sequentially
    /// (on by default).
    pub fn with_contention_fallback(mut self, enabled: bool) -> Self {
        self.contention_fallback = enabled;
        self
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The workers a block of `txns` transactions gets by count; `None` if
    /// it is too small for two (see [`StartPolicy`]).
    pub fn workers_for(&self, txns: usize) -> Option<usize> {
        if self.min_txns_per_worker == 0 {
            return Some(self.threads.min(txns.max(1)));
        }
        let workers = (txns / self.min_txns_per_worker).min(self.threads);
        (workers >= 2).then_some(workers)
    }
}

impl Executor for ParallelExecutor {
    fn execute<VM, S>(
        &self,
        vm: &VM,
        txns: &[VM::Txn],
        storage: &S,
    ) -> Result<VmBlockOutput<VM>, BlockError>
    where
        VM: Vm,
        S: BaseStorage<VM::Key, VM::Value>,
    {
        // What the check that sent the block on to Block-STM priced its
        // transactions at, if one did.
        let mut switch_price_ns = None;
        let overhead_ns = overhead_per_txn_ns(VM::LOCATIONS_PER_TXN);
        let output = match self.start_for(txns.len(), overhead_ns) {
            Start::BlockStm(workers) => self.execute_parallel(vm, txns, storage, workers)?,
            // The very function the sequential executor runs, so that a
            // block that stays sequential differs from it only by the
            // choice of its start.
            Start::Sequential => self.sequential.execute(vm, txns, storage)?,
            // On the sequential executor's tables, unless its transactions
            // prove expensive.
            Start::Checked(checks) => self.sequential.run_block(txns.len(), |run, started| {
                let (stats, price) = self.run_started(vm, txns, storage, run, started, checks)?;
                switch_price_ns = price;
                Ok(stats)
            })?,
        };
        if let Some(next) = next_start(&output.stats, switch_price_ns, overhead_ns, self.cores) {
            self.next_first_check
                .store(next.first_check, Ordering::Relaxed);
            self.last_price_ns.store(next.price_ns, Ordering::Relaxed);
        }
        Ok(output)
    }
}

/// How a block begins.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// On Block-STM, with this many workers.
    BlockStm(usize),
    /// On the sequential executor, to its end.
    Sequential,
    /// On the sequential executor, the rest on Block-STM if its checks say
    /// so.
    Checked(Checks),
}

/// When a block that starts on the sequential executor asks whether to go
/// on with Block-STM.
#[derive(Debug, Clone, Copy)]
enum Checks {
    /// First after this many transactions, its transactions priced by the
    /// time since the block started (see [`StartPolicy::Probe`]).
    Probed(usize),
    /// After each stretch, its transactions priced over it (from the
    /// first transaction's end to the 4th, to the 16th, …): a block big
    /// enough by count.
    ProbedSinceCheck,
    /// Once, after this many transactions, which sends the rest to
    /// Block-STM whatever they cost.
    ParallelAfter(usize),
}

impl ParallelExecutor {
    /// How a block of `txns` transactions begins, under the policy and
    /// after the last block; Block-STM's machinery costs `overhead_ns` a
    /// transaction of the VM ([`start::overhead_per_txn_ns`]).
    fn start_for(&self, txns: usize, overhead_ns: u128) -> Start {
        let by_count = self.workers_for(txns);
        match (self.start, by_count) {
            (StartPolicy::ParallelAfter(first), _) => Start::Checked(Checks::ParallelAfter(first)),
            (_, Some(workers)) if self.min_txns_per_worker == 0 => Start::BlockStm(workers),
            (StartPolicy::ProbeSmall | StartPolicy::ByCount, Some(workers)) => {
                Start::BlockStm(workers)
            }
            (StartPolicy::ByCount, None) => Start::Sequential,
            _ if self.threads < 2 => Start::Sequential,
            _ => {
                let price = self.last_price_ns.load(Ordering::Relaxed);
                let first_check = self.next_first_check.load(Ordering::Relaxed);
                match (
                    at_once(price, self.threads, self.cores, txns, overhead_ns),
                    by_count,
                    first_check,
                ) {
                    (Some(workers), ..) => Start::BlockStm(workers),
                    // Checks cost a block this size little, whatever came
                    // before.
                    (None, Some(_), _) => Start::Checked(Checks::ProbedSinceCheck),
                    (None, None, 0) => Start::Sequential,
                    (None, None, first) => Start::Checked(Checks::Probed(first)),
                }
            }
        }
    }

    /// Runs `txns` on Block-STM with `workers` workers, the caller included.
    fn execute_parallel<VM, S>(
        &self,
        vm: &VM,
        txns: &[VM::Txn],
        storage: &S,
        workers: usize,
    ) -> Result<VmBlockOutput<VM>, BlockError>
    where
        VM: Vm,
        S: BaseStorage<VM::Key, VM::Value>,
    {
        let started = Instant::now();
        let pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let buffers = self
            .buffers
            .take::<BlockBuffers<VM::Key, VM::Value, VM::Output>>()
            .unwrap_or_else(|| {
                BlockBuffers::with_locations_per_txn(txns.len(), VM::LOCATIONS_PER_TXN)
            });
        // Unless the block holds its helpers, they are woken before the
        // buffers are reset, not after: waking one takes tens of
        // microseconds, which the reset (on the caller) then covers. A
        // helper up first waits for the block to be published, and gives
        // up if the caller's part ends without one (its reset unwound). A
        // block that holds them has the caller wake them from its worker
        // loop, once the block's start shows it is worth it.
        let hold = self.expect_serial.load(Ordering::Relaxed);
        let published: OnceLock<ParallelBlock<VM, S>> = OnceLock::new();
        let abandoned = AtomicBool::new(false);
        let helper = |_: usize| {
            // `std`'s spin and yield, as in the pool: not the facade's
            // backoff, which under loom yields to loom's scheduler.
            while published.get().is_none() {
                if abandoned.load(Ordering::Acquire) {
                    return;
                }
                std::hint::spin_loop();
                std::thread::yield_now();
            }
            if let Some(block) = published.get() {
                block.run_worker();
            }
        };
        let ((), helpers_joined) = pool.run(workers, &helper, |offer| {
            if !hold {
                offer.wake();
            }
            let _give_up = GiveUpUnlessPublished(&published, &abandoned);
            let block = published.get_or_init(|| {
                ParallelBlock::with_buffers(vm, txns, storage, buffers)
                    .with_workers(workers)
                    .with_contention_fallback(self.contention_fallback)
                    .with_helpers_held(hold)
            });
            block.run_worker_waking(&|| offer.wake());
        });
        drop(pool);
        let block = published
            .into_inner()
            .ok_or_else(|| BlockError::Internal("the block was never set up".to_owned()))?;
        self.expect_serial
            .store(block.contended(), Ordering::Relaxed);
        let (output, buffers) = block.finish_recycling();
        self.buffers.put(buffers);
        let mut output = output?;
        output.stats.workers = workers;
        output.stats.helpers_joined = helpers_joined;
        output.stats.wall_time = started.elapsed();
        Ok(output)
    }

    /// Runs a block that starts on the sequential executor: on `run`, then,
    /// if `checks` say so, the rest on Block-STM (see [`StartPolicy`]).
    /// Leaves every outcome in `run.outcomes` and every final value in
    /// `run.written` (see [`SequentialExecutor::run_block`]); `started` is
    /// when the block started. Returns the block's statistics, and what a
    /// transaction cost at the check that sent it on to Block-STM, if one
    /// did.
    fn run_started<VM, S>(
        &self,
        vm: &VM,
        txns: &[VM::Txn],
        storage: &S,
        run: &mut SequentialRun<VM::Key, VM::Value, VM::Output>,
        started: Instant,
        checks: Checks,
    ) -> Result<(ExecutionStats, Option<u64>), BlockError>
    where
        VM: Vm,
        S: BaseStorage<VM::Key, VM::Value>,
    {
        let block_size = txns.len();
        // After how many transactions to ask whether to go on in parallel.
        let (mut check, probed, since_check) = match checks {
            Checks::Probed(first) => (first, true, false),
            Checks::ProbedSinceCheck => (1, true, true),
            Checks::ParallelAfter(first) => (first, false, false),
        };
        // The stretches between checks run on the sequential executor's
        // own loop, not on a copy of it: two copies of one loop, placed
        // differently by the compiler, ran node and synthetic blocks 5-10%
        // apart, depending on the build.
        let mut done = 0;
        // The transactions done and the time elapsed at the last check,
        // when the price is taken since then.
        let mut last_check: Option<(usize, Duration)> = None;
        let mut switch_price_ns = None;
        let overhead_ns = overhead_per_txn_ns(VM::LOCATIONS_PER_TXN);
        loop {
            let end = check.min(block_size);
            run.execute(vm, &txns[done..end], done, storage)?;
            done = end;
            if done == block_size || !probed {
                break;
            }
            let rest = block_size - done;
            let workers = rest_workers(self.threads, rest);
            if workers < 2 {
                // Too little left for a helper: no more checks.
                check = block_size;
                continue;
            }
            let elapsed = started.elapsed();
            check = done.saturating_mul(PROBE_GROWTH);
            let (from, since) = match (since_check, last_check) {
                (false, _) => (0, elapsed),
                // The first check only marks the time.
                (true, None) => {
                    last_check = Some((done, elapsed));
                    continue;
                }
                (true, Some((checked, at))) => {
                    last_check = Some((done, elapsed));
                    (checked, elapsed.saturating_sub(at))
                }
            };
            let margin = if since_check && from < COLD_STRETCH_END {
                COLD_START_MARGIN
            } else {
                1
            };
            // Predicted on the workers the cores run at once.
            let on_cores = workers.min(self.cores);
            if worth_parallel(since, done - from, rest, on_cores, margin, overhead_ns) {
                let price = since.as_nanos() / (done - from) as u128;
                switch_price_ns = Some(u64::try_from(price).unwrap_or(u64::MAX));
                break;
            }
        }
        if done == block_size {
            return Ok((ExecutionStats::sequential(block_size), None));
        }

        let rest = block_size - done;
        let workers = rest_workers(self.threads, rest).max(1);
        tracing::debug!(
            parallel_from = done,
            txns = block_size,
            workers,
            "the rest of the block goes on with Block-STM"
        );
        let output = self
            .execute_parallel(
                &OffsetVm {
                    inner: vm,
                    first_idx: done,
                },
                &txns[done..],
                &Overlay {
                    written: &run.written,
                    base: storage,
                },
                workers,
            )
            .map_err(|error| error.shifted(done))?;
        run.outcomes.extend(output.outcomes);
        // Later writes replace the start's at their place in block order.
        run.later_values = output.final_values;
        let stats = output.stats;
        let stats = ExecutionStats {
            txns: block_size,
            executions: stats.executions + done as u64,
            sequential_fallback_from: stats.sequential_fallback_from.map(|from| from + done),
            parallel_from: Some(done),
            ..stats
        };
        Ok((stats, switch_price_ns))
    }
}

/// Sets its flag when dropped with nothing published in its cell: the
/// helpers that wait for the cell then stop waiting.
struct GiveUpUnlessPublished<'a, T>(&'a OnceLock<T>, &'a AtomicBool);

impl<T> Drop for GiveUpUnlessPublished<'_, T> {
    fn drop(&mut self) {
        if self.0.get().is_none() {
            self.1.store(true, Ordering::Release);
        }
    }
}
