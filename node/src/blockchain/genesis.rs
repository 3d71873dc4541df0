//! Creating a chain, and checking that a stored one is whole.

use std::sync::{Arc, RwLock};

use super::executors::Executors;
use super::{next_commitment, ApplicableChainState, Blockchain, BlockchainError, ExecutionConfig};
use crate::chain::{Block, GenesisSpec};
use crate::codec::{Decode, Encode};
use crate::storage::{ChainTip, Storage, StorageError};

/// The metadata key of the genesis spec.
pub const GENESIS_META: &str = "genesis";

impl<S: Storage> Blockchain<S> {
    /// Writes genesis on an empty storage, with `meta` entries in the same
    /// atomic batch.
    pub fn create(
        mut storage: S,
        genesis: &GenesisSpec,
        meta: Vec<(String, Vec<u8>)>,
        config: ExecutionConfig,
    ) -> Result<Self, BlockchainError> {
        if storage.tip()?.is_some() {
            return Err(BlockchainError::AlreadyInitialized);
        }
        let executors = Executors::new(&config)?;
        let block = Block {
            header: genesis.header(),
            txs: Vec::new(),
        };
        let hash = block.hash();
        let state = ApplicableChainState::new(0, genesis.state_writes()?, |_| Ok(None))?;
        let commitment = next_commitment(&crate::crypto::Hash::ZERO, 0, &hash, state.writes());
        let mut meta = meta;
        meta.push((GENESIS_META.to_owned(), genesis.to_bytes()));
        let commit = state.into_commit(hash, commitment, block.to_bytes(), Vec::new(), meta);
        storage.commit(&commit)?;
        Ok(Self {
            storage: Arc::new(RwLock::new(storage)),
            config,
            executors,
            path_choice: super::PathChoice::default(),
            tip: commit.tip,
        })
    }
}

/// The stored genesis spec.
pub fn stored_genesis<S: Storage>(storage: &S) -> Result<GenesisSpec, BlockchainError> {
    let bytes = storage
        .meta(GENESIS_META)?
        .ok_or(BlockchainError::NoGenesis)?;
    GenesisSpec::from_bytes(&bytes).map_err(|error| BlockchainError::Decode {
        what: "genesis spec".into(),
        error,
    })
}

/// Refuses a storage whose genesis block is not the one its spec defines:
/// the spec is the chain's identity.
pub fn check_stored<S: Storage>(storage: &S) -> Result<(), BlockchainError> {
    let spec = stored_genesis(storage)?;
    let record = storage.block(0)?.ok_or(BlockchainError::NoGenesis)?;
    if record.hash != spec.header().hash() {
        return Err(BlockchainError::Storage(StorageError::Corrupt(
            "genesis block does not match the stored genesis spec".into(),
        )));
    }
    Ok(())
}

/// Refuses a tip that does not name the last stored block: the block
/// stored at its topoheight must carry its hash and commitment, and none
/// may be stored above it. A commit writes the tip with its block in one
/// atomic batch, so only a damaged database disagrees; trusted, a wrong
/// tip would have the next block overwrite stored blocks and state
/// versions (one at `u64::MAX` wraps to genesis).
pub(crate) fn check_tip<S: Storage>(storage: &S, tip: &ChainTip) -> Result<(), BlockchainError> {
    let corrupt = |reason: String| {
        BlockchainError::Storage(StorageError::Corrupt(format!(
            "the tip names block {} ({}): {reason}",
            tip.topoheight, tip.hash
        )))
    };
    let record = storage
        .block(tip.topoheight)?
        .ok_or_else(|| corrupt("no block is stored there".into()))?;
    if record.hash != tip.hash {
        return Err(corrupt(format!(
            "the block stored there is {}",
            record.hash
        )));
    }
    if record.commitment != tip.commitment {
        return Err(corrupt(format!(
            "its commitment is {}, the tip says {}",
            record.commitment, tip.commitment
        )));
    }
    let next = tip
        .next_topoheight()
        .ok_or_else(|| corrupt("no block can follow it".into()))?;
    if storage.block(next)?.is_some() {
        return Err(corrupt(format!("block {next} is stored above it")));
    }
    Ok(())
}
