//! `parex verify`: replay and compare commitments.

use std::path::PathBuf;

use clap::Args;
use parex_engine::available_threads;

use super::progress::Progress;
use super::{threads_parser, CliError, Output};
use crate::replay::replay_chain_with_progress;
use crate::storage::{RocksStorage, Storage};

/// `parex verify` flags.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The chain's directory.
    #[arg(long, value_name = "DIR")]
    pub dir_path: PathBuf,
    /// Threads of the parallel replay, 1 to 1024 [default: all cores, at
    /// most 1024].
    #[arg(
        long,
        env = "PAREX_EXECUTION_THREADS",
        value_name = "N",
        value_parser = threads_parser()
    )]
    pub execution_threads: Option<usize>,
}

/// Runs `parex verify`.
pub fn run(args: VerifyArgs, out: &mut Output<'_>) -> Result<(), CliError> {
    let storage = RocksStorage::open_read_only(&args.dir_path)?;
    let threads = args.execution_threads.unwrap_or_else(available_threads);
    let started = std::time::Instant::now();
    let total = storage.tip()?.map_or(0, |tip| tip.topoheight);
    let mut progress = Progress::new("verify", total);
    let report = replay_chain_with_progress(&storage, threads, |report| {
        let rate = report.txs as f64 / started.elapsed().as_secs_f64().max(1e-9);
        progress.block_done(report.blocks, report.txs, rate);
    });
    progress.finish();
    let report = report?;
    writeln!(
        out,
        "replayed {} blocks ({} txs) sequentially and in parallel in {:.2}s",
        report.blocks,
        report.txs,
        started.elapsed().as_secs_f64()
    )?;
    for mismatch in report.mismatches.iter().take(10) {
        writeln!(
            out,
            "MISMATCH at topoheight {} ({}): stored {}, replayed {}",
            mismatch.topoheight, mismatch.path, mismatch.stored, mismatch.replayed
        )?;
    }
    for mismatch in report.state_mismatches.iter().take(10) {
        writeln!(
            out,
            "STATE MISMATCH at {:?}: stored {:?}, replayed {:?}",
            mismatch.key, mismatch.stored, mismatch.replayed
        )?;
    }
    for mismatch in report.index_mismatches.iter().take(10) {
        writeln!(
            out,
            "INDEX MISMATCH for transaction {}: stored at {:?}, replayed at {:?}{}",
            mismatch.hash,
            mismatch.stored,
            mismatch.replayed,
            if mismatch.other_bytes {
                ", other bytes"
            } else {
                ""
            }
        )?;
    }
    if report.all_match() {
        writeln!(out, "all commitments match")?;
        writeln!(
            out,
            "the stored state ({} locations) and transaction index match the replay",
            report.locations
        )?;
        Ok(())
    } else {
        Err(CliError::CheckFailed(format!(
            "{} commitment, {} state and {} index mismatches",
            report.mismatches.len(),
            report.state_mismatches.len(),
            report.index_mismatches.len()
        )))
    }
}
