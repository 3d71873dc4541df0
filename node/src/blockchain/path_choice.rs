//! Adaptive execution: each block on the path that has been faster for
//! blocks of its size on this machine.
//!
//! Whether Block-STM pays depends on the machine (cores, caches, how busy
//! it is) and on the transactions: on the 2-core development machines,
//! node transfers ran slower in parallel at every block size up to 16,384,
//! while 20 µs transactions ran 1.5-1.9x as fast from 16 per block
//! (`docs/BENCHMARKS.md`). A fixed `min_txs_for_parallel` from
//! `parex calibrate` fits one machine and one mix of transactions;
//! [`PathChoice`] measures the node's own blocks instead. Both paths give
//! the same state, so the choice changes only the time a block takes.

use std::time::Duration;

use super::ExecutionPath;

/// Every this many blocks of a size class, the slower path runs once, so
/// that a change (load, transaction mix) is noticed.
const EXPLORE_EVERY: u64 = 32;

/// The weight of a block's time in its path's running average: the last
/// few blocks count, one disturbed block does not decide alone.
const WEIGHT: f64 = 0.25;

/// Size classes: blocks of `2^k` to `2^(k+1) - 1` user transactions
/// share one.
const CLASSES: usize = usize::BITS as usize;

/// Running averages of the time per transaction of each path, by block
/// size class.
#[derive(Debug, Clone)]
pub struct PathChoice {
    classes: [SizeClass; CLASSES],
}

#[derive(Debug, Clone, Copy, Default)]
struct SizeClass {
    /// Nanoseconds per transaction, averaged; `None` until measured.
    sequential: Option<f64>,
    parallel: Option<f64>,
    /// Blocks this class has chosen for.
    blocks: u64,
}

impl Default for PathChoice {
    fn default() -> Self {
        Self {
            classes: [SizeClass::default(); CLASSES],
        }
    }
}

impl PathChoice {
    /// The path for the next block of `txs` user transactions: a path not
    /// yet measured for its size class (parallel first), else the faster,
    /// except that every `EXPLORE_EVERY`th block (32) takes the slower.
    pub fn choose(&mut self, txs: usize) -> ExecutionPath {
        let class = &mut self.classes[class_of(txs)];
        class.blocks += 1;
        let (Some(sequential), Some(parallel)) = (class.sequential, class.parallel) else {
            return if class.parallel.is_none() {
                ExecutionPath::Parallel
            } else {
                ExecutionPath::Sequential
            };
        };
        let parallel_faster = parallel < sequential;
        let explore = class.blocks % EXPLORE_EVERY == 0;
        if parallel_faster != explore {
            ExecutionPath::Parallel
        } else {
            ExecutionPath::Sequential
        }
    }

    /// Records that a block of `txs` user transactions took `elapsed` on
    /// `path` (a shadow run is not recorded: it ran both).
    pub fn record(&mut self, txs: usize, path: ExecutionPath, elapsed: Duration) {
        let class = &mut self.classes[class_of(txs)];
        let average = match path {
            ExecutionPath::Sequential => &mut class.sequential,
            ExecutionPath::Parallel => &mut class.parallel,
            ExecutionPath::Shadow => return,
        };
        let per_txn = elapsed.as_nanos() as f64 / txs.max(1) as f64;
        *average = Some(average.map_or(per_txn, |old| old + WEIGHT * (per_txn - old)));
    }
}

/// The size class of a block of `txs` transactions: `floor(log2(txs))`,
/// 0 for an empty block.
fn class_of(txs: usize) -> usize {
    txs.max(1).ilog2() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExecutionPath::{Parallel, Sequential};

    fn micros(us: u64) -> Duration {
        Duration::from_micros(us)
    }

    #[test]
    fn each_path_is_measured_once_then_the_faster_runs() {
        let mut choice = PathChoice::default();
        assert_eq!(choice.choose(100), Parallel);
        choice.record(100, Parallel, micros(80));
        assert_eq!(choice.choose(100), Sequential);
        choice.record(100, Sequential, micros(50));
        for _ in 0..10 {
            assert_eq!(choice.choose(100), Sequential);
            choice.record(100, Sequential, micros(50));
        }
    }

    #[test]
    fn the_slower_path_runs_every_thirty_second_block_and_can_take_over() {
        let mut choice = PathChoice::default();
        choice.record(1_000, Parallel, micros(900));
        choice.record(1_000, Sequential, micros(600));
        // From now on parallel blocks take a third of the time (the load
        // left the machine); only explorations can find out.
        let mut paths = Vec::new();
        for _ in 0..EXPLORE_EVERY * 4 {
            let path = choice.choose(1_000);
            let took = if path == Parallel { 300 } else { 600 };
            choice.record(1_000, path, micros(took));
            paths.push(path);
        }
        let explored = |block: u64| paths[block as usize - 1];
        assert_eq!(explored(EXPLORE_EVERY), Parallel);
        // After one exploration the parallel average is 750 ns, after two
        // 638, after three 553: below the sequential 600.
        let parallel_before = paths[..3 * EXPLORE_EVERY as usize - 1]
            .iter()
            .filter(|path| **path == Parallel)
            .count();
        assert_eq!(parallel_before, 2, "only the two explorations");
        assert_eq!(explored(3 * EXPLORE_EVERY), Parallel);
        assert_eq!(explored(3 * EXPLORE_EVERY + 1), Parallel);
        // Now sequential is the explored one.
        assert_eq!(explored(4 * EXPLORE_EVERY), Sequential);
    }

    #[test]
    fn one_disturbed_block_does_not_switch_the_path() {
        let mut choice = PathChoice::default();
        choice.record(64, Parallel, micros(40));
        choice.record(64, Sequential, micros(60));
        assert_eq!(choice.choose(64), Parallel);
        choice.record(64, Parallel, micros(100));
        assert_eq!(choice.choose(64), Parallel);
    }

    #[test]
    fn size_classes_are_measured_apart_and_normalized_per_transaction() {
        let mut choice = PathChoice::default();
        // Small blocks: sequential faster; large ones: parallel faster.
        choice.record(20, Parallel, micros(30));
        choice.record(20, Sequential, micros(10));
        choice.record(10_000, Parallel, micros(4_000));
        choice.record(10_000, Sequential, micros(8_000));
        assert_eq!(choice.choose(31), Sequential);
        assert_eq!(choice.choose(16_383), Parallel);
        assert_eq!(class_of(9_000), class_of(10_000));
        assert_eq!(class_of(0), class_of(1));
        assert_eq!(choice.choose(2_000), Parallel, "an unmeasured class");
    }
}
