//! The two execution paths behind one call.

use std::fmt;

use parex_engine::{
    BaseStorage, BlockError, EngineError, Executor, ParallelExecutor, SequentialExecutor,
    VmBlockOutput,
};

use super::ExecutionConfig;
use crate::state::{StateKey, StateValue};
use crate::vm::{ChainTxn, ChainVm};

/// The executor of the parallel path.
type ParallelImpl = ParallelExecutor;

/// The parallel executor, sized and started as configured (see
/// [`ExecutionConfig`]).
fn new_parallel(config: &ExecutionConfig) -> Result<ParallelImpl, EngineError> {
    Ok(ParallelExecutor::new(config.execution_threads)?
        .with_min_txns_per_worker(config.min_txs_per_worker)
        .with_start(config.parallel_start.policy()))
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
    /// Builds the executors; the parallel one as `config` says.
    pub fn new(config: &ExecutionConfig) -> Result<Self, EngineError> {
        Ok(Self {
            sequential: SequentialExecutor::new(),
            parallel: new_parallel(config)?,
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
