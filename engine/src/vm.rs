//! What the engine asks of a virtual machine: the [`Vm`] trait and the
//! per-transaction [`TxnView`] it executes against.

use std::fmt::Debug;

pub use parex_mvmemory::{Delta, Key, TxnIndex, Value};

/// The reason a read could not be served: the transaction read a location
/// whose latest lower version is an ESTIMATE, or the block was halted, or the
/// base storage failed.
///
/// A VM cannot build one; it only passes it on, normally with `?` into a
/// [`VmError`]. If a VM swallows it and carries on, the engine still discards
/// that incarnation: the view remembers that it was suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suspend {
    _private: (),
}

impl Suspend {
    pub(crate) const fn new() -> Self {
        Self { _private: () }
    }
}

/// What a [`Vm::execute`] may fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmError {
    /// A read returned [`Suspend`]; the engine reschedules the transaction.
    Suspended(Suspend),
    /// The transaction cannot be executed at all: the block is invalid.
    ///
    /// A speculative incarnation that fails this way (it may have seen an
    /// inconsistent state) is simply retried; only a failure that sequential
    /// execution would also hit fails the block, with the transaction's index.
    /// Transactions that fail *by the chain's rules* (bad nonce, insufficient
    /// balance) are not errors: the VM returns an output that says so.
    Fatal(String),
}

impl From<Suspend> for VmError {
    fn from(suspend: Suspend) -> Self {
        VmError::Suspended(suspend)
    }
}

/// The state as one transaction sees it: every earlier transaction of the
/// block applied, nothing later.
///
/// Writes and deltas are buffered in the view and published when the
/// transaction finishes; a transaction reads its own writes.
pub trait TxnView<K, V> {
    /// The value of `key`, or `None` if it has none.
    fn read(&mut self, key: &K) -> Result<Option<V>, Suspend>;

    /// Sets `key` to `value`.
    fn write(&mut self, key: K, value: V);

    /// Adds `delta` to the numeric value at `key` without reading it.
    ///
    /// Transactions that only add to a location never conflict with each
    /// other. The sum is applied when the transaction finishes, with
    /// [`Value::apply_delta`]; if that overflows, the whole transaction is
    /// reverted ([`TxnOutcome::DeltaOverflow`](crate::TxnOutcome::DeltaOverflow)),
    /// exactly as sequential execution would do.
    fn add_delta(&mut self, key: K, delta: Delta);

    /// The index of the executing transaction in its block.
    fn txn_idx(&self) -> TxnIndex;
}

/// A virtual machine: executes one transaction against a [`TxnView`].
///
/// `execute` must be deterministic: a function of the transaction and of what
/// it read. It may be called several times for one transaction (once per
/// *incarnation*) and concurrently for different transactions; any incarnation
/// but the last may see a state that never exists sequentially.
pub trait Vm: Sync {
    /// A transaction of the block.
    type Txn: Sync;
    /// A state location.
    type Key: Key;
    /// The value at a location.
    type Value: Value;
    /// What executing one transaction produces besides its writes.
    type Output: Clone + Debug + Eq + Send + Sync + 'static;

    /// About how many distinct locations a transaction reads or writes,
    /// with some room: Block-STM's memory is sized for this many per
    /// transaction at least, and each worker claims its slots for new
    /// locations 32 at a time, so a block can leave up to that many per
    /// worker unused. The parallel executor's start also prices
    /// Block-STM's machinery by it (250 ns a location), when it decides
    /// whether a block goes on in parallel.
    /// A block that touches more than its memory holds finishes
    /// sequentially ([`FallbackReason::MemoryFull`](crate::FallbackReason))
    /// and the memory grows for the next block, so a VM whose transactions
    /// touch more than the default would otherwise lose its first block's
    /// parallelism.
    const LOCATIONS_PER_TXN: usize = parex_mvmemory::DEFAULT_LOCATIONS_PER_TXN;

    /// Executes `txn`, reading and writing through `view`.
    fn execute<View: TxnView<Self::Key, Self::Value>>(
        &self,
        txn: &Self::Txn,
        view: &mut View,
    ) -> Result<Self::Output, VmError>;
}
