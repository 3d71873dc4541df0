//! Speedup against the cost of one transaction: 10,000 transfers between
//! 10,000 accounts, each doing a given number of rounds of [`work`] first
//! (0 is the `transfer` workload, 5,500 is `heavy`), sequential and
//! parallel side by side.
//! `cargo run --release -p parex-benches --example cost_sweep [-- THREADS RUNS [JSON]]`
//! prints a table, and with `JSON` also writes one JSON object per row
//! there, for `scripts/plot_benchmarks.py --cost`.
//!
//! Where Block-STM starts to pay on a machine depends on what a transaction
//! costs next to the machinery's own cost per transaction; this finds it.
//!
//! [`work`]: parex_benches::workload::work

use std::io::Write;

use parex_benches::harness::{compare, Contenders, Row};
use parex_benches::workload::{block, BenchVm, Workload, HEAVY_ROUNDS};

/// The allocator the `parex` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rounds of work per transaction: from none to `heavy`'s, about doubling.
const ROUNDS: [u32; 9] = [0, 35, 70, 140, 280, 700, 1_400, 2_800, HEAVY_ROUNDS];

const TXNS: usize = 10_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads: usize = args.first().map_or(Ok(2), |arg| arg.parse())?;
    let runs: usize = args.get(1).map_or(Ok(11), |arg| arg.parse())?;
    let mut json = args.get(2).map(std::fs::File::create).transpose()?;
    let contenders = Contenders::new(threads, None)?;
    let base = block(Workload::Transfer, TXNS, TXNS, 42);
    println!("| work rounds | µs per transaction (sequential) | seq ms | par ms | speedup |");
    println!("|---:|---:|---:|---:|---:|");
    for rounds in ROUNDS {
        let mut txns = base.txns.clone();
        for txn in &mut txns {
            txn.work_rounds = rounds;
        }
        let row: Row = compare(
            "transfer",
            TXNS,
            &BenchVm,
            &txns,
            &base.genesis,
            &contenders,
            runs,
        )?;
        if !row.outputs_equal {
            return Err(format!("outputs differ at {rounds} rounds").into());
        }
        let us_per_txn = row.seq_ms * 1e3 / TXNS as f64;
        println!(
            "| {rounds} | {us_per_txn:.2} | {:.3} | {:.3} | {:.2}x |",
            row.seq_ms, row.par_ms, row.speedup
        );
        if let Some(json) = json.as_mut() {
            let mut object = serde_json::to_value(&row)?;
            object["work_rounds"] = rounds.into();
            object["us_per_txn"] = us_per_txn.into();
            writeln!(json, "{object}")?;
        }
    }
    Ok(())
}
