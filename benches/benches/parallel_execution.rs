//! Criterion benchmarks: the sequential and the parallel executor on the
//! same blocks, one group per question.
//!
//! - `parallel_execution`: the seed's block sizes (20, 50, 100) extended to
//!   1,000 and 10,000 transactions, per workload;
//! - `contention`: 1,000-transaction transfer blocks over 2 to 10,000
//!   accounts.
//!
//! `PAREX_BENCH_THREADS` sets the parallel executor's threads (default: all
//! cores). Compare the two lines of a group in criterion's report; `parex
//! bench` prints the same comparisons as a table with speedups.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parex_benches::workload::{block, BenchVm, Workload};
use parex_engine::{Executor, ParallelExecutor, SequentialExecutor};

/// The allocator the `parex` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn threads() -> usize {
    std::env::var("PAREX_BENCH_THREADS")
        .ok()
        .and_then(|threads| threads.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn bench_pair(
    c: &mut Criterion,
    group_name: &str,
    parallel: &ParallelExecutor,
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
            b.iter(|| parallel.execute(&BenchVm, &block.txns, &block.genesis))
        });
    }
    group.finish();
}

fn parallel_execution(c: &mut Criterion) {
    let parallel = ParallelExecutor::new(threads()).expect("worker threads");
    let mut cases = Vec::new();
    for workload in Workload::ALL {
        for txns in [20, 50, 100, 1_000, 10_000] {
            cases.push((workload, txns, txns.max(2)));
        }
    }
    bench_pair(c, "parallel_execution", &parallel, &cases, |w, txns, _| {
        format!("{w}/{txns}")
    });
}

fn contention(c: &mut Criterion) {
    let parallel = ParallelExecutor::new(threads()).expect("worker threads");
    let cases: Vec<_> = [2, 10, 100, 1_000, 10_000]
        .into_iter()
        .map(|accounts| (Workload::Transfer, 1_000, accounts))
        .collect();
    bench_pair(c, "contention", &parallel, &cases, |_, _, accounts| {
        format!("{accounts}-accounts")
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = parallel_execution, contention
}
criterion_main!(benches);
