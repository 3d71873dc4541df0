//! Criterion benchmarks: the sequential and the parallel executor on the
//! same blocks, one group per question.
//!
//! - `parallel_execution`: the seed's block sizes (20, 50, 100) extended to
//!   1,000 and 10,000 transactions, per workload;
//! - `contention`: 1,000-transaction transfer blocks over 2 to 10,000
//!   accounts.
//!
//! Each case has three lines: `sequential`, `parallel` (Block-STM from the
//! first transaction of a block big enough for two workers,
//! `StartPolicy::ProbeSmall`) and `auto` (the executor as it ships, which
//! starts every block sequentially and goes on with Block-STM only once
//! its transactions prove expensive). `PAREX_BENCH_THREADS` sets the
//! parallel executors' threads (default: all cores). `parex bench` prints
//! the same comparisons as a table with speedups.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parex_benches::harness::Contenders;
use parex_benches::workload::{block, BenchVm, Workload};
use parex_engine::{Executor, SequentialExecutor};

/// The allocator the `parex` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn threads() -> usize {
    std::env::var("PAREX_BENCH_THREADS")
        .ok()
        .and_then(|threads| threads.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn bench_three(
    c: &mut Criterion,
    group_name: &str,
    contenders: &Contenders,
    cases: &[(Workload, usize, usize)],
    label: impl Fn(Workload, usize, usize) -> String,
) {
    let mut group = c.benchmark_group(group_name);
    let sequential = SequentialExecutor::new();
    for &(workload, txns, accounts) in cases {
        let block = block(workload, txns, accounts, 42);
        let id = label(workload, txns, accounts);
        group.throughput(Throughput::Elements(txns as u64));
        group.bench_with_input(BenchmarkId::new("sequential", &id), &block, |b, block| {
            b.iter(|| sequential.execute(&BenchVm, &block.txns, &block.genesis))
        });
        group.bench_with_input(BenchmarkId::new("parallel", &id), &block, |b, block| {
            b.iter(|| {
                contenders
                    .block_stm
                    .execute(&BenchVm, &block.txns, &block.genesis)
            })
        });
        group.bench_with_input(BenchmarkId::new("auto", &id), &block, |b, block| {
            b.iter(|| {
                contenders
                    .auto
                    .execute(&BenchVm, &block.txns, &block.genesis)
            })
        });
    }
    group.finish();
}

fn contenders() -> Contenders {
    Contenders::new(threads(), None).expect("worker threads")
}

fn parallel_execution(c: &mut Criterion) {
    let contenders = contenders();
    let mut cases = Vec::new();
    for workload in Workload::ALL {
        for txns in [20, 50, 100, 1_000, 10_000] {
            cases.push((workload, txns, txns.max(2)));
        }
    }
    bench_three(
        c,
        "parallel_execution",
        &contenders,
        &cases,
        |w, txns, _| format!("{w}/{txns}"),
    );
}

fn contention(c: &mut Criterion) {
    let contenders = contenders();
    let cases: Vec<_> = [2, 10, 100, 1_000, 10_000]
        .into_iter()
        .map(|accounts| (Workload::Transfer, 1_000, accounts))
        .collect();
    bench_three(c, "contention", &contenders, &cases, |_, _, accounts| {
        format!("{accounts}-accounts")
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = parallel_execution, contention
}
criterion_main!(benches);
