//! Flags shared by commands that execute blocks.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::blockchain::{ExecutionConfig, ParallelStart};
use crate::config::{ConfigError, ConfigLayer};

/// Execution settings; each flag also reads a `PAREX_*` variable.
#[derive(Debug, Clone, Default, Args)]
pub struct ExecArgs {
    /// TOML file with execution settings (flags and variables override it).
    #[arg(long, env = "PAREX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run large blocks on the parallel executor.
    #[arg(long, env = "PAREX_PARALLEL_EXECUTION_ENABLED", value_name = "BOOL")]
    pub parallel_execution_enabled: Option<bool>,
    /// Smallest block (transactions) that runs in parallel [default: 20].
    #[arg(long, env = "PAREX_MIN_TXS_FOR_PARALLEL", value_name = "N")]
    pub min_txs_for_parallel: Option<usize>,
    /// Parallel executor threads [default: all cores, at most 1024].
    #[arg(long, env = "PAREX_EXECUTION_THREADS", value_name = "N")]
    pub execution_threads: Option<usize>,
    /// Transactions each parallel worker needs; 0 runs Block-STM on every
    /// parallel-path block [default: 32].
    #[arg(long, env = "PAREX_MIN_TXS_PER_WORKER", value_name = "N")]
    pub min_txs_per_worker: Option<usize>,
    /// How the parallel path starts a block [default: probe].
    #[arg(long, env = "PAREX_PARALLEL_START", value_enum, value_name = "START")]
    pub parallel_start: Option<ParallelStart>,
    /// Run each block of at least --min-txs-for-parallel transactions on
    /// the path measured faster for blocks of its size.
    #[arg(long, env = "PAREX_ADAPTIVE_EXECUTION", value_name = "BOOL")]
    pub adaptive_execution: Option<bool>,
    /// Execute every block both ways and compare.
    #[arg(long, env = "PAREX_SHADOW_EXECUTION", value_name = "BOOL")]
    pub shadow_execution: Option<bool>,
}

impl ExecArgs {
    /// Flags and variables over the file over defaults; divergence
    /// reproducers go to `data_dir/reproducers`.
    pub fn resolve(&self, data_dir: &Path) -> Result<ExecutionConfig, ConfigError> {
        let file = match &self.config {
            Some(path) => ConfigLayer::from_file(path)?,
            None => ConfigLayer::default(),
        };
        let flags = ConfigLayer {
            parallel_execution_enabled: self.parallel_execution_enabled,
            min_txs_for_parallel: self.min_txs_for_parallel,
            execution_threads: self.execution_threads,
            min_txs_per_worker: self.min_txs_per_worker,
            parallel_start: self.parallel_start,
            adaptive_execution: self.adaptive_execution,
            shadow_execution: self.shadow_execution,
        };
        flags.over(file).resolve(data_dir.join("reproducers"))
    }
}
