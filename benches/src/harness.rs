//! Sequential and parallel, side by side, in one run.

use std::time::{Duration, Instant};

use parex_engine::analysis::dependency_profile;
use parex_engine::{
    BaseStorage, BlockError, Executor, ParallelExecutor, SequentialExecutor, StartPolicy, Vm,
};
use serde::Serialize;

use crate::machine::cross_core_round_trip_ns;

/// The Block-STM executor of a comparison: sized as the node sizes it,
/// running a block big enough for two workers by count on Block-STM from
/// its first transaction ([`StartPolicy::ProbeSmall`]), and at one thread
/// Block-STM itself (the machinery's cost) rather than the sequential path
/// a one-worker block would take. `min_txns_per_worker` overrides the
/// sizing.
pub fn comparison_executor(
    threads: usize,
    min_txns_per_worker: Option<usize>,
) -> Result<ParallelExecutor, parex_engine::EngineError> {
    let min_per_worker = match min_txns_per_worker {
        Some(min) => min,
        None if threads == 1 => 0,
        None => parex_engine::DEFAULT_MIN_TXNS_PER_WORKER,
    };
    Ok(ParallelExecutor::new(threads)?
        .with_min_txns_per_worker(min_per_worker)
        .with_start(StartPolicy::ProbeSmall))
}

/// The parallel executors a comparison times against the sequential one.
#[derive(Debug)]
pub struct Contenders {
    /// Block-STM ([`comparison_executor`]): what the machinery costs and
    /// gains.
    pub block_stm: ParallelExecutor,
    /// The executor as it ships ([`StartPolicy::Probe`]): every block
    /// starts sequentially and goes on with Block-STM only once its
    /// transactions prove expensive.
    pub auto: ParallelExecutor,
}

impl Contenders {
    /// Both executors at `threads` threads; `min_txns_per_worker` sizes
    /// Block-STM's as for [`comparison_executor`]. The shipped one keeps
    /// every default (at one thread it runs sequentially).
    pub fn new(
        threads: usize,
        min_txns_per_worker: Option<usize>,
    ) -> Result<Self, parex_engine::EngineError> {
        Ok(Self {
            block_stm: comparison_executor(threads, min_txns_per_worker)?,
            auto: ParallelExecutor::new(threads)?,
        })
    }

    /// The threads of both.
    pub fn threads(&self) -> usize {
        self.block_stm.threads()
    }
}

/// The most runs a command line may ask for: [`compare`] reserves room
/// for every run's time up front, and a huge count would exhaust memory
/// before the first run.
pub const MAX_RUNS: usize = 10_000;

/// Runs per executor for a block of `txs` transactions: blocks of 100 or
/// fewer run 20 times as often (they take microseconds, and their medians
/// are noisier).
pub fn runs_for(txs: usize, runs: usize) -> usize {
    if txs <= 100 {
        runs.saturating_mul(20)
    } else {
        runs
    }
}

/// One row of a comparison: a block run `runs` times by each executor,
/// alternately.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The workload's name.
    pub workload: String,
    /// Transactions in the block.
    pub txs: usize,
    /// Accounts the workload spreads over.
    pub accounts: usize,
    /// Threads of the parallel executor.
    pub threads: usize,
    /// Median sequential time, in milliseconds.
    pub seq_ms: f64,
    /// Median time of Block-STM ([`Contenders::block_stm`]), in
    /// milliseconds.
    pub par_ms: f64,
    /// `seq_ms / par_ms`.
    pub speedup: f64,
    /// Median time of the executor as it ships ([`Contenders::auto`]), in
    /// milliseconds: Block-STM only where the block's transactions proved
    /// expensive enough.
    pub auto_ms: f64,
    /// `seq_ms / auto_ms`.
    pub auto_speedup: f64,
    /// The share of the shipped executor's runs that went on with
    /// Block-STM (`ExecutionStats::parallel_from`): 0 for a block it kept
    /// sequential every time.
    pub auto_switched: f64,
    /// Executions beyond the first per transaction, averaged over
    /// Block-STM's runs (as are the next two).
    pub reexec_per_tx: f64,
    /// Failed validations per run, averaged.
    pub validation_failures: f64,
    /// Dependency suspensions per run, averaged.
    pub dependency_waits: f64,
    /// The most memory Block-STM's tables held for the block, in MiB
    /// (`ExecutionStats::memory_bytes`).
    pub block_stm_mib: f64,
    /// The bound the block's dependencies put on the speedup.
    pub ideal_speedup: f64,
    /// Whether every parallel run's outcomes and final values equalled the
    /// sequential run's.
    pub outputs_equal: bool,
    /// The cross-core round trip of a cache line, in nanoseconds, the
    /// larger of two measurements, just before and just after the runs
    /// ([`crate::machine`]); `None` on a single core.
    pub round_trip_ns: Option<f64>,
}

/// The orders in which a run times the three executors (0: sequential,
/// 1: Block-STM, 2: the shipped executor): every permutation, so that
/// over six runs each executor comes right after each other one equally
/// often. The one after Block-STM finds caches full of Block-STM's memory,
/// not of the state: in a fixed order (sequential, Block-STM, shipped)
/// the shipped executor measured 0.95x of the sequential one on blocks
/// it ran sequentially.
const ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// Runs `txns` `runs` times with each executor, alternating sequential,
/// Block-STM and the shipped executor so that all see the same machine
/// conditions, and reports the medians; every parallel output is checked
/// against the sequential one.
#[allow(clippy::too_many_arguments)]
pub fn compare<VM, S>(
    workload: &str,
    accounts: usize,
    vm: &VM,
    txns: &[VM::Txn],
    storage: &S,
    contenders: &Contenders,
    runs: usize,
) -> Result<Row, BlockError>
where
    VM: Vm,
    S: BaseStorage<VM::Key, VM::Value>,
{
    let runs = runs.max(1);
    let round_trip_before = cross_core_round_trip_ns();
    // One sequential executor for every run, as the parallel one: both
    // reuse their tables from block to block, as in a node.
    let sequential = SequentialExecutor::new();
    let reference = sequential.execute(vm, txns, storage)?;
    // Each parallel executor's first block allocates its buffers, as the
    // reference run did the sequential executor's: untimed, but checked.
    let mut outputs_equal = true;
    for executor in [&contenders.block_stm, &contenders.auto] {
        outputs_equal &= executor.execute(vm, txns, storage)?.effect() == reference.effect();
    }
    let mut seq_times = Vec::with_capacity(runs);
    let mut par_times = Vec::with_capacity(runs);
    let mut auto_times = Vec::with_capacity(runs);
    let (mut reexecutions, mut validation_failures, mut dependency_waits) = (0u64, 0u64, 0u64);
    let mut auto_switched = 0u64;
    let mut memory_bytes = 0;
    for run in 0..runs {
        for &executor in &ORDERS[run % ORDERS.len()] {
            let started = Instant::now();
            match executor {
                0 => {
                    let output = sequential.execute(vm, txns, storage)?;
                    seq_times.push(started.elapsed());
                    drop(output);
                }
                1 => {
                    let output = contenders.block_stm.execute(vm, txns, storage)?;
                    par_times.push(started.elapsed());
                    outputs_equal &= output.effect() == reference.effect();
                    reexecutions += output.stats.reexecutions();
                    validation_failures += output.stats.validation_failures;
                    dependency_waits += output.stats.dependency_waits;
                    memory_bytes = memory_bytes.max(output.stats.memory_bytes);
                }
                _ => {
                    let output = contenders.auto.execute(vm, txns, storage)?;
                    auto_times.push(started.elapsed());
                    outputs_equal &= output.effect() == reference.effect();
                    auto_switched += u64::from(output.stats.parallel_from.is_some());
                }
            }
        }
    }
    let round_trip_ns = round_trip_before
        .zip(cross_core_round_trip_ns())
        .map(|(before, after)| before.max(after));
    let seq_ms = median_ms(&seq_times);
    let par_ms = median_ms(&par_times);
    let auto_ms = median_ms(&auto_times);
    let speedup = |ms: f64| if ms > 0.0 { seq_ms / ms } else { 1.0 };
    let profile = dependency_profile(vm, txns, storage)?;
    let per_run = |total: u64| total as f64 / runs as f64;
    Ok(Row {
        workload: workload.to_owned(),
        txs: txns.len(),
        accounts,
        threads: contenders.threads(),
        seq_ms,
        par_ms,
        speedup: speedup(par_ms),
        auto_ms,
        auto_speedup: speedup(auto_ms),
        auto_switched: per_run(auto_switched),
        reexec_per_tx: per_run(reexecutions) / txns.len().max(1) as f64,
        validation_failures: per_run(validation_failures),
        dependency_waits: per_run(dependency_waits),
        block_stm_mib: memory_bytes as f64 / f64::from(1 << 20),
        ideal_speedup: profile.ideal_speedup(contenders.threads()),
        outputs_equal,
        round_trip_ns,
    })
}

fn median_ms(times: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = times.iter().map(|time| time.as_secs_f64() * 1e3).collect();
    median(&mut ms)
}

/// The median of `values` (sorted in place): the middle one, or the mean
/// of the middle two of an even count; NaN for none. Every benchmark's
/// medians are taken this one way.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 0 => (values[mid - 1] + values[mid]) / 2.0,
        _ => values[mid],
    }
}

/// The rows as an aligned text table.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<9} {:>6} {:>8} {:>7} {:>10} {:>10} {:>8} {:>10} {:>7} {:>8} {:>10} {:>9} {:>8} {:>6} {:>6}\n",
        "workload",
        "txs",
        "accounts",
        "threads",
        "seq ms",
        "par ms",
        "speedup",
        "auto ms",
        "auto",
        "switched",
        "reexec/tx",
        "val.fail",
        "ideal",
        "equal",
        "rt ns"
    );
    for row in rows {
        out.push_str(&format!(
            "{:<9} {:>6} {:>8} {:>7} {:>10.3} {:>10.3} {:>7.2}x {:>10.3} {:>6.2}x {:>7.0}% {:>10.3} {:>9.1} {:>7.2}x {:>6} {:>6}\n",
            row.workload,
            row.txs,
            row.accounts,
            row.threads,
            row.seq_ms,
            row.par_ms,
            row.speedup,
            row.auto_ms,
            row.auto_speedup,
            row.auto_switched * 100.0,
            row.reexec_per_tx,
            row.validation_failures,
            row.ideal_speedup,
            if row.outputs_equal { "yes" } else { "NO" },
            row.round_trip_ns
                .map_or_else(|| "-".to_owned(), |ns| format!("{ns:.0}"))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn runs_for_small_blocks_saturate() {
        assert_eq!(runs_for(100, 3), 60);
        assert_eq!(runs_for(101, 3), 3);
        assert_eq!(runs_for(100, usize::MAX), usize::MAX);
    }
}
