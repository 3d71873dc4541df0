//! The baseline: one transaction after another, in block order.
//!
//! [`SequentialExecutor`] defines what every other executor must produce. The
//! same loop ([`SequentialRun::execute`]) also finishes a parallel block when
//! the parallel executor falls back to sequential execution from some index
//! on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use ahash::RandomState;
use hashbrown::{hash_table, HashTable};

use crate::executor::{Executor, VmBlockOutput};
use crate::kept_buffers::KeptBuffers;
use crate::vm::Suspend;
use crate::write_set::{WriteOp, WriteSet};
use crate::{
    BaseStorage, BlockError, BlockOutput, ExecutionStats, StorageError, TxnIndex, TxnOutcome,
    TxnView, Value, Vm, VmError,
};

/// Executes a block on the calling thread, one transaction after another.
///
/// It keeps the tables of its last block for the next one (see
/// `KeptBuffers` in the source): one executor, reused, runs a node's blocks
/// on warm memory.
#[derive(Debug, Default)]
pub struct SequentialExecutor {
    kept: KeptBuffers,
}

impl SequentialExecutor {
    /// The sequential executor.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Executor for SequentialExecutor {
    fn execute<VM, S>(
        &self,
        vm: &VM,
        txns: &[VM::Txn],
        storage: &S,
    ) -> Result<VmBlockOutput<VM>, BlockError>
    where
        VM: Vm,
        S: BaseStorage<VM::Key, VM::Value>,
    {
        self.run_block(txns.len(), |run, _| {
            run.execute(vm, txns, 0, storage)?;
            Ok(ExecutionStats::sequential(txns.len()))
        })
    }
}

impl SequentialExecutor {
    /// A block of `txns` transactions run by `body` on this executor's
    /// kept tables, timed from before `body` (the `Instant` it gets): its
    /// outcomes and final values are what `body` leaves in the run, its
    /// statistics what `body` returns. The tables go back emptied, also
    /// after an error.
    pub(crate) fn run_block<K: crate::Key, V: Value, O>(
        &self,
        txns: usize,
        body: impl FnOnce(&mut SequentialRun<K, V, O>, Instant) -> Result<ExecutionStats, BlockError>,
    ) -> Result<BlockOutput<K, V, O>, BlockError> {
        let started = Instant::now();
        let mut run = SequentialRun::new(self.kept.take(), Vec::new(), txns);
        let stats = body(&mut run, started);
        let later = std::mem::take(&mut run.later_values);
        let final_values = run.written.take_values_then(later);
        self.kept.put(run.written);
        Ok(BlockOutput {
            outcomes: run.outcomes,
            final_values,
            stats: ExecutionStats {
                wall_time: started.elapsed(),
                ..stats?
            },
        })
    }
}

/// The state of a sequential run: what the transactions so far wrote, and
/// their outcomes.
pub(crate) struct SequentialRun<K, V, O> {
    /// Every location written so far, with its current value.
    pub(crate) written: Written<K, V>,
    /// One outcome per executed transaction, in order.
    pub(crate) outcomes: Vec<TxnOutcome<O>>,
    /// Final values of transactions after those this run executed (a
    /// block's rest, run on Block-STM), in block order, each location
    /// once; they replace what `written` holds of the same locations.
    pub(crate) later_values: Vec<(K, V)>,
    /// The transaction being executed's writes, and their values once
    /// resolved: kept from transaction to transaction and from one
    /// stretch of the run to the next.
    writes: WriteSet<K, V>,
    applied: Vec<(K, V)>,
}

impl<K: crate::Key, V: Value, O> SequentialRun<K, V, O> {
    /// A run of `txns` transactions, in `written` if given (an earlier
    /// run's, emptied by [`Written::take_values`]) and not far too large,
    /// appending to `outcomes`.
    pub(crate) fn new(
        written: Option<Written<K, V>>,
        mut outcomes: Vec<TxnOutcome<O>>,
        txns: usize,
    ) -> Self {
        outcomes.reserve(txns);
        Self {
            written: match written {
                Some(written) if !written.oversized_for(txns) => written,
                _ => Written::with_capacity(txns),
            },
            outcomes,
            later_values: Vec::new(),
            writes: WriteSet::default(),
            applied: Vec::new(),
        }
    }

    /// Executes `txns`, whose first has index `first_idx` in the block, on
    /// `base` (the state before `txns[0]`) plus what this run already wrote.
    /// A run may be executed in stretches, one call each: the
    /// sequential executor runs a block in one, the parallel executor's
    /// sequential start in several, checking the time between them.
    pub(crate) fn execute<VM, S>(
        &mut self,
        vm: &VM,
        txns: &[VM::Txn],
        first_idx: TxnIndex,
        base: &S,
    ) -> Result<(), BlockError>
    where
        VM: Vm<Key = K, Value = V, Output = O>,
        S: BaseStorage<K, V> + ?Sized,
    {
        let (writes, applied) = (&mut self.writes, &mut self.applied);
        for (offset, txn) in txns.iter().enumerate() {
            let txn_idx = first_idx + offset;
            writes.clear();
            let mut view = SequentialView {
                txn_idx,
                written: &self.written,
                base,
                writes,
                storage_error: None,
            };
            let result = execute_catching_panics(vm, txn, &mut view, txn_idx);
            if let Some(error) = view.storage_error.take() {
                return Err(BlockError::Storage { txn_idx, error });
            }
            let output = result?;
            let outcome = if writes.overflowed()
                || !resolve_writes(writes, &self.written, base, txn_idx, applied)?
            {
                TxnOutcome::DeltaOverflow
            } else {
                // Within a transaction, locations go in key order.
                applied.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                for (key, value) in applied.drain(..) {
                    self.written.set(key, value);
                }
                TxnOutcome::Applied(output)
            };
            applied.clear();
            self.outcomes.push(outcome);
        }
        Ok(())
    }
}

/// Final values of a VM's locations, in block order.
pub(crate) type FinalValues<VM> = Vec<(<VM as Vm>::Key, <VM as Vm>::Value)>;

/// Outcomes of a VM's transactions, in block order.
type Outcomes<VM> = Vec<TxnOutcome<<VM as Vm>::Output>>;

/// Executes `txns`, whose first has index `first_idx` in the block, on
/// `base` changed by `before` (the final values of the transactions before
/// `txns[0]`, in order, whose outcomes are `outcomes`); returns the
/// outcomes and the final values of all. The outcomes are appended in
/// place: a block that fell back late would otherwise copy them all once
/// more.
///
/// The run's tables are `kept`'s if any, and go back there emptied, also
/// after an error.
pub(crate) fn run_to_end<VM, S>(
    vm: &VM,
    txns: &[VM::Txn],
    first_idx: TxnIndex,
    base: &S,
    before: FinalValues<VM>,
    outcomes: Outcomes<VM>,
    kept: &mut Option<Written<VM::Key, VM::Value>>,
) -> Result<(Outcomes<VM>, FinalValues<VM>), BlockError>
where
    VM: Vm,
    S: BaseStorage<VM::Key, VM::Value> + ?Sized,
{
    let mut run = SequentialRun::new(kept.take(), outcomes, txns.len());
    run.written.extend(before);
    let executed = run.execute(vm, txns, first_idx, base);
    let final_values = run.written.take_values();
    *kept = Some(run.written);
    executed.map(|()| (run.outcomes, final_values))
}

/// The locations a run wrote, in the order of their last write: the order
/// of the transactions that last wrote them, ties in key order, which is the
/// order every executor reports. A rewritten location leaves a tombstone at
/// its old place, so the order costs no sort.
///
/// The index holds positions, not keys: a key is stored once, in its entry.
/// A node's keys are 65 bytes, and an index of them spread a block's
/// lookups (most of which miss: a location read before any write) over
/// megabytes; positions make it a tenth of that, small enough to stay in
/// the core's cache when it is kept from block to block.
pub(crate) struct Written<K, V> {
    /// The position of each written location's live entry, by the key's
    /// hash. Invariant: every position holds a live entry (`Some`).
    index: HashTable<usize>,
    hasher: RandomState,
    entries: Vec<Option<(K, V)>>,
}

impl<K: crate::Key, V> Written<K, V> {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            index: HashTable::with_capacity(capacity),
            hasher: RandomState::new(),
            entries: Vec::with_capacity(capacity),
        }
    }

    /// Whether these (empty) tables are too large for a run of `txns`
    /// transactions: emptying the index costs its whole width (every
    /// control byte), which blocks of 20 transactions, after one of 10,000,
    /// paid at every block (criterion: 2.31 µs a block against 2.05 on
    /// small tables).
    fn oversized_for(&self, txns: usize) -> bool {
        self.index.capacity() > OVERSIZE * txns.max(MIN_TXNS_SIZED)
    }

    /// The current value of `key`, if the run wrote it.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let hash = self.hasher.hash_one(key);
        let &at = self
            .index
            .find(hash, |&at| live_key(&self.entries, at) == Some(key))?;
        self.entries[at].as_ref().map(|(_, value)| value)
    }

    /// The value of `key` in the state this run leaves over `base`: what
    /// the run wrote there, else `base`'s. What a sequential read sees, a
    /// delta applies to, and a block's rest on Block-STM starts from.
    #[inline]
    pub(crate) fn get_over<S: BaseStorage<K, V> + ?Sized>(
        &self,
        key: &K,
        base: &S,
    ) -> Result<Option<V>, StorageError>
    where
        V: Clone,
    {
        match self.get(key) {
            Some(value) => Ok(Some(value.clone())),
            None => base.get(key),
        }
    }

    /// Records values in order, as if written by earlier transactions.
    pub(crate) fn extend(&mut self, values: impl IntoIterator<Item = (K, V)>) {
        for (key, value) in values {
            self.set(key, value);
        }
    }

    fn set(&mut self, key: K, value: V) {
        let at = self.entries.len();
        let hash = self.hasher.hash_one(&key);
        let (entries, hasher) = (&self.entries, &self.hasher);
        let slot = self.index.entry(
            hash,
            |&at| live_key(entries, at) == Some(&key),
            |&at| live_key(entries, at).map_or(0, |key| hasher.hash_one(key)),
        );
        match slot {
            hash_table::Entry::Occupied(mut slot) => {
                let old = std::mem::replace(slot.get_mut(), at);
                self.entries[old] = None;
            }
            hash_table::Entry::Vacant(slot) => {
                slot.insert(at);
            }
        }
        self.entries.push(Some((key, value)));
    }

    /// The final values followed by `later` (values of later writes, in
    /// block order, each location once), which replace this run's values
    /// of the same locations at their later place; leaves this empty, with
    /// its capacity, for another run. Costs a lookup per value of `later`
    /// in this run's table, not an insertion.
    pub(crate) fn take_values_then(&mut self, later: Vec<(K, V)>) -> Vec<(K, V)> {
        if self.index.is_empty() {
            // No live entry, hence no entry at all.
            self.entries.clear();
            return later;
        }
        for (key, _) in &later {
            let hash = self.hasher.hash_one(key);
            let entries = &self.entries;
            if let Ok(slot) = self
                .index
                .find_entry(hash, |&at| live_key(entries, at) == Some(key))
            {
                let (at, _) = slot.remove();
                self.entries[at] = None;
            }
        }
        let mut values = self.take_values();
        values.extend(later);
        values
    }

    /// The final values, in order; leaves this empty, with its capacity, for
    /// another run.
    pub(crate) fn take_values(&mut self) -> Vec<(K, V)> {
        // Every location has one live entry: the values need exactly as
        // many places as the index.
        let mut values = Vec::with_capacity(self.index.len());
        values.extend(self.entries.drain(..).flatten());
        self.index.clear();
        values
    }
}

/// How many times larger than a run's transaction count kept tables may
/// be: a transaction writes a few locations, so this is far more than a
/// run needs.
const OVERSIZE: usize = 64;

/// Runs of fewer transactions may keep tables sized for this many.
const MIN_TXNS_SIZED: usize = 64;

/// The key of the entry at `at`, a position from the index: by the
/// index's invariant, in bounds and live.
#[inline]
fn live_key<K, V>(entries: &[Option<(K, V)>], at: usize) -> Option<&K> {
    entries[at].as_ref().map(|(key, _)| key)
}

/// Turns a finished transaction's write set into final values in `applied`;
/// `false` if one of its deltas overflows (the transaction is reverted).
fn resolve_writes<K: crate::Key, V: Value, S: BaseStorage<K, V> + ?Sized>(
    writes: &WriteSet<K, V>,
    written: &Written<K, V>,
    base: &S,
    txn_idx: TxnIndex,
    applied: &mut Vec<(K, V)>,
) -> Result<bool, BlockError> {
    for (key, op) in writes.ops() {
        let value = match op {
            WriteOp::Value(value) => value.clone(),
            WriteOp::Delta(delta) => {
                let before = written
                    .get_over(key, base)
                    .map_err(|error| BlockError::Storage { txn_idx, error })?;
                match V::apply_delta(before.as_ref(), *delta) {
                    Some(after) => after,
                    None => return Ok(false),
                }
            }
        };
        applied.push((key.clone(), value));
    }
    Ok(true)
}

/// Runs the VM on one transaction, turning a panic or a fatal VM error into
/// the block error that names the transaction.
pub(crate) fn execute_catching_panics<VM: Vm, View: TxnView<VM::Key, VM::Value>>(
    vm: &VM,
    txn: &VM::Txn,
    view: &mut View,
    txn_idx: TxnIndex,
) -> Result<VM::Output, BlockError> {
    match catch_unwind(AssertUnwindSafe(|| vm.execute(txn, view))) {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(VmError::Fatal(message))) => Err(BlockError::TxnFailed { txn_idx, message }),
        // Only a storage failure suspends a sequential read; the caller
        // reports it.
        Ok(Err(VmError::Suspended(_))) => Err(BlockError::Internal(format!(
            "transaction {txn_idx} suspended outside parallel execution"
        ))),
        Err(payload) => Err(BlockError::TxnPanicked {
            txn_idx,
            message: panic_message(payload.as_ref()),
        }),
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

struct SequentialView<'a, K, V, S: ?Sized> {
    txn_idx: TxnIndex,
    written: &'a Written<K, V>,
    base: &'a S,
    writes: &'a mut WriteSet<K, V>,
    storage_error: Option<StorageError>,
}

impl<K: crate::Key, V: Value, S: BaseStorage<K, V> + ?Sized> TxnView<K, V>
    for SequentialView<'_, K, V, S>
{
    fn read(&mut self, key: &K) -> Result<Option<V>, Suspend> {
        let (written, base, storage_error) = (self.written, self.base, &mut self.storage_error);
        self.writes.read_through(key, |key| {
            written.get_over(key, base).map_err(|error| {
                *storage_error = Some(error);
                Suspend::new()
            })
        })
    }

    fn write(&mut self, key: K, value: V) {
        self.writes.write(key, value);
    }

    fn add_delta(&mut self, key: K, delta: crate::Delta) {
        self.writes.add_delta(key, delta);
    }

    fn txn_idx(&self) -> TxnIndex {
        self.txn_idx
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::test_vm::ChainVm;
    use crate::EmptyStorage;

    /// The index capacity of the tables `executor` kept.
    fn kept_capacity(executor: &SequentialExecutor) -> usize {
        let written = executor.kept.take::<Written<u32, u64>>().unwrap();
        let capacity = written.index.capacity();
        executor.kept.put(written);
        capacity
    }

    #[test]
    fn kept_tables_far_too_large_for_a_block_are_replaced() {
        let executor = SequentialExecutor::new();
        let block = |txns: u32| (0..txns).map(|i| (i, false)).collect::<Vec<_>>();
        let run = |txns: u32| {
            let output = executor.execute(&ChainVm, &block(txns), &EmptyStorage);
            // Each transaction's key, and the counter.
            assert_eq!(output.unwrap().final_values.len(), txns as usize + 1);
        };
        run(20_000);
        let large = kept_capacity(&executor);
        assert!(large >= 20_000);
        // A block of 1,000 reuses them; one of 20 gets tables of its own.
        run(1_000);
        assert_eq!(kept_capacity(&executor), large);
        run(20);
        assert!(kept_capacity(&executor) <= OVERSIZE * MIN_TXNS_SIZED);
        run(20_000);
        assert!(kept_capacity(&executor) >= 20_000);
    }

    /// The outcomes and final values of `txns` run on one run, in
    /// stretches ending at `ends`, then `later` appended.
    fn run_in_stretches(
        txns: &[(u32, bool)],
        ends: &[usize],
        later: Vec<(u32, u64)>,
    ) -> (usize, Vec<(u32, u64)>) {
        let mut run = SequentialRun::<u32, u64, ()>::new(None, Vec::new(), txns.len());
        let mut done = 0;
        for &end in ends {
            run.execute(&ChainVm, &txns[done..end], done, &EmptyStorage)
                .unwrap();
            done = end;
        }
        (run.outcomes.len(), run.written.take_values_then(later))
    }

    #[test]
    fn a_run_in_stretches_gives_what_one_call_gives() {
        // A chain, so that every stretch reads what the one before wrote.
        let txns: Vec<_> = (0..100).map(|i| (i, true)).collect();
        let whole = run_in_stretches(&txns, &[100], Vec::new());
        assert_eq!(whole.0, 100);
        assert_eq!(whole.1.last(), Some(&(u32::MAX, 100)));
        for ends in [&[1, 4, 16, 64, 100][..], &[0, 0, 37, 100], &[99, 100]] {
            assert_eq!(run_in_stretches(&txns, ends, Vec::new()), whole);
        }
    }

    #[test]
    fn later_values_replace_the_runs_own_at_their_later_place() {
        let txns: Vec<_> = (0..4).map(|i| (i, false)).collect();
        // The run writes 0..4 (1 each) and the counter (4); a later part
        // of the block rewrote key 2 and the counter, and wrote key 9.
        let later = vec![(2, 7), (9, 1), (u32::MAX, 6)];
        let (_, values) = run_in_stretches(&txns, &[4], later.clone());
        assert_eq!(values, [&[(0, 1), (1, 1), (3, 1)][..], &later].concat());
        // Nothing run before: the later values alone.
        assert_eq!(run_in_stretches(&txns, &[0], later.clone()).1, later);
    }
}
