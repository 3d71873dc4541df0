//! How blocks are executed.

use std::path::PathBuf;

/// Execution settings of a [`Blockchain`](super::Blockchain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionConfig {
    /// Whether large blocks run on the parallel executor.
    pub parallel_execution_enabled: bool,
    /// The smallest block (user transactions) that runs in parallel.
    pub min_txs_for_parallel: usize,
    /// Worker threads of the parallel executor.
    pub execution_threads: usize,
    /// Transactions each parallel worker needs: a block on the parallel path
    /// gets `min(threads, txs / min_txs_per_worker)` workers, and one too
    /// small for two starts sequentially inside the engine (waking a worker
    /// costs more than a few microsecond transactions), going on in
    /// parallel only if its transactions prove expensive. 0 runs Block-STM on
    /// every block of the parallel path. `parex calibrate` measures both
    /// thresholds on this machine.
    pub min_txs_per_worker: usize,
    /// Choose each block's path by measuring: a block of at least
    /// `min_txs_for_parallel` transactions runs on whichever path has been
    /// faster for blocks of its size, both being tried first and the slower
    /// again every 32nd block ([`PathChoice`](super::PathChoice)). Off, it
    /// always runs in parallel.
    pub adaptive_execution: bool,
    /// Run every block both ways and compare (the sequential result is kept).
    pub shadow_execution: bool,
    /// Where a divergence found by shadow execution is written.
    pub reproducer_dir: PathBuf,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        Self {
            parallel_execution_enabled: true,
            min_txs_for_parallel: 20,
            execution_threads: default_threads(),
            min_txs_per_worker: parex_engine::DEFAULT_MIN_TXNS_PER_WORKER,
            adaptive_execution: false,
            shadow_execution: false,
            reproducer_dir: PathBuf::from("."),
        }
    }
}

/// The machine's cores, 1 if unknown.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}
