//! Blocks in a tight loop (by default too small for two workers): the
//! sequential executor against the parallel executor as it ships
//! (`StartPolicy::Probe`) and by count (`ByCount`: a block too small for
//! two workers on the sequential executor, unprobed; a larger one on
//! Block-STM from its first transaction), and how many blocks of each
//! ran on Block-STM (from their first transaction or after a sequential
//! start).
//!
//! `cargo run --release -p parex-benches --example small_blocks [-- WORKLOAD TXS BATCHES]`
//! (default `transfer 20 200`: 200 alternating batches of 1,000 blocks;
//! medians of the batches' means).

use std::time::Instant;

use parex_benches::workload::{block, BenchVm, Workload};
use parex_engine::{BlockError, Executor, ParallelExecutor, SequentialExecutor, StartPolicy};

/// The allocator the `parex` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BLOCKS_PER_BATCH: u32 = 1_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let workload: Workload = arg(0, "transfer").parse()?;
    let txns: usize = arg(1, "20").parse()?;
    let batches: usize = arg(2, "200").parse()?;
    let block = block(workload, txns, txns, 42);

    let sequential = SequentialExecutor::new();
    let probed = ParallelExecutor::new(2)?;
    let unprobed = ParallelExecutor::new(2)?.with_start(StartPolicy::ByCount);
    // Each runs the block once and says whether it ran on Block-STM.
    type Run<'a> = &'a dyn Fn() -> Result<bool, BlockError>;
    let executors: [(&str, Run<'_>); 3] = [
        ("sequential executor", &|| {
            sequential.execute(&BenchVm, &block.txns, &block.genesis)?;
            Ok(false)
        }),
        ("parallel, probed", &|| {
            let output = probed.execute(&BenchVm, &block.txns, &block.genesis)?;
            Ok(output.stats.parallel_from.is_some())
        }),
        ("parallel, by count", &|| {
            let output = unprobed.execute(&BenchVm, &block.txns, &block.genesis)?;
            Ok(output.stats.parallel_from.is_some())
        }),
    ];
    let mut means = vec![Vec::with_capacity(batches); executors.len()];
    let mut switched = vec![0u64; executors.len()];
    for _ in 0..batches {
        for (i, (_, run)) in executors.iter().enumerate() {
            let started = Instant::now();
            for _ in 0..BLOCKS_PER_BATCH {
                switched[i] += u64::from(run()?);
            }
            means[i].push(started.elapsed().as_nanos() as f64 / f64::from(BLOCKS_PER_BATCH));
        }
    }
    let medians: Vec<f64> = means
        .iter_mut()
        .map(|times| {
            times.sort_by(f64::total_cmp);
            times[times.len() / 2]
        })
        .collect();
    println!(
        "{} blocks of {txns}, {batches} batches of {BLOCKS_PER_BATCH}",
        workload.name()
    );
    for (i, (name, _)) in executors.iter().enumerate() {
        println!(
            "{name:<22} {:>9.0} ns a block  {:>5.3}x of the sequential executor's speed  {} ran on Block-STM",
            medians[i],
            medians[0] / medians[i],
            switched[i]
        );
    }
    Ok(())
}
