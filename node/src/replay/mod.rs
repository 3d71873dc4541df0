//! Replaying a stored chain from genesis to check every commitment.

use crate::blockchain::{
    check_tip, stored_genesis, Blockchain, BlockchainError, ExecutionConfig, ParallelStart,
};
use crate::chain::Block;
use crate::codec::Decode;
use crate::crypto::Hash;
use crate::storage::{MemoryStorage, Storage};

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

/// What a replay found.
#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    /// Blocks replayed (genesis excluded).
    pub blocks: u64,
    /// User transactions replayed.
    pub txs: u64,
    /// Commitment mismatches, in block order.
    pub mismatches: Vec<Mismatch>,
}

/// Replays every stored block into two fresh in-memory chains, one
/// sequential and one parallel (every block on Block-STM), and
/// compares each block's commitment with the stored one.
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
    Ok(report)
}
