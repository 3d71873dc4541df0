//! Loom models of the Block-STM scheduler alone.
//!
//! Workers run the scheduler's real state machine; what a task *does* is
//! scripted per transaction (whether incarnation 0 hits a dependency, which
//! incarnation fails validation, whether a re-execution writes a new
//! location). A log kept outside loom (plain `std`, so it adds no branch
//! points) checks every task against the rules of Block-STM:
//!
//! - an execution task is never handed out while the same transaction is
//!   being executed, and incarnations are handed out once each, in order;
//! - a validation task only names an incarnation that finished executing;
//! - when `next_task` first says the block is done, every transaction's last
//!   incarnation has finished executing (none is left suspended), and every
//!   transaction that an event obliged to be validated again (its own
//!   execution; an abort below it; a re-execution below it that wrote a new
//!   location) has a successful validation of its final incarnation handed
//!   out after that event;
//! - a hang (the done check never firing) makes loom fail the model with
//!   "exceeded maximum number of branches".

#![cfg(loom)]

use std::sync::Mutex as StdMutex;

use parex_loom_tests::check;
use parex_scheduler::{Claim, Incarnation, Scheduler, Task, TxnIndex, TxnStatus, Version};
use parex_sync::atomic::{AtomicU64, Ordering::SeqCst};
use parex_sync::{thread, Arc};

/// What the tasks of one transaction do.
#[derive(Debug, Clone, Copy, Default)]
struct Script {
    /// Incarnation 0 reads an ESTIMATE of this lower transaction and asks to
    /// be suspended on it.
    depends_on: Option<TxnIndex>,
    /// Validating this incarnation fails (its read set is stale).
    fails_validation: Option<Incarnation>,
    /// Re-executions (incarnation 1 on) write a location the previous
    /// incarnation did not, which starts a validation wave. Incarnation 0
    /// always does (it is the first to write anything).
    rewrites_new_location: bool,
}

const PLAIN: Script = Script {
    depends_on: None,
    fails_validation: None,
    rewrites_new_location: false,
};

/// After `at`, transactions `from..to` must be validated again.
#[derive(Debug)]
struct Obligation {
    at: u64,
    from: TxnIndex,
    to: TxnIndex,
}

/// The test's record of what the workers did, in the order they did it.
#[derive(Debug)]
struct Log {
    executing: Vec<bool>,
    /// Execution tasks handed out, per transaction.
    incarnations: Vec<Incarnation>,
    /// The last incarnation that finished executing (not suspended).
    finished: Vec<Option<Incarnation>>,
    obligations: Vec<Obligation>,
    /// Successful validations: when the task was handed out, and what.
    validated: Vec<(u64, Version)>,
}

impl Log {
    fn new(block_size: usize) -> Self {
        Self {
            executing: vec![false; block_size],
            incarnations: vec![0; block_size],
            finished: vec![None; block_size],
            obligations: Vec::new(),
            validated: Vec::new(),
        }
    }

    fn begin_execution(&mut self, version: Version) {
        let txn = version.txn_idx;
        assert!(
            !self.executing[txn],
            "transaction {txn} handed out for execution twice at once"
        );
        assert_eq!(
            version.incarnation, self.incarnations[txn],
            "transaction {txn}: incarnation handed out twice or out of order"
        );
        self.incarnations[txn] += 1;
        self.executing[txn] = true;
    }

    /// The worker stops executing (to finish, or to be suspended).
    fn stop_execution(&mut self, txn: TxnIndex) {
        self.executing[txn] = false;
    }

    /// `add_dependency` said the blocking transaction already finished: the
    /// worker goes on executing the same incarnation.
    fn resume_execution(&mut self, txn: TxnIndex) {
        assert!(
            !self.executing[txn],
            "transaction {txn} handed out while its worker was only told to read again"
        );
        self.executing[txn] = true;
    }

    fn finish_execution(&mut self, version: Version, wrote_new_location: bool, at: u64) {
        let txn = version.txn_idx;
        self.stop_execution(txn);
        self.finished[txn] = Some(version.incarnation);
        // The incarnation itself must be validated; after a new location,
        // every transaction above it too (they may have read below it).
        let to = if wrote_new_location {
            self.executing.len()
        } else {
            txn + 1
        };
        self.obligations.push(Obligation { at, from: txn, to });
    }

    fn abort(&mut self, txn: TxnIndex, at: u64) {
        // Everything above may have read the aborted incarnation's writes.
        let to = self.executing.len();
        self.obligations.push(Obligation {
            at,
            from: txn + 1,
            to,
        });
    }

    fn begin_validation(&self, version: Version) {
        let txn = version.txn_idx;
        assert!(
            self.finished[txn].is_some_and(|done| done >= version.incarnation),
            "validation of {version:?} handed out before it finished executing"
        );
    }

    fn validated(&mut self, at: u64, version: Version) {
        self.validated.push((at, version));
    }

    /// What must hold once the scheduler says the block is done.
    fn check_complete(&self) {
        for txn in 0..self.executing.len() {
            assert!(
                !self.executing[txn],
                "done while transaction {txn} executes"
            );
            let last = self.incarnations[txn].checked_sub(1);
            assert!(last.is_some(), "done before transaction {txn} was executed");
            assert_eq!(
                self.finished[txn], last,
                "done while transaction {txn}'s last incarnation is suspended or unfinished"
            );
        }
        for obligation in &self.obligations {
            for txn in obligation.from..obligation.to {
                let last = self.finished[txn];
                let validated = self.validated.iter().any(|&(at, version)| {
                    at > obligation.at
                        && Some(version.incarnation) == last
                        && version.txn_idx == txn
                });
                assert!(
                    validated,
                    "done, but transaction {txn} (incarnation {last:?}) was not validated \
                     after {obligation:?}; log: {self:?}"
                );
            }
        }
    }
}

/// The log, and the clock that orders its events.
///
/// The log is a `std` mutex, invisible to loom, so that keeping it adds no
/// interleavings. The clock is a loom atomic: loom models `SeqCst` as
/// acquire-release, so without it a worker could read a scheduler index
/// older than an event the log already shows before its own (a false alarm
/// of the log's, not a behaviour of the scheduler, which real `SeqCst`
/// forbids). Taking a time stamp from one read-modify-write chain orders
/// every stamped event for loom as it is ordered in the log.
struct Record {
    log: StdMutex<Log>,
    clock: AtomicU64,
}

impl Record {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, SeqCst) + 1
    }
}

/// Locks the log; a poisoned log is a failed assertion already reported.
fn log(record: &Record) -> std::sync::MutexGuard<'_, Log> {
    record
        .log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One worker: the same loop as the engine's, with scripted tasks.
fn worker(scheduler: &Scheduler, scripts: &[Script], record: &Record) {
    let mut claim = Claim::new();
    let claim = &mut claim;
    let mut task = scheduler.next_task(claim);
    loop {
        let Some(current) = task else {
            // The first `None` is the done check firing: it must be right.
            log(record).check_complete();
            return;
        };
        task = run_task(scheduler, scripts, record, current, claim);
        if task.is_none() {
            task = scheduler.next_task(claim);
        }
    }
}

/// A worker that leaves after `attempts` attempts to get a task (it still
/// finishes every task it took, with its follow-ups). With three threads, two spinning workers
/// and a third holding the only task form a schedule loom follows forever
/// (tokio-rs/loom#53), so a three-thread model has one `worker` and two
/// helpers: while it lasts a helper races on every scheduler operation like
/// a worker, and the `worker` guarantees that the block completes.
fn helper(scheduler: &Scheduler, scripts: &[Script], record: &Record, attempts: usize) {
    let mut claim = Claim::new();
    let claim = &mut claim;
    for _ in 0..attempts {
        let mut task = scheduler.try_next_task(claim);
        if task.is_none() && scheduler.done() {
            log(record).check_complete();
            return;
        }
        while let Some(current) = task {
            task = run_task(scheduler, scripts, record, current, claim);
        }
        thread::yield_now();
    }
    // Leaving: finish the run still claimed, and report it.
    while let Some(mut task) = scheduler.next_claimed_task(claim) {
        while let Some(current) = run_task(scheduler, scripts, record, task, claim) {
            task = current;
        }
    }
}

fn run_task(
    scheduler: &Scheduler,
    scripts: &[Script],
    record: &Record,
    task: Task,
    claim: &mut Claim,
) -> Option<Task> {
    match task {
        Task::Execute(version) => execute(scheduler, scripts, record, version, claim),
        Task::Validate(version) => validate(scheduler, scripts, record, version, claim),
    }
}

fn execute(
    scheduler: &Scheduler,
    scripts: &[Script],
    record: &Record,
    version: Version,
    claim: &mut Claim,
) -> Option<Task> {
    let Version {
        txn_idx,
        incarnation,
    } = version;
    let script = scripts[txn_idx];
    log(record).begin_execution(version);
    if let (0, Some(blocking)) = (incarnation, script.depends_on) {
        // Stop first: once the dependency is registered, the blocking
        // transaction may finish and resume this one on another worker.
        log(record).stop_execution(txn_idx);
        if scheduler.add_dependency(txn_idx, blocking, claim) {
            return None;
        }
        log(record).resume_execution(txn_idx);
    }
    let wrote_new_location = incarnation == 0 || script.rewrites_new_location;
    let at = record.tick();
    log(record).finish_execution(version, wrote_new_location, at);
    scheduler.finish_execution(version, wrote_new_location, claim)
}

fn validate(
    scheduler: &Scheduler,
    scripts: &[Script],
    record: &Record,
    version: Version,
    claim: &mut Claim,
) -> Option<Task> {
    let handed_out = record.tick();
    log(record).begin_validation(version);
    let valid = scripts[version.txn_idx].fails_validation != Some(version.incarnation);
    let aborted = !valid && scheduler.try_validation_abort(version);
    if valid {
        log(record).validated(handed_out, version);
    } else if aborted {
        let at = record.tick();
        log(record).abort(version.txn_idx, at);
    }
    scheduler.finish_validation(version.txn_idx, aborted, claim)
}

/// How many times a helper asks for a task before it leaves (a task it gets
/// it finishes, with every follow-up task). One keeps the three-thread
/// models at about 15 s; two took minutes.
const HELPER_ATTEMPTS: usize = 1;

/// Runs `workers` threads over one transaction per script (the model's main
/// thread is a `worker`; with two threads the other one is a `worker` too,
/// with three the other two are helpers), and checks the scheduler's final
/// state.
fn run(workers: usize, scripts: &'static [Script], preemption_bound: Option<usize>) {
    run_claiming(1, workers, scripts, preemption_bound);
}

/// [`run`] with workers that claim `claim_size` indices at a time.
fn run_claiming(
    claim_size: usize,
    workers: usize,
    scripts: &'static [Script],
    preemption_bound: Option<usize>,
) {
    check(preemption_bound, move || {
        let mut scheduler = Scheduler::new(scripts.len());
        scheduler.set_claim_size(claim_size);
        let scheduler = Arc::new(scheduler);
        let record = Arc::new(Record {
            log: StdMutex::new(Log::new(scripts.len())),
            clock: AtomicU64::new(0),
        });
        let helpers: Vec<_> = (1..workers)
            .map(|_| {
                let scheduler = Arc::clone(&scheduler);
                let record = Arc::clone(&record);
                thread::spawn(move || {
                    if workers == 2 {
                        worker(&scheduler, scripts, &record);
                    } else {
                        helper(&scheduler, scripts, &record, HELPER_ATTEMPTS);
                    }
                })
            })
            .collect();
        worker(&scheduler, scripts, &record);
        for helper in helpers {
            helper.join().expect("worker panicked");
        }
        assert!(scheduler.done());
        let record = log(&record);
        for (txn, &incarnations) in record.incarnations.iter().enumerate() {
            assert_eq!(
                scheduler.status(txn),
                (incarnations - 1, TxnStatus::Executed),
                "transaction {txn} is not executed at its final incarnation"
            );
        }
    });
}

// ---- The models -------------------------------------------------------------

/// Two workers, two independent transactions. Preemption bound 4.
///
/// Checks: each transaction is executed once and validated after it, no task
/// is handed out twice, and `next_task` returns `None` exactly when all of
/// that is done. Catches: a done check that ignores `num_active_tasks` (a
/// worker still executing the last transaction), or a worker that claims an
/// index before counting itself active (done fires between the two).
#[test]
fn two_workers_two_independent_txns() {
    static SCRIPTS: [Script; 2] = [PLAIN; 2];
    run(2, &SCRIPTS, Some(4));
}

/// Three workers, three transactions; the second one's first incarnation
/// fails validation, so it is aborted, re-executed and everything above it
/// validated again. Preemption bound 2 (raise with LOOM_MAX_PREEMPTIONS;
/// bound 2 with two helper attempts took about three minutes).
///
/// Checks: the same rules as above with three workers competing for both
/// indices, including two validations of one transaction at once (allowed)
/// and one abort per incarnation. Catches: a second abort of the same
/// incarnation (a lost `try_validation_abort` check: incarnations are then
/// handed out twice), a missing revalidation of transaction 2 after the
/// abort of 1.
#[test]
fn three_workers_three_txns_with_an_abort() {
    static SCRIPTS: [Script; 3] = [
        PLAIN,
        Script {
            fails_validation: Some(0),
            ..PLAIN
        },
        PLAIN,
    ];
    run(3, &SCRIPTS, Some(2));
}

/// Two workers, four transactions mixing every kind of event: transaction 2
/// is suspended on 1, transaction 1's first incarnation fails validation and
/// its re-execution writes a new location (a wave), transaction 3's first
/// incarnation fails validation too. Preemption bound 3.
///
/// Checks: every transaction ends executed at its final incarnation and
/// validated after the last event that concerned it; no hang. Catches: an
/// execution index that is not lowered when a dependency resumes (transaction
/// 2 never re-executed: done fires with it suspended), a wave that is not
/// started (transactions 2 and 3 not validated after 1's re-execution).
#[test]
fn two_workers_four_txns_mixed() {
    run(2, &MIXED, Some(3));
}

/// [`two_workers_four_txns_mixed`] with workers that claim two indices at
/// a time (the engine's runs). Preemption bound 3.
///
/// Checks the same. Catches: a run's tasks reported finished before they
/// ran, or a run left unreported (done fires early, or never: a hang), and
/// a validation run that goes on above an abort as if the wave had not
/// lowered the index.
#[test]
fn two_workers_four_txns_mixed_in_runs_of_two() {
    run_claiming(2, 2, &MIXED, Some(3));
}

/// The transactions of the mixed models: a plain one, one that fails its
/// first validation and then writes somewhere new, one that depends on it,
/// and one that fails its first validation.
static MIXED: [Script; 4] = [
    PLAIN,
    Script {
        fails_validation: Some(0),
        rewrites_new_location: true,
        ..PLAIN
    },
    Script {
        depends_on: Some(1),
        ..PLAIN
    },
    Script {
        fails_validation: Some(0),
        ..PLAIN
    },
];

/// Transaction 1 reads an ESTIMATE of transaction 0 and asks to be suspended
/// while transaction 0 finishes executing on the other worker. Preemption
/// bound 4.
///
/// Checks: no lost wake-up: either `add_dependency` sees 0 executed (and the
/// worker reads again) or `finish_execution` of 0 sees the dependent and
/// resumes it; transaction 1 is then executed again. Catches: reading the
/// blocking status outside the dependents lock, or taking the dependents
/// before marking the transaction executed (transaction 1 stays suspended:
/// done fires without it, or the workers spin forever).
#[test]
fn dependency_suspension_races_with_blocking_finish() {
    static SCRIPTS: [Script; 2] = [
        PLAIN,
        Script {
            depends_on: Some(0),
            ..PLAIN
        },
    ];
    run(2, &SCRIPTS, Some(4));
}

/// Two transactions suspended on the same one, three workers. Preemption
/// bound 2.
///
/// Checks: every dependent is resumed, once, and the execution index is
/// lowered to the lowest of them. Catches: resuming only one dependent, or
/// lowering the execution index to the last one instead of the lowest.
#[test]
fn two_dependents_on_one_blocking_txn() {
    static SCRIPTS: [Script; 3] = [
        PLAIN,
        Script {
            depends_on: Some(0),
            ..PLAIN
        },
        Script {
            depends_on: Some(0),
            ..PLAIN
        },
    ];
    run(3, &SCRIPTS, Some(2));
}

/// A validation abort racing with the re-execution it causes and with the
/// validation wave that re-execution starts: transaction 0's first
/// incarnation fails validation and its second writes a new location;
/// transaction 1's first incarnation fails validation too. Two workers,
/// preemption bound 3.
///
/// Checks: the abort lowers the validation index so that transactions above
/// are validated after it, the re-execution (by the aborting worker or by
/// another one) happens once, and its wave revalidates everything above.
/// Catches: a missing `decrease_validation_idx` after an abort, or a done
/// check that does not compare `decrease_cnt` (it misses an index lowered
/// and a task finished between its reads).
#[test]
fn validation_abort_races_with_reexecution_and_wave() {
    static SCRIPTS: [Script; 3] = [
        Script {
            fails_validation: Some(0),
            rewrites_new_location: true,
            ..PLAIN
        },
        Script {
            fails_validation: Some(0),
            ..PLAIN
        },
        PLAIN,
    ];
    run(2, &SCRIPTS, Some(3));
}
