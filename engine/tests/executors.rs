//! Deterministic cases every executor must get right.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parex_engine::{
    BlockError, ExecutionStats, Executor, FallbackReason, ParallelExecutor, SequentialExecutor,
    StartPolicy, TxnOutcome, TxnView, Vm, VmBlockOutput, VmError, AT_ONCE_MAX_TXNS,
};
use parex_testkit::{effect, quiet_program_panics, Op, Program, ProgramVm};

fn both(txns: &[Program], storage: &HashMap<u64, u64>) -> parex_testkit::Effect {
    let sequential = effect(&SequentialExecutor::new(), txns, storage);
    for threads in 1..=4 {
        let parallel = ParallelExecutor::new(threads)
            .unwrap()
            .with_min_txns_per_worker(0);
        for _ in 0..3 {
            assert_eq!(
                effect(&parallel, txns, storage),
                sequential,
                "{threads} threads"
            );
        }
    }
    sequential
}

#[test]
fn twenty_non_conflicting_transactions() {
    let txns: Vec<_> = (0..20)
        .map(|i| Program(vec![Op::Read(i), Op::Write(100 + i, i)]))
        .collect();
    let storage: HashMap<u64, u64> = (0..20).map(|i| (i, i * 10)).collect();
    let (outcomes, values) = both(&txns, &storage).unwrap();
    assert_eq!(outcomes.len(), 20);
    assert_eq!(values.len(), 20);
    let executor = ParallelExecutor::new(2)
        .unwrap()
        .with_min_txns_per_worker(0);
    let stats = executor.execute(&ProgramVm, &txns, &storage).unwrap().stats;
    assert_eq!(stats.validation_failures, 0, "{stats:?}");
    assert_eq!(stats.reexecutions(), 0, "{stats:?}");
}

#[test]
fn ten_transactions_with_five_conflicts() {
    // Odd transactions read what the transaction before them wrote.
    let txns: Vec<_> = (0..10u64)
        .map(|i| {
            if i % 2 == 1 {
                Program(vec![Op::Read(i - 1 + 1000), Op::Write(i + 1000, 1)])
            } else {
                Program(vec![Op::Write(i + 1000, i)])
            }
        })
        .collect();
    let (outcomes, _) = both(&txns, &HashMap::new()).unwrap();
    for i in (1..10).step_by(2) {
        assert_eq!(outcomes[i], TxnOutcome::Applied(vec![Some(i as u64 - 1)]));
    }
}

#[test]
fn final_values_merge_every_write_in_block_order() {
    // Two credits to one account are both applied (deltas), the last write
    // of a location wins, and a location written and then credited keeps
    // both.
    let txns = vec![
        Program(vec![Op::Delta(1, 5)]),
        Program(vec![Op::Delta(1, 7)]),
        Program(vec![Op::Write(2, 1)]),
        Program(vec![Op::Write(2, 2)]),
        Program(vec![Op::Write(3, 10), Op::Delta(3, 1)]),
        Program(vec![Op::Delta(3, 4)]),
    ];
    let storage = HashMap::from([(1, 100)]);
    let (_, values) = both(&txns, &storage).unwrap();
    assert_eq!(values, vec![(1, 112), (2, 2), (3, 15)]);
}

#[test]
fn a_delta_overflow_reverts_only_its_transaction() {
    let txns = vec![
        Program(vec![Op::Delta(1, 1), Op::Write(9, 1)]),
        Program(vec![Op::Delta(1, 10), Op::Write(8, 1)]),
        Program(vec![Op::Read(1), Op::Read(8)]),
    ];
    let storage = HashMap::from([(1, u64::MAX - 5)]);
    let (outcomes, values) = both(&txns, &storage).unwrap();
    assert_eq!(outcomes[1], TxnOutcome::DeltaOverflow);
    assert_eq!(
        outcomes[2],
        TxnOutcome::Applied(vec![Some(u64::MAX - 4), None])
    );
    assert_eq!(values, vec![(1, u64::MAX - 4), (9, 1)]);
}

#[test]
fn statistics_tell_a_block_block_stm_finished_sequentially_from_one_it_never_ran() {
    // The first transaction's delta overflows: Block-STM, run from the
    // first transaction, hands the whole block to the sequential executor.
    let txns: Vec<_> = (0..200)
        .map(|t| Program(vec![Op::Delta(1, 10), Op::Write(100 + t, 1)]))
        .collect();
    let storage = HashMap::from([(1, u64::MAX - 5)]);
    let expected = SequentialExecutor::new()
        .execute(&ProgramVm, &txns, &storage)
        .unwrap();
    assert_eq!(expected.outcomes[0], TxnOutcome::DeltaOverflow);
    let block_stm = ParallelExecutor::new(2)
        .unwrap()
        .with_min_txns_per_worker(0)
        .execute(&ProgramVm, &txns, &storage)
        .unwrap();
    assert_eq!(block_stm.effect(), expected.effect());
    let stats = block_stm.stats;
    assert_eq!(stats.parallel_from, Some(0), "{stats:?}");
    assert_eq!(stats.sequential_fallback_from, Some(0), "{stats:?}");
    assert_eq!(stats.fallback_reason, Some(FallbackReason::DeltaOverflow));
    // The same block never given to Block-STM says so.
    let sequential = ParallelExecutor::new(2)
        .unwrap()
        .with_start(StartPolicy::ParallelAfter(usize::MAX))
        .execute(&ProgramVm, &txns, &storage)
        .unwrap();
    assert_eq!(sequential.effect(), expected.effect());
    let stats = sequential.stats;
    assert_eq!(stats.parallel_from, None, "{stats:?}");
    assert_eq!(stats.sequential_fallback_from, None, "{stats:?}");
    assert_eq!(stats.fallback_reason, None, "{stats:?}");
    assert_eq!(expected.stats.parallel_from, None);
}

#[test]
fn statistics_report_the_memory_block_stm_keeps() {
    let block = |txns: u64| -> Vec<Program> {
        (0..txns)
            .map(|t| Program(vec![Op::Read(t), Op::Write(1_000_000 + t, 1)]))
            .collect()
    };
    let storage = HashMap::new();
    let executor = ParallelExecutor::new(2)
        .unwrap()
        .with_min_txns_per_worker(0);
    let bytes = |txns| {
        executor
            .execute(&ProgramVm, &block(txns), &storage)
            .unwrap()
            .stats
            .memory_bytes
    };
    let small = bytes(100);
    let large = bytes(10_000);
    // Tens of bytes at least per location and per transaction.
    assert!(small >= 100 * 50, "{small}");
    assert!(
        large >= 10_000 * 100 && large > 10 * small,
        "{small} {large}"
    );
    // The tables are kept for the next block, whatever its size (only the
    // chunks of final values shrink with it).
    let again = bytes(100);
    assert!(
        again > 10 * small && again <= large,
        "{small} {large} {again}"
    );
    // A block that never ran on Block-STM holds none.
    let sequential = ParallelExecutor::new(2)
        .unwrap()
        .execute(&ProgramVm, &block(100), &storage)
        .unwrap()
        .stats;
    assert_eq!(sequential.parallel_from, None, "{sequential:?}");
    assert_eq!(sequential.memory_bytes, 0);
}

#[test]
fn a_panic_sequential_execution_hits_names_the_transaction() {
    quiet_program_panics();
    let txns = vec![
        Program(vec![Op::Write(1, 0)]),
        Program(vec![Op::Read(5)]),
        Program(vec![Op::PanicIf { key: 1, modulus: 1 }]),
        Program(vec![Op::Write(2, 0)]),
    ];
    let error = both(&txns, &HashMap::new()).unwrap_err();
    assert!(
        matches!(error, BlockError::TxnPanicked { txn_idx: 2, .. }),
        "{error:?}"
    );
}

#[test]
fn a_speculative_panic_does_not_fail_the_block() {
    quiet_program_panics();
    // Transaction 1 panics if it reads 0 at key 1, which it can only do
    // speculatively, before transaction 0 wrote 5 there.
    let mut txns = vec![Program(vec![Op::Read(50), Op::Write(1, 5)])];
    txns.extend((0..30).map(|_| {
        Program(vec![Op::PanicIf {
            key: 1,
            modulus: 1_000_000,
        }])
    }));
    let storage = HashMap::from([(1, 0)]);
    both(&txns, &storage).unwrap();
}

#[test]
fn empty_and_single_transaction_blocks() {
    assert_eq!(both(&[], &HashMap::new()).unwrap(), (vec![], vec![]));
    let one = vec![Program(vec![Op::Read(1), Op::Write(1, 1)])];
    let (outcomes, values) = both(&one, &HashMap::from([(1, 1)])).unwrap();
    assert_eq!(outcomes, vec![TxnOutcome::Applied(vec![Some(1)])]);
    assert_eq!(values.len(), 1);
}

#[test]
fn a_hundred_thousand_transactions() {
    let txns: Vec<_> = (0..100_000u64)
        .map(|i| {
            Program(vec![
                Op::Read(i % 5_000),
                Op::Write(i % 7_919, i),
                Op::Delta(0, 1),
            ])
        })
        .collect();
    let sequential = effect(&SequentialExecutor::new(), &txns, &HashMap::new());
    let parallel = ParallelExecutor::new(4)
        .unwrap()
        .with_min_txns_per_worker(0);
    assert_eq!(effect(&parallel, &txns, &HashMap::new()), sequential);
}

#[test]
fn the_executor_survives_a_failed_block() {
    quiet_program_panics();
    let executor = ParallelExecutor::new(2)
        .unwrap()
        .with_min_txns_per_worker(0);
    let bad = vec![Program(vec![Op::PanicIf { key: 1, modulus: 1 }]); 8];
    assert!(executor
        .execute(&ProgramVm, &bad, &HashMap::<u64, u64>::new())
        .is_err());
    let good = vec![Program(vec![Op::Write(1, 1)]); 8];
    assert!(executor
        .execute(&ProgramVm, &good, &HashMap::<u64, u64>::new())
        .is_ok());
}

#[test]
fn zero_threads_is_refused() {
    assert!(ParallelExecutor::new(0).is_err());
}

#[test]
fn threads_past_the_maximum_are_refused() {
    assert!(ParallelExecutor::new(parex_engine::MAX_THREADS + 1).is_err());
    assert!(ParallelExecutor::new(usize::MAX).is_err());
}

#[allow(dead_code)]
fn assert_vm_is_sync<T: Vm>() {}

/// Transaction [`SLOW`] holds its worker until the others have started
/// `hold_until` executions, so they all read [`SHARED`] before it is
/// written: a burst of conflicts on any machine, however its threads are
/// scheduled. The transactions below it are independent, so the worker
/// that starts the block wakes the others before it reaches it.
struct SlowFirstVm {
    started: AtomicUsize,
    hold_until: usize,
}

const SLOW: u64 = 2;
const SHARED: u64 = u64::MAX;

impl Vm for SlowFirstVm {
    type Txn = u64;
    type Key = u64;
    type Value = u64;
    type Output = Option<u64>;

    fn execute<V: TxnView<u64, u64>>(
        &self,
        txn: &u64,
        view: &mut V,
    ) -> Result<Option<u64>, VmError> {
        if *txn < SLOW {
            view.write(*txn, 1);
            return Ok(None);
        }
        if *txn == SLOW {
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.started.load(Ordering::SeqCst) < self.hold_until && Instant::now() < deadline
            {
                std::thread::yield_now();
            }
            view.write(SHARED, 1);
            return Ok(None);
        }
        self.started.fetch_add(1, Ordering::SeqCst);
        let seen = view.read(&SHARED)?;
        view.write(*txn, seen.unwrap_or(0) + txn);
        Ok(seen)
    }
}

#[test]
fn a_conflict_burst_halts_the_block_and_it_finishes_sequentially() {
    let txns: Vec<u64> = (0..2_000).collect();
    let storage = HashMap::<u64, u64>::new();
    let vm = SlowFirstVm {
        started: AtomicUsize::new(0),
        hold_until: 0,
    };
    let sequential = SequentialExecutor::new()
        .execute(&vm, &txns, &storage)
        .unwrap();
    let vm = SlowFirstVm {
        started: AtomicUsize::new(0),
        hold_until: 40,
    };
    let output = ParallelExecutor::new(2)
        .unwrap()
        .with_start(StartPolicy::ProbeSmall)
        .execute(&vm, &txns, &storage)
        .unwrap();
    assert_eq!(output.effect(), sequential.effect());
    let from = output.stats.sequential_fallback_from;
    assert!(matches!(from, Some(k) if k < 2_000), "{:?}", output.stats);
    assert_eq!(
        output.stats.fallback_reason,
        Some(FallbackReason::Contention)
    );
    // Without the fallback, the same burst is re-executed in parallel.
    let vm = SlowFirstVm {
        started: AtomicUsize::new(0),
        hold_until: 40,
    };
    let output = ParallelExecutor::new(2)
        .unwrap()
        .with_start(StartPolicy::ProbeSmall)
        .with_contention_fallback(false)
        .execute(&vm, &txns, &storage)
        .unwrap();
    assert_eq!(output.effect(), sequential.effect());
    assert_eq!(output.stats.sequential_fallback_from, None);
    assert!(output.stats.validation_failures > 0, "{:?}", output.stats);
}

#[test]
fn a_dependent_block_gives_the_sequential_result() {
    // Every transaction reads what the one before it wrote; whether and
    // where contention halts the block depends on the interleaving, the
    // result never does.
    let txns: Vec<_> = (0..10_000u64)
        .map(|i| Program(vec![Op::Read(i), Op::Write(i + 1, 1)]))
        .collect();
    let storage = HashMap::from([(0, 1)]);
    let sequential = effect(&SequentialExecutor::new(), &txns, &storage);
    let executor = ParallelExecutor::new(2)
        .unwrap()
        .with_start(StartPolicy::ProbeSmall);
    for _ in 0..3 {
        let output = executor.execute(&ProgramVm, &txns, &storage).unwrap();
        assert_eq!(Ok((output.outcomes, output.final_values)), sequential);
    }
}

#[test]
fn after_a_serial_block_a_chain_halts_before_any_helper_wakes() {
    // Chains reading full values, then values resolved from deltas. The
    // first block of each halts one way or another; after it, the executor
    // holds the helpers while a block's start looks serial, so the next
    // chains halt before anyone else ran: no transaction runs twice, none
    // fails validation, and the prefix the caller ran is kept.
    let by_value: Vec<_> = (0..2_000u64)
        .map(|i| Program(vec![Op::Read(i), Op::Write(i + 1, 1)]))
        .collect();
    let by_delta: Vec<_> = (0..2_000u64)
        .map(|i| Program(vec![Op::Read(i), Op::Delta(i + 1, 1)]))
        .collect();
    let storage = HashMap::from([(0, 1)]);
    let executor = ParallelExecutor::new(2)
        .unwrap()
        .with_start(StartPolicy::ProbeSmall);
    for txns in [by_value, by_delta] {
        let sequential = effect(&SequentialExecutor::new(), &txns, &storage);
        for run in 0..3 {
            let output = executor.execute(&ProgramVm, &txns, &storage).unwrap();
            let stats = output.stats;
            assert_eq!(Ok((output.outcomes, output.final_values)), sequential);
            assert!(stats.sequential_fallback_from.is_some(), "{stats:?}");
            if run > 0 {
                assert!(
                    matches!(stats.sequential_fallback_from, Some(k) if (16..=64).contains(&k)),
                    "{stats:?}"
                );
                assert_eq!(stats.helpers_joined, 0, "{stats:?}");
                assert_eq!(stats.executions, 2_000, "{stats:?}");
                assert_eq!(stats.validation_failures, 0, "{stats:?}");
            }
        }
    }
    // Held, a block that only starts with a short chain still runs in
    // parallel.
    let txns: Vec<_> = (0..2_000u64)
        .map(|i| match i {
            0..10 => Program(vec![Op::Read(i), Op::Write(i + 1, 1)]),
            _ => Program(vec![Op::Read(i + 10_000), Op::Write(i + 20_000, 1)]),
        })
        .collect();
    let output = executor.execute(&ProgramVm, &txns, &storage).unwrap();
    assert_eq!(
        output.stats.sequential_fallback_from, None,
        "{:?}",
        output.stats
    );
}

#[test]
fn a_block_too_small_for_two_workers_runs_sequentially() {
    let txns = vec![Program(vec![Op::Write(1, 1)]); 20];
    // Probed, a preempted start could look expensive.
    let executor = ParallelExecutor::new(2)
        .unwrap()
        .with_start(StartPolicy::ByCount);
    let stats = executor
        .execute(&ProgramVm, &txns, &HashMap::<u64, u64>::new())
        .unwrap()
        .stats;
    assert_eq!(stats.sequential_fallback_from, None);
    assert_eq!(stats.parallel_from, None);
    assert_eq!(stats.validations, 0);
    let big = vec![Program(vec![Op::Write(1, 1)]); 200];
    let stats = executor
        .execute(&ProgramVm, &big, &HashMap::<u64, u64>::new())
        .unwrap()
        .stats;
    assert_eq!(stats.workers, 2);
}

/// Transaction `(i, spin)` busies its worker for [`SPIN`] if `spin`, then
/// writes `i`'s index (as its view reports it) at key `i` and a running
/// count.
struct SpinVm;

const SPIN: Duration = Duration::from_micros(200);

impl Vm for SpinVm {
    type Txn = (u64, bool);
    type Key = u64;
    type Value = u64;
    type Output = u64;

    fn execute<V: TxnView<u64, u64>>(
        &self,
        &(key, spin): &(u64, bool),
        view: &mut V,
    ) -> Result<u64, VmError> {
        let until = Instant::now() + if spin { SPIN } else { Duration::ZERO };
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        view.write(key, view.txn_idx() as u64);
        let count = view.read(&u64::MAX)?.unwrap_or(0);
        view.write(u64::MAX, count + 1);
        Ok(count)
    }
}

/// A block of 40 [`SpinVm`] transactions: too few for two workers by
/// count (32 each).
/// Runs `txns` (on empty storage) and checks that they gave `expected`
/// and went on with Block-STM, on two workers, from `parallel_from`.
fn runs_on_two_workers_from(
    executor: &ParallelExecutor,
    txns: &[(u64, bool)],
    expected: &VmBlockOutput<SpinVm>,
    parallel_from: usize,
) -> ExecutionStats {
    let output = executor.execute(&SpinVm, txns, &HashMap::new()).unwrap();
    assert_eq!(output.effect(), expected.effect());
    let stats = output.stats;
    assert_eq!(stats.parallel_from, Some(parallel_from), "{stats:?}");
    assert_eq!(stats.workers, 2, "{stats:?}");
    stats
}

fn spin_block(spin: bool) -> Vec<(u64, bool)> {
    spin_txns(40, spin)
}

fn spin_txns(n: u64, spin: bool) -> Vec<(u64, bool)> {
    (0..n).map(|i| (i, spin)).collect()
}

#[test]
fn a_small_block_of_expensive_transactions_goes_on_in_parallel() {
    // After 4 of 200 µs, any machine predicts the rest faster on two.
    let txns = spin_block(true);
    let storage = HashMap::<u64, u64>::new();
    let expected = SequentialExecutor::new()
        .execute(&SpinVm, &txns, &storage)
        .unwrap();
    let executor = ParallelExecutor::new(2).unwrap();
    assert_eq!(executor.workers_for(txns.len()), None);
    // The first block is checked after 4 transactions; once one went on
    // in parallel at this price, the next run on Block-STM at once.
    for parallel_from in [4, 0, 0] {
        let stats = runs_on_two_workers_from(&executor, &txns, &expected, parallel_from);
        assert!(stats.executions >= 40, "{stats:?}");
    }
    // One thread, or the sequential policy, never switches.
    for executor in [
        ParallelExecutor::new(1).unwrap(),
        ParallelExecutor::new(2)
            .unwrap()
            .with_start(StartPolicy::ByCount),
    ] {
        let output = executor.execute(&SpinVm, &txns, &storage).unwrap();
        assert_eq!(output.effect(), expected.effect());
        assert_eq!(output.stats.parallel_from, None, "{:?}", output.stats);
        assert_eq!(output.stats.sequential_fallback_from, None);
    }
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "prices transactions by the time they take, and unoptimized none is cheap"
)]
fn a_cheap_small_block_after_expensive_ones_runs_on_block_stm_once() {
    let storage = HashMap::<u64, u64>::new();
    let (cheap, expensive) = (spin_block(false), spin_block(true));
    let executor = ParallelExecutor::new(2).unwrap();
    let parallel_from = |txns: &[(u64, bool)]| {
        executor
            .execute(&SpinVm, txns, &storage)
            .unwrap()
            .stats
            .parallel_from
    };
    // The last block's price sends the next to Block-STM, cheap as it is;
    // its own low price sends the ones after back to the sequential
    // executor, unchecked as after any block of cheap transactions (a
    // preempted block could look expensive: then again, from expensive
    // blocks until one goes on with Block-STM; after a cheap block the
    // first runs unchecked, the next is checked and switches).
    let mut runs = Vec::new();
    let returned = (0..3).any(|_| {
        let mut expensive_runs = Vec::new();
        let switched = (0..3).any(|_| {
            expensive_runs.push(parallel_from(&expensive));
            expensive_runs.last() != Some(&None)
        });
        assert!(switched, "{expensive_runs:?}");
        let after: Vec<_> = (0..3).map(|_| parallel_from(&cheap)).collect();
        assert_eq!(after[0], Some(0), "{after:?}");
        runs.push(after.clone());
        after[1..] == [None, None]
    });
    assert!(returned, "{runs:?}");
    // A block of fewer transactions than the first check leaves the choice
    // as it was: an expensive block after one still runs at once. (After
    // cheap ones, the first expensive block runs unchecked, the next is
    // checked after 4 and switches. A cheap block preempted for its whole
    // allowance leaves probing on, and the expensive block is checked:
    // then again, from a block that switched.)
    let mut checked = Vec::new();
    let unchecked = (0..5).any(|_| {
        for _ in 0..3 {
            parallel_from(&cheap);
        }
        let first = parallel_from(&expensive);
        checked.push(first);
        first.is_none()
    });
    assert!(unchecked, "{checked:?}");
    assert_eq!(parallel_from(&expensive), Some(4));
    assert_eq!(parallel_from(&spin_txns(2, false)), None);
    assert_eq!(parallel_from(&expensive), Some(0));
    // So does a block that fails, whatever its VM.
    quiet_program_panics();
    let failing = vec![Program(vec![Op::PanicIf { key: 1, modulus: 1 }]); 8];
    assert!(executor
        .execute(&ProgramVm, &failing, &HashMap::new())
        .is_err());
    assert_eq!(parallel_from(&expensive), Some(0));
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "prices transactions by the time they take, and unoptimized none is cheap"
)]
fn after_a_cheap_small_block_the_next_is_not_probed_but_the_one_after_is() {
    let storage = HashMap::<u64, u64>::new();
    let (cheap, expensive) = (spin_block(false), spin_block(true));
    let executor = ParallelExecutor::new(2).unwrap();
    // A cheap block turns probing off (unless it was preempted for its
    // whole 40 µs allowance; then again): the expensive block after it
    // runs sequentially, as all small blocks did before probing.
    let unprobed = (0..5).any(|_| {
        executor.execute(&SpinVm, &cheap, &storage).unwrap();
        let output = executor.execute(&SpinVm, &expensive, &storage).unwrap();
        output.stats.parallel_from.is_none()
    });
    assert!(
        unprobed,
        "every expensive block after a cheap one was probed"
    );
    // That block's cost turned probing on again.
    let output = executor.execute(&SpinVm, &expensive, &storage).unwrap();
    assert_eq!(output.stats.parallel_from, Some(4), "{:?}", output.stats);
}

/// Runs `cheap` 8 times on `executor` (on empty storage) and checks that
/// at least half ran on the sequential executor to their end, with the
/// sequential result each time. A preemption inside a stretch looks like
/// expensive transactions and may switch a block (tests run side by side
/// on a loaded machine); with Block-STM from the first transaction none
/// would stay sequential.
fn assert_mostly_sequential(executor: &ParallelExecutor, cheap: &[(u64, bool)]) {
    let storage = HashMap::<u64, u64>::new();
    let expected = SequentialExecutor::new()
        .execute(&SpinVm, cheap, &storage)
        .unwrap();
    let sequential_runs = (0..8)
        .filter(|_| {
            let output = executor.execute(&SpinVm, cheap, &storage).unwrap();
            assert_eq!(output.effect(), expected.effect());
            let stats = output.stats;
            stats.parallel_from.is_none()
                && stats.sequential_fallback_from.is_none()
                && stats.validations == 0
        })
        .count();
    assert!(
        sequential_runs >= 4,
        "{sequential_runs} of 8 ran sequentially"
    );
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "prices transactions by the time they take, and unoptimized none is cheap"
)]
fn a_large_block_runs_in_parallel_only_if_its_transactions_prove_expensive() {
    let storage = HashMap::<u64, u64>::new();
    let (cheap, expensive) = (spin_txns(2_000, false), spin_txns(100, true));
    let executor = ParallelExecutor::new(2).unwrap();
    assert_eq!(executor.workers_for(cheap.len()), Some(2));
    assert_eq!(executor.workers_for(expensive.len()), Some(2));
    // Cheap transactions stay on the sequential executor, big as the block
    // is.
    assert_mostly_sequential(&executor, &cheap);
    // After cheap ones, a large block is still checked: its transactions
    // are priced from the end of its first to its 4th (at four times the
    // cost that switches, for cold caches), whatever came before.
    let expected = SequentialExecutor::new()
        .execute(&SpinVm, &expensive, &storage)
        .unwrap();
    // Once a block went on with Block-STM at this price, the next of at
    // most 128 transactions runs on it at once; a larger one is checked.
    let larger = spin_txns(AT_ONCE_MAX_TXNS as u64 + 1, true);
    let expected_larger = SequentialExecutor::new()
        .execute(&SpinVm, &larger, &storage)
        .unwrap();
    for (txns, expected, parallel_from) in [
        (&expensive, &expected, 4),
        (&expensive, &expected, 0),
        (&larger, &expected_larger, 4),
    ] {
        runs_on_two_workers_from(&executor, txns, expected, parallel_from);
    }
    // Under `ProbeSmall`, Block-STM from the first transaction (the
    // running count makes the block a chain, which may then halt).
    let executor = ParallelExecutor::new(2)
        .unwrap()
        .with_start(StartPolicy::ProbeSmall);
    let stats = executor.execute(&SpinVm, &cheap, &storage).unwrap().stats;
    assert_eq!(stats.parallel_from, Some(0), "{stats:?}");
    assert!(stats.validations > 0, "{stats:?}");
}

/// Threads past the cores take turns on them, and the start predicts on
/// the cores: 16 threads on 2 keep cheap transactions sequential, and
/// still send expensive ones on to Block-STM, on all 16.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "prices transactions by the time they take, and unoptimized none is cheap"
)]
fn sixteen_threads_on_two_cores_keep_cheap_blocks_sequential() {
    let storage = HashMap::<u64, u64>::new();
    let (cheap, expensive) = (spin_txns(2_000, false), spin_txns(100, true));
    let executor = ParallelExecutor::new(16).unwrap().with_cores(2);
    assert_mostly_sequential(&executor, &cheap);
    let expected = SequentialExecutor::new()
        .execute(&SpinVm, &expensive, &storage)
        .unwrap();
    let output = executor.execute(&SpinVm, &expensive, &storage).unwrap();
    assert_eq!(output.effect(), expected.effect());
    assert!(output.stats.parallel_from.is_some(), "{:?}", output.stats);
    assert_eq!(output.stats.workers, 16, "{:?}", output.stats);
}

#[test]
fn a_large_block_started_sequentially_reports_block_indices_and_errors() {
    // Every large block runs its start in stretches (1, 4, 16, …); each
    // stretch must see and name the block's indices.
    let mut txns: Vec<_> = (0..300u64)
        .map(|i| Program(vec![Op::WriteIndex(i % 7), Op::Delta(1_000, 1)]))
        .collect();
    let storage = HashMap::<u64, u64>::new();
    let executor = ParallelExecutor::new(2).unwrap();
    assert_eq!(executor.workers_for(txns.len()), Some(2));
    let sequential = effect(&SequentialExecutor::new(), &txns, &storage);
    assert_eq!(effect(&executor, &txns, &storage), sequential);
    txns[70] = Program(vec![Op::PanicIf { key: 5, modulus: 1 }]);
    quiet_program_panics();
    match executor.execute(&ProgramVm, &txns, &storage) {
        Err(BlockError::TxnPanicked { txn_idx, .. }) => assert_eq!(txn_idx, 70),
        other => panic!("expected transaction 70 to panic: {other:?}"),
    }
}

#[test]
fn executors_reuse_their_buffers_across_block_sizes_vm_types_and_errors() {
    // Kept buffers are reset for every block: shrinking, growing, a block of
    // another VM type in between (whose buffers cannot be reused), and a
    // block that fails halfway all leave the next block the result of a
    // fresh sequential executor.
    let parallel = ParallelExecutor::new(2)
        .unwrap()
        .with_min_txns_per_worker(0);
    let sequential = SequentialExecutor::new();
    let storage = HashMap::from([(0, 5), (3, 9)]);
    let slow = SlowFirstVm {
        started: AtomicUsize::new(0),
        hold_until: 0,
    };
    for size in [300u64, 40, 1_000, 2, 300] {
        let txns: Vec<_> = (0..size)
            .map(|i| Program(vec![Op::Read(i % 7), Op::Write(i % 11, i), Op::Delta(3, 1)]))
            .collect();
        let expected = effect(&SequentialExecutor::new(), &txns, &storage);
        assert_eq!(effect(&parallel, &txns, &storage), expected, "{size}");
        assert_eq!(effect(&sequential, &txns, &storage), expected, "{size}");
        let other: Vec<u64> = (0..size).collect();
        let expected = slow_effect(&SequentialExecutor::new(), &slow, &other, &storage);
        assert_eq!(slow_effect(&parallel, &slow, &other, &storage), expected);
        assert_eq!(slow_effect(&sequential, &slow, &other, &storage), expected);
        // Fails at the transaction that reads 0 after a write of 40.
        let mut failing = txns.clone();
        failing.push(Program(vec![Op::Write(0, 40)]));
        failing.push(Program(vec![Op::FailIf {
            key: 0,
            modulus: 40,
        }]));
        failing.extend(txns.iter().cloned());
        let expected = effect(&SequentialExecutor::new(), &failing, &storage);
        assert!(expected.is_err());
        assert_eq!(effect(&parallel, &failing, &storage), expected);
        assert_eq!(effect(&sequential, &failing, &storage), expected);
    }
}

/// What a block of [`SlowFirstVm`] transactions does on `executor`.
fn slow_effect<E: Executor>(
    executor: &E,
    vm: &SlowFirstVm,
    txns: &[u64],
    storage: &HashMap<u64, u64>,
) -> SlowEffect {
    let output = executor.execute(vm, txns, storage).unwrap();
    (output.outcomes, output.final_values)
}

/// The outcomes and final values of a block of [`SlowFirstVm`].
type SlowEffect = (Vec<TxnOutcome<Option<u64>>>, Vec<(u64, u64)>);

#[test]
fn a_block_that_outgrows_the_memory_finishes_sequentially_and_the_next_fits() {
    // A few transactions writing far more locations than the memory is
    // first sized for (a few per transaction): the block halts, runs the
    // rest sequentially with the same result, and the executor's next block
    // gets a memory large enough to stay parallel.
    let txns: Vec<_> = (0..4u64)
        .map(|t| Program((0..400).map(|k| Op::Write(t * 1000 + k, k)).collect()))
        .collect();
    let storage = HashMap::new();
    let sequential = effect(&SequentialExecutor::new(), &txns, &storage);
    let executor = ParallelExecutor::new(2)
        .unwrap()
        .with_min_txns_per_worker(0);
    let first = executor.execute(&ProgramVm, &txns, &storage).unwrap();
    assert!(
        first.stats.sequential_fallback_from.is_some(),
        "{:?}",
        first.stats
    );
    assert_eq!(
        first.stats.fallback_reason,
        Some(FallbackReason::MemoryFull)
    );
    assert_eq!(effect(&executor, &txns, &storage), sequential);
    let again = executor.execute(&ProgramVm, &txns, &storage).unwrap();
    assert_eq!(
        again.stats.sequential_fallback_from, None,
        "{:?}",
        again.stats
    );
    assert_eq!(effect(&executor, &txns, &storage), sequential);
}

/// Asserts that Block-STM ran the whole block: from its first
/// transaction, handing none of it to the sequential executor.
fn assert_all_on_block_stm(stats: &ExecutionStats) {
    assert_eq!(
        (stats.parallel_from, stats.sequential_fallback_from),
        (Some(0), None),
        "{stats:?}"
    );
}

/// `txns` transactions that write 7 new locations each.
fn seven_writes_each(txns: u64) -> Vec<Program> {
    (0..txns)
        .map(|t| Program((0..7).map(|k| Op::Write(t * 8 + k, k)).collect()))
        .collect()
}

/// [`ProgramVm`], declaring that its transactions touch up to 8 locations
/// each.
struct WideVm;

impl Vm for WideVm {
    type Txn = Program;
    type Key = u64;
    type Value = u64;
    type Output = <ProgramVm as Vm>::Output;
    const LOCATIONS_PER_TXN: usize = 8;

    fn execute<V: TxnView<u64, u64>>(
        &self,
        txn: &Program,
        view: &mut V,
    ) -> Result<Self::Output, VmError> {
        ProgramVm.execute(txn, view)
    }
}

#[test]
fn a_vm_that_declares_wider_transactions_keeps_its_first_block_parallel() {
    // Seven new locations per transaction: well over the default sizing,
    // so the default memory runs out, while a VM that declares 8 gets a
    // memory that holds the block with room for the slots each worker
    // claims ahead (32 at a time).
    let txns = seven_writes_each(1000);
    let storage = HashMap::new();
    let sequential = effect(&SequentialExecutor::new(), &txns, &storage);
    let fresh = || {
        ParallelExecutor::new(2)
            .unwrap()
            .with_min_txns_per_worker(0)
    };
    let narrow = fresh().execute(&ProgramVm, &txns, &storage).unwrap();
    assert_eq!(
        narrow.stats.fallback_reason,
        Some(FallbackReason::MemoryFull),
        "{:?}",
        narrow.stats
    );
    let executor = fresh();
    let wide = executor.execute(&WideVm, &txns, &storage).unwrap();
    assert_all_on_block_stm(&wide.stats);
    assert_eq!(
        (wide.outcomes, wide.final_values),
        sequential.clone().unwrap()
    );
}

#[test]
fn buffers_kept_from_a_narrow_vm_are_resized_for_a_wider_one() {
    // The executor keeps its buffers from block to block, by key, value and
    // output type, which `ProgramVm` and `WideVm` share. A block of
    // `ProgramVm` that fits its default sizing must not leave the next
    // block, of `WideVm`, with that sizing: it declares 8 locations per
    // transaction and writes 7, more than the default memory holds.
    let narrow: Vec<_> = (0..1000u64)
        .map(|t| Program(vec![Op::Write(t, t)]))
        .collect();
    let wide = seven_writes_each(1000);
    let storage = HashMap::new();
    let executor = ParallelExecutor::new(2)
        .unwrap()
        .with_min_txns_per_worker(0);
    let first = executor.execute(&ProgramVm, &narrow, &storage).unwrap();
    assert_all_on_block_stm(&first.stats);
    let second = executor.execute(&WideVm, &wide, &storage).unwrap();
    assert_all_on_block_stm(&second.stats);
    assert_eq!(
        (second.outcomes, second.final_values),
        effect(&SequentialExecutor::new(), &wide, &storage).unwrap()
    );
}

#[test]
fn a_block_of_transfers_fits_the_memory_it_is_first_given() {
    // Transfer-shaped transactions (read two locations, write them and a
    // third, all new): the first block of a fresh executor must stay
    // parallel, not run out of locations and finish sequentially.
    let txns: Vec<_> = (0..1000u64)
        .map(|t| {
            let (nonce, balance, receiver) = (3 * t, 3 * t + 1, 3 * t + 2);
            Program(vec![
                Op::Read(nonce),
                Op::Read(balance),
                Op::Write(nonce, 1),
                Op::Write(balance, 2),
                Op::Delta(receiver, 3),
            ])
        })
        .collect();
    let executor = ParallelExecutor::new(2)
        .unwrap()
        .with_min_txns_per_worker(0);
    let output = executor
        .execute(&ProgramVm, &txns, &HashMap::new())
        .unwrap();
    assert_eq!(
        output.stats.sequential_fallback_from, None,
        "{:?}",
        output.stats
    );
}

/// A storage that fails to read one key.
struct FailsOn(u64);

impl parex_engine::BaseStorage<u64, u64> for FailsOn {
    fn get(&self, key: &u64) -> Result<Option<u64>, parex_engine::StorageError> {
        if *key == self.0 {
            Err(parex_engine::StorageError(format!("key {key} unreadable")))
        } else {
            Ok(None)
        }
    }
}

#[test]
fn a_block_that_fails_while_materializing_leaves_nothing_to_the_next() {
    // Blind writes, then one delta on a key the storage cannot read: the
    // delta never reads at execution, so the block fails only when its
    // final values are materialized, after the earlier chunks were.
    let mut txns: Vec<_> = (0..2_000u64)
        .map(|i| Program(vec![Op::Write(i, i)]))
        .collect();
    txns.push(Program(vec![Op::Delta(1_000_000, 1)]));
    let executor = ParallelExecutor::new(2)
        .unwrap()
        .with_min_txns_per_worker(0);
    let failed = executor.execute(&ProgramVm, &txns, &FailsOn(1_000_000));
    assert!(
        matches!(failed, Err(BlockError::Storage { .. })),
        "{failed:?}"
    );
    let storage = HashMap::new();
    let next = &txns[..500];
    assert_eq!(
        effect(&executor, next, &storage),
        effect(&SequentialExecutor::new(), next, &storage)
    );
}

/// Set while dropping a [`Bomb`] must panic.
static BOMBS_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A value whose drop panics while [`BOMBS_ARMED`] is set.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bomb(u64);

impl Drop for Bomb {
    fn drop(&mut self) {
        if BOMBS_ARMED.load(Ordering::SeqCst) && !std::thread::panicking() {
            panic!("a bomb went off");
        }
    }
}

impl parex_engine::Value for Bomb {}

/// The transaction whose execution fails in [`BombVm`].
const FAILING_TXN: u64 = 150;

/// Writes its own index and outputs a [`Bomb`]; transaction
/// [`FAILING_TXN`] fails while `fail` is set.
struct BombVm {
    fail: bool,
}

impl Vm for BombVm {
    type Txn = u64;
    type Key = u64;
    type Value = u64;
    type Output = Bomb;

    fn execute<V: TxnView<u64, u64>>(&self, txn: &u64, view: &mut V) -> Result<Bomb, VmError> {
        if self.fail && *txn == FAILING_TXN {
            return Err(VmError::Fatal("the block is invalid".to_owned()));
        }
        view.write(*txn, *txn);
        Ok(Bomb(*txn))
    }
}

#[test]
fn helpers_stop_waiting_when_the_block_set_up_unwinds() {
    // The caller resets the kept buffers while the helpers wait for the
    // block. Here the reset unwinds: a failed block left its later
    // transactions' outputs in their result slots, and dropping them
    // panics. The helpers must give up, the call must return, and the
    // executor must run the next block.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let executor = ParallelExecutor::new(2)
            .unwrap()
            .with_min_txns_per_worker(0);
        let txns: Vec<u64> = (0..200).collect();
        let storage = HashMap::<u64, u64>::new();
        let failed = executor.execute(&BombVm { fail: true }, &txns, &storage);
        let failed = matches!(failed, Err(BlockError::TxnFailed { txn_idx, .. }) if txn_idx == 150);
        BOMBS_ARMED.store(true, Ordering::SeqCst);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            executor
                .execute(&BombVm { fail: false }, &txns, &storage)
                .map(drop)
        }));
        BOMBS_ARMED.store(false, Ordering::SeqCst);
        let next = executor
            .execute(&BombVm { fail: false }, &txns, &storage)
            .map(|output| {
                let workers = output.stats.workers;
                (output.final_values.len(), workers)
            });
        done.send((failed, unwound.is_err(), next)).unwrap();
    });
    let (failed, unwound, next) = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the executor hung after the block's set-up unwound");
    assert!(
        failed,
        "the first block was meant to fail at transaction 150"
    );
    assert!(unwound, "the set-up was meant to unwind");
    assert_eq!(next, Ok((200, 2)));
}
