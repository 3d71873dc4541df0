//! How blocks are executed.

use std::path::PathBuf;

use parex_engine::StartPolicy;
use serde::Deserialize;

/// How the parallel path starts a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ParallelStart {
    /// On the sequential executor, timed; the rest on Block-STM once the
    /// block's transactions prove expensive enough to gain from it. On the
    /// 2-core development machines node transfers do not (blocks of
    /// 10,000 still switch by mistake now and then: `docs/NODE.md`).
    #[default]
    Probe,
    /// On Block-STM from the first transaction, when the block is big
    /// enough for two workers (`min_txs_per_worker` each), whatever its
    /// transactions cost: what the devnet shows.
    BlockStm,
}

/// The name the flag and the TOML file take.
impl std::fmt::Display for ParallelStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use clap::ValueEnum;
        match self.to_possible_value() {
            Some(value) => f.write_str(value.get_name()),
            None => Ok(()),
        }
    }
}

impl ParallelStart {
    /// The engine's policy.
    pub fn policy(self) -> StartPolicy {
        match self {
            ParallelStart::Probe => StartPolicy::Probe,
            ParallelStart::BlockStm => StartPolicy::ProbeSmall,
        }
    }
}

/// Execution settings of a [`Blockchain`](super::Blockchain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionConfig {
    /// Whether large blocks run on the parallel executor.
    pub parallel_execution_enabled: bool,
    /// The smallest block (user transactions) that runs in parallel.
    pub min_txs_for_parallel: usize,
    /// Worker threads of the parallel executor, 1 to
    /// [`parex_engine::MAX_THREADS`].
    pub execution_threads: usize,
    /// Transactions each parallel worker needs: under
    /// [`ParallelStart::BlockStm`] a block on the parallel path gets
    /// `min(threads, (txs + 2) / min_txs_per_worker)` workers (the engine's
    /// block holds the reward and the fee payout too), and one too small
    /// for two starts sequentially inside the engine (waking a worker costs
    /// more than a few microsecond transactions), going on in parallel only
    /// if its transactions prove expensive; under [`ParallelStart::Probe`]
    /// every block does, only one too small for two is left unchecked
    /// after a block of cheap transactions, and after a block that went on
    /// with Block-STM one of up to `parex_engine::AT_ONCE_MAX_TXNS` may
    /// run on it at once. 0 runs Block-STM on every
    /// block of the parallel path from its first transaction. `parex
    /// calibrate` measures both thresholds on this machine.
    pub min_txs_per_worker: usize,
    /// How the parallel path starts a block.
    pub parallel_start: ParallelStart,
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
            execution_threads: parex_engine::available_threads(),
            min_txs_per_worker: parex_engine::DEFAULT_MIN_TXNS_PER_WORKER,
            parallel_start: ParallelStart::default(),
            adaptive_execution: false,
            shadow_execution: false,
            reproducer_dir: PathBuf::from("."),
        }
    }
}
