//! Loom models of the multi-version memory: concurrent records, reads,
//! ESTIMATE conversions, validations and deltas on one location.
//!
//! A writer's progress is kept in a `std` atomic, invisible to loom: the
//! memory's state is only reached under its locks, which loom orders, so a
//! reader that sees a progress mark is ordered after that step for loom too.

#![cfg(loom)]

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::SeqCst};

use parex_loom_tests::check;
use parex_mvmemory::{MvMemory, MvRead, ReadDescriptor, ReadOrigin, WriteOp};
use parex_sync::{thread, Arc};

const KEY: u64 = 1;
const OTHER_KEY: u64 = 2;
const BASE: u64 = 5;

/// What transaction 0's writer has completed.
const NOTHING: usize = 0;
const RECORDED_0: usize = 1;
const ESTIMATED: usize = 2;
/// Marked just before the second record starts: until then, transaction
/// 0's first write (or its ESTIMATE) is certainly in place.
const RECORDING_1: usize = 3;
const RECORDED_1: usize = 4;

struct Shared {
    memory: MvMemory<u64, u64>,
    progress: StdAtomicUsize,
}

fn base(key: &u64) -> Result<Option<u64>, ()> {
    Ok((*key == KEY).then_some(BASE))
}

/// Transaction 0 writes `KEY` (incarnation 0, value 100), is aborted (its
/// write becomes an ESTIMATE) and re-executed (incarnation 1): writing 101
/// to `KEY` again, or, with `rewrite_key == false`, writing elsewhere, so
/// that its entry at `KEY` is removed. Transaction 1 reads `KEY`, records
/// the read and validates it, concurrently.
///
/// Checks: a read returns a value with the origin that wrote it (never 100
/// as incarnation 1, never a value and the wrong incarnation: no torn
/// read); a validation that starts after the ESTIMATE (or the removal) is in
/// place fails for a read of incarnation 0 (never stale-but-valid); a read of
/// the final version always validates; once both threads are done, the read
/// validates exactly when it saw the final state.
fn record_read_estimate_validate(rewrite_key: bool) {
    check(None, move || {
        let shared = Arc::new(Shared {
            memory: MvMemory::new(2),
            progress: StdAtomicUsize::new(NOTHING),
        });
        let writer = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let memory = &shared.memory;
                memory
                    .record(
                        0,
                        0,
                        &mut Vec::new(),
                        [(KEY, WriteOp::Value(100))],
                        &mut memory.reservation(),
                    )
                    .unwrap();
                shared.progress.store(RECORDED_0, SeqCst);
                memory.convert_writes_to_estimates(0);
                shared.progress.store(ESTIMATED, SeqCst);
                let key = if rewrite_key { KEY } else { OTHER_KEY };
                shared.progress.store(RECORDING_1, SeqCst);
                memory
                    .record(
                        0,
                        1,
                        &mut Vec::new(),
                        [(key, WriteOp::Value(101))],
                        &mut memory.reservation(),
                    )
                    .unwrap();
                shared.progress.store(RECORDED_1, SeqCst);
            })
        };

        let memory = &shared.memory;
        let before_read = shared.progress.load(SeqCst);
        let read = memory.read(&KEY, 1, None);
        let origin = match read {
            MvRead::Storage => {
                assert!(
                    before_read < RECORDED_0 || (!rewrite_key && before_read >= RECORDED_1),
                    "read the storage with transaction 0's write in place"
                );
                Some(ReadOrigin::Storage)
            }
            MvRead::Value(value, ReadOrigin::Version(0, incarnation)) => {
                let expected = 100 + u64::from(incarnation);
                assert_eq!(
                    value,
                    Some(expected),
                    "torn read of incarnation {incarnation}"
                );
                assert!(incarnation == 0 || rewrite_key);
                if incarnation == 0 {
                    assert!(before_read < ESTIMATED, "read a version already aborted");
                }
                Some(ReadOrigin::Version(0, incarnation))
            }
            MvRead::Dependency(blocking) => {
                assert_eq!(blocking, 0);
                None
            }
            other => panic!("unexpected read {other:?}"),
        };
        // A read of an ESTIMATE suspends the reader: nothing is recorded.
        if let Some(origin) = origin.clone() {
            let mut reads = vec![ReadDescriptor {
                key: KEY,
                origin: origin.clone(),
            }];
            memory
                .record(1, 0, &mut reads, [], &mut memory.reservation())
                .unwrap();
            let before_validation = shared.progress.load(SeqCst);
            let valid = memory.validate_read_set(1, base).unwrap_or(false);
            let after_validation = shared.progress.load(SeqCst);
            match origin {
                ReadOrigin::Version(0, 0) if valid => assert!(
                    before_validation < ESTIMATED,
                    "validated a read of an aborted incarnation"
                ),
                ReadOrigin::Version(0, 1) => assert!(valid, "the final version did not validate"),
                // Under transaction 0's write for the whole validation (a
                // second record that removes it may overlap the validation).
                ReadOrigin::Storage if valid => assert!(
                    before_validation < RECORDED_0
                        || (!rewrite_key && after_validation >= RECORDING_1),
                    "validated a storage read under transaction 0's write"
                ),
                _ => {}
            }
        }

        writer.join().expect("writer panicked");
        if let Some(origin) = origin {
            let final_origin = if rewrite_key {
                ReadOrigin::Version(0, 1)
            } else {
                ReadOrigin::Storage
            };
            let valid = memory.validate_read_set(1, base).unwrap_or(false);
            assert_eq!(valid, origin == final_origin, "{origin:?} after the writer");
        }
    });
}

/// See [`record_read_estimate_validate`]; the re-execution writes the same
/// location. Exhaustive. Catches: a read that clones the value outside the
/// location's lock (torn or mismatched value), a validation that ignores the
/// ESTIMATE flag, a `convert_writes_to_estimates` that does not reach the
/// entry.
#[test]
fn record_read_estimate_validate_same_location() {
    record_read_estimate_validate(true);
}

/// See [`record_read_estimate_validate`]; the re-execution writes elsewhere,
/// so its stale entry must be removed. Exhaustive. Catches: a `record` that
/// leaves the previous incarnation's entry (the ESTIMATE stays forever, or a
/// removed version still validates).
#[test]
fn record_read_estimate_validate_removed_location() {
    record_read_estimate_validate(false);
}

/// Transactions 0 and 1 add deltas (+1, +2) to `KEY` concurrently, each
/// creating the location if it is first; transaction 2 reads `KEY` (asking
/// for the base value when it meets only deltas), records and validates the
/// read. Exhaustive.
///
/// Checks: a read resolves to the base plus some subset of the deltas that
/// were recorded before it, with the value as its origin (never a partial
/// or doubled sum); after both writers, the read validates exactly when it
/// saw both deltas, and the materialized value is base + 3. Catches: two
/// writers each creating their own cell for the location (one delta lost),
/// or a delta applied twice when the run of deltas is resolved.
#[test]
fn concurrent_deltas_and_a_reader() {
    deltas_and_a_reader(false);
}

/// The same with `KEY` a hot key: its versions live in lanes, transaction
/// 0's delta in one and transaction 1's in the other, each under its own
/// lock, and the reader locks both. Preemption bound 3. Catches: a read or a validation that
/// does not hold every lane (it could sum a delta twice or miss one), a
/// group created twice by the racing writers.
#[test]
fn concurrent_deltas_in_lanes_and_a_reader() {
    deltas_and_a_reader(true);
}

fn deltas_and_a_reader(hot: bool) {
    // Lanes double the locks a reader takes: bounded, where the one-list
    // model is exhaustive.
    check(hot.then_some(3), move || {
        let mut memory = MvMemory::<u64, u64>::new(3);
        if hot {
            memory.make_hot(KEY);
        }
        let memory = Arc::new(memory);
        let writers: Vec<_> = [(0, 1), (1, 2)]
            .into_iter()
            .map(|(txn, delta)| {
                let memory = Arc::clone(&memory);
                thread::spawn(move || {
                    memory
                        .record(
                            txn,
                            0,
                            &mut Vec::new(),
                            [(KEY, WriteOp::Delta(delta))],
                            &mut memory.reservation(),
                        )
                        .unwrap();
                })
            })
            .collect();

        let value = match memory.read(&KEY, 2, None) {
            MvRead::Storage => None,
            MvRead::NeedsBase => match memory.read(&KEY, 2, Some(&Some(BASE))) {
                MvRead::Value(value, ReadOrigin::Resolved(resolved, writer)) => {
                    assert_eq!(value, resolved, "value and origin disagree");
                    Some((value, writer))
                }
                other => panic!("unexpected read with the base value: {other:?}"),
            },
            other => panic!("unexpected read: {other:?}"),
        };
        let (origin, seen) = match value {
            None => (ReadOrigin::Storage, BASE),
            Some((value, writer)) => (
                ReadOrigin::Resolved(value, writer),
                value.expect("a resolved sum"),
            ),
        };
        assert!(
            [BASE, BASE + 1, BASE + 2, BASE + 3].contains(&seen),
            "resolved to {seen}"
        );
        memory
            .record(
                2,
                0,
                &mut vec![ReadDescriptor { key: KEY, origin }],
                [],
                &mut memory.reservation(),
            )
            .unwrap();

        for writer in writers {
            writer.join().expect("writer panicked");
        }
        let valid = memory.validate_read_set(2, base).unwrap_or(false);
        assert_eq!(valid, seen == BASE + 3, "read {seen}, valid: {valid}");
        assert_eq!(
            memory.read(&KEY, 2, Some(&Some(BASE))),
            MvRead::Value(Some(BASE + 3), ReadOrigin::Resolved(Some(BASE + 3), 1)),
            "a read after both writers"
        );
        let materialized = memory.materialize(3, base).expect("base never fails");
        assert_eq!(materialized.values, vec![(KEY, BASE + 3)]);
        assert_eq!(materialized.first_overflow, None);
    });
}
