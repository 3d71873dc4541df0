//! The state of the machine a comparison ran on.
//!
//! On the 2-core development machines the time a cache line takes between
//! the two cores is not a constant: the hypervisor places the two vCPUs
//! differently over time, and the round trip of a line measured 62–82 ns in
//! one phase and 320–510 ns in another, minutes apart (`docs/BENCHMARKS.md`,
//! "The machine"). Sequential execution and pure computation do not notice;
//! Block-STM on cheap transactions, whose cost is mostly lines moving
//! between the cores, ran 2.4 times slower. Every comparison row therefore
//! records the round trip measured around it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Batches of round trips per measurement; the first warms up (an idle
/// vCPU must first be scheduled again), the median of the rest counts, so
/// that one interruption does not.
const BATCHES: usize = 6;

/// Round trips per batch: about 0.25 ms in the fast phase.
const ROUND_TRIPS: u64 = 4_000;

/// Spins before a waiting thread yields: the other thread may be
/// descheduled, and spinning on then only delays it.
const SPINS_BEFORE_YIELD: u32 = 10_000;

/// The time, in nanoseconds, for a cache line to go from one thread to
/// another and back, with the two threads spinning on it (the median of
/// five batches' means, after one that warms up); `None` on a machine
/// with a single core, where it would measure the scheduler.
pub fn cross_core_round_trip_ns() -> Option<f64> {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return None;
    }
    let line = AtomicU64::new(0);
    let wait_for = |value: u64| {
        let mut spins = 0;
        while line.load(Ordering::Acquire) != value {
            spins += 1;
            if spins < SPINS_BEFORE_YIELD {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    };
    let total = BATCHES as u64 * ROUND_TRIPS;
    let mut means = std::thread::scope(|scope| {
        scope.spawn(|| {
            for round in 0..total {
                wait_for(2 * round + 1);
                line.store(2 * round + 2, Ordering::Release);
            }
        });
        let mut means = Vec::with_capacity(BATCHES);
        for batch in 0..BATCHES as u64 {
            let started = Instant::now();
            for round in batch * ROUND_TRIPS..(batch + 1) * ROUND_TRIPS {
                line.store(2 * round + 1, Ordering::Release);
                wait_for(2 * round + 2);
            }
            means.push(started.elapsed().as_nanos() as f64 / ROUND_TRIPS as f64);
        }
        means
    });
    Some(median_after_warm_up(&mut means))
}

/// The median of the batches' means but the first, which warms up.
fn median_after_warm_up(means: &mut [f64]) -> f64 {
    crate::harness::median(&mut means[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_trip_moves_a_line_between_two_threads() {
        if let Some(ns) = cross_core_round_trip_ns() {
            // A line that goes to another core and back takes tens of
            // nanoseconds at least; a loop that stopped waiting for the
            // other thread would take a few.
            assert!(ns >= 10.0 && ns.is_finite(), "{ns}");
        }
    }

    #[test]
    fn the_warm_up_batch_and_one_interrupted_batch_do_not_count() {
        let mut means = [9_000.0, 70.0, 64.0, 5_000.0, 62.0, 66.0];
        assert_eq!(median_after_warm_up(&mut means), 66.0);
    }
}
