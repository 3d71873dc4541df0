//! Turning an execution's final values into a storage commit.

use std::fmt;

use crate::crypto::Hash;
use crate::state::{StateKey, StateValue};
use crate::storage::{BlockCommit, ChainTip, StorageError};

/// What a block changed, for the per-block log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeSummary {
    /// Nonces written.
    pub nonces: usize,
    /// Balances written.
    pub balances: usize,
    /// Multisig configurations written.
    pub multisig: usize,
    /// Fees paid to the miner.
    pub gas_fee: u64,
    /// Units burned in this block, all assets together.
    pub burned: u128,
}

impl fmt::Display for MergeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "nonces={} balances={} multisig={} gas_fee={} burned={}",
            self.nonces, self.balances, self.multisig, self.gas_fee, self.burned
        )
    }
}

/// A block's final state versions, ready to be written at its topoheight.
#[derive(Debug, Clone)]
pub struct ApplicableChainState {
    topoheight: u64,
    writes: Vec<(StateKey, StateValue)>,
    summary: MergeSummary,
}

impl ApplicableChainState {
    /// Takes the engine's final values (in any order) and the pre-block
    /// value of each, to summarize what changed.
    pub fn new(
        topoheight: u64,
        mut writes: Vec<(StateKey, StateValue)>,
        before: impl Fn(&StateKey) -> Result<Option<StateValue>, StorageError>,
    ) -> Result<Self, StorageError> {
        // The engine gives block order; the commitment and the batch use
        // key order, which no executor detail can change.
        writes.sort_by_key(|entry| entry.0);
        let mut summary = MergeSummary::default();
        for (key, value) in &writes {
            match (key, value) {
                (StateKey::Nonce(_), _) => summary.nonces += 1,
                (StateKey::Balance { .. }, _) => summary.balances += 1,
                (StateKey::MultiSig(_), _) => summary.multisig += 1,
                (StateKey::GasFee, StateValue::Amount(fee)) => summary.gas_fee = *fee,
                (StateKey::Burned(_), StateValue::Amount(after)) => {
                    let before = match before(key)? {
                        Some(StateValue::Amount(amount)) => amount,
                        _ => 0,
                    };
                    summary.burned += u128::from(after.saturating_sub(before));
                }
                _ => {}
            }
        }
        Ok(Self {
            topoheight,
            writes,
            summary,
        })
    }

    /// The writes, sorted by key.
    pub fn writes(&self) -> &[(StateKey, StateValue)] {
        &self.writes
    }

    /// What changed.
    pub fn summary(&self) -> MergeSummary {
        self.summary
    }

    /// The storage commit of the block.
    pub fn into_commit(
        self,
        hash: Hash,
        commitment: Hash,
        block_bytes: Vec<u8>,
        transactions: Vec<(Hash, Vec<u8>)>,
        meta: Vec<(String, Vec<u8>)>,
    ) -> BlockCommit {
        BlockCommit {
            tip: ChainTip {
                topoheight: self.topoheight,
                hash,
                commitment,
            },
            block_bytes,
            transactions,
            writes: self.writes,
            meta,
        }
    }
}
