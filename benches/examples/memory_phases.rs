//! What the multi-version memory and the scheduler cost on their own, one
//! thread, no VM: `cargo run --release -p parex-benches --example memory_phases -- [TXS] [ROUNDS]`.
//!
//! Each transaction of a transfer-shaped block reads two locations of its
//! sender, writes them, and adds a delta to its receiver's balance; the
//! example times, per block, resetting the kept memory, recording every
//! transaction (its reads served by the memory), validating every read set,
//! materializing the final values, and a scheduler pass, and prints the
//! median of each phase, and what one uncontended lock costs here, for
//! scale. `docs/BENCHMARKS.md` quotes it.

use std::time::{Duration, Instant};

use parex_mvmemory::{MvMemory, MvRead, ReadDescriptor, ReadOrigin, WriteOp};
use parex_scheduler::{Claim, Scheduler, Task};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The allocator the `parex` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PHASES: [&str; 5] = [
    "reset",
    "read + record",
    "validate",
    "materialize",
    "scheduler",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let txns: usize = args.first().map_or(Ok(10_000), |a| a.parse())?;
    let rounds: usize = args.get(1).map_or(Ok(15), |a| a.parse())?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let accounts = txns as u64;
    let block: Vec<(u64, u64)> = (0..txns)
        .map(|_| (rng.random_range(0..accounts), rng.random_range(0..accounts)))
        .collect();
    let base = |_: &u64| Ok::<_, ()>(Some(1_000_000u64));

    let mut memory: MvMemory<u64, u64> = MvMemory::new(txns);
    let mut scheduler = Scheduler::new(txns);
    let mut reads = Vec::new();
    let mut times: Vec<[Duration; 5]> = Vec::new();
    for _ in 0..rounds {
        let mut phase = [Duration::ZERO; 5];
        let start = Instant::now();
        memory.reset(txns);
        scheduler.reset(txns);
        phase[0] = start.elapsed();

        let start = Instant::now();
        let mut reservation = memory.reservation();
        for (txn_idx, &(from, to)) in block.iter().enumerate() {
            for key in [2 * from, 2 * from + 1] {
                let origin = match memory.read(&key, txn_idx, None) {
                    MvRead::Value(_, origin) => origin,
                    MvRead::NeedsBase => match memory.read(&key, txn_idx, Some(&Some(1_000_000))) {
                        MvRead::Value(_, origin) => origin,
                        other => return Err(format!("unexpected read {other:?}").into()),
                    },
                    _ => ReadOrigin::Storage,
                };
                reads.push(ReadDescriptor { key, origin });
            }
            let writes = [
                (2 * from, WriteOp::Value(1)),
                (2 * from + 1, WriteOp::Value(2)),
                (2 * to + 1, WriteOp::Delta(5)),
            ];
            memory
                .record(txn_idx, 0, &mut reads, writes, &mut reservation)
                .map_err(|_| "the memory is full")?;
        }
        phase[1] = start.elapsed();

        let start = Instant::now();
        for txn_idx in 0..txns {
            if !memory.validate_read_set(txn_idx, base).unwrap_or(false) {
                return Err(format!("transaction {txn_idx} does not validate").into());
            }
        }
        phase[2] = start.elapsed();

        let start = Instant::now();
        let values = memory
            .materialize(txns, base)
            .map_err(|_| "no base value")?;
        std::hint::black_box(values);
        phase[3] = start.elapsed();

        let start = Instant::now();
        let mut claim = Claim::new();
        while let Some(task) = scheduler.next_task(&mut claim) {
            let validation = match task {
                Task::Execute(version) => scheduler.finish_execution(version, true, &mut claim),
                Task::Validate(_) => Some(task),
            };
            if let Some(Task::Validate(version)) = validation {
                scheduler.finish_validation(version.txn_idx, false, &mut claim);
            }
        }
        phase[4] = start.elapsed();
        times.push(phase);
    }

    println!("{txns} transfer-shaped transactions, one thread, median of {rounds} blocks:");
    println!("{:<15} {:>10} {:>14}", "phase", "ms", "ns per txn");
    for (i, name) in PHASES.iter().enumerate() {
        let mut phase: Vec<Duration> = times.iter().map(|t| t[i]).collect();
        phase.sort_unstable();
        let median = phase[phase.len() / 2];
        println!(
            "{name:<15} {:>10.3} {:>14.1}",
            median.as_secs_f64() * 1e3,
            median.as_nanos() as f64 / txns as f64
        );
    }
    let lock = parex_sync::Mutex::new(0u64);
    let locks = 10_000_000u32;
    let start = Instant::now();
    for _ in 0..locks {
        *lock.lock() += 1;
    }
    println!(
        "one uncontended lock and unlock: {:.1} ns",
        start.elapsed().as_nanos() as f64 / f64::from(locks)
    );
    Ok(())
}
