//! Loom models of the engine's own worker loop: [`ParallelBlock::run_worker`]
//! on two loom threads (the model's main thread and one more) over tiny
//! blocks of the test kit's programmable VM, compared with
//! [`SequentialExecutor`]'s result.
//!
//! Every one checks that, in every explored interleaving, the block's
//! outcomes (every value each transaction read) and final values equal the
//! sequential ones. That catches any lost update of the scheduler or the
//! memory that changes a result: a missing validation wave, a lost abort, a
//! dependency that is never resumed (the block then never finishes: loom
//! fails with "exceeded maximum number of branches").
//!
//! [`SequentialExecutor`]: parex_engine::SequentialExecutor

#![cfg(loom)]

use parex_engine::ParallelBlock;
use parex_loom_tests::blocks::{block, effect_of, sequential_effect, Base, Op, VM};
use parex_loom_tests::check;
use parex_sync::{thread, Arc};
use parex_testkit::Program;

/// Runs `txns` on `base` with two workers under loom and compares every
/// explored result with the sequential one.
fn run(txns: &'static [Program], base: &'static Base, preemption_bound: Option<usize>) {
    let expected = sequential_effect(txns, base);
    check(preemption_bound, move || {
        let block = Arc::new(ParallelBlock::new(&VM, txns, base));
        let helper = {
            let block = Arc::clone(&block);
            thread::spawn(move || block.run_worker())
        };
        block.run_worker();
        helper.join().expect("worker panicked");
        let block =
            Arc::try_unwrap(block).unwrap_or_else(|_| panic!("a worker still holds the block"));
        assert_eq!(effect_of(block.finish()), expected);
    });
}

/// Transaction 1 reads what transaction 0 writes: it either runs after it,
/// or reads too early and must be caught (validation fails, or it meets
/// transaction 0's ESTIMATE and waits). Preemption bound 4.
///
/// Catches: a read set recorded after `finish_execution` (validation checks
/// the previous read set), a `record` that does not report a new location
/// below a recorded read, a read that is not noted on its location.
#[test]
fn read_after_write() {
    let txns = block(&[
        &[Op::Read(0), Op::Write(0, 1)],
        &[Op::Read(0), Op::Write(1, 1)],
    ]);
    static BASE: Base = Base(&[(0, 10)]);
    run(txns, &BASE, Some(4));
}

/// Three transactions in a chain of reads and writes of one key, so an
/// early execution of transaction 2 can be invalidated twice. Preemption
/// bound 3.
///
/// Catches: a validation wave that does not reach transaction 2 after
/// transaction 1 is re-executed, an abort whose ESTIMATE is never replaced.
#[test]
fn chain_of_three() {
    let txns = block(&[
        &[Op::Read(0), Op::Write(0, 1)],
        &[Op::Read(0), Op::Write(0, 1)],
        &[Op::Read(0), Op::Write(1, 1)],
    ]);
    static BASE: Base = Base(&[(0, 10)]);
    run(txns, &BASE, Some(3));
}

/// Blind deltas from transactions 0 and 2 around a reader: transaction 1
/// must see the base value plus transaction 0's delta only, and the final
/// value must hold both. Preemption bound 3.
///
/// Catches: a read that resolves deltas of transactions above the reader,
/// or a delta-only location whose base value is not read.
#[test]
fn deltas_around_a_reader() {
    let txns = block(&[
        &[Op::Delta(0, 1)],
        &[Op::Read(0), Op::Write(1, 0)],
        &[Op::Delta(0, 2), Op::Read(1)],
    ]);
    static BASE: Base = Base(&[(0, 10)]);
    run(txns, &BASE, Some(3));
}
