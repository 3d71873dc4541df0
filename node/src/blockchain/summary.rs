//! What applying a block reports.

use std::time::Duration;

use parex_engine::{ExecutionStats, TxnOutcome};

use super::{ExecutionPath, MergeSummary};
use crate::crypto::Hash;
use crate::vm::TxResult;

/// The result of [`Blockchain::add_new_block`](super::Blockchain::add_new_block).
#[derive(Debug, Clone)]
pub struct BlockSummary {
    /// The block's topoheight.
    pub topoheight: u64,
    /// The block's hash.
    pub hash: Hash,
    /// The state commitment after it.
    pub commitment: Hash,
    /// The executor that produced the kept result.
    pub path: ExecutionPath,
    /// One outcome per user transaction, in block order (the synthetic
    /// reward and payout are left out).
    pub outcomes: Vec<TxnOutcome<TxResult>>,
    /// Executor counters.
    pub stats: ExecutionStats,
    /// Execution time (both runs under shadow execution).
    pub exec_time: Duration,
    /// What the block changed.
    pub merge: MergeSummary,
    /// Whether shadow execution found a divergence.
    pub diverged: bool,
}

impl BlockSummary {
    /// User transactions in the block.
    pub fn tx_count(&self) -> usize {
        self.outcomes.len()
    }

    /// User transactions that changed nothing: orphaned by a rule, or
    /// reverted because a delta overflowed.
    pub fn orphaned(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|outcome| outcome.output().is_none_or(TxResult::is_orphaned))
            .count()
    }
}
