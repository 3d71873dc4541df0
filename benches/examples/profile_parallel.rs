//! Runs one executor on one block in a loop, for a profiler:
//! `cargo run --release -p parex-benches --example profile_parallel -- WORKLOAD TXS ACCOUNTS THREADS RUNS [SEED]`
//! (THREADS 0: the sequential executor). Prints the median time.

use std::io::Write;
use std::time::Instant;

use parex_benches::{harness, workload};
use parex_engine::{Executor, SequentialExecutor};

/// The allocator the `parex` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let workload: workload::Workload = arg(0, "transfer").parse()?;
    let txns: usize = arg(1, "10000").parse()?;
    let accounts: usize = arg(2, "10000").parse()?;
    let threads: usize = arg(3, "2").parse()?;
    let runs: usize = arg(4, "1000").parse()?;
    let seed: u64 = arg(5, "7").parse()?;
    if runs == 0 {
        return Err("RUNS must be at least 1".into());
    }
    let block = workload::block(workload, txns, accounts, seed);
    let vm = workload::BenchVm;
    let parallel = harness::comparison_executor(threads.max(1), None)?;
    let sequential = SequentialExecutor::new();
    let mut times = Vec::with_capacity(runs);
    let mut last_stats = None;
    for _ in 0..runs {
        let started = Instant::now();
        let output = if threads == 0 {
            sequential.execute(&vm, &block.txns, &block.genesis)?
        } else {
            parallel.execute(&vm, &block.txns, &block.genesis)?
        };
        times.push(started.elapsed());
        last_stats = Some(output.stats);
    }
    times.sort_unstable();
    let mut out = std::io::stdout().lock();
    let written = writeln!(
        out,
        "{workload} {txns} txs, {threads} threads: median {:.3} ms, min {:.3} ms",
        times[runs / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    )
    .and_then(|()| match last_stats {
        Some(stats) => writeln!(out, "last run: {stats:?}"),
        None => Ok(()),
    });
    match written {
        // A reader that wanted only the first line (`| head -1`).
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => Ok(written?),
    }
}
