//! Storage failures.

use std::path::PathBuf;

use super::ChainTip;
use crate::codec::DecodeError;

/// Why the storage could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// RocksDB reported an error.
    #[error("database error: {0}")]
    Database(String),
    /// The directory holds something that is not this node's database.
    #[error("{path} is not a Parex node database: {reason}")]
    Foreign {
        /// The directory.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// Another process (or handle) has the database open for writing.
    #[error("{0} is in use by another process: one process at a time writes a chain, others can only read it")]
    InUse(PathBuf),
    /// The writer of the database changed its files under every try to
    /// open it for reading.
    #[error("{0} changed under every try to open it for reading (its writer flushes without a pause): try again")]
    KeptChanging(PathBuf),
    /// No database where one was expected.
    #[error("no node database in {0} (run `parex devnet` to create one)")]
    Missing(PathBuf),
    /// A stored entry does not decode or contradicts another.
    #[error("corrupt database: {0}")]
    Corrupt(String),
    /// A stored encoding does not decode.
    #[error("corrupt database entry {what}: {error}")]
    Decode {
        /// Which entry.
        what: String,
        /// Why.
        error: DecodeError,
    },
    /// The directory could not be inspected.
    #[error("cannot access {path}: {error}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A commit that does not extend the tip.
    #[error("block {topoheight} does not extend the stored tip {tip:?}")]
    NotNext {
        /// The block's topoheight.
        topoheight: u64,
        /// The stored tip's topoheight.
        tip: Option<u64>,
    },
}

impl StorageError {
    /// Refuses a commit at `topoheight` unless it is the block after `tip`
    /// (genesis, 0, on an empty store): what both storages of this crate
    /// check before they write anything.
    pub(crate) fn check_next(tip: Option<&ChainTip>, topoheight: u64) -> Result<(), Self> {
        let next = tip.map_or(Some(0), ChainTip::next_topoheight);
        if next == Some(topoheight) {
            Ok(())
        } else {
            Err(Self::NotNext {
                topoheight,
                tip: tip.map(|tip| tip.topoheight),
            })
        }
    }
}

impl From<rocksdb::Error> for StorageError {
    fn from(error: rocksdb::Error) -> Self {
        StorageError::Database(error.into_string())
    }
}
