//! `parex bench` and `parex calibrate`: sequential against parallel
//! execution, side by side in one process, on synthetic and on real node
//! blocks.

use clap::{Args, ValueEnum};
use parex_benches::calibrate::{recommend, SIZES};
use parex_benches::harness::{compare, runs_for, table, Contenders, Row, MAX_RUNS};
use parex_benches::matrix::standard_matrix;
use parex_benches::workload::{block as synthetic_block, BenchVm, Workload as Synthetic};
use parex_engine::available_threads;

use super::{threads_parser, CliError, Output};
use crate::blockchain::{engine_block, ExecutionConfig, Snapshot};
use crate::vm::ChainVm;
use crate::workload::{
    generate_block_txs, in_memory_chain, DevAccounts, Workload as NodeWorkload, MAX_DEVNET_ACCOUNTS,
};

/// What `parex bench` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchWorkload {
    /// Synthetic native-speed transfers (about 0.12 µs each).
    Transfer,
    /// Synthetic transfers that each do about 20 µs of work first.
    Heavy,
    /// Synthetic transfers that also pay into one fee accumulator.
    HotFee,
    /// Synthetic transfers, each spending what the previous one received.
    Chain,
    /// Signed node transfers between random accounts, on the chain's VM
    /// (reward, fees, burn and payout included).
    NodeTransfer,
    /// Signed node transfers in a dependency chain.
    NodeChain,
}

impl BenchWorkload {
    fn synthetic(self) -> Option<Synthetic> {
        match self {
            BenchWorkload::Transfer => Some(Synthetic::Transfer),
            BenchWorkload::Heavy => Some(Synthetic::Heavy),
            BenchWorkload::HotFee => Some(Synthetic::HotFee),
            BenchWorkload::Chain => Some(Synthetic::Chain),
            BenchWorkload::NodeTransfer | BenchWorkload::NodeChain => None,
        }
    }
}

/// The largest block `parex bench` generates: every transaction of a
/// block is generated and held, with the executors' tables for it, before
/// the first run; a count past memory is refused rather than aborting.
const MAX_BENCH_TXS: usize = 1_000_000;

/// Flags of `parex bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Workloads to run (comma separated); with no workload, size or account
    /// flag, the standard matrix runs.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub workload: Vec<BenchWorkload>,
    /// Transactions per block, 1 to 1000000 [default: 10000].
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_BENCH_TXS as u64))]
    pub txs: Option<usize>,
    /// Accounts the transfers spread over, 2 to 1000000 [default: as many
    /// as transactions, at least 2].
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=u64::from(MAX_DEVNET_ACCOUNTS)))]
    pub accounts: Option<usize>,
    /// Threads of the parallel executor, 1 to 1024 [default: all cores,
    /// at most 1024].
    #[arg(long, value_parser = threads_parser())]
    pub threads: Option<usize>,
    /// Runs of each executor per row, at most 10000, in every order of the
    /// three (a multiple of 6 balances them); blocks of 100 transactions
    /// or fewer run 20 times as often.
    #[arg(long, default_value_t = 12, value_parser = runs_parser())]
    pub runs: usize,
    /// One JSON object per row instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `parex calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Threads of the parallel executor, 1 to 1024 [default: all cores,
    /// at most 1024].
    #[arg(long, value_parser = threads_parser())]
    pub threads: Option<usize>,
    /// Runs of each executor per block size, at most 10000.
    #[arg(long, default_value_t = 12, value_parser = runs_parser())]
    pub runs: usize,
}

fn runs_parser() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(..=MAX_RUNS as u64)
}

/// Runs `parex bench`.
pub fn run(args: BenchArgs, out: &mut Output<'_>) -> Result<(), CliError> {
    let threads = args.threads.unwrap_or_else(available_threads);
    let standard = args.workload.is_empty() && args.txs.is_none() && args.accounts.is_none();
    let mut plan: Vec<(BenchWorkload, usize, usize)> = Vec::new();
    if standard {
        for case in standard_matrix(threads) {
            let workload = match case.workload {
                Synthetic::Transfer => BenchWorkload::Transfer,
                Synthetic::Heavy => BenchWorkload::Heavy,
                Synthetic::HotFee => BenchWorkload::HotFee,
                Synthetic::Chain => BenchWorkload::Chain,
            };
            plan.push((workload, case.txns, case.accounts));
        }
        for txs in [100, 1_000, 10_000] {
            plan.push((BenchWorkload::NodeTransfer, txs, txs));
        }
        plan.push((BenchWorkload::NodeChain, 1_000, 1_000));
    } else {
        let txs = args.txs.unwrap_or(10_000);
        let workloads = if args.workload.is_empty() {
            vec![
                BenchWorkload::Transfer,
                BenchWorkload::Heavy,
                BenchWorkload::HotFee,
                BenchWorkload::Chain,
            ]
        } else {
            args.workload.clone()
        };
        for workload in workloads {
            plan.push((workload, txs, args.accounts.unwrap_or(txs.max(2))));
        }
    }

    let mut rows = Vec::with_capacity(plan.len());
    for (i, &(workload, txs, accounts)) in plan.iter().enumerate() {
        eprintln!(
            "[{}/{}] {workload:?}: {txs} txs, {accounts} accounts, {threads} threads",
            i + 1,
            plan.len()
        );
        let row = measure(workload, txs, accounts, threads, args.runs, None)?;
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&row).unwrap_or_default())?;
        }
        rows.push(row);
    }
    if !args.json {
        write!(out, "{}", table(&rows))?;
    }
    if let Some(row) = rows.iter().find(|row| !row.outputs_equal) {
        return Err(CliError::CheckFailed(format!(
            "parallel output differs from sequential on {} ({} txs)",
            row.workload, row.txs
        )));
    }
    Ok(())
}

/// Runs `parex calibrate`: Block-STM itself (no per-worker minimum)
/// against sequential execution at growing block sizes, on the node's
/// transfers and on heavy (~20 µs) transactions, and the thresholds that
/// follow for each.
pub fn calibrate(args: CalibrateArgs, out: &mut Output<'_>) -> Result<(), CliError> {
    let threads = args.threads.unwrap_or_else(available_threads);
    let classes = [
        (BenchWorkload::NodeTransfer, "node transfers"),
        (BenchWorkload::Heavy, "heavy transactions (~20 µs each)"),
    ];
    let total = classes.len() * SIZES.len();
    for (class, (workload, label)) in classes.into_iter().enumerate() {
        let mut rows = Vec::with_capacity(SIZES.len());
        for (i, &txs) in SIZES.iter().enumerate() {
            eprintln!(
                "[{}/{total}] {label}: {txs}-transaction blocks",
                class * SIZES.len() + i + 1
            );
            rows.push(measure(workload, txs, txs, threads, args.runs, Some(0))?);
        }
        writeln!(out, "{label}, {threads} threads, Block-STM on every block:")?;
        write!(out, "{}", table(&rows))?;
        match recommend(&SIZES, &rows) {
            Some(txs) => {
                writeln!(out, "  parallel execution pays from {txs} transactions:")?;
                writeln!(out, "  min_txs_for_parallel = {txs}")?;
                writeln!(
                    out,
                    "  min_txs_per_worker = {}",
                    (txs / threads.max(1)).max(1)
                )?;
            }
            None => {
                let largest = SIZES[SIZES.len() - 1];
                writeln!(
                    out,
                    "  parallel execution did not pay up to {largest} transactions: keep such \
                     blocks sequential (min_txs_for_parallel above {largest}, or \
                     parallel_execution_enabled = false)"
                )?;
            }
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "These thresholds decide under parallel_start = \"block-stm\". Under the default, \
         \"probe\", the engine starts every block sequentially and goes on with Block-STM \
         only once its transactions prove expensive, so min_txs_for_parallel matters less."
    )?;
    Ok(())
}

/// One row: the block built, then both executors on it, alternately.
/// `min_txs_per_worker` sizes the parallel executor as the node does; `None`
/// keeps the node's default (Block-STM itself at one thread).
fn measure(
    workload: BenchWorkload,
    txs: usize,
    accounts: usize,
    threads: usize,
    runs: usize,
    min_txs_per_worker: Option<usize>,
) -> Result<Row, CliError> {
    if accounts < 2 {
        return Err(CliError::InvalidArgument(
            "--accounts must be at least 2".into(),
        ));
    }
    let contenders = Contenders::new(threads, min_txs_per_worker)
        .map_err(|error| CliError::InvalidArgument(error.to_string()))?;
    let runs = runs_for(txs, runs);
    let checked = |row: Result<Row, parex_engine::BlockError>| {
        row.map_err(|error| CliError::CheckFailed(error.to_string()))
    };
    if let Some(synthetic) = workload.synthetic() {
        let block = synthetic_block(synthetic, txs, accounts, 42);
        return checked(compare(
            synthetic.name(),
            accounts,
            &BenchVm,
            &block.txns,
            &block.genesis,
            &contenders,
            runs,
        ));
    }
    let (name, pattern) = match workload {
        BenchWorkload::NodeChain => ("node-chain", NodeWorkload::Chain),
        _ => ("node-transfer", NodeWorkload::Uniform),
    };
    let mut dev = DevAccounts::new(accounts, 42);
    let chain = in_memory_chain(&dev, ExecutionConfig::default())?;
    let block_txs = generate_block_txs(pattern, &mut dev, txs, 1);
    let block = chain.build_block(dev.public_key(0), 1, block_txs);
    let mut txns = engine_block(&block).map_err(|(index, error)| {
        CliError::CheckFailed(format!("generated tx {index}: {error}"))
    })?;
    let storage = chain
        .storage()
        .read()
        .map_err(|_| CliError::CheckFailed("storage lock poisoned".into()))?;
    let base = Snapshot::prefetch(&*storage, &mut txns)?;
    checked(compare(
        name,
        accounts,
        &ChainVm,
        &txns,
        &base,
        &contenders,
        runs,
    ))
}
