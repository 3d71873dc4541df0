//! The life cycle of one transaction.

/// Where a transaction's current incarnation stands.
///
/// ```text
///   ReadyToExecute(i) ──try_incarnate──▶ Executing(i) ──finish_execution──▶ Executed(i)
///         ▲                                  │                                  │
///         │                         add_dependency                     try_validation_abort
///         │                                  ▼                                  ▼
///         └────────────── set_ready ─── Aborting(i) ◀───────────────────────────┘
///                        (i becomes i + 1)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    /// Waiting to be executed.
    ReadyToExecute,
    /// Taken by one worker, which is executing it.
    Executing,
    /// Executed; its writes are in the multi-version memory.
    Executed,
    /// Aborted by a failed validation, or suspended on a dependency: its
    /// next incarnation will be made ready.
    Aborting,
}
