//! The chain: verifies blocks, executes them on either path, and commits
//! their effect atomically.

mod apply;
mod commitment;
mod config;
mod error;
mod executors;
mod genesis;
mod path_choice;
pub(crate) use genesis::check_tip;
pub use genesis::{stored_genesis, GENESIS_META};
mod shadow;
mod snapshot;
mod summary;

use std::sync::{Arc, RwLock};
use std::time::Instant;

use parex_engine::{TxnOutcome, VmBlockOutput};

pub use apply::{ApplicableChainState, MergeSummary};
pub use commitment::next_commitment;
pub use config::{ExecutionConfig, ParallelStart};
pub use error::BlockchainError;
pub use executors::ExecutionPath;
pub use path_choice::PathChoice;
pub use snapshot::Snapshot;
pub use summary::BlockSummary;

use self::executors::Executors;
use crate::chain::constants::{
    BLOCK_REWARD, BLOCK_VERSION, MAX_BLOCK_SIZE, MAX_BLOCK_TXS, MAX_TX_SIZE,
};
use crate::chain::{verify_block_txs, Block, Transaction};
use crate::codec::Encode;
use crate::crypto::{Hash, PublicKey};
use crate::storage::{ChainTip, Storage};
use crate::vm::{ChainTxn, ChainVm, TxResult, VerifiedTx};

/// A chain on a storage.
pub struct Blockchain<S: Storage> {
    storage: Arc<RwLock<S>>,
    config: ExecutionConfig,
    executors: Executors,
    /// What each path's blocks took, for `adaptive_execution`.
    path_choice: PathChoice,
    tip: ChainTip,
}

impl<S: Storage> std::fmt::Debug for Blockchain<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blockchain")
            .field("tip", &self.tip)
            .field("config", &self.config)
            .finish()
    }
}

impl<S: Storage> Blockchain<S> {
    /// Opens the chain a storage holds.
    pub fn open(storage: S, config: ExecutionConfig) -> Result<Self, BlockchainError> {
        let tip = storage.tip()?.ok_or(BlockchainError::NoGenesis)?;
        genesis::check_stored(&storage)?;
        genesis::check_tip(&storage, &tip)?;
        Ok(Self {
            executors: Executors::new(&config)?,
            storage: Arc::new(RwLock::new(storage)),
            config,
            path_choice: PathChoice::default(),
            tip,
        })
    }

    /// The shared storage.
    pub fn storage(&self) -> &Arc<RwLock<S>> {
        &self.storage
    }

    /// The last block.
    pub fn tip(&self) -> ChainTip {
        self.tip
    }

    /// The execution settings.
    pub fn config(&self) -> &ExecutionConfig {
        &self.config
    }

    /// Whether a block of `tx_count` user transactions may run in
    /// parallel: under `adaptive_execution` it then runs on the path
    /// measured faster for its size, otherwise in parallel.
    pub fn should_use_parallel_execution(&self, tx_count: usize) -> bool {
        self.config.parallel_execution_enabled && tx_count >= self.config.min_txs_for_parallel
    }

    /// The path of the next block of `tx_count` user transactions (shadow
    /// execution aside); counts the block in `path_choice` for
    /// `adaptive_execution`.
    fn choose_path(&self, path_choice: &mut PathChoice, tx_count: usize) -> ExecutionPath {
        if !self.should_use_parallel_execution(tx_count) {
            ExecutionPath::Sequential
        } else if self.config.adaptive_execution {
            path_choice.choose(tx_count)
        } else {
            ExecutionPath::Parallel
        }
    }

    /// A block on the tip with these transactions.
    pub fn build_block(&self, miner: PublicKey, timestamp_ms: u64, txs: Vec<Transaction>) -> Block {
        // Saturating: a tip at `u64::MAX` has no next block, and a block
        // at the tip's own height is refused as not the next.
        Block::new(
            self.tip.topoheight.saturating_add(1),
            self.tip.hash,
            timestamp_ms,
            miner,
            txs,
        )
    }

    /// Verifies, executes and commits `block` on the tip. On error nothing
    /// changed.
    ///
    /// Runs in a `block` span (its topoheight), so that what the engine and
    /// the node log meanwhile names the block; its phases are `debug`
    /// spans: `verify` (header, sizes, signatures), `prefetch` (the state
    /// the block reads), `execute` and `commit`.
    pub fn add_new_block(&mut self, block: Block) -> Result<BlockSummary, BlockchainError> {
        let span = tracing::info_span!("block", topoheight = block.header.topoheight);
        let _in_block = span.enter();
        let (block_bytes, transactions, mut txns) =
            tracing::debug_span!("verify").in_scope(|| {
                let (block_bytes, transactions) = self.verify_header_and_sizes(&block)?;
                let txns =
                    engine_block(&block).map_err(|(index, error)| BlockchainError::InvalidTx {
                        index,
                        hash: transactions[index].0,
                        error,
                    })?;
                Ok::<_, BlockchainError>((block_bytes, transactions, txns))
            })?;

        // What the block teaches the path choice counts once it commits: a
        // refused block leaves the chain and its path choice as they were.
        // (The executors' own hints for the next block's start, which only
        // steer speed, still learn from a refused block's run.)
        let mut path_choice = self.path_choice.clone();
        let path = self.choose_path(&mut path_choice, block.txs.len());
        let storage = self
            .storage
            .read()
            .map_err(|_| BlockchainError::LockPoisoned)?;
        let base = tracing::debug_span!("prefetch")
            .in_scope(|| Snapshot::prefetch(&*storage, &mut txns))?;
        let started = Instant::now();
        let (path, output, diverged) = tracing::debug_span!("execute", %path)
            .in_scope(|| self.execute(&block, &txns, &base, path))?;
        let exec_time = started.elapsed();
        path_choice.record(block.txs.len(), path, exec_time);
        let topoheight = block.header.topoheight;
        let state =
            ApplicableChainState::new(topoheight, output.final_values, |key| base.value(key))?;
        drop(base);
        // The index by hash names where a transaction applied, or where it
        // was first included if it never did: a copy that did not apply
        // (orphaned, say by the nonce its first inclusion spent) is indexed
        // only if nothing is. Engine outcome `i + 1` is user transaction
        // `i`: the reward is first.
        let mut indexed = Vec::with_capacity(transactions.len());
        for (index, (hash, bytes)) in transactions.into_iter().enumerate() {
            let applied = matches!(
                output.outcomes.get(index + 1),
                Some(TxnOutcome::Applied(TxResult::Applied))
            );
            if applied || storage.transaction(&hash)?.is_none() {
                indexed.push((hash, bytes));
            }
        }
        drop(storage);

        let hash = block.hash();
        let commitment = next_commitment(&self.tip.commitment, topoheight, &hash, state.writes());
        let merge = state.summary();
        let commit = state.into_commit(hash, commitment, block_bytes, indexed, Vec::new());
        tracing::debug_span!("commit").in_scope(|| {
            self.storage
                .write()
                .map_err(|_| BlockchainError::LockPoisoned)?
                .commit(&commit)
                .map_err(BlockchainError::from)
        })?;
        self.tip = commit.tip;
        self.path_choice = path_choice;

        // Drop the synthetic reward (first) and payout (last).
        let users = 1..output.outcomes.len().saturating_sub(1);
        let outcomes = output
            .outcomes
            .get(users)
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        let summary = BlockSummary {
            topoheight,
            hash,
            commitment,
            path,
            outcomes,
            stats: output.stats,
            exec_time,
            merge,
            diverged,
        };
        // Debug level: one line per block drowns the summary at devnet
        // speeds; `RUST_LOG=parex_node=debug` shows them.
        tracing::debug!(
            topoheight,
            path = %path,
            txs = summary.tx_count(),
            orphaned = summary.orphaned(),
            exec_ms = exec_time.as_secs_f64() * 1e3,
            workers = summary.stats.workers,
            helpers_joined = summary.stats.helpers_joined,
            reexecutions = summary.stats.reexecutions(),
            sequential_fallback_from = ?summary.stats.sequential_fallback_from,
            fallback_reason = ?summary.stats.fallback_reason,
            parallel_from = ?summary.stats.parallel_from,
            validation_failures = summary.stats.validation_failures,
            memory_bytes = summary.stats.memory_bytes,
            merge = %merge,
            "block applied"
        );
        Ok(summary)
    }

    /// Runs the block on `path`, or on both under shadow execution.
    fn execute(
        &self,
        block: &Block,
        txns: &[ChainTxn],
        base: &Snapshot<'_, S>,
        path: ExecutionPath,
    ) -> Result<(ExecutionPath, VmBlockOutput<ChainVm>, bool), BlockchainError> {
        if !self.config.shadow_execution {
            return Ok((path, self.executors.run(path, txns, base)?, false));
        }
        let sequential = self.executors.run(ExecutionPath::Sequential, txns, base)?;
        let other = self.executors.run(ExecutionPath::Parallel, txns, base);
        let Some(first) = shadow::first_difference(&sequential, &other) else {
            return Ok((ExecutionPath::Shadow, sequential, false));
        };
        let detail = match &other {
            Err(error) => format!("parallel execution failed: {error}"),
            Ok(_) => "outcomes or final values differ".to_owned(),
        };
        let written =
            shadow::write_reproducer(&self.config.reproducer_dir, block, base, first, &detail);
        // Engine index 0 is the reward: user transaction i is engine i + 1.
        let first_tx = first.and_then(|index| index.checked_sub(1));
        tracing::error!(
            topoheight = block.header.topoheight,
            block = %block.hash(),
            first_differing_tx = ?first_tx,
            reproducer = ?written.as_ref().map_err(ToString::to_string),
            "{detail}; keeping the sequential result"
        );
        Ok((ExecutionPath::Shadow, sequential, true))
    }

    /// Checks what needs no signature or state: position, version, root and
    /// sizes. Returns the block's and its transactions' encodings.
    #[allow(clippy::type_complexity)]
    fn verify_header_and_sizes(
        &self,
        block: &Block,
    ) -> Result<(Vec<u8>, Vec<(Hash, Vec<u8>)>), BlockchainError> {
        let header = &block.header;
        if Some(header.topoheight) != self.tip.next_topoheight() {
            return Err(BlockchainError::NotNext {
                tip: self.tip.topoheight,
                expected_previous: self.tip.hash,
                got: header.topoheight,
            });
        }
        if header.previous != self.tip.hash {
            return Err(BlockchainError::WrongPrevious {
                expected: self.tip.hash,
                got: header.previous,
            });
        }
        if header.version != BLOCK_VERSION {
            return Err(BlockchainError::UnsupportedVersion(header.version));
        }
        if block.txs.len() > MAX_BLOCK_TXS {
            return Err(BlockchainError::TooLarge(format!(
                "{} transactions, at most {MAX_BLOCK_TXS}",
                block.txs.len()
            )));
        }
        let transactions: Vec<(Hash, Vec<u8>)> = block
            .txs
            .iter()
            .map(|tx| {
                let bytes = tx.to_bytes();
                (crate::crypto::hash(&bytes), bytes)
            })
            .collect();
        if let Some((index, (_, bytes))) = transactions
            .iter()
            .enumerate()
            .find(|(_, (_, bytes))| bytes.len() > MAX_TX_SIZE)
        {
            return Err(BlockchainError::TooLarge(format!(
                "transaction {index} is {} bytes, at most {MAX_TX_SIZE}",
                bytes.len()
            )));
        }
        if Block::root_of(transactions.iter().map(|(hash, _)| *hash)) != header.txs_root {
            return Err(BlockchainError::TxsRootMismatch);
        }
        let block_bytes = block.to_bytes();
        if block_bytes.len() > MAX_BLOCK_SIZE {
            return Err(BlockchainError::TooLarge(format!(
                "{} bytes, at most {MAX_BLOCK_SIZE}",
                block_bytes.len()
            )));
        }
        Ok((block_bytes, transactions))
    }
}

/// A user transaction's outcome as text: `applied`, `orphaned: reason`, or
/// `reverted: delta overflow`.
pub fn describe_outcome(outcome: &TxnOutcome<crate::vm::TxResult>) -> String {
    match outcome {
        TxnOutcome::Applied(result) => result.to_string(),
        TxnOutcome::DeltaOverflow => "orphaned: a credit overflowed".to_owned(),
    }
}

/// The block as the engine executes it: the miner's reward first, the
/// user transactions with their signatures verified (in parallel), the fee
/// payout last. Both execution paths run exactly this list, so the reward
/// and the payout are ordered the same way on both.
///
/// On a bad signature, the index of the first bad transaction and why.
pub fn engine_block(block: &Block) -> Result<Vec<ChainTxn>, (usize, crate::chain::TxError)> {
    let cosigners = verify_block_txs(&block.txs)?;
    let miner = block.header.miner;
    let mut txns = Vec::with_capacity(block.txs.len() + 2);
    txns.push(ChainTxn::Reward {
        miner,
        amount: BLOCK_REWARD,
    });
    txns.extend(block.txs.iter().zip(cosigners).map(|(tx, cosigners)| {
        ChainTxn::User(VerifiedTx {
            tx: tx.clone(),
            cosigners,
            multisig_unset: false,
        })
    }));
    txns.push(ChainTxn::FeePayout { miner });
    Ok(txns)
}
