//! The Block-STM parallel executor.

mod block;
mod pool;
mod view;

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

pub use block::ParallelBlock;
use pool::WorkerPool;

use crate::executor::{Executor, VmBlockOutput};
use crate::{BaseStorage, BlockError, EngineError, Vm};

/// Executes blocks with Block-STM on a pool of worker threads that is
/// created once and reused for every block.
///
/// The calling thread is one of the workers, so `threads == 1` runs the
/// parallel algorithm without any other thread. A block gets
/// `min(threads, max(1, txns / 2))` workers: a worker needs at least two
/// transactions to be worth waking.
pub struct ParallelExecutor {
    threads: usize,
    /// Held for a whole block: one block at a time per executor.
    pool: Mutex<WorkerPool>,
}

impl std::fmt::Debug for ParallelExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelExecutor")
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl ParallelExecutor {
    /// An executor with `threads` worker threads (the caller included).
    pub fn new(threads: usize) -> Result<Self, EngineError> {
        if threads == 0 {
            return Err(EngineError::ZeroThreads);
        }
        Ok(Self {
            threads,
            pool: Mutex::new(WorkerPool::new(threads)?),
        })
    }

    /// An executor with one thread per available core.
    pub fn with_available_parallelism() -> Result<Self, EngineError> {
        Self::new(std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn workers_for(&self, txns: usize) -> usize {
        self.threads.min((txns / 2).max(1))
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
        let started = Instant::now();
        let workers = self.workers_for(txns.len());
        let block = ParallelBlock::new(vm, txns, storage);
        {
            let pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            pool.run(workers, &|_| block.run_worker());
        }
        let mut output = block.finish()?;
        output.stats.workers = workers;
        output.stats.wall_time = started.elapsed();
        Ok(output)
    }
}
