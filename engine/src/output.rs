//! What executing a block produces.

use std::time::Duration;

use crate::TxnIndex;

/// The result of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOutcome<O> {
    /// The transaction ran and its writes are part of the block's effect.
    Applied(O),
    /// Applying one of the transaction's deltas overflowed its location:
    /// none of the transaction's writes take effect.
    DeltaOverflow,
}

impl<O> TxnOutcome<O> {
    /// The VM's output, if the transaction was applied.
    pub fn output(&self) -> Option<&O> {
        match self {
            TxnOutcome::Applied(output) => Some(output),
            TxnOutcome::DeltaOverflow => None,
        }
    }
}

/// The effect of a block: identical, field for field (except `stats`), for
/// every executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutput<K, V, O> {
    /// One outcome per transaction, in block order.
    pub outcomes: Vec<TxnOutcome<O>>,
    /// The final value of every location the block wrote, deltas applied,
    /// in block order: ordered by the transaction that last wrote the
    /// location, locations of one transaction by key. This is the order a
    /// chain commits them in, and it costs no global sort.
    pub final_values: Vec<(K, V)>,
    /// What the executor saw while running the block.
    pub stats: ExecutionStats,
}

impl<K, V, O> BlockOutput<K, V, O> {
    /// The outcomes and final values, without the statistics: what must be
    /// equal between executors.
    pub fn effect(&self) -> (&[TxnOutcome<O>], &[(K, V)]) {
        (&self.outcomes, &self.final_values)
    }
}

/// Why Block-STM handed the rest of a block to the sequential executor
/// ([`ExecutionStats::sequential_fallback_from`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackReason {
    /// Conflicts showed the block essentially sequential (its start ran as
    /// one chain, or aborts and waits kept piling up): the rest runs faster
    /// in order than re-executed in parallel.
    Contention,
    /// A transaction's delta overflowed: it is reverted, and transactions
    /// above it may have read its writes.
    DeltaOverflow,
    /// The block wrote more locations than its multi-version memory was
    /// sized for; the memory grows for the next block.
    MemoryFull,
}

impl std::fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FallbackReason::Contention => "contention",
            FallbackReason::DeltaOverflow => "delta overflow",
            FallbackReason::MemoryFull => "memory full",
        })
    }
}

/// Counters of one block's execution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutionStats {
    /// Transactions in the block.
    pub txns: usize,
    /// Worker threads the block was given (1 for the sequential executor).
    pub workers: usize,
    /// Helper threads (workers other than the caller) that took part: fewer
    /// than `workers - 1` when the block was done, or halted, before they
    /// were up, or when the caller never woke them (a block whose start
    /// was serial, see `ParallelExecutor`).
    pub helpers_joined: usize,
    /// Incarnations started, including those suspended on a dependency.
    pub executions: u64,
    /// Read-set validations performed.
    pub validations: u64,
    /// Validations that failed and aborted an incarnation.
    pub validation_failures: u64,
    /// Times an incarnation stopped on an ESTIMATE to wait for a lower
    /// transaction.
    pub dependency_waits: u64,
    /// Where Block-STM halted and the sequential executor finished the
    /// block, after a delta overflow or under heavy contention: every
    /// transaction from this index on was executed by the sequential
    /// executor. `None` for a block Block-STM ran to its end, and for one
    /// it never ran (`parallel_from` is `None`).
    pub sequential_fallback_from: Option<TxnIndex>,
    /// Why Block-STM handed the block over: set exactly when
    /// `sequential_fallback_from` is.
    pub fallback_reason: Option<FallbackReason>,
    /// Where the block went on with Block-STM: transactions from this
    /// index on ran on it. 0 for a block run on Block-STM from its first
    /// transaction; a later index for one started on the sequential
    /// executor whose transactions proved expensive (see `StartPolicy`);
    /// `None` for a block that ran on the sequential executor throughout.
    pub parallel_from: Option<TxnIndex>,
    /// The bytes Block-STM's tables held for the block: the multi-version
    /// memory's location index and arena, its per-transaction records,
    /// the scheduler's states, the result slots and the materialization
    /// chunks, as sized for the largest blocks the executor ran (it keeps
    /// them from block to block). Spilled version lists and read sets
    /// come on top (see `MvMemory::table_bytes`). 0 for a block that never
    /// ran on Block-STM.
    pub memory_bytes: usize,
    /// Wall-clock time of the whole execution, materialization included.
    pub wall_time: Duration,
}

impl ExecutionStats {
    /// The statistics of `txns` transactions run one after another.
    pub(crate) fn sequential(txns: usize) -> Self {
        Self {
            txns,
            workers: 1,
            executions: txns as u64,
            ..Self::default()
        }
    }

    /// Executions beyond the first of each transaction.
    pub fn reexecutions(&self) -> u64 {
        self.executions.saturating_sub(self.txns as u64)
    }
}
