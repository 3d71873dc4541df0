//! The scheduler's state machine, in the order a transaction goes through it.
//!
//! Shared state:
//! - `execution_idx`: the next transaction to try to execute. Only lowered
//!   when a suspended transaction is resumed.
//! - `validation_idx`: the next transaction to validate. Lowered after an
//!   abort, or after an incarnation that wrote a new location (a wave).
//! - `num_active_tasks`: tasks handed out and not yet finished. A worker
//!   counts its task *before* it claims an index, so the done check never
//!   sees zero while a claim is under way.
//! - `decrease_cnt`: bumped on every lowering of either index, so the done
//!   check can tell that no index was lowered while it was reading them.
//! - per transaction: its incarnation and [`TxnStatus`] under one lock, and
//!   the transactions suspended on it under another.
//!
//! Invariant of the done check: the block is done when both indices are at
//! or past the block's end, no task is active, and no index was lowered
//! between the first and the last read. Any event that could create new work
//! (an abort, a resumed dependency, a validation wave) happens inside an
//! active task and lowers an index before the task ends, so it is seen.

use parex_sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use parex_sync::{Backoff, CachePadded, Mutex};

use crate::status::TxnStatus;
use crate::{Incarnation, TxnIndex};

/// One incarnation of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// The transaction's index in the block.
    pub txn_idx: TxnIndex,
    /// Which execution of it this is.
    pub incarnation: Incarnation,
}

/// What a worker is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Execute this incarnation.
    Execute(Version),
    /// Validate this incarnation's read set.
    Validate(Version),
}

#[derive(Debug)]
struct TxnState {
    status: Mutex<(Incarnation, TxnStatus)>,
    /// Transactions suspended until this one finishes executing.
    dependents: Mutex<Vec<TxnIndex>>,
}

/// The collaborative scheduler of one block.
#[derive(Debug)]
pub struct Scheduler {
    block_size: usize,
    execution_idx: CachePadded<AtomicUsize>,
    validation_idx: CachePadded<AtomicUsize>,
    decrease_cnt: CachePadded<AtomicUsize>,
    num_active_tasks: CachePadded<AtomicUsize>,
    done_marker: CachePadded<AtomicBool>,
    txns: Vec<CachePadded<TxnState>>,
}

impl Scheduler {
    /// A scheduler for a block of `block_size` transactions, all ready for
    /// their first incarnation.
    pub fn new(block_size: usize) -> Self {
        let txns = (0..block_size)
            .map(|_| {
                CachePadded::new(TxnState {
                    status: Mutex::new((0, TxnStatus::ReadyToExecute)),
                    dependents: Mutex::new(Vec::new()),
                })
            })
            .collect();
        Self {
            block_size,
            execution_idx: CachePadded::new(AtomicUsize::new(0)),
            validation_idx: CachePadded::new(AtomicUsize::new(0)),
            decrease_cnt: CachePadded::new(AtomicUsize::new(0)),
            num_active_tasks: CachePadded::new(AtomicUsize::new(0)),
            done_marker: CachePadded::new(AtomicBool::new(block_size == 0)),
            txns,
        }
    }

    /// Starts over with a block of `block_size` transactions, all ready
    /// for their first incarnation, keeping the allocations.
    pub fn reset(&mut self, block_size: usize) {
        self.block_size = block_size;
        self.execution_idx.store(0, SeqCst);
        self.validation_idx.store(0, SeqCst);
        self.decrease_cnt.store(0, SeqCst);
        self.num_active_tasks.store(0, SeqCst);
        self.done_marker.store(block_size == 0, SeqCst);
        self.txns.truncate(block_size);
        for txn in &self.txns {
            *txn.status.lock() = (0, TxnStatus::ReadyToExecute);
            txn.dependents.lock().clear();
        }
        self.txns.resize_with(block_size, || {
            CachePadded::new(TxnState {
                status: Mutex::new((0, TxnStatus::ReadyToExecute)),
                dependents: Mutex::new(Vec::new()),
            })
        });
    }

    /// The number of transactions in the block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Whether every transaction is executed and validated at its final
    /// incarnation, or the block was halted.
    pub fn done(&self) -> bool {
        self.done_marker.load(SeqCst)
    }

    /// Stops the block: from now on [`next_task`](Self::next_task) returns
    /// `None` to every worker. Tasks already handed out may still finish.
    pub fn halt(&self) {
        self.done_marker.store(true, SeqCst);
    }

    /// How far execution has got: the next transaction to execute, at most
    /// the block's size. Moves back when a dependency is resumed.
    pub fn execution_progress(&self) -> TxnIndex {
        self.execution_idx.load(SeqCst).min(self.block_size)
    }

    /// The incarnation and status of a transaction.
    pub fn status(&self, txn_idx: TxnIndex) -> (Incarnation, TxnStatus) {
        *self.txns[txn_idx].status.lock()
    }

    // ---- Handing out tasks -------------------------------------------------

    /// The next task for a worker, waiting while none is available; `None`
    /// once the block is done.
    ///
    /// Validation of a lower transaction comes before execution of a higher
    /// one: catching an abort early limits the work wasted above it.
    pub fn next_task(&self) -> Option<Task> {
        let mut backoff = Backoff::new();
        loop {
            if self.done() {
                return None;
            }
            let task = self.try_next_task();
            if task.is_some() {
                return task;
            }
            backoff.snooze();
        }
    }

    /// One attempt of [`next_task`](Self::next_task), without waiting: a
    /// task if one can be claimed now, `None` if not (check
    /// [`done`](Self::done) to tell whether the block is finished).
    ///
    /// `next_task` is this in a spin loop. The loom tests also call it
    /// directly, for workers that give up after a few attempts: two workers
    /// spinning while a third works is a schedule loom can follow forever.
    pub fn try_next_task(&self) -> Option<Task> {
        let idx_to_validate = self.validation_idx.load(SeqCst);
        let idx_to_execute = self.execution_idx.load(SeqCst);
        if idx_to_validate < idx_to_execute {
            self.next_version_to_validate().map(Task::Validate)
        } else {
            self.next_version_to_execute().map(Task::Execute)
        }
    }

    fn next_version_to_execute(&self) -> Option<Version> {
        if self.execution_idx.load(SeqCst) >= self.block_size {
            self.check_done();
            return None;
        }
        self.num_active_tasks.fetch_add(1, SeqCst);
        let txn_idx = self.execution_idx.fetch_add(1, SeqCst);
        let version = self.try_incarnate(txn_idx);
        if version.is_none() {
            self.num_active_tasks.fetch_sub(1, SeqCst);
        }
        version
    }

    /// Claims `txn_idx` for execution if it is ready.
    fn try_incarnate(&self, txn_idx: TxnIndex) -> Option<Version> {
        if txn_idx >= self.block_size {
            return None;
        }
        let mut status = self.txns[txn_idx].status.lock();
        if status.1 != TxnStatus::ReadyToExecute {
            return None;
        }
        status.1 = TxnStatus::Executing;
        Some(Version {
            txn_idx,
            incarnation: status.0,
        })
    }

    fn next_version_to_validate(&self) -> Option<Version> {
        if self.validation_idx.load(SeqCst) >= self.block_size {
            self.check_done();
            return None;
        }
        self.num_active_tasks.fetch_add(1, SeqCst);
        let txn_idx = self.validation_idx.fetch_add(1, SeqCst);
        if txn_idx < self.block_size {
            let (incarnation, status) = self.status(txn_idx);
            if status == TxnStatus::Executed {
                return Some(Version {
                    txn_idx,
                    incarnation,
                });
            }
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        None
    }

    fn check_done(&self) {
        let observed_cnt = self.decrease_cnt.load(SeqCst);
        let execution_idx = self.execution_idx.load(SeqCst);
        let validation_idx = self.validation_idx.load(SeqCst);
        let num_active_tasks = self.num_active_tasks.load(SeqCst);
        if execution_idx.min(validation_idx) >= self.block_size
            && num_active_tasks == 0
            && observed_cnt == self.decrease_cnt.load(SeqCst)
        {
            self.done_marker.store(true, SeqCst);
        }
    }

    // ---- Execution ---------------------------------------------------------

    /// Suspends the executing `txn_idx` until `blocking_txn_idx` finishes
    /// executing: the first read an ESTIMATE of the second. Returns `false`
    /// if the blocking transaction has already finished (read again).
    ///
    /// On `true` the worker gives up its task; the suspended transaction's
    /// next incarnation is made ready when the blocking one finishes.
    pub fn add_dependency(&self, txn_idx: TxnIndex, blocking_txn_idx: TxnIndex) -> bool {
        // Under the blocking transaction's dependents lock, so that
        // finish_execution either sees this dependent or it sees Executed.
        let mut dependents = self.txns[blocking_txn_idx].dependents.lock();
        if self.status(blocking_txn_idx).1 == TxnStatus::Executed {
            return false;
        }
        self.txns[txn_idx].status.lock().1 = TxnStatus::Aborting;
        dependents.push(txn_idx);
        drop(dependents);
        self.num_active_tasks.fetch_sub(1, SeqCst);
        true
    }

    /// Marks an incarnation executed, resumes the transactions waiting for
    /// it, and returns its validation task when the worker should run it at
    /// once.
    ///
    /// `wrote_new_location`: the incarnation wrote a location its previous
    /// incarnation did not. Higher transactions validated before may have
    /// read below it, so all of them are validated again (a wave).
    pub fn finish_execution(&self, version: Version, wrote_new_location: bool) -> Option<Task> {
        let Version {
            txn_idx,
            incarnation,
        } = version;
        {
            let mut status = self.txns[txn_idx].status.lock();
            debug_assert_eq!(*status, (incarnation, TxnStatus::Executing));
            status.1 = TxnStatus::Executed;
        }
        let dependents = std::mem::take(&mut *self.txns[txn_idx].dependents.lock());
        self.resume_dependencies(&dependents);

        if self.validation_idx.load(SeqCst) > txn_idx {
            // The validation index has passed this transaction: it will not
            // come back by itself.
            if wrote_new_location {
                self.decrease_validation_idx(txn_idx);
            } else {
                return Some(Task::Validate(version));
            }
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        None
    }

    fn resume_dependencies(&self, dependents: &[TxnIndex]) {
        let Some(&min_dependent) = dependents.iter().min() else {
            return;
        };
        for &dependent in dependents {
            self.set_ready_status(dependent);
        }
        self.decrease_execution_idx(min_dependent);
    }

    /// An aborted or suspended transaction gets its next incarnation.
    fn set_ready_status(&self, txn_idx: TxnIndex) {
        let mut status = self.txns[txn_idx].status.lock();
        debug_assert_eq!(status.1, TxnStatus::Aborting);
        *status = (status.0 + 1, TxnStatus::ReadyToExecute);
    }

    // ---- Validation --------------------------------------------------------

    /// Aborts `version` after its validation failed. Returns `false` if
    /// another validation already aborted it (or a later incarnation runs):
    /// only one abort per incarnation takes effect.
    pub fn try_validation_abort(&self, version: Version) -> bool {
        let mut status = self.txns[version.txn_idx].status.lock();
        if *status == (version.incarnation, TxnStatus::Executed) {
            status.1 = TxnStatus::Aborting;
            true
        } else {
            false
        }
    }

    /// Ends a validation task. After an abort the transaction is re-executed
    /// (by this worker, if the execution index has already passed it) and
    /// every higher transaction will be validated again.
    pub fn finish_validation(&self, txn_idx: TxnIndex, aborted: bool) -> Option<Task> {
        if aborted {
            self.set_ready_status(txn_idx);
            self.decrease_validation_idx(txn_idx + 1);
            if self.execution_idx.load(SeqCst) > txn_idx {
                if let Some(version) = self.try_incarnate(txn_idx) {
                    return Some(Task::Execute(version));
                }
            }
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        None
    }

    // ---- Lowering the indices ---------------------------------------------

    fn decrease_execution_idx(&self, target: TxnIndex) {
        self.execution_idx.fetch_min(target, SeqCst);
        self.decrease_cnt.fetch_add(1, SeqCst);
    }

    fn decrease_validation_idx(&self, target: TxnIndex) {
        self.validation_idx.fetch_min(target, SeqCst);
        self.decrease_cnt.fetch_add(1, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(txn_idx: TxnIndex, incarnation: Incarnation) -> Version {
        Version {
            txn_idx,
            incarnation,
        }
    }

    #[test]
    fn executes_every_transaction_then_validates_each_then_is_done() {
        let scheduler = Scheduler::new(2);
        assert_eq!(scheduler.next_task(), Some(Task::Execute(v(0, 0))));
        assert_eq!(scheduler.next_task(), Some(Task::Execute(v(1, 0))));
        assert!(!scheduler.done());
        assert_eq!(scheduler.finish_execution(v(0, 0), true), None);
        assert_eq!(scheduler.next_task(), Some(Task::Validate(v(0, 0))));
        assert_eq!(scheduler.finish_validation(0, false), None);
        assert_eq!(scheduler.finish_execution(v(1, 0), true), None);
        assert!(!scheduler.done());
        assert_eq!(scheduler.next_task(), Some(Task::Validate(v(1, 0))));
        assert_eq!(scheduler.finish_validation(1, false), None);
        assert_eq!(scheduler.next_task(), None);
        assert!(scheduler.done());
    }

    #[test]
    fn an_empty_block_is_done_at_once() {
        assert!(Scheduler::new(0).done());
        assert_eq!(Scheduler::new(0).next_task(), None);
    }

    #[test]
    fn a_dependency_suspends_until_the_blocking_transaction_finishes() {
        let scheduler = Scheduler::new(2);
        assert_eq!(scheduler.next_task(), Some(Task::Execute(v(0, 0))));
        // The validation index passes 0, still executing, on the way.
        assert_eq!(scheduler.next_task(), Some(Task::Execute(v(1, 0))));
        assert!(scheduler.add_dependency(1, 0));
        assert_eq!(scheduler.status(1), (0, TxnStatus::Aborting));
        // Finishing 0 resumes 1 with its next incarnation; 0's validation is
        // handed straight back, since the validation index already passed it.
        assert_eq!(
            scheduler.finish_execution(v(0, 0), false),
            Some(Task::Validate(v(0, 0)))
        );
        assert_eq!(scheduler.status(1), (1, TxnStatus::ReadyToExecute));
        assert_eq!(scheduler.finish_validation(0, false), None);
        assert_eq!(scheduler.next_task(), Some(Task::Execute(v(1, 1))));
        // A dependency on an executed transaction is refused: read again.
        assert!(!scheduler.add_dependency(1, 0));
    }

    #[test]
    fn a_failed_validation_aborts_once_and_reexecutes() {
        let scheduler = Scheduler::new(3);
        for i in 0..3 {
            assert_eq!(scheduler.next_task(), Some(Task::Execute(v(i, 0))));
        }
        assert_eq!(
            scheduler.finish_execution(v(0, 0), false),
            Some(Task::Validate(v(0, 0)))
        );
        assert_eq!(
            scheduler.finish_execution(v(1, 0), false),
            Some(Task::Validate(v(1, 0)))
        );
        assert_eq!(scheduler.finish_execution(v(2, 0), false), None);
        assert_eq!(scheduler.finish_validation(0, false), None);
        assert!(scheduler.try_validation_abort(v(1, 0)));
        assert!(!scheduler.try_validation_abort(v(1, 0)), "aborted twice");
        // The aborting worker re-executes at once: the execution index passed it.
        assert_eq!(
            scheduler.finish_validation(1, true),
            Some(Task::Execute(v(1, 1)))
        );
        assert_eq!(scheduler.next_task(), Some(Task::Validate(v(2, 0))));
        assert_eq!(scheduler.finish_validation(2, false), None);
        assert!(!scheduler.done());
        assert_eq!(
            scheduler.finish_execution(v(1, 1), false),
            Some(Task::Validate(v(1, 1)))
        );
        assert_eq!(scheduler.finish_validation(1, false), None);
        assert_eq!(scheduler.next_task(), None);
        assert!(scheduler.done());
    }

    #[test]
    fn writing_a_new_location_revalidates_from_the_writer() {
        let scheduler = Scheduler::new(2);
        assert_eq!(scheduler.next_task(), Some(Task::Execute(v(0, 0))));
        assert_eq!(scheduler.finish_execution(v(0, 0), false), None);
        assert_eq!(scheduler.next_task(), Some(Task::Validate(v(0, 0))));
        assert_eq!(scheduler.next_task(), Some(Task::Execute(v(1, 0))));
        assert_eq!(scheduler.finish_execution(v(1, 0), false), None);
        assert_eq!(scheduler.next_task(), Some(Task::Validate(v(1, 0))));
        assert_eq!(scheduler.finish_validation(1, false), None);
        // The held validation of 0 fails.
        assert!(scheduler.try_validation_abort(v(0, 0)));
        assert_eq!(
            scheduler.finish_validation(0, true),
            Some(Task::Execute(v(0, 1)))
        );
        // Incarnation 1 of 0 wrote somewhere new: no direct validation task,
        // the validation index goes back to 0 instead, and 1 is validated
        // again (the wave).
        assert_eq!(scheduler.finish_execution(v(0, 1), true), None);
        assert_eq!(scheduler.next_task(), Some(Task::Validate(v(0, 1))));
        assert_eq!(scheduler.finish_validation(0, false), None);
        assert_eq!(scheduler.next_task(), Some(Task::Validate(v(1, 0))));
        assert_eq!(scheduler.finish_validation(1, false), None);
        assert_eq!(scheduler.next_task(), None);
    }

    #[test]
    fn halt_stops_handing_out_tasks() {
        let scheduler = Scheduler::new(10);
        assert!(scheduler.next_task().is_some());
        scheduler.halt();
        assert!(scheduler.done());
        assert_eq!(scheduler.next_task(), None);
    }
}
