//! Runs of blocks one after another, as a node sees them: the sequential
//! executor against the executor as it ships, each on its own stream of
//! the same blocks, so that what one block tells the next
//! (`StartPolicy::Probe`, `AT_ONCE_MAX_TXNS`) plays out.
//!
//! `cargo run --release -p parex-benches --example alternating [-- TXS ROUNDS PATTERN]`
//! (default `100 300 alternate`). `alternate` runs a block of `heavy`
//! transactions (20 µs each) then one of as many `transfer`s, each round;
//! `heavy` runs two heavy blocks a round. Prints, for each kind of block,
//! the median time on both executors and how the shipped one started it
//! (`parallel_from`: 0 for Block-STM at once, `k` after a check, none for
//! sequential), and the whole round's speedup.

use std::collections::BTreeMap;
use std::time::Instant;

use parex_benches::harness::median;
use parex_benches::workload::{block, BenchBlock, BenchVm, Workload};
use parex_engine::{Executor, ParallelExecutor, SequentialExecutor};

/// The allocator the `parex` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let txns: usize = arg(0, "100").parse()?;
    let rounds: usize = arg(1, "300").parse()?;
    let second = match arg(2, "alternate").as_str() {
        "alternate" => Workload::Transfer,
        "heavy" => Workload::Heavy,
        other => return Err(format!("unknown pattern {other}: alternate or heavy").into()),
    };
    if rounds == 0 {
        return Err("ROUNDS must be at least 1".into());
    }
    let blocks: [(&str, BenchBlock); 2] = [
        ("heavy", block(Workload::Heavy, txns, txns, 42)),
        (second.name(), block(second, txns, txns, 43)),
    ];
    let sequential = SequentialExecutor::new();
    let shipped = ParallelExecutor::new(2)?;
    // Per block of the round: times on each executor, and the shipped
    // executor's starts.
    let mut times = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
    let mut starts = [BTreeMap::new(), BTreeMap::new()];
    for _ in 0..rounds {
        for (i, (_, b)) in blocks.iter().enumerate() {
            let started = Instant::now();
            sequential.execute(&BenchVm, &b.txns, &b.genesis)?;
            times[i][0].push(started.elapsed().as_secs_f64() * 1e6);
        }
        for (i, (_, b)) in blocks.iter().enumerate() {
            let started = Instant::now();
            let output = shipped.execute(&BenchVm, &b.txns, &b.genesis)?;
            times[i][1].push(started.elapsed().as_secs_f64() * 1e6);
            *starts[i].entry(output.stats.parallel_from).or_insert(0u32) += 1;
        }
    }
    let mut round = [0.0; 2];
    for (i, (name, _)) in blocks.iter().enumerate() {
        let [seq, auto] = times[i].each_mut().map(|values| median(values));
        round[0] += seq;
        round[1] += auto;
        println!(
            "block {} ({name}, {txns}): sequential {seq:.1} µs, shipped {auto:.1} µs ({:.3}x); \
             started {:?}",
            i + 1,
            seq / auto,
            starts[i]
        );
    }
    println!("a round: {:.3}x", round[0] / round[1]);
    Ok(())
}
