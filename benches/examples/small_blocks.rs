//! Blocks in a tight loop (by default too small for two workers): the
//! sequential executor against the parallel executor as it ships
//! (`StartPolicy::Probe`) and by count (`ByCount`: a block too small for
//! two workers on the sequential executor, unprobed; a larger one on
//! Block-STM from its first transaction), and how many blocks of each
//! ran on Block-STM (from their first transaction or after a sequential
//! start).
//!
//! `cargo run --release -p parex-benches --example small_blocks [-- WORKLOAD TXS BATCHES PROCESSES]`
//! (default `transfer 20 200 1`: 200 alternating batches of 1,000 blocks;
//! medians of the batches' means).
//!
//! One process's ratios move by several percent from one run to the next
//! on 2 µs blocks, whatever the executors do: where the allocator and the
//! loader placed each executor's tables and code differs per process.
//! With `PROCESSES` above 1 the example runs itself that many times, each
//! a fresh process, and prints each one's ratios and their median.

use std::time::Instant;

use parex_benches::harness::median;
use parex_benches::workload::{block, BenchVm, Workload};
use parex_engine::{BlockError, Executor, ParallelExecutor, SequentialExecutor, StartPolicy};

/// The allocator the `parex` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BLOCKS_PER_BATCH: u32 = 1_000;

/// Set in the processes the example runs itself as: their ratios, one
/// line per executor, for the parent to read.
const CHILD_ENV: &str = "PAREX_SMALL_BLOCKS_CHILD";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let workload: Workload = arg(0, "transfer").parse()?;
    let txns: usize = arg(1, "20").parse()?;
    let batches: usize = arg(2, "200").parse()?;
    let processes: usize = arg(3, "1").parse()?;
    if batches == 0 || processes == 0 {
        return Err("BATCHES and PROCESSES must be at least 1".into());
    }
    if processes > 1 {
        let title = format!("{} blocks of {txns}, {batches} batches", workload.name());
        return across_processes(&args[..3.min(args.len())], processes, &title);
    }
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
    let medians: Vec<f64> = means.iter_mut().map(|times| median(times)).collect();
    println!(
        "{} blocks of {txns}, {batches} batches of {BLOCKS_PER_BATCH}",
        workload.name()
    );
    let child = std::env::var_os(CHILD_ENV).is_some();
    for (i, (name, _)) in executors.iter().enumerate() {
        if child {
            println!("{name}\t{}\t{}", medians[0] / medians[i], switched[i]);
            continue;
        }
        println!(
            "{name:<22} {:>9.0} ns a block  {:>5.3}x of the sequential executor's speed  {} ran on Block-STM",
            medians[i],
            medians[0] / medians[i],
            switched[i]
        );
    }
    Ok(())
}

/// Runs the example `processes` times with `args`, one process after
/// another, and prints each executor's ratio in each, and their median.
fn across_processes(
    args: &[String],
    processes: usize,
    title: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    // Per executor, in the order the processes print them: its name, its
    // ratio in each process, and its blocks on Block-STM in all.
    let mut rows: Vec<(String, Vec<f64>, u64)> = Vec::new();
    for process in 0..processes {
        let output = std::process::Command::new(&exe)
            .args(args)
            .env(CHILD_ENV, "1")
            .output()?;
        if !output.status.success() {
            return Err(format!(
                "process {process} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let lines = String::from_utf8(output.stdout)?;
        for (i, line) in lines.lines().skip(1).enumerate() {
            let mut fields = line.split('\t');
            let (Some(name), Some(ratio), Some(switched)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(format!("process {process} printed {line:?}").into());
            };
            if rows.len() <= i {
                rows.push((name.to_owned(), Vec::new(), 0));
            }
            rows[i].1.push(ratio.parse()?);
            rows[i].2 += switched.parse::<u64>()?;
        }
        eprintln!("small_blocks: process {} of {processes} done", process + 1);
    }
    println!("{title} in each of {processes} processes: speed against the sequential executor's");
    for (name, mut ratios, switched) in rows {
        let median = median(&mut ratios);
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "{name:<22} median {median:>5.3}x  ({})  {switched} ran on Block-STM",
            each.join(" ")
        );
    }
    Ok(())
}
