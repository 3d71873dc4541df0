use parex_benches::workload::{block, BenchVm, Workload};
use parex_engine::{Executor, ParallelExecutor, SequentialExecutor};
use std::time::Instant;
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
fn main() {
    let b = block(Workload::Transfer, 20, 20, 42);
    let par = ParallelExecutor::new(2).unwrap();
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..100_000 { std::hint::black_box(SequentialExecutor.execute(&BenchVm, &b.txns, &b.genesis).unwrap()); }
        let s = t.elapsed();
        let t = Instant::now();
        for _ in 0..100_000 { std::hint::black_box(par.execute(&BenchVm, &b.txns, &b.genesis).unwrap()); }
        let p = t.elapsed();
        println!("seq {:.3} us, par {:.3} us", s.as_secs_f64() * 10.0, p.as_secs_f64() * 10.0);
    }
}
