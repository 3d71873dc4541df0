//! Replaying a stored chain from genesis to check every commitment, and
//! that the state stored at its tip is what its blocks made.

use std::collections::{BTreeMap, HashSet};

use crate::blockchain::{
    check_tip, stored_genesis, Blockchain, BlockchainError, ExecutionConfig, ParallelStart,
};
use crate::chain::Block;
use crate::codec::Decode;
use crate::crypto::Hash;
use crate::state::{StateKey, StateKind, StateValue};
use crate::storage::{MemoryStorage, Storage, StorageError};

/// A stored block whose replayed commitment differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The block's topoheight.
    pub topoheight: u64,
    /// Which replay: `sequential` or `parallel`.
    pub path: &'static str,
    /// The stored commitment.
    pub stored: Hash,
    /// The replayed one.
    pub replayed: Hash,
}

/// A location whose stored current value is not the replay's: what the
/// next block, `balance` and `status` read is not what the blocks made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMismatch {
    /// The location.
    pub key: StateKey,
    /// Its stored value.
    pub stored: Option<StateValue>,
    /// Its value after the replay.
    pub replayed: Option<StateValue>,
}

/// A transaction whose entry in the index by hash is not the replay's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexMismatch {
    /// The transaction's hash.
    pub hash: Hash,
    /// The topoheight the stored index names.
    pub stored: Option<u64>,
    /// The topoheight the replay's index names.
    pub replayed: Option<u64>,
    /// Whether both entries exist and hold different transaction bytes.
    pub other_bytes: bool,
}

/// What a replay found.
#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    /// Blocks replayed (genesis excluded).
    pub blocks: u64,
    /// User transactions replayed.
    pub txs: u64,
    /// Commitment mismatches, in block order.
    pub mismatches: Vec<Mismatch>,
    /// Locations compared at the tip, stored or replayed.
    pub locations: u64,
    /// Locations whose stored value is not the replay's, in key order.
    pub state_mismatches: Vec<StateMismatch>,
    /// Transactions whose index entry is not the replay's, in block order.
    pub index_mismatches: Vec<IndexMismatch>,
}

impl ReplayReport {
    /// Whether the stored chain is what its blocks make: every commitment,
    /// every location at the tip and every index entry.
    pub fn all_match(&self) -> bool {
        self.mismatches.is_empty()
            && self.state_mismatches.is_empty()
            && self.index_mismatches.is_empty()
    }
}

/// Replays every stored block into two fresh in-memory chains, one
/// sequential and one parallel (every block on Block-STM), and
/// compares each block's commitment with the stored one; then the stored
/// current state and index by hash with the replay's. A commitment covers
/// a block's writes as the block record states it, not what storage holds
/// now: a value changed or lost since shows only in the state.
pub fn replay_chain<S: Storage>(
    storage: &S,
    threads: usize,
) -> Result<ReplayReport, BlockchainError> {
    replay_chain_with_progress(storage, threads, |_| {})
}

/// [`replay_chain`], calling `progress` with the report so far after each
/// block (blocks to replay: the stored tip's topoheight).
pub fn replay_chain_with_progress<S: Storage>(
    storage: &S,
    threads: usize,
    mut progress: impl FnMut(&ReplayReport),
) -> Result<ReplayReport, BlockchainError> {
    let genesis = stored_genesis(storage)?;
    let tip = storage.tip()?.ok_or(BlockchainError::NoGenesis)?;
    check_tip(storage, &tip)?;
    let sequential_config = ExecutionConfig {
        parallel_execution_enabled: false,
        execution_threads: 1,
        ..ExecutionConfig::default()
    };
    // Block-STM on every block from its first transaction: a replay that
    // let the engine keep cheap blocks sequential would check one path
    // twice.
    let parallel_config = ExecutionConfig {
        parallel_execution_enabled: true,
        min_txs_for_parallel: 0,
        execution_threads: threads,
        min_txs_per_worker: 0,
        parallel_start: ParallelStart::BlockStm,
        ..ExecutionConfig::default()
    };
    let mut chains = [
        (
            "sequential",
            Blockchain::create(
                MemoryStorage::new(),
                &genesis,
                Vec::new(),
                sequential_config,
            )?,
        ),
        (
            "parallel",
            Blockchain::create(MemoryStorage::new(), &genesis, Vec::new(), parallel_config)?,
        ),
    ];
    let mut report = ReplayReport::default();
    let mut tx_hashes = Vec::new();
    let stored_genesis_block = storage.block(0)?.ok_or(BlockchainError::NoGenesis)?;
    for (path, chain) in &chains {
        if chain.tip().commitment != stored_genesis_block.commitment {
            report.mismatches.push(Mismatch {
                topoheight: 0,
                path,
                stored: stored_genesis_block.commitment,
                replayed: chain.tip().commitment,
            });
        }
    }
    for topoheight in 1..=tip.topoheight {
        let record = storage.block(topoheight)?.ok_or_else(|| {
            BlockchainError::Storage(crate::storage::StorageError::Corrupt(format!(
                "block {topoheight} is missing"
            )))
        })?;
        let block =
            Block::from_bytes(&record.block_bytes).map_err(|error| BlockchainError::Decode {
                what: format!("block {topoheight}"),
                error,
            })?;
        let hashed = block.hash();
        if record.hash != hashed {
            return Err(BlockchainError::Storage(
                crate::storage::StorageError::Corrupt(format!(
                    "block {topoheight} is stored as {} but hashes to {hashed}",
                    record.hash,
                )),
            ));
        }
        report.blocks += 1;
        report.txs += block.txs.len() as u64;
        tx_hashes.extend(block.txs.iter().map(|tx| tx.hash()));
        for (path, chain) in &mut chains {
            let summary = chain.add_new_block(block.clone())?;
            if summary.commitment != record.commitment {
                report.mismatches.push(Mismatch {
                    topoheight,
                    path,
                    stored: record.commitment,
                    replayed: summary.commitment,
                });
            }
        }
        progress(&report);
    }
    // Both replays agree wherever their commitments do; the sequential
    // one is the reference.
    let [(_, sequential), _] = &chains;
    let replayed = sequential
        .storage()
        .read()
        .map_err(|_| BlockchainError::LockPoisoned)?;
    compare_state(storage, &replayed, &mut report)?;
    // A transaction included again (its copy orphaned) is checked once.
    let mut checked = HashSet::with_capacity(tx_hashes.len());
    for hash in tx_hashes {
        if !checked.insert(hash) {
            continue;
        }
        let stored = storage.transaction(&hash)?;
        let replayed = replayed.transaction(&hash)?;
        if stored != replayed {
            report.index_mismatches.push(IndexMismatch {
                hash,
                stored: stored.as_ref().map(|(at, _)| *at),
                replayed: replayed.as_ref().map(|(at, _)| *at),
                other_bytes: matches!((&stored, &replayed), (Some((_, a)), Some((_, b))) if a != b),
            });
        }
    }
    Ok(report)
}

/// Compares every location `stored` and `replayed` hold, kind by kind.
fn compare_state<S: Storage>(
    stored: &S,
    replayed: &MemoryStorage,
    report: &mut ReplayReport,
) -> Result<(), StorageError> {
    type Pair = (Option<StateValue>, Option<StateValue>);
    for kind in StateKind::ALL {
        let mut pairs: BTreeMap<StateKey, Pair> = BTreeMap::new();
        for (key, value) in stored.state_entries(kind)? {
            pairs.entry(key).or_default().0 = Some(value);
        }
        for (key, value) in replayed.state_entries(kind)? {
            pairs.entry(key).or_default().1 = Some(value);
        }
        for (key, (stored, replayed)) in pairs {
            report.locations += 1;
            if stored != replayed {
                report.state_mismatches.push(StateMismatch {
                    key,
                    stored,
                    replayed,
                });
            }
        }
    }
    Ok(())
}
