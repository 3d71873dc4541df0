//! A worker's in-order streak: the start of a block it executed alone, in
//! block order, and how serial that start is.
//!
//! The worker that claims the block's first run executes it alone until a
//! helper wakes up and claims a run of its own (tens of microseconds, tens
//! to hundreds of cheap transactions). While it does, every read it makes
//! is exact: each transaction below the one it executes was executed by it,
//! once, and recorded before. Three things follow.
//!
//! - The streak needs no validation when a halted block looks for its
//!   validated prefix: transaction `i` of the streak read what the
//!   transactions `0..i` finally wrote, and none of them can be aborted,
//!   since each validates (by induction from transaction 0).
//! - The streak's read-after-write dependencies are the block's real ones,
//!   so its critical path (the longest chain of transactions each reading
//!   what the previous one wrote, as in [`crate::analysis::DependencyProfile`]) is
//!   known as it grows. A streak whose critical path covers three quarters
//!   of its transactions is, as far as it shows, a block that no number of
//!   workers runs more than 4/3 as fast as one; for transactions of a
//!   microsecond it runs slower in parallel than sequentially, so the block
//!   halts right there and finishes sequentially, instead of waiting for
//!   the helper's conflicts to show the same.
//! - While the streak looks serial, waking the helpers would buy nothing:
//!   a block that holds them ([`ParallelBlock::with_helpers_held`]) wakes
//!   them only once it stops looking so.
//!
//! [`ParallelBlock::with_helpers_held`]: super::ParallelBlock::with_helpers_held

use crate::{Incarnation, TxnIndex};

/// Streak length from which a lone worker's streak may be called serial:
/// enough transactions that a short run of dependent ones at a block's
/// start (one sender's few transactions) does not halt it.
pub(crate) const SERIAL_WINDOW: usize = 64;

/// Streak length from which a streak that another worker ended may be
/// called serial. That worker has just executed past the streak, most
/// likely on reads the streak's chain makes stale; waiting for the window
/// would have both workers redo each other's runs meanwhile. Also the
/// window of a block that holds its helpers: the block before it halted
/// as serial, so a start this serial is evidence enough, and each
/// transaction of the window costs Block-STM's price (a chain of 1,000
/// cheap transactions: 0.81–0.84x of sequential speed with a window of
/// 64, 0.94–0.97x with 16).
pub(crate) const MIN_SERIAL_STREAK: usize = 16;

/// What an incarnation about to run means for the streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// It is the streak's next transaction.
    Extends,
    /// It does not extend the streak, which ended before or ends here.
    Outside,
    /// It ends a streak of at least [`MIN_SERIAL_STREAK`] transactions,
    /// three quarters of them on one chain.
    EndsSerial,
}

/// The transactions `0..len()` one worker executed alone, in order, each at
/// incarnation 0, each after the one below it was recorded, with the depth
/// of each in the streak's dependency graph.
#[derive(Debug)]
pub(crate) struct InOrderStreak {
    /// `depths[i]`: the longest chain of read-after-write dependencies
    /// ending at transaction `i`, counting `i`.
    depths: Vec<u32>,
    /// The greatest of `depths`: the streak's critical path.
    critical_path: u32,
    /// Cleared by the first execution that does not extend the streak; a
    /// streak never resumes.
    open: bool,
    /// The length from which this worker alone may call its streak serial.
    window: usize,
}

impl InOrderStreak {
    /// An open, empty streak that its worker alone may call serial from
    /// `window` transactions on: [`SERIAL_WINDOW`], or [`MIN_SERIAL_STREAK`]
    /// where serial blocks are expected (the block holds its helpers after
    /// a serial one, so nothing else ends the streak).
    pub(crate) fn new(window: usize) -> Self {
        Self {
            depths: Vec::new(),
            critical_path: 0,
            open: true,
            window,
        }
    }

    /// The transactions `0..len` are the streak.
    pub(crate) fn len(&self) -> TxnIndex {
        self.depths.len()
    }

    /// Called before an incarnation runs; the first that does not extend
    /// the streak ends it. Only another worker can make that happen: this
    /// one's next claim is not the streak's next run because another worker
    /// claimed it, or a transaction runs again because another one's
    /// execution made it stale.
    pub(crate) fn step(&mut self, txn_idx: TxnIndex, incarnation: Incarnation) -> Step {
        if !self.open {
            Step::Outside
        } else if incarnation == 0 && txn_idx == self.depths.len() {
            Step::Extends
        } else {
            self.open = false;
            if self.is_serial(MIN_SERIAL_STREAK) {
                Step::EndsSerial
            } else {
                Step::Outside
            }
        }
    }

    /// The depth of the streak's next transaction, whose reads came from
    /// `writers` (`None`: the base storage); `None`, ending the streak, if
    /// a writer is not in it, and `None` once the streak has ended.
    pub(crate) fn depth_of(
        &mut self,
        writers: impl IntoIterator<Item = Option<TxnIndex>>,
    ) -> Option<u32> {
        if !self.open {
            return None;
        }
        let mut deepest = 0;
        for writer in writers.into_iter().flatten() {
            // Every writer below a streak transaction is in the streak.
            let Some(&depth) = self.depths.get(writer) else {
                self.open = false;
                return None;
            };
            deepest = deepest.max(depth);
        }
        Some(deepest + 1)
    }

    /// Adds the transaction [`depth_of`](Self::depth_of) measured, once it
    /// is recorded; returns whether the streak is now serial at its window
    /// or more transactions.
    pub(crate) fn extend(&mut self, depth: u32) -> bool {
        self.depths.push(depth);
        self.critical_path = self.critical_path.max(depth);
        self.is_serial(self.window)
    }

    /// Whether the streak still looks serial enough to keep the helpers
    /// asleep: open, shorter than its window, and three quarters of
    /// it on one chain. A block whose start is independent wakes them after
    /// its second transaction; a chain reaches the window first and halts,
    /// having cost nobody a wake-up.
    pub(crate) fn holds_helpers_back(&self) -> bool {
        self.open && self.depths.len() < self.window && self.is_serial(0)
    }

    /// Ends the streak: this worker's next execution cannot extend it.
    pub(crate) fn close(&mut self) {
        self.open = false;
    }

    /// At least `min_len` transactions, three quarters of them on one
    /// chain: no number of workers runs them more than 4/3 as fast as one.
    fn is_serial(&self, min_len: usize) -> bool {
        let len = self.depths.len();
        len >= min_len && self.critical_path as usize * 4 >= len * 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs transactions `0..len` through `streak`, transaction `i`
    /// reading what `reads(i)` wrote; returns whether it was called serial
    /// at each.
    fn run(
        streak: &mut InOrderStreak,
        len: usize,
        reads: impl Fn(usize) -> Vec<Option<TxnIndex>>,
    ) -> Vec<bool> {
        (0..len)
            .map(|txn_idx| {
                assert_eq!(streak.step(txn_idx, 0), Step::Extends);
                let depth = streak.depth_of(reads(txn_idx)).unwrap();
                streak.extend(depth)
            })
            .collect()
    }

    #[test]
    fn a_lone_chain_is_serial_from_the_window_on() {
        let mut chain = InOrderStreak::new(SERIAL_WINDOW);
        let serial = run(&mut chain, SERIAL_WINDOW + 2, |i| {
            vec![None, i.checked_sub(1)]
        });
        assert_eq!(serial.iter().position(|&s| s), Some(SERIAL_WINDOW - 1));
        assert!(serial[SERIAL_WINDOW..].iter().all(|&s| s));
    }

    #[test]
    fn independent_txns_and_readers_of_one_early_write_are_never_serial() {
        let mut independent = InOrderStreak::new(SERIAL_WINDOW);
        assert!(!run(&mut independent, 4 * SERIAL_WINDOW, |_| vec![None, None]).contains(&true));
        assert_eq!(independent.step(4 * SERIAL_WINDOW + 16, 0), Step::Outside);
        // Transaction 0 writes a price every other transaction reads.
        let mut price = InOrderStreak::new(SERIAL_WINDOW);
        assert!(!run(
            &mut price,
            4 * SERIAL_WINDOW,
            |i| vec![(i > 0).then_some(0)]
        )
        .contains(&true));
        assert_eq!(price.critical_path, 2);
    }

    #[test]
    fn a_chain_ended_by_another_worker_is_serial_from_the_shorter_length() {
        for (len, serial) in [(MIN_SERIAL_STREAK - 1, false), (MIN_SERIAL_STREAK, true)] {
            let mut chain = InOrderStreak::new(SERIAL_WINDOW);
            assert!(!run(&mut chain, len, |i| vec![i.checked_sub(1)]).contains(&true));
            let expected = if serial {
                Step::EndsSerial
            } else {
                Step::Outside
            };
            // The next run was claimed by another worker.
            assert_eq!(chain.step(len + 16, 0), expected);
            assert_eq!(chain.step(len + 17, 0), Step::Outside);
        }
        // Three quarters on one chain, the rest independent.
        let mut mostly = InOrderStreak::new(SERIAL_WINDOW);
        run(&mut mostly, 32, |i| {
            vec![(i % 4 != 0).then(|| i.saturating_sub(1))]
        });
        assert_eq!(mostly.critical_path, 4);
        assert_eq!(mostly.step(32, 1), Step::Outside);
        let mut three_quarters = InOrderStreak::new(SERIAL_WINDOW);
        run(&mut three_quarters, 32, |i| vec![(i >= 8).then(|| i - 1)]);
        assert_eq!(three_quarters.critical_path, 25);
        assert_eq!(three_quarters.step(31, 1), Step::EndsSerial);
    }

    #[test]
    fn a_gap_a_reexecution_or_a_foreign_writer_ends_the_streak_for_good() {
        let mut gap = InOrderStreak::new(SERIAL_WINDOW);
        assert_eq!(gap.step(1, 0), Step::Outside);
        assert_eq!(gap.step(0, 0), Step::Outside);
        let mut reexecuted = InOrderStreak::new(SERIAL_WINDOW);
        run(&mut reexecuted, 1, |_| vec![]);
        assert_eq!(reexecuted.step(0, 1), Step::Outside);
        assert_eq!(reexecuted.step(1, 0), Step::Outside);
        assert_eq!(reexecuted.len(), 1);
        let mut foreign = InOrderStreak::new(SERIAL_WINDOW);
        assert_eq!(foreign.step(0, 0), Step::Extends);
        assert!(foreign.depth_of([Some(5)]).is_none());
        assert_eq!(foreign.step(0, 0), Step::Outside);
        // A transaction that waited on another ends it too.
        let mut waited = InOrderStreak::new(SERIAL_WINDOW);
        assert_eq!(waited.step(0, 0), Step::Extends);
        waited.close();
        assert!(waited.depth_of([]).is_none());
        assert!(!waited.holds_helpers_back());
    }
}
