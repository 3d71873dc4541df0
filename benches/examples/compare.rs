//! The comparison of `parex bench`, without building the node:
//! `cargo run --release -p parex-benches --example compare -- WORKLOADS TXS ACCOUNTS THREADS RUNS`
//! (e.g. `transfer,heavy 10000 10000 2 15`).

use parex_benches::matrix::{run_cases, Case};

/// The allocator the `parex` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use parex_benches::{harness, workload::Workload};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let workloads: Vec<Workload> = arg(0, "transfer,heavy,hot-fee,chain")
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let txns: usize = arg(1, "10000").parse()?;
    let accounts: usize = arg(2, "10000").parse()?;
    let threads: usize = arg(3, "2").parse()?;
    let runs: usize = arg(4, "15").parse()?;
    let cases: Vec<_> = workloads
        .into_iter()
        .map(|workload| Case {
            workload,
            txns,
            accounts,
            threads,
        })
        .collect();
    let rows = run_cases(&cases, runs, |_, _| {})?;
    print!("{}", harness::table(&rows));
    Ok(())
}
