//! Where the chain lives: a [`Storage`] trait, RocksDB for nodes and memory
//! for tests and replays.

mod error;
mod memory;
mod record;
mod rocks;

pub use error::StorageError;
pub use memory::MemoryStorage;
pub use record::{BlockCommit, BlockRecord, ChainTip};
pub use rocks::RocksStorage;

use crate::crypto::Hash;
use crate::state::{StateKey, StateKind, StateValue};

/// The chain's persistent state.
///
/// A [`commit`](Storage::commit) is all-or-nothing: after a crash the
/// storage is at the previous block or the new one, never in between
/// (RocksDB's commits are not fsynced: after a power loss it may be at an
/// earlier block, never between two).
pub trait Storage: Send + Sync {
    /// The last committed block, `None` before genesis.
    fn tip(&self) -> Result<Option<ChainTip>, StorageError>;

    /// The current value at `key`.
    fn get_state(&self, key: &StateKey) -> Result<Option<StateValue>, StorageError>;

    /// Every current value of one kind, sorted by key.
    fn state_entries(&self, kind: StateKind) -> Result<Vec<(StateKey, StateValue)>, StorageError>;

    /// The block at `topoheight`.
    fn block(&self, topoheight: u64) -> Result<Option<BlockRecord>, StorageError>;

    /// A stored transaction's block topoheight and encoding: the last
    /// block that indexed it (a commit's `transactions`; the chain indexes
    /// a transaction where it applied, or, if it never did, where it was
    /// first included).
    fn transaction(&self, hash: &Hash) -> Result<Option<(u64, Vec<u8>)>, StorageError>;

    /// A metadata entry.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Applies one block's whole effect atomically.
    fn commit(&mut self, commit: &BlockCommit) -> Result<(), StorageError>;
}
