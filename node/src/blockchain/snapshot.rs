//! The pre-block state both execution paths read.

use std::collections::HashSet;

use ahash::RandomState;
use hashbrown::{hash_table, HashTable};

use parex_engine::BaseStorage;
use rayon::prelude::*;

use crate::chain::constants::NATIVE_ASSET;
use crate::chain::Payload;
use crate::crypto::PublicKey;
use crate::state::{StateKey, StateValue};
use crate::storage::{Storage, StorageError};
use crate::vm::ChainTxn;

/// The storage at the current tip, with every location the block can touch
/// loaded into memory first: workers then never wait on the disk, and the
/// loaded entries are exactly the pre-state a divergence reproducer needs.
///
/// The entries lie in the order the block first touches them, behind an
/// index of positions. A transaction's reads then land next to the previous
/// transaction's, where the hardware prefetcher has already been, and the
/// index is small enough to stay in the core's cache: with the entries in a
/// map keyed by the 65-byte keys, a block of 10,000 transfers spread its
/// lookups over megabytes, and comparing keys (the first touch of each
/// bucket) took a quarter of the sequential executor's samples.
pub struct Snapshot<'a, S> {
    /// The position of each key's entry, by the key's hash.
    index: HashTable<usize>,
    hasher: RandomState,
    /// Every loaded location and its pre-block value, in first-touch order.
    entries: Vec<(StateKey, Option<StateValue>)>,
    storage: &'a S,
}

/// The fewest keys one task of the prefetch reads.
const PREFETCH_KEYS_PER_TASK: usize = 64;

impl<'a, S: Storage> Snapshot<'a, S> {
    /// Loads every location `txns` may read or add to, and notes in `txns`
    /// what the loaded state proves about them: which sources have no
    /// multisig configuration to read (`VerifiedTx::multisig_unset`).
    pub fn prefetch(storage: &'a S, txns: &mut [ChainTxn]) -> Result<Self, StorageError> {
        let mut snapshot = Self {
            index: HashTable::new(),
            hasher: RandomState::new(),
            entries: Vec::new(),
            storage,
        };
        for_each_touched_key(txns, |key| snapshot.insert_key(key));
        // Read in key order: neighbouring keys share the database's blocks.
        // On rayon's pool, as the signature checks before it: a point read
        // costs microseconds, and a block reads a few keys per
        // transaction. The first error in key order is the one returned,
        // whatever the timing.
        let mut by_key: Vec<usize> = (0..snapshot.entries.len())
            .filter(|&at| !snapshot.entries[at].0.is_per_block())
            .collect();
        by_key.sort_unstable_by_key(|&at| snapshot.entries[at].0);
        let entries = &snapshot.entries;
        let values: Vec<Result<Option<StateValue>, StorageError>> = by_key
            .par_iter()
            .with_min_len(PREFETCH_KEYS_PER_TASK)
            .map(|&at| storage.get_state(&entries[at].0))
            .collect();
        for (at, value) in by_key.into_iter().zip(values) {
            snapshot.entries[at].1 = value?;
        }
        snapshot.note_unset_multisigs(txns)?;
        Ok(snapshot)
    }

    /// Marks the user transactions whose source has no multisig
    /// configuration before the block and sets none in it
    /// (`VerifiedTx::multisig_unset`), so that the VM skips reading it:
    /// every transaction read its source's configuration, and most accounts
    /// have none, which cost node transfers 7-13% of their time. Exact: only
    /// a `MultiSig` payload writes a configuration, and only its own
    /// source's, so such a transaction would read nothing there on either
    /// path. Done here, with the loading, so that no caller can forget it.
    fn note_unset_multisigs(&self, txns: &mut [ChainTxn]) -> Result<(), StorageError> {
        let setters: HashSet<PublicKey> = txns
            .iter()
            .filter_map(|txn| match txn {
                ChainTxn::User(verified) => match verified.tx.body.payload {
                    Payload::MultiSig { .. } => Some(verified.tx.body.source),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        for txn in txns {
            if let ChainTxn::User(verified) = txn {
                let source = verified.tx.body.source;
                verified.multisig_unset = !setters.contains(&source)
                    && self.value(&StateKey::MultiSig(source))?.is_none();
            }
        }
        Ok(())
    }

    /// Adds `key` with no value, unless it is there already.
    fn insert_key(&mut self, key: StateKey) {
        let hash = self.hasher.hash_one(key);
        let (entries, hasher) = (&self.entries, &self.hasher);
        if let hash_table::Entry::Vacant(slot) = self.index.entry(
            hash,
            |&at| entries[at].0 == key,
            |&at| hasher.hash_one(entries[at].0),
        ) {
            slot.insert(entries.len());
            self.entries.push((key, None));
        }
    }

    /// The loaded entries, sorted by key.
    pub fn entries(&self) -> Vec<(StateKey, Option<StateValue>)> {
        let mut entries = self.entries.clone();
        entries.sort_by_key(|entry| entry.0);
        entries
    }

    /// The pre-block value at `key`.
    pub fn value(&self, key: &StateKey) -> Result<Option<StateValue>, StorageError> {
        if key.is_per_block() {
            return Ok(None);
        }
        let hash = self.hasher.hash_one(key);
        match self.index.find(hash, |&at| self.entries[at].0 == *key) {
            Some(&at) => Ok(self.entries[at].1.clone()),
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

/// Calls `insert` with every location `txns` may read or add to, in block
/// order (a key may come more than once).
fn for_each_touched_key(txns: &[ChainTxn], mut insert: impl FnMut(StateKey)) {
    let balance = |account, asset| StateKey::Balance { account, asset };
    for txn in txns {
        match txn {
            ChainTxn::Reward { miner, .. } => {
                insert(balance(*miner, NATIVE_ASSET));
                insert(StateKey::Supply(NATIVE_ASSET));
            }
            ChainTxn::FeePayout { miner } => {
                insert(balance(*miner, NATIVE_ASSET));
            }
            ChainTxn::User(verified) => {
                let body = &verified.tx.body;
                insert(StateKey::Nonce(body.source));
                insert(StateKey::MultiSig(body.source));
                insert(StateKey::Burned(NATIVE_ASSET));
                insert(balance(body.source, NATIVE_ASSET));
                match &body.payload {
                    Payload::Transfers(outputs) => {
                        for output in outputs {
                            insert(StateKey::Asset(output.asset));
                            insert(balance(body.source, output.asset));
                            insert(balance(output.destination, output.asset));
                        }
                    }
                    Payload::Burn { asset, .. } => {
                        insert(StateKey::Asset(*asset));
                        insert(balance(body.source, *asset));
                        insert(StateKey::Burned(*asset));
                    }
                    Payload::MultiSig { .. } => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::blockchain::{engine_block, Blockchain, ExecutionConfig};
    use crate::crypto::{Hash, PublicKey};
    use crate::state::StateKind;
    use crate::storage::{BlockCommit, BlockRecord, ChainTip, MemoryStorage};
    use crate::workload::{generate_block_txs, in_memory_chain, DevAccounts, Workload};

    /// A storage that counts its state reads, and fails every read of a
    /// balance if `failing`, naming the key.
    struct Counting<'a> {
        inner: &'a MemoryStorage,
        reads: AtomicUsize,
        failing: bool,
    }

    impl Storage for Counting<'_> {
        fn tip(&self) -> Result<Option<ChainTip>, StorageError> {
            self.inner.tip()
        }
        fn get_state(&self, key: &StateKey) -> Result<Option<StateValue>, StorageError> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            if self.failing && key.kind() == StateKind::Balance {
                return Err(StorageError::Corrupt(format!("{key:?}")));
            }
            self.inner.get_state(key)
        }
        fn state_entries(
            &self,
            kind: StateKind,
        ) -> Result<Vec<(StateKey, StateValue)>, StorageError> {
            self.inner.state_entries(kind)
        }
        fn block(&self, topoheight: u64) -> Result<Option<BlockRecord>, StorageError> {
            self.inner.block(topoheight)
        }
        fn transaction(&self, hash: &Hash) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
            self.inner.transaction(hash)
        }
        fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
            self.inner.meta(key)
        }
        fn commit(&mut self, _: &BlockCommit) -> Result<(), StorageError> {
            unreachable!("a snapshot never commits")
        }
    }

    /// A chain of `accounts` devnet accounts in memory, and a block of 200
    /// mixed transactions on it.
    fn mixed_block(accounts: usize) -> (Blockchain<MemoryStorage>, Vec<ChainTxn>) {
        let mut accounts = DevAccounts::new(accounts, 3);
        let chain = in_memory_chain(&accounts, ExecutionConfig::default()).unwrap();
        let txs = generate_block_txs(Workload::Mixed, &mut accounts, 200, 5);
        let block = chain.build_block(accounts.public_key(0), 1, txs);
        let txns = engine_block(&block).unwrap();
        (chain, txns)
    }

    #[test]
    fn a_snapshot_holds_each_touched_key_once_with_its_stored_value() {
        let (chain, mut txns) = mixed_block(8);
        let guard = chain.storage().read().unwrap();
        let storage = Counting {
            inner: &guard,
            reads: AtomicUsize::new(0),
            failing: false,
        };
        let snapshot = Snapshot::prefetch(&storage, &mut txns).unwrap();

        let mut touched = Vec::new();
        for_each_touched_key(&txns, |key| touched.push(key));
        let mut unique = touched.clone();
        unique.sort_unstable();
        unique.dedup();
        assert!(touched.len() > unique.len(), "the block touches keys twice");
        // One read per key, none per repeat.
        assert_eq!(storage.reads.load(Ordering::Relaxed), unique.len());
        let entries = snapshot.entries();
        assert!(entries
            .iter()
            .map(|entry| entry.0)
            .eq(unique.iter().copied()));
        assert!(entries.iter().any(|(_, value)| value.is_some()));
        for key in &touched {
            let stored = guard.get_state(key).unwrap();
            assert_eq!(snapshot.value(key).unwrap(), stored, "{key:?}");
        }
        assert_eq!(
            storage.reads.load(Ordering::Relaxed),
            unique.len(),
            "a loaded key read again"
        );

        // A key the block does not touch reads through to the storage.
        let untouched = StateKey::Nonce(PublicKey([0xee; 32]));
        assert!(!unique.contains(&untouched));
        assert_eq!(snapshot.value(&untouched).unwrap(), None);
        assert_eq!(storage.reads.load(Ordering::Relaxed), unique.len() + 1);
        assert_eq!(snapshot.value(&StateKey::GasFee).unwrap(), None);
    }

    #[test]
    fn a_failing_prefetch_reports_the_first_failing_key_in_key_order() {
        // Every balance fails, and the reads run on several threads (some
        // hundreds of keys, 64 a task): the error must still name the
        // smallest, whichever read failed first.
        let (chain, mut txns) = mixed_block(64);
        let mut balances = Vec::new();
        for_each_touched_key(&txns, |key| {
            if key.kind() == StateKind::Balance {
                balances.push(key);
            }
        });
        let first = balances.iter().min().copied().unwrap();
        assert!(balances.len() > 2 * PREFETCH_KEYS_PER_TASK);
        let guard = chain.storage().read().unwrap();
        let storage = Counting {
            inner: &guard,
            reads: AtomicUsize::new(0),
            failing: true,
        };
        for _ in 0..20 {
            let error = Snapshot::prefetch(&storage, &mut txns).err().unwrap();
            assert_eq!(
                error.to_string(),
                StorageError::Corrupt(format!("{first:?}")).to_string()
            );
        }
    }
}
