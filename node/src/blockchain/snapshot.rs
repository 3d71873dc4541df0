//! The pre-block state both execution paths read.

use std::collections::{BTreeSet, HashMap};

use ahash::RandomState;

use parex_engine::BaseStorage;

use crate::chain::constants::NATIVE_ASSET;
use crate::chain::Payload;
use crate::state::{StateKey, StateValue};
use crate::storage::{Storage, StorageError};
use crate::vm::ChainTxn;

/// The storage at the current tip, with every location the block can touch
/// loaded into memory first: workers then never wait on the disk, and the
/// loaded entries are exactly the pre-state a divergence reproducer needs.
pub struct Snapshot<'a, S> {
    loaded: HashMap<StateKey, Option<StateValue>, RandomState>,
    storage: &'a S,
}

impl<'a, S: Storage> Snapshot<'a, S> {
    /// Loads every location `txns` may read or add to.
    pub fn prefetch(storage: &'a S, txns: &[ChainTxn]) -> Result<Self, StorageError> {
        let keys = touched_keys(txns);
        let mut loaded = HashMap::with_capacity_and_hasher(keys.len(), RandomState::new());
        for key in keys {
            let value = if key.is_per_block() {
                None
            } else {
                storage.get_state(&key)?
            };
            loaded.insert(key, value);
        }
        Ok(Self { loaded, storage })
    }

    /// The loaded entries, sorted by key.
    pub fn entries(&self) -> Vec<(StateKey, Option<StateValue>)> {
        let mut entries: Vec<_> = self
            .loaded
            .iter()
            .map(|(key, value)| (*key, value.clone()))
            .collect();
        entries.sort_by_key(|entry| entry.0);
        entries
    }

    /// The pre-block value at `key`.
    pub fn value(&self, key: &StateKey) -> Result<Option<StateValue>, StorageError> {
        if key.is_per_block() {
            return Ok(None);
        }
        match self.loaded.get(key) {
            Some(value) => Ok(value.clone()),
            // Every key a transaction touches is prefetched; reading through
            // keeps a missed one correct, just slower.
            None => self.storage.get_state(key),
        }
    }
}

impl<S: Storage> BaseStorage<StateKey, StateValue> for Snapshot<'_, S> {
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, parex_engine::StorageError> {
        self.value(key)
            .map_err(|error| parex_engine::StorageError(error.to_string()))
    }
}

fn touched_keys(txns: &[ChainTxn]) -> BTreeSet<StateKey> {
    let mut keys = BTreeSet::new();
    let balance = |account, asset| StateKey::Balance { account, asset };
    for txn in txns {
        match txn {
            ChainTxn::Reward { miner, .. } => {
                keys.insert(balance(*miner, NATIVE_ASSET));
                keys.insert(StateKey::Supply(NATIVE_ASSET));
            }
            ChainTxn::FeePayout { miner } => {
                keys.insert(balance(*miner, NATIVE_ASSET));
            }
            ChainTxn::User(verified) => {
                let body = &verified.tx.body;
                keys.insert(StateKey::Nonce(body.source));
                keys.insert(StateKey::MultiSig(body.source));
                keys.insert(StateKey::Asset(NATIVE_ASSET));
                keys.insert(StateKey::Burned(NATIVE_ASSET));
                keys.insert(balance(body.source, NATIVE_ASSET));
                match &body.payload {
                    Payload::Transfers(outputs) => {
                        for output in outputs {
                            keys.insert(StateKey::Asset(output.asset));
                            keys.insert(balance(body.source, output.asset));
                            keys.insert(balance(output.destination, output.asset));
                        }
                    }
                    Payload::Burn { asset, .. } => {
                        keys.insert(StateKey::Asset(*asset));
                        keys.insert(balance(body.source, *asset));
                        keys.insert(StateKey::Burned(*asset));
                    }
                    Payload::MultiSig { .. } => {}
                }
            }
        }
    }
    keys
}
