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
//!
//! Workers claim indices in runs of `claim_size` consecutive transactions
//! (a [`Claim`]), counting the whole run as active tasks up front, and
//! report finished tasks back in one subtraction when the run is used up.
//! Over-counting delays the done check, never fools it. Runs keep the
//! shared counters off the per-transaction path, and give each worker
//! neighbouring transactions, whose state shares cache lines: with single
//! indices, two workers would alternate between neighbours.
//! - `decrease_cnt`: bumped on every lowering of either index, so the done
//!   check can tell that no index was lowered while it was reading them.
//! - per transaction: its incarnation and [`TxnStatus`] in one atomic word
//!   (`StatusWord`, `status.rs`), moved with one read-modify-write per
//!   transition (passing a transaction by writes its word unchanged: see
//!   `TxnState::transition`); and the transactions suspended on it, under
//!   a lock that is taken only when there are some.
//!
//! Invariant of the done check: the block is done when both indices are at
//! or past the block's end, no task is active, and no index was lowered
//! between the first and the last read. Any event that could create new work
//! (an abort, a resumed dependency, a validation wave) happens inside an
//! active task and lowers an index before the task ends, so it is seen.

use parex_sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use parex_sync::{Backoff, CachePadded, Mutex};

use crate::status::{StatusWord, TxnStatus};
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
    /// A [`StatusWord`].
    status: AtomicU64,
    /// Transactions suspended until this one finishes executing; not
    /// empty only while the status word carries `DEPENDENTS`.
    dependents: Mutex<Vec<TxnIndex>>,
}

impl TxnState {
    fn new() -> Self {
        Self {
            status: AtomicU64::new(StatusWord::new(0, TxnStatus::ReadyToExecute).0),
            dependents: Mutex::new(Vec::new()),
        }
    }

    fn load(&self) -> StatusWord {
        StatusWord(self.status.load(SeqCst))
    }

    /// Replaces the word by `transition` of it in one read-modify-write,
    /// retried if another thread changed it meanwhile (only `DEPENDENTS`
    /// can be set under a transition's feet); returns the word it moved
    /// from.
    ///
    /// Always a write, also where `transition` leaves the word as it is:
    /// a worker that looks at a transaction's word and passes it by (not
    /// ready, not executed) must not miss the index another worker moved
    /// before changing the word, and the order between them is then that
    /// of two read-modify-writes of one atomic, which holds under
    /// acquire/release alone. A plain load would need the sequentially
    /// consistent total order (the store-buffer pattern), which loom does
    /// not model: with a load where `validation_task` passes a transaction
    /// by, loom's engine models fail at once (`docs/LOOM.md`, mutation
    /// 10). Where `try_incarnate` passes one by (an abort's re-execution
    /// racing a claim of an index lowered below it) no model reaches the
    /// interleaving, and a load there passes them; the argument is the
    /// same.
    fn transition(&self, mut transition: impl FnMut(StatusWord) -> StatusWord) -> StatusWord {
        let mut word = self.load();
        loop {
            let next = transition(word);
            match self
                .status
                .compare_exchange_weak(word.0, next.0, SeqCst, SeqCst)
            {
                Ok(_) => return word,
                Err(current) => word = StatusWord(current),
            }
        }
    }
}

/// Which shared index a [`Claim`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ClaimKind {
    #[default]
    Execution,
    Validation,
}

/// A worker's share of the scheduler: the run of indices it claimed and has
/// not yet turned into tasks, and the tasks it finished and has not yet
/// subtracted from the active count. One per worker, kept across tasks;
/// pass the same one to every call of that worker.
#[derive(Debug, Default)]
pub struct Claim {
    kind: ClaimKind,
    next: TxnIndex,
    end: TxnIndex,
    finished: usize,
    /// The end of the highest execution run this worker claimed.
    reach: TxnIndex,
}

impl Claim {
    /// A worker's empty claim.
    pub fn new() -> Self {
        Self::default()
    }

    /// The end of the highest run of transactions this worker claimed for
    /// execution. Every transaction whose state a block changed is below
    /// the highest reach of its workers: see
    /// [`Scheduler::reset_touched`].
    pub fn execution_reach(&self) -> TxnIndex {
        self.reach
    }
}

/// The collaborative scheduler of one block.
#[derive(Debug)]
pub struct Scheduler {
    block_size: usize,
    /// Indices a worker claims at once.
    claim_size: usize,
    execution_idx: CachePadded<AtomicUsize>,
    validation_idx: CachePadded<AtomicUsize>,
    decrease_cnt: CachePadded<AtomicUsize>,
    num_active_tasks: CachePadded<AtomicUsize>,
    done_marker: CachePadded<AtomicBool>,
    /// Not padded: a worker claims runs of neighbours, so neighbours
    /// mostly stay on one core, and a padded state would cost a cache line
    /// of its own per transaction.
    txns: Vec<TxnState>,
}

impl Scheduler {
    /// A scheduler for a block of `block_size` transactions, all ready for
    /// their first incarnation.
    pub fn new(block_size: usize) -> Self {
        let txns = (0..block_size).map(|_| TxnState::new()).collect();
        Self {
            block_size,
            claim_size: 1,
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
        self.reset_touched(block_size, usize::MAX);
    }

    /// [`reset`](Self::reset) after a block that changed the state of no
    /// transaction at or above `touched`: the highest
    /// [`Claim::execution_reach`] of its workers. A transaction's state
    /// changes only once it is claimed for execution, or through a
    /// transaction that was (a dependency, an abort after validation).
    /// A block halted early touched only its start, and resetting only
    /// that costs nothing per untouched transaction.
    pub fn reset_touched(&mut self, block_size: usize, touched: usize) {
        self.block_size = block_size;
        self.execution_idx.store(0, SeqCst);
        self.validation_idx.store(0, SeqCst);
        self.decrease_cnt.store(0, SeqCst);
        self.num_active_tasks.store(0, SeqCst);
        self.done_marker.store(block_size == 0, SeqCst);
        self.txns.truncate(block_size);
        let touched = touched.min(self.txns.len());
        for txn in &mut self.txns[..touched] {
            // Exclusive access: nothing to order against.
            txn.status
                .store(StatusWord::new(0, TxnStatus::ReadyToExecute).0, SeqCst);
            txn.dependents.get_mut().clear();
        }
        self.txns.resize_with(block_size, TxnState::new);
    }

    /// Sets how many consecutive indices a worker claims at once (1, the
    /// paper's scheduler, unless set). Larger runs cost fewer shared
    /// updates; a run's tasks wait for the worker that holds it, so runs
    /// should stay small next to a worker's share of the block.
    pub fn set_claim_size(&mut self, claim_size: usize) {
        self.claim_size = claim_size.max(1);
    }

    /// The number of transactions in the block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// The bytes of the per-transaction states, as sized for the largest
    /// block since the scheduler was made (they are kept from block to
    /// block).
    pub fn table_bytes(&self) -> usize {
        self.txns.capacity() * size_of::<TxnState>()
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
        let word = self.txns[txn_idx].load();
        (word.incarnation(), word.status())
    }

    // ---- Handing out tasks -------------------------------------------------

    /// The next task for the worker that holds `claim`, waiting while none
    /// is available; `None` once the block is done.
    ///
    /// Validation of a lower transaction comes before execution of a higher
    /// one: catching an abort early limits the work wasted above it.
    pub fn next_task(&self, claim: &mut Claim) -> Option<Task> {
        let mut backoff = Backoff::new();
        loop {
            if self.done() {
                return None;
            }
            let task = self.try_next_task(claim);
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
    pub fn try_next_task(&self, claim: &mut Claim) -> Option<Task> {
        loop {
            if let Some(task) = self.next_claimed_task(claim) {
                return Some(task);
            }
            let idx_to_validate = self.validation_idx.load(SeqCst);
            let idx_to_execute = self.execution_idx.load(SeqCst);
            let kind = if idx_to_validate < idx_to_execute {
                ClaimKind::Validation
            } else {
                ClaimKind::Execution
            };
            if !self.claim_run(kind, claim) {
                return None;
            }
        }
    }

    /// A task from the run `claim` already holds, without claiming more.
    /// Once the run is used up, its finished tasks are reported (before the
    /// worker claims more or waits, so that the done check can see zero).
    ///
    /// A worker that stops taking tasks before the block is done (the loom
    /// tests' helpers) calls this until `None`, running each task: its run
    /// would otherwise hold up the done check for ever.
    pub fn next_claimed_task(&self, claim: &mut Claim) -> Option<Task> {
        while claim.next < claim.end {
            let txn_idx = claim.next;
            claim.next += 1;
            let task = match claim.kind {
                ClaimKind::Execution => self.try_incarnate(txn_idx).map(Task::Execute),
                ClaimKind::Validation => self.validation_task(txn_idx),
            };
            if task.is_some() {
                return task;
            }
            // Counted as a task when claimed, but nothing to do.
            claim.finished += 1;
        }
        if claim.finished > 0 {
            self.num_active_tasks.fetch_sub(claim.finished, SeqCst);
            claim.finished = 0;
        }
        None
    }

    /// Claims the next run of indices of `kind` into the (used up) `claim`;
    /// `false` if that index is past the block.
    fn claim_run(&self, kind: ClaimKind, claim: &mut Claim) -> bool {
        let index = match kind {
            ClaimKind::Execution => &self.execution_idx,
            ClaimKind::Validation => &self.validation_idx,
        };
        if index.load(SeqCst) >= self.block_size {
            self.check_done();
            return false;
        }
        let size = self.claim_size;
        self.num_active_tasks.fetch_add(size, SeqCst);
        let start = index.fetch_add(size, SeqCst);
        let end = (start + size).min(self.block_size).max(start);
        if end - start < size {
            self.num_active_tasks
                .fetch_sub(size - (end - start), SeqCst);
        }
        let reach = match kind {
            ClaimKind::Execution => claim.reach.max(end),
            ClaimKind::Validation => claim.reach,
        };
        *claim = Claim {
            kind,
            next: start,
            end,
            finished: 0,
            reach,
        };
        end > start
    }

    /// Claims `txn_idx` for execution if it is ready.
    fn try_incarnate(&self, txn_idx: TxnIndex) -> Option<Version> {
        if txn_idx >= self.block_size {
            return None;
        }
        let before = self.txns[txn_idx].transition(|word| match word.status() {
            TxnStatus::ReadyToExecute => word.with_status(TxnStatus::Executing),
            _ => word,
        });
        (before.status() == TxnStatus::ReadyToExecute).then_some(Version {
            txn_idx,
            incarnation: before.incarnation(),
        })
    }

    /// The validation task of `txn_idx`, if it has executed.
    fn validation_task(&self, txn_idx: TxnIndex) -> Option<Task> {
        let state = &self.txns[txn_idx];
        // Mostly it has: then one load decides. Passing it by takes a
        // read-modify-write (see `TxnState::transition`), so that its
        // finish_execution sees the validation index that passed it.
        let mut word = state.load();
        if word.status() != TxnStatus::Executed {
            word = StatusWord(state.status.fetch_or(0, SeqCst));
        }
        (word.status() == TxnStatus::Executed).then_some(Task::Validate(Version {
            txn_idx,
            incarnation: word.incarnation(),
        }))
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
    pub fn add_dependency(
        &self,
        txn_idx: TxnIndex,
        blocking_txn_idx: TxnIndex,
        claim: &mut Claim,
    ) -> bool {
        // The flag goes on under the blocking transaction's dependents
        // lock, and only while it is not Executed: so finish_execution
        // either finds the flag and then waits for this lock (and sees this
        // dependent), or it came first and this sees Executed.
        let blocking = &self.txns[blocking_txn_idx];
        let mut dependents = blocking.dependents.lock();
        let before = blocking.transition(|word| match word.status() {
            TxnStatus::Executed => word,
            _ => word.with_dependents(),
        });
        if before.status() == TxnStatus::Executed {
            return false;
        }
        let before = self.txns[txn_idx].transition(|word| word.with_status(TxnStatus::Aborting));
        debug_assert_eq!(before.status(), TxnStatus::Executing);
        dependents.push(txn_idx);
        drop(dependents);
        claim.finished += 1;
        true
    }

    /// Marks an incarnation executed, resumes the transactions waiting for
    /// it, and returns its validation task when the worker should run it at
    /// once.
    ///
    /// `wrote_new_location`: the incarnation wrote a location its previous
    /// incarnation did not. Higher transactions validated before may have
    /// read below it, so all of them are validated again (a wave). The
    /// engine passes what `MvMemory::record` reports, which is true only
    /// when a higher transaction has recorded a read of such a location.
    pub fn finish_execution(
        &self,
        version: Version,
        wrote_new_location: bool,
        claim: &mut Claim,
    ) -> Option<Task> {
        let Version {
            txn_idx,
            incarnation,
        } = version;
        let state = &self.txns[txn_idx];
        // Clears DEPENDENTS: the list is taken below, if the flag was on.
        let before = StatusWord(
            state
                .status
                .swap(StatusWord::new(incarnation, TxnStatus::Executed).0, SeqCst),
        );
        debug_assert_eq!(
            (before.incarnation(), before.status()),
            (incarnation, TxnStatus::Executing)
        );
        if before.has_dependents() {
            let dependents = std::mem::take(&mut *state.dependents.lock());
            self.resume_dependencies(&dependents);
        }

        if self.validation_idx.load(SeqCst) > txn_idx {
            // The validation index has passed this transaction: it will not
            // come back by itself.
            if wrote_new_location {
                self.decrease_validation_idx(txn_idx);
            } else {
                return Some(Task::Validate(version));
            }
        }
        claim.finished += 1;
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
        let before = self.txns[txn_idx].transition(StatusWord::next_incarnation);
        debug_assert_eq!(before.status(), TxnStatus::Aborting);
    }

    // ---- Validation --------------------------------------------------------

    /// Aborts `version` after its validation failed. Returns `false` if
    /// another validation already aborted it (or a later incarnation runs):
    /// only one abort per incarnation takes effect.
    pub fn try_validation_abort(&self, version: Version) -> bool {
        // An Executed word carries no flag: one exact comparison.
        self.txns[version.txn_idx]
            .status
            .compare_exchange(
                StatusWord::new(version.incarnation, TxnStatus::Executed).0,
                StatusWord::new(version.incarnation, TxnStatus::Aborting).0,
                SeqCst,
                SeqCst,
            )
            .is_ok()
    }

    /// Ends a validation task. After an abort the transaction is re-executed
    /// (by this worker, if the execution index has already passed it) and
    /// every higher transaction will be validated again.
    pub fn finish_validation(
        &self,
        txn_idx: TxnIndex,
        aborted: bool,
        claim: &mut Claim,
    ) -> Option<Task> {
        if aborted {
            self.set_ready_status(txn_idx);
            self.decrease_validation_idx(txn_idx + 1);
            if claim.kind == ClaimKind::Validation {
                // The rest of this worker's validation run is above the
                // lowered index and will be handed out again: drop it.
                claim.finished += claim.end - claim.next;
                claim.next = claim.end;
            }
            if self.execution_idx.load(SeqCst) > txn_idx {
                if let Some(version) = self.try_incarnate(txn_idx) {
                    return Some(Task::Execute(version));
                }
            }
        }
        claim.finished += 1;
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
        let mut c = Claim::new();
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(0, 0))));
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(1, 0))));
        assert!(!scheduler.done());
        assert_eq!(scheduler.finish_execution(v(0, 0), true, &mut c), None);
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Validate(v(0, 0))));
        assert_eq!(scheduler.finish_validation(0, false, &mut c), None);
        assert_eq!(scheduler.finish_execution(v(1, 0), true, &mut c), None);
        assert!(!scheduler.done());
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Validate(v(1, 0))));
        assert_eq!(scheduler.finish_validation(1, false, &mut c), None);
        assert_eq!(scheduler.next_task(&mut c), None);
        assert!(scheduler.done());
    }

    #[test]
    fn a_claim_reaches_the_end_of_its_highest_execution_run() {
        let mut scheduler = Scheduler::new(6);
        scheduler.set_claim_size(2);
        let mut c = Claim::new();
        assert_eq!(c.execution_reach(), 0);
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(0, 0))));
        assert_eq!(c.execution_reach(), 2);
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(1, 0))));
        assert_eq!(scheduler.finish_execution(v(0, 0), false, &mut c), None);
        assert_eq!(scheduler.finish_execution(v(1, 0), false, &mut c), None);
        // A validation run does not move the reach.
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Validate(v(0, 0))));
        assert_eq!(c.execution_reach(), 2);
        assert_eq!(scheduler.finish_validation(0, false, &mut c), None);
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Validate(v(1, 0))));
        assert_eq!(scheduler.finish_validation(1, false, &mut c), None);
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(2, 0))));
        assert_eq!(c.execution_reach(), 4);
        // Halted here: a reset of the touched start leaves a scheduler as
        // good as new.
        scheduler.halt();
        scheduler.reset_touched(6, c.execution_reach());
        let mut c = Claim::new();
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(0, 0))));
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(1, 0))));
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(2, 0))));
    }

    #[test]
    fn an_empty_block_is_done_at_once() {
        assert!(Scheduler::new(0).done());
        assert_eq!(Scheduler::new(0).next_task(&mut Claim::new()), None);
    }

    #[test]
    fn a_dependency_suspends_until_the_blocking_transaction_finishes() {
        let scheduler = Scheduler::new(2);
        let mut c = Claim::new();
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(0, 0))));
        // The validation index passes 0, still executing, on the way.
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(1, 0))));
        assert!(scheduler.add_dependency(1, 0, &mut c));
        assert_eq!(scheduler.status(1), (0, TxnStatus::Aborting));
        // Finishing 0 resumes 1 with its next incarnation; 0's validation is
        // handed straight back, since the validation index already passed it.
        assert_eq!(
            scheduler.finish_execution(v(0, 0), false, &mut c),
            Some(Task::Validate(v(0, 0)))
        );
        assert_eq!(scheduler.status(1), (1, TxnStatus::ReadyToExecute));
        assert_eq!(scheduler.finish_validation(0, false, &mut c), None);
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(1, 1))));
        // A dependency on an executed transaction is refused: read again.
        assert!(!scheduler.add_dependency(1, 0, &mut c));
    }

    #[test]
    fn a_dependent_suspended_on_an_aborted_transaction_resumes_after_its_next_incarnation() {
        let scheduler = Scheduler::new(2);
        let mut c = Claim::new();
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(0, 0))));
        assert_eq!(scheduler.finish_execution(v(0, 0), false, &mut c), None);
        assert!(scheduler.try_validation_abort(v(0, 0)));
        // 1 reads an ESTIMATE of the aborted 0 and is suspended on it; the
        // note must outlive 0's move to ready and its new execution.
        assert_eq!(scheduler.try_incarnate(1), Some(v(1, 0)));
        assert!(scheduler.add_dependency(1, 0, &mut c));
        // The aborting worker takes 0's next incarnation at once.
        assert_eq!(
            scheduler.finish_validation(0, true, &mut c),
            Some(Task::Execute(v(0, 1)))
        );
        assert_eq!(scheduler.status(1), (0, TxnStatus::Aborting));
        scheduler.finish_execution(v(0, 1), false, &mut c);
        assert_eq!(scheduler.status(1), (1, TxnStatus::ReadyToExecute));
        // Resumed once only: 0's next execution has no dependents (a
        // second resume would trip the Aborting check in debug builds,
        // and move 1 to incarnation 2).
        assert!(scheduler.try_validation_abort(v(0, 1)));
        assert_eq!(
            scheduler.finish_validation(0, true, &mut c),
            Some(Task::Execute(v(0, 2)))
        );
        scheduler.finish_execution(v(0, 2), false, &mut c);
        assert_eq!(scheduler.status(1), (1, TxnStatus::ReadyToExecute));
    }

    #[test]
    fn a_failed_validation_aborts_once_and_reexecutes() {
        let scheduler = Scheduler::new(3);
        let mut c = Claim::new();
        for i in 0..3 {
            assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(i, 0))));
        }
        assert_eq!(
            scheduler.finish_execution(v(0, 0), false, &mut c),
            Some(Task::Validate(v(0, 0)))
        );
        assert_eq!(
            scheduler.finish_execution(v(1, 0), false, &mut c),
            Some(Task::Validate(v(1, 0)))
        );
        assert_eq!(scheduler.finish_execution(v(2, 0), false, &mut c), None);
        assert_eq!(scheduler.finish_validation(0, false, &mut c), None);
        assert!(scheduler.try_validation_abort(v(1, 0)));
        assert!(!scheduler.try_validation_abort(v(1, 0)), "aborted twice");
        // The aborting worker re-executes at once: the execution index passed it.
        assert_eq!(
            scheduler.finish_validation(1, true, &mut c),
            Some(Task::Execute(v(1, 1)))
        );
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Validate(v(2, 0))));
        assert_eq!(scheduler.finish_validation(2, false, &mut c), None);
        assert!(!scheduler.done());
        assert_eq!(
            scheduler.finish_execution(v(1, 1), false, &mut c),
            Some(Task::Validate(v(1, 1)))
        );
        assert_eq!(scheduler.finish_validation(1, false, &mut c), None);
        assert_eq!(scheduler.next_task(&mut c), None);
        assert!(scheduler.done());
    }

    #[test]
    fn writing_a_new_location_revalidates_from_the_writer() {
        let scheduler = Scheduler::new(2);
        let mut c = Claim::new();
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(0, 0))));
        assert_eq!(scheduler.finish_execution(v(0, 0), false, &mut c), None);
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Validate(v(0, 0))));
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Execute(v(1, 0))));
        assert_eq!(scheduler.finish_execution(v(1, 0), false, &mut c), None);
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Validate(v(1, 0))));
        assert_eq!(scheduler.finish_validation(1, false, &mut c), None);
        // The held validation of 0 fails.
        assert!(scheduler.try_validation_abort(v(0, 0)));
        assert_eq!(
            scheduler.finish_validation(0, true, &mut c),
            Some(Task::Execute(v(0, 1)))
        );
        // Incarnation 1 of 0 wrote somewhere new: no direct validation task,
        // the validation index goes back to 0 instead, and 1 is validated
        // again (the wave).
        assert_eq!(scheduler.finish_execution(v(0, 1), true, &mut c), None);
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Validate(v(0, 1))));
        assert_eq!(scheduler.finish_validation(0, false, &mut c), None);
        assert_eq!(scheduler.next_task(&mut c), Some(Task::Validate(v(1, 0))));
        assert_eq!(scheduler.finish_validation(1, false, &mut c), None);
        assert_eq!(scheduler.next_task(&mut c), None);
    }

    #[test]
    fn a_claimed_run_is_served_in_order_and_reported_when_used_up() {
        let mut scheduler = Scheduler::new(5);
        scheduler.set_claim_size(3);
        let (mut a, mut b) = (Claim::new(), Claim::new());
        assert_eq!(scheduler.next_task(&mut a), Some(Task::Execute(v(0, 0))));
        // Validation is behind execution, so the second worker first claims
        // a validation run (0..3: nothing executed yet, no task), then the
        // next execution run.
        assert_eq!(scheduler.next_task(&mut b), Some(Task::Execute(v(3, 0))));
        // The validation index has passed 0..3: each execution hands its
        // validation straight back.
        for i in 0..3 {
            if i > 0 {
                assert_eq!(scheduler.next_task(&mut a), Some(Task::Execute(v(i, 0))));
            }
            assert_eq!(
                scheduler.finish_execution(v(i, 0), false, &mut a),
                Some(Task::Validate(v(i, 0)))
            );
            assert_eq!(scheduler.finish_validation(i, false, &mut a), None);
        }
        assert_eq!(scheduler.finish_execution(v(3, 0), false, &mut b), None);
        assert_eq!(scheduler.next_task(&mut b), Some(Task::Execute(v(4, 0))));
        assert_eq!(scheduler.finish_execution(v(4, 0), false, &mut b), None);
        // Validation run 3..5; an abort of 3 drops the rest of the run (4),
        // which the lowered index hands out again after the re-execution.
        assert_eq!(scheduler.next_task(&mut a), Some(Task::Validate(v(3, 0))));
        assert!(scheduler.try_validation_abort(v(3, 0)));
        assert_eq!(
            scheduler.finish_validation(3, true, &mut a),
            Some(Task::Execute(v(3, 1)))
        );
        assert_eq!(
            scheduler.finish_execution(v(3, 1), false, &mut a),
            Some(Task::Validate(v(3, 1)))
        );
        assert_eq!(scheduler.finish_validation(3, false, &mut a), None);
        assert_eq!(scheduler.next_task(&mut a), Some(Task::Validate(v(4, 0))));
        assert_eq!(scheduler.finish_validation(4, false, &mut a), None);
        assert_eq!(scheduler.try_next_task(&mut a), None);
        assert!(!scheduler.done(), "b has not reported its tasks");
        assert_eq!(scheduler.next_task(&mut b), None);
        assert!(scheduler.done());
    }

    #[test]
    fn halt_stops_handing_out_tasks() {
        let scheduler = Scheduler::new(10);
        let mut c = Claim::new();
        assert!(scheduler.next_task(&mut c).is_some());
        scheduler.halt();
        assert!(scheduler.done());
        assert_eq!(scheduler.next_task(&mut c), None);
    }
}
