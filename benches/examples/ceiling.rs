//! The 2-thread ceiling of this machine: the `heavy` workload's work, with
//! no executor at all, on one thread and then split over two plain threads.
//! `cargo run --release -p parex-benches --example ceiling [-- THREADS]`

use std::time::Instant;

use parex_benches::workload::{work, HEAVY_ROUNDS};

fn main() {
    let threads: u64 = std::env::args()
        .nth(1)
        .and_then(|threads| threads.parse().ok())
        .unwrap_or(2)
        .max(1);
    let txns = 10_000u64;
    for _ in 0..5 {
        let started = Instant::now();
        let mut digest = 0;
        for i in 0..txns {
            digest ^= work(i, HEAVY_ROUNDS);
        }
        let one = started.elapsed();
        let started = Instant::now();
        let share = txns / threads;
        let digest_split = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || {
                        let end = if t + 1 == threads {
                            txns
                        } else {
                            (t + 1) * share
                        };
                        (t * share..end).fold(0, |acc, i| acc ^ work(i, HEAVY_ROUNDS))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap_or_default())
                .fold(0, |acc, part| acc ^ part)
        });
        let split = started.elapsed();
        assert_eq!(digest, digest_split);
        println!(
            "1 thread {one:?}, {threads} threads {split:?}: {:.3}x",
            one.as_secs_f64() / split.as_secs_f64()
        );
    }
}
