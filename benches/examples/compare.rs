//! `cargo run --release -p parex-benches --example compare -- WORKLOAD TXS ACCOUNTS THREADS RUNS`
use parex_benches::{harness, workload};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let workloads: Vec<workload::Workload> = arg(0, "transfer,heavy,hot-fee,chain")
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let txns: usize = arg(1, "10000").parse()?;
    let accounts: usize = arg(2, "10000").parse()?;
    let threads: usize = arg(3, "2").parse()?;
    let runs: usize = arg(4, "15").parse()?;
    // At one thread, measure the Block-STM machinery rather than the
    // executor's choice of the sequential path.
    let parallel =
        parex_engine::ParallelExecutor::new(threads)?.with_min_txns_per_worker(if threads == 1 {
            0
        } else {
            parex_engine::DEFAULT_MIN_TXNS_PER_WORKER
        });
    let mut rows = Vec::new();
    for w in workloads {
        let block = workload::block(w, txns, accounts, 7);
        rows.push(harness::compare(
            w.name(),
            accounts,
            &workload::BenchVm,
            &block.txns,
            &block.genesis,
            &parallel,
            runs,
        )?);
    }
    print!("{}", harness::table(&rows));
    Ok(())
}
