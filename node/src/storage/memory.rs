//! An in-memory storage: tests, and replays that must not touch the disk.

use std::collections::{BTreeMap, HashMap};

use super::{BlockCommit, BlockRecord, ChainTip, Storage, StorageError};
use crate::crypto::Hash;
use crate::state::{StateKey, StateKind, StateValue};

/// The current state and the blocks, in memory; no history of older values.
#[derive(Debug, Default, Clone)]
pub struct MemoryStorage {
    tip: Option<ChainTip>,
    state: BTreeMap<StateKey, StateValue>,
    blocks: Vec<BlockRecord>,
    transactions: HashMap<Hash, (u64, Vec<u8>)>,
    meta: BTreeMap<String, Vec<u8>>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Storage for MemoryStorage {
    fn tip(&self) -> Result<Option<ChainTip>, StorageError> {
        Ok(self.tip)
    }

    fn get_state(&self, key: &StateKey) -> Result<Option<StateValue>, StorageError> {
        Ok(self.state.get(key).cloned())
    }

    fn state_entries(&self, kind: StateKind) -> Result<Vec<(StateKey, StateValue)>, StorageError> {
        Ok(self
            .state
            .iter()
            .filter(|(key, _)| key.kind() == kind)
            .map(|(key, value)| (*key, value.clone()))
            .collect())
    }

    fn block(&self, topoheight: u64) -> Result<Option<BlockRecord>, StorageError> {
        let index = usize::try_from(topoheight).unwrap_or(usize::MAX);
        Ok(self.blocks.get(index).cloned())
    }

    fn transaction(&self, hash: &Hash) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        Ok(self.transactions.get(hash).cloned())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.meta.get(key).cloned())
    }

    fn commit(&mut self, commit: &BlockCommit) -> Result<(), StorageError> {
        StorageError::check_next(self.tip.as_ref(), commit.tip.topoheight)?;
        for (key, value) in &commit.writes {
            self.state.insert(*key, value.clone());
        }
        for (hash, bytes) in &commit.transactions {
            self.transactions
                .insert(*hash, (commit.tip.topoheight, bytes.clone()));
        }
        for (key, value) in &commit.meta {
            self.meta.insert(key.clone(), value.clone());
        }
        self.blocks.push(BlockRecord {
            hash: commit.tip.hash,
            commitment: commit.tip.commitment,
            block_bytes: commit.block_bytes.clone(),
        });
        self.tip = Some(commit.tip);
        Ok(())
    }
}
