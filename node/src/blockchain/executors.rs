//! The two execution paths behind one call.

use std::fmt;

use parex_engine::{
    BaseStorage, BlockError, EngineError, Executor, ParallelExecutor, SequentialExecutor,
    VmBlockOutput,
};

use crate::state::{StateKey, StateValue};
use crate::vm::{ChainTxn, ChainVm};

/// The executor of the parallel path.
type ParallelImpl = ParallelExecutor;

/// The node's `min_txs_for_parallel` is the one threshold: once a block is
/// sent down the parallel path, Block-STM runs it whatever its size (the
/// executor's own per-worker minimum is turned off).
fn new_parallel(threads: usize) -> Result<ParallelImpl, EngineError> {
    Ok(ParallelExecutor::new(threads)?.with_min_txns_per_worker(0))
}

/// Which executor ran a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionPath {
    /// One transaction after another.
    Sequential,
    /// Block-STM.
    Parallel,
    /// Both, compared; the sequential result was kept.
    Shadow,
}

impl fmt::Display for ExecutionPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExecutionPath::Sequential => "sequential",
            ExecutionPath::Parallel => "parallel",
            ExecutionPath::Shadow => "shadow",
        })
    }
}

/// Both executors, built once and reused for every block.
pub struct Executors {
    sequential: SequentialExecutor,
    parallel: ParallelImpl,
}

impl fmt::Debug for Executors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Executors")
    }
}

impl Executors {
    /// Builds the executors; the parallel one with `threads` workers.
    pub fn new(threads: usize) -> Result<Self, EngineError> {
        Ok(Self {
            sequential: SequentialExecutor::new(),
            parallel: new_parallel(threads)?,
        })
    }

    /// Runs `txns` on `base` with the executor of `path` (`Shadow` means
    /// sequential: the caller compares).
    pub fn run<B: BaseStorage<StateKey, StateValue>>(
        &self,
        path: ExecutionPath,
        txns: &[ChainTxn],
        base: &B,
    ) -> Result<VmBlockOutput<ChainVm>, BlockError> {
        match path {
            ExecutionPath::Parallel => self.parallel.execute(&ChainVm, txns, base),
            ExecutionPath::Sequential | ExecutionPath::Shadow => {
                self.sequential.execute(&ChainVm, txns, base)
            }
        }
    }
}
