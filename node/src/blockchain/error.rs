//! Why a block or the chain was refused.

use parex_engine::{BlockError, EngineError};

use crate::chain::{GenesisError, TxError};
use crate::codec::DecodeError;
use crate::crypto::Hash;
use crate::storage::StorageError;

/// A refused block, or a chain that cannot be opened. A refused block
/// changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum BlockchainError {
    /// The block does not extend the tip.
    #[error("block at topoheight {got} does not follow the tip {expected_previous} at {tip}")]
    NotNext {
        /// The tip's topoheight.
        tip: u64,
        /// The tip's hash.
        expected_previous: Hash,
        /// The block's topoheight.
        got: u64,
    },
    /// The block's parent is not the tip.
    #[error("block's previous hash {got} is not the tip {expected}")]
    WrongPrevious {
        /// The tip.
        expected: Hash,
        /// The block's.
        got: Hash,
    },
    /// Unknown block version.
    #[error("unsupported block version {0}")]
    UnsupportedVersion(u8),
    /// The header's transaction root does not match the transactions.
    #[error("transaction root mismatch")]
    TxsRootMismatch,
    /// Too many or too large transactions.
    #[error("block too large: {0}")]
    TooLarge(String),
    /// A transaction fails a stateless rule or a signature check.
    #[error("transaction {index} ({hash}) is invalid: {error}")]
    InvalidTx {
        /// Its index in the block.
        index: usize,
        /// Its hash.
        hash: Hash,
        /// The rule it fails.
        error: TxError,
    },
    /// The executor refused the block.
    #[error("execution failed: {0}")]
    Execution(#[from] BlockError),
    /// The executors could not be built.
    #[error("cannot start executors: {0}")]
    Engine(#[from] EngineError),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The storage has no genesis.
    #[error("the database holds no chain (no genesis)")]
    NoGenesis,
    /// Genesis was requested on a storage that has one.
    #[error("the database already holds a chain")]
    AlreadyInitialized,
    /// The genesis spec is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(#[from] GenesisError),
    /// A stored encoding is invalid.
    #[error("stored {what} does not decode: {error}")]
    Decode {
        /// What was decoded.
        what: String,
        /// Why it failed.
        error: DecodeError,
    },
    /// Another thread panicked holding the storage lock.
    #[error("storage lock poisoned")]
    LockPoisoned,
}
