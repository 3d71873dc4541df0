//! Why a block could not be executed.

use crate::storage::StorageError;
use crate::TxnIndex;

/// A block that no executor can apply. Every executor reports the same error
/// for the same block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The VM panicked on the transaction, with the state sequential execution
    /// gives it.
    #[error("transaction {txn_idx} panicked: {message}")]
    TxnPanicked {
        /// The transaction's index in the block.
        txn_idx: TxnIndex,
        /// The panic's message.
        message: String,
    },
    /// The VM returned [`VmError::Fatal`](crate::VmError::Fatal) for the
    /// transaction, with the state sequential execution gives it.
    #[error("transaction {txn_idx} failed: {message}")]
    TxnFailed {
        /// The transaction's index in the block.
        txn_idx: TxnIndex,
        /// The VM's message.
        message: String,
    },
    /// The base storage could not be read.
    #[error("storage read failed while executing transaction {txn_idx}: {error}")]
    Storage {
        /// The transaction whose read failed.
        txn_idx: TxnIndex,
        /// The storage's error.
        error: StorageError,
    },
    /// A bug in the engine itself (a worker panicked outside the VM).
    #[error("internal executor error: {0}")]
    Internal(String),
}

/// The executor could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A thread count of zero.
    #[error("an executor needs at least one thread")]
    ZeroThreads,
    /// More threads than [`MAX_THREADS`](crate::MAX_THREADS).
    #[error("an executor takes at most {max} threads, not {0}", max = crate::MAX_THREADS)]
    TooManyThreads(usize),
    /// The operating system refused a worker thread.
    #[error("could not spawn worker thread: {0}")]
    Spawn(#[from] std::io::Error),
}
