//! `parex devnet`: a local chain fed with generated transactions.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use parex_engine::FallbackReason;

use super::progress::Progress;
use super::{CliError, ExecArgs, Output};
use crate::audit::check_supply;
use crate::blockchain::{Blockchain, ExecutionPath};
use crate::chain::constants::MAX_BLOCK_TXS;
use crate::storage::{RocksStorage, Storage};
use crate::workload::{devnet_block, devnet_genesis, DevAccounts, Workload, MAX_DEVNET_ACCOUNTS};

/// The metadata key of the devnet's parameters (seed and account count),
/// needed to re-derive the account keys when resuming.
const DEVNET_META: &str = "devnet";

/// `parex devnet` flags.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// The chain's directory (created with genesis if empty).
    #[arg(long, value_name = "DIR")]
    pub dir_path: PathBuf,
    /// Blocks to produce.
    #[arg(long, default_value_t = 10)]
    pub blocks: u64,
    /// Transactions per block, at most 65535 (a block's limit).
    #[arg(
        long,
        default_value_t = 100,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
            .range(..=MAX_BLOCK_TXS as u64)
    )]
    pub txs_per_block: usize,
    /// Funded accounts at genesis, 2 to 1000000 (ignored when resuming).
    #[arg(
        long,
        default_value_t = 1000,
        value_parser = clap::value_parser!(u32).range(2..=i64::from(MAX_DEVNET_ACCOUNTS))
    )]
    pub accounts: u32,
    /// Conflict pattern of the generated transactions.
    #[arg(long, value_enum, default_value_t = Workload::Mixed)]
    pub workload: Workload,
    /// Seed of the account keys (ignored when resuming) and transactions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Execution settings.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Runs `parex devnet`.
pub fn run(args: DevnetArgs, out: &mut Output<'_>) -> Result<(), CliError> {
    // Every setting is checked before the database exists: a run refused
    // for its arguments must not leave a new, empty one behind.
    let config = args.exec.resolve(&args.dir_path)?;
    let storage = RocksStorage::open_or_create(&args.dir_path)?;
    let (mut chain, mut accounts, seed) = match storage.meta(DEVNET_META)? {
        None if storage.tip()?.is_none() => {
            let accounts = DevAccounts::new(args.accounts as usize, args.seed);
            let meta = [
                args.seed.to_be_bytes(),
                u64::from(args.accounts).to_be_bytes(),
            ]
            .concat();
            let genesis = devnet_genesis(&accounts);
            let chain =
                Blockchain::create(storage, &genesis, vec![(DEVNET_META.into(), meta)], config)?;
            tracing::info!(
                accounts = args.accounts,
                seed = args.seed,
                "devnet genesis written"
            );
            (chain, accounts, args.seed)
        }
        None => {
            return Err(CliError::InvalidArgument(format!(
                "{} holds a chain that is not a devnet",
                args.dir_path.display()
            )))
        }
        Some(meta) => {
            let (seed, count) = decode_meta(&meta)?;
            if (seed, count) != (args.seed, args.accounts) {
                tracing::info!(
                    seed,
                    accounts = count,
                    "resuming with the chain's own seed and accounts"
                );
            }
            let mut accounts = DevAccounts::new(count as usize, seed);
            accounts.sync(&storage)?;
            let chain = Blockchain::open(storage, config)?;
            tracing::info!(topoheight = chain.tip().topoheight, "devnet resumed");
            (chain, accounts, seed)
        }
    };

    let started = Instant::now();
    let mut progress = Progress::new("devnet", args.blocks);
    let mut totals = Totals::default();
    for done in 1..=args.blocks {
        // Saturating, as `build_block`: a tip at `u64::MAX` has no next
        // block, which `add_new_block` refuses as not the next.
        let topoheight = chain.tip().topoheight.saturating_add(1);
        let (miner, txs) = devnet_block(
            args.workload,
            &mut accounts,
            args.txs_per_block,
            seed,
            topoheight,
        );
        let applying = Instant::now();
        let block = chain.build_block(miner, now_ms(), txs);
        let summary = chain.add_new_block(block)?;
        totals.applying += applying.elapsed();
        totals.txs += summary.tx_count() as u64;
        totals.orphaned += summary.orphaned() as u64;
        match summary.path {
            ExecutionPath::Parallel => totals.parallel += 1,
            ExecutionPath::Sequential => totals.sequential += 1,
            ExecutionPath::Shadow => totals.shadow += 1,
        }
        totals.diverged += u64::from(summary.diverged);
        totals
            .engine
            .add(&summary.stats, summary.path == ExecutionPath::Parallel);
        if summary.orphaned() > 0 {
            // The generator assumed every transaction applies; realign its
            // nonces and multisig set-ups with the chain.
            let storage = chain
                .storage()
                .read()
                .map_err(|_| CliError::CheckFailed("storage lock poisoned".into()))?;
            accounts.sync(&*storage)?;
        }
        let tps = totals.txs as f64 / started.elapsed().as_secs_f64().max(1e-9);
        progress.block_done(done, totals.txs, tps);
    }
    progress.finish();
    let elapsed = started.elapsed();
    let storage = chain
        .storage()
        .read()
        .map_err(|_| CliError::CheckFailed("storage lock poisoned".into()))?;
    let books = check_supply(&*storage)?;
    writeln!(
        out,
        "devnet {} at topoheight {}",
        args.dir_path.display(),
        chain.tip().topoheight
    )?;
    writeln!(out, "blocks:      {}", args.blocks)?;
    writeln!(
        out,
        "txs:         {} ({} orphaned)",
        totals.txs, totals.orphaned
    )?;
    // Signing a transaction costs about as much as the node's check of
    // it, so generating the blocks takes a good part of a run: the
    // chain's own rate is worth its line.
    writeln!(
        out,
        "time:        {:.2}s (applying blocks {:.2}s, the rest generating and signing their transactions)",
        elapsed.as_secs_f64(),
        totals.applying.as_secs_f64()
    )?;
    writeln!(
        out,
        "TPS:         {:.0} (applying blocks alone: {:.0})",
        totals.txs as f64 / elapsed.as_secs_f64().max(1e-9),
        totals.txs as f64 / totals.applying.as_secs_f64().max(1e-9)
    )?;
    writeln!(
        out,
        "paths:       {} parallel, {} sequential, {} shadow ({} diverged)",
        totals.parallel, totals.sequential, totals.shadow, totals.diverged
    )?;
    let engine = &totals.engine;
    writeln!(
        out,
        "engine:      {} executions ({} re-executions), {} validations, {} aborts, \
         {} dependency waits, up to {} workers, Block-STM's tables up to {:.1} MiB",
        engine.executions,
        engine.reexecutions,
        engine.validations,
        engine.validation_failures,
        engine.dependency_waits,
        engine.max_workers,
        engine.max_memory_bytes as f64 / f64::from(1 << 20)
    )?;
    let [contention, overflow, memory_full] = engine.fallbacks;
    writeln!(
        out,
        "block-stm:   {} of the parallel path's blocks ({} after a sequential start; \
         finished sequentially: {contention} under contention, {overflow} after a delta \
         overflow, {memory_full} outgrowing the memory); {} stayed sequential \
         (--parallel-start {})",
        totals.parallel.saturating_sub(engine.stayed_sequential),
        engine.switched,
        engine.stayed_sequential,
        chain.config().parallel_start
    )?;
    writeln!(out, "commitment:  {}", chain.tip().commitment)?;
    let mut failed = Vec::new();
    for book in &books {
        let verdict = if book.holds() { "ok" } else { "VIOLATED" };
        writeln!(
            out,
            "supply {}: balances {} + burned {} = {} (minted {}, expected {}) {verdict}",
            book.asset,
            book.balances,
            book.burned,
            book.balances + book.burned,
            book.supply,
            book.expected_supply
        )?;
        if !book.holds() {
            failed.push(book.asset.to_string());
        }
    }
    if !failed.is_empty() {
        return Err(CliError::CheckFailed(format!(
            "supply check violated for {}",
            failed.join(", ")
        )));
    }
    if totals.diverged > 0 {
        return Err(CliError::CheckFailed(format!(
            "{} blocks diverged between execution paths (see {})",
            totals.diverged,
            chain.config().reproducer_dir.display()
        )));
    }
    Ok(())
}

#[derive(Default)]
struct Totals {
    txs: u64,
    /// Time spent building and applying blocks, not generating and
    /// signing their transactions.
    applying: Duration,
    orphaned: u64,
    parallel: u64,
    sequential: u64,
    shadow: u64,
    diverged: u64,
    engine: EngineTotals,
}

/// What the engine saw over the run.
#[derive(Default)]
struct EngineTotals {
    executions: u64,
    reexecutions: u64,
    validations: u64,
    validation_failures: u64,
    dependency_waits: u64,
    /// Blocks of the parallel path that went on in parallel after a
    /// sequential start.
    switched: u64,
    /// Blocks that Block-STM handed to the sequential executor midway, by
    /// reason: contention, a delta overflow, a full memory.
    fallbacks: [u64; 3],
    /// Blocks of the parallel path that ran on the sequential executor
    /// throughout.
    stayed_sequential: u64,
    max_workers: usize,
    /// The most memory Block-STM's tables held for a block.
    max_memory_bytes: usize,
}

impl EngineTotals {
    /// Adds a block's statistics; how it started counts only for a block
    /// of the parallel path (`on_parallel_path`): the sequential path's,
    /// and a shadow block's kept sequential result, never ran on
    /// Block-STM by design.
    fn add(&mut self, stats: &parex_engine::ExecutionStats, on_parallel_path: bool) {
        self.executions += stats.executions;
        self.reexecutions += stats.reexecutions();
        self.validations += stats.validations;
        self.validation_failures += stats.validation_failures;
        self.dependency_waits += stats.dependency_waits;
        match stats.parallel_from {
            _ if !on_parallel_path => {}
            None => self.stayed_sequential += 1,
            Some(0) => {}
            Some(_) => self.switched += 1,
        }
        if let Some(reason) = stats.fallback_reason {
            self.fallbacks[match reason {
                FallbackReason::Contention => 0,
                FallbackReason::DeltaOverflow => 1,
                FallbackReason::MemoryFull => 2,
            }] += 1;
        }
        self.max_workers = self.max_workers.max(stats.workers);
        self.max_memory_bytes = self.max_memory_bytes.max(stats.memory_bytes);
    }
}

/// The stored seed and account count; a count the `--accounts` flag would
/// refuse is corrupt (a huge one would exhaust memory deriving keys).
fn decode_meta(meta: &[u8]) -> Result<(u64, u32), CliError> {
    let corrupt = || {
        CliError::Storage(crate::storage::StorageError::Corrupt(
            "bad devnet metadata".into(),
        ))
    };
    let seed = meta
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(corrupt)?;
    let count = meta
        .get(8..16)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(corrupt)?;
    let count = u32::try_from(u64::from_be_bytes(count)).map_err(|_| corrupt())?;
    if !(2..=MAX_DEVNET_ACCOUNTS).contains(&count) || meta.len() != 16 {
        return Err(corrupt());
    }
    Ok((u64::from_be_bytes(seed), count))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    #[test]
    fn stored_account_counts_are_those_the_flag_allows() {
        let meta = |count: u64| [7u64.to_be_bytes(), count.to_be_bytes()].concat();
        let max = u64::from(MAX_DEVNET_ACCOUNTS);
        assert_eq!(decode_meta(&meta(2)).unwrap(), (7, 2));
        assert_eq!(decode_meta(&meta(max)).unwrap(), (7, MAX_DEVNET_ACCOUNTS));
        for count in [0, 1, max + 1, u64::from(u32::MAX) + 1, u64::MAX] {
            assert!(decode_meta(&meta(count)).is_err(), "{count}");
        }
        let accepted = |count: u32| {
            let count = count.to_string();
            Cli::try_parse_from(["parex", "devnet", "--dir-path", "x", "--accounts", &count])
                .is_ok()
        };
        assert!(accepted(MAX_DEVNET_ACCOUNTS));
        assert!(!accepted(MAX_DEVNET_ACCOUNTS + 1));
    }
}
