//! One block under parallel execution: the shared state and the worker loop.
//!
//! [`ParallelBlock`] can be driven by any threads: the executor's pool runs
//! [`ParallelBlock::run_worker`] on each of its workers, the loom tests on
//! model-checked threads. After every worker has returned,
//! [`ParallelBlock::finish`] turns the multi-version memory into the block's
//! output.

use std::panic::{catch_unwind, AssertUnwindSafe};

use parex_mvmemory::{MvMemory, ReadDescriptor, Reservation};
use parex_scheduler::{Claim, Scheduler, Task, TxnStatus, Version};
use parex_sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use parex_sync::{CachePadded, Mutex};

use crate::executor::VmBlockOutput;
use crate::parallel::streak::{InOrderStreak, Step, MIN_SERIAL_STREAK, SERIAL_WINDOW};
use crate::parallel::view::ParallelView;
use crate::sequential::{panic_message, run_to_end, FinalValues, Written};
use crate::write_set::WriteSet;
use crate::{
    BaseStorage, BlockError, BlockOutput, ExecutionStats, FallbackReason, StorageError, TxnIndex,
    TxnOutcome, Vm, VmError,
};

/// What the last finished incarnation of a transaction produced.
#[derive(Debug)]
enum IncarnationResult<O> {
    Output(O),
    /// A delta overflowed against the transaction's own writes.
    DeltaOverflow,
    /// The VM panicked or failed: an error for the block if this incarnation
    /// turns out to be the final one.
    Failed(BlockError),
}

/// Where the last finished incarnation of a transaction leaves its result.
/// Not padded, for the reason the scheduler's states are not.
type ResultSlot<O> = Mutex<Option<IncarnationResult<O>>>;

/// Counters one worker keeps to itself and adds to the block's at the end,
/// so that counting costs no shared write on the hot path.
#[derive(Debug, Default, Clone, Copy)]
struct WorkerCounters {
    executions: u64,
    validations: u64,
    validation_failures: u64,
    dependency_waits: u64,
    /// The end of the highest run claimed for execution: no transaction
    /// above it was touched.
    execution_reach: TxnIndex,
    /// The length of the worker's [`InOrderStreak`]: the block's
    /// transactions `0..in_order` need no validation.
    in_order: TxnIndex,
}

/// Conflicts a block must see before contention can halt it.
const MIN_CONFLICTS: usize = 8;

/// Transactions per materialization chunk: a sixteenth of the block, at
/// least 32 (enough to amortize claiming a chunk) and at most 256 (few
/// enough that workers finish together). Later transactions are the last
/// writers of more locations, so chunks cost unequal times: with 1,000
/// transactions in four chunks of 256, the two workers' materialization
/// ended up to 70 µs apart.
fn txns_per_chunk(block_size: usize) -> usize {
    (block_size / 16).clamp(32, 256)
}

/// The final values of the locations last written by one chunk of
/// transactions, in block order. Kept from block to block with its
/// capacity: grown afresh, the chunks of a 10,000-transfer node block
/// page-faulted in materialization (4% of the parallel executor's samples).
struct Chunk<K, V> {
    values: Vec<(K, V)>,
    first_overflow: Option<TxnIndex>,
    materialized: bool,
}

impl<K, V> Default for Chunk<K, V> {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            first_overflow: None,
            materialized: false,
        }
    }
}

/// The large per-block allocations of a [`ParallelBlock`]: the memory, the
/// scheduler and the result slots, kept by the executor from block to block
/// so that a block allocates (and page-faults) nothing of this size.
pub struct BlockBuffers<K, V, O> {
    memory: MvMemory<K, V>,
    scheduler: Scheduler,
    results: Vec<ResultSlot<O>>,
    /// No transaction at or above this was touched by the last block: a
    /// block halted early for contention resets only its start.
    touched: TxnIndex,
    /// The tables of the last block's sequential part, emptied.
    sequential: Option<Written<K, V>>,
    /// The materialization chunks, emptied, with their capacity.
    chunks: Vec<ChunkSlot<K, V>>,
}

impl<K: crate::Key, V: crate::Value, O> BlockBuffers<K, V, O> {
    /// Buffers for a block of `block_size` transactions, sized for
    /// [`DEFAULT_LOCATIONS_PER_TXN`](parex_mvmemory::DEFAULT_LOCATIONS_PER_TXN)
    /// locations each.
    pub fn new(block_size: usize) -> Self {
        Self::with_locations_per_txn(block_size, parex_mvmemory::DEFAULT_LOCATIONS_PER_TXN)
    }

    /// Buffers for a block of `block_size` transactions that touch about
    /// `locations_per_txn` locations each ([`Vm::LOCATIONS_PER_TXN`]). A
    /// later block that reuses them gets the sizing its own VM declares.
    pub fn with_locations_per_txn(block_size: usize, locations_per_txn: usize) -> Self {
        Self {
            memory: MvMemory::with_locations_per_txn(block_size, locations_per_txn),
            scheduler: Scheduler::new(block_size),
            results: Vec::new(),
            touched: 0,
            sequential: None,
            chunks: Vec::new(),
        }
    }

    /// Resets the buffers for a block of `block_size` transactions that
    /// touch about `locations_per_txn` locations each, materialized in
    /// chunks of `txns_per_chunk`.
    fn reset(&mut self, block_size: usize, locations_per_txn: usize, txns_per_chunk: usize) {
        self.memory
            .reset_touched(block_size, locations_per_txn, self.touched);
        self.scheduler.reset_touched(block_size, self.touched);
        self.results.truncate(block_size);
        let touched = self.touched.min(self.results.len());
        for slot in &mut self.results[..touched] {
            *slot.get_mut() = None;
        }
        self.results.resize_with(block_size, || Mutex::new(None));
        self.chunks
            .resize_with(block_size.div_ceil(txns_per_chunk), || {
                Mutex::new(Chunk::default())
            });
        for slot in &mut self.chunks {
            let chunk = slot.get_mut();
            chunk.values.clear();
            chunk.first_overflow = None;
            chunk.materialized = false;
        }
    }
}

impl<K, V, O> std::fmt::Debug for BlockBuffers<K, V, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockBuffers").finish_non_exhaustive()
    }
}

/// Where a worker leaves a materialized chunk.
type ChunkSlot<K, V> = Mutex<Chunk<K, V>>;

/// Buffers a worker reuses from task to task.
struct WorkerBuffers<'m, K, V> {
    reads: Vec<ReadDescriptor<K, V>>,
    writes: WriteSet<K, V>,
    counters: WorkerCounters,
    claim: Claim,
    /// This worker's slots for new locations, for this block.
    reservation: Reservation<'m>,
    streak: InOrderStreak,
    /// Wakes the other workers; called once, when the streak stops holding
    /// them back.
    wake: &'m dyn Fn(),
    woken: bool,
}

/// The shared state of one block executed in parallel.
pub struct ParallelBlock<'a, VM: Vm, S> {
    vm: &'a VM,
    txns: &'a [VM::Txn],
    storage: &'a S,
    memory: MvMemory<VM::Key, VM::Value>,
    scheduler: Scheduler,
    results: Vec<ResultSlot<VM::Output>>,
    /// The tables for the sequential part, if the block needs one.
    sequential: Option<Written<VM::Key, VM::Value>>,
    /// The first error that stops the whole block (storage, engine bug).
    abort: Mutex<Option<BlockError>>,
    counters: Mutex<WorkerCounters>,
    /// Validation aborts and dependency suspensions so far.
    conflicts: CachePadded<AtomicUsize>,
    /// Set when conflicts made the block halt to finish sequentially.
    contended: AtomicBool,
    /// Set when the block touched more locations than the memory holds: it
    /// halts and finishes sequentially, like a contended one.
    memory_full: AtomicBool,
    /// Whether contention may halt the block (see [`Self::note_conflict`]).
    contention_fallback: bool,
    /// Whether the worker given a `wake` keeps the others asleep while the
    /// block's start looks serial (see [`Self::with_helpers_held`]).
    hold_helpers: bool,
    /// The next chunk to materialize once the block is done.
    next_chunk: CachePadded<AtomicUsize>,
    /// Transactions per chunk of [`chunks`](Self::chunks).
    txns_per_chunk: usize,
    chunks: Vec<ChunkSlot<VM::Key, VM::Value>>,
}

impl<'a, VM, S> ParallelBlock<'a, VM, S>
where
    VM: Vm,
    S: BaseStorage<VM::Key, VM::Value>,
{
    /// Prepares `txns` for execution on `storage`.
    pub fn new(vm: &'a VM, txns: &'a [VM::Txn], storage: &'a S) -> Self {
        let buffers = BlockBuffers::with_locations_per_txn(txns.len(), VM::LOCATIONS_PER_TXN);
        Self::with_buffers(vm, txns, storage, buffers)
    }

    /// Like [`new`](Self::new), reusing the buffers a previous block left
    /// (see [`finish_recycling`](Self::finish_recycling)).
    pub fn with_buffers(
        vm: &'a VM,
        txns: &'a [VM::Txn],
        storage: &'a S,
        mut buffers: BlockBuffers<VM::Key, VM::Value, VM::Output>,
    ) -> Self {
        let chunk = txns_per_chunk(txns.len());
        buffers.reset(txns.len(), VM::LOCATIONS_PER_TXN, chunk);
        let BlockBuffers {
            memory,
            scheduler,
            results,
            touched: _,
            sequential,
            chunks,
        } = buffers;
        Self {
            vm,
            txns,
            storage,
            memory,
            scheduler,
            results,
            sequential,
            abort: Mutex::new(None),
            counters: Mutex::new(WorkerCounters::default()),
            conflicts: CachePadded::new(AtomicUsize::new(0)),
            contended: AtomicBool::new(false),
            memory_full: AtomicBool::new(false),
            contention_fallback: true,
            hold_helpers: false,
            next_chunk: CachePadded::new(AtomicUsize::new(0)),
            txns_per_chunk: chunk,
            chunks,
        }
    }

    /// Takes tasks from the scheduler and runs them until the block is done,
    /// then helps materialize the final values. Call it from every worker
    /// thread; it never unwinds.
    pub fn run_worker(&self) {
        self.run_worker_waking(&|| {});
    }

    /// [`run_worker`](Self::run_worker) for the worker that starts the
    /// block alone: it calls `wake` (once) when the other workers are worth
    /// waking. That is at once, unless the block holds them (see
    /// [`with_helpers_held`](Self::with_helpers_held)).
    pub fn run_worker_waking(&self, wake: &dyn Fn()) {
        let mut buffers = self.worker_buffers(wake);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.worker_loop(&mut buffers);
            // Done means no task is active anywhere: the memory is final and
            // can be read without waiting for the other workers.
            if self.abort.lock().is_none() && !self.halted_early() {
                self.materialize_chunks();
            }
        }));
        if let Err(payload) = outcome {
            self.stop(BlockError::Internal(format!(
                "worker panicked: {}",
                panic_message(payload.as_ref())
            )));
        }
        self.report(&buffers);
    }

    fn worker_buffers<'w>(&'w self, wake: &'w dyn Fn()) -> WorkerBuffers<'w, VM::Key, VM::Value> {
        WorkerBuffers {
            reads: Vec::new(),
            writes: WriteSet::default(),
            counters: WorkerCounters::default(),
            claim: Claim::new(),
            reservation: self.memory.reservation(),
            streak: InOrderStreak::new(if self.hold_helpers {
                MIN_SERIAL_STREAK
            } else {
                SERIAL_WINDOW
            }),
            wake,
            woken: false,
        }
    }

    /// Adds a worker's counters to the block's, once it has returned.
    fn report(&self, buffers: &WorkerBuffers<'_, VM::Key, VM::Value>) {
        let mut counters = self.counters.lock();
        counters.executions += buffers.counters.executions;
        counters.validations += buffers.counters.validations;
        counters.validation_failures += buffers.counters.validation_failures;
        counters.dependency_waits += buffers.counters.dependency_waits;
        counters.execution_reach = counters
            .execution_reach
            .max(buffers.claim.execution_reach());
        counters.in_order = counters.in_order.max(buffers.streak.len());
    }

    fn worker_loop(&self, buffers: &mut WorkerBuffers<'_, VM::Key, VM::Value>) {
        let mut task = self.scheduler.next_task(&mut buffers.claim);
        while let Some(current) = task {
            if !buffers.woken {
                self.wake_unless_held(buffers);
            }
            task = match current {
                Task::Execute(version) => self.try_execute(version, buffers),
                Task::Validate(version) => self.validate(version, buffers),
            };
            if task.is_none() {
                task = self.scheduler.next_task(&mut buffers.claim);
            } else if self.scheduler.done() {
                // Halted: a follow-up task is dropped with the rest.
                break;
            }
        }
    }

    /// Calls the worker's `wake` unless the block holds its helpers and the
    /// streak still looks serial, or the block is done. `woken` spares the
    /// call (and these checks) at every later task.
    fn wake_unless_held(&self, buffers: &mut WorkerBuffers<'_, VM::Key, VM::Value>) {
        let held = self.hold_helpers && buffers.streak.holds_helpers_back();
        if !held && !self.scheduler.done() {
            buffers.woken = true;
            (buffers.wake)();
        }
    }

    /// Materializes chunks of transactions' final values until none is
    /// left.
    fn materialize_chunks(&self) {
        let block_size = self.txns.len();
        loop {
            let chunk = self.next_chunk.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = self.chunks.get(chunk) else {
                return;
            };
            let mut values = std::mem::take(&mut slot.lock().values);
            let size = self.txns_per_chunk;
            let txns = chunk * size..((chunk + 1) * size).min(block_size);
            match self.memory.materialize_txns(
                txns,
                block_size,
                |key| self.storage.get(key),
                &mut values,
            ) {
                Ok(first_overflow) => {
                    *slot.lock() = Chunk {
                        values,
                        first_overflow,
                        materialized: true,
                    }
                }
                Err(error) => {
                    self.stop(storage_error_at(block_size, error));
                    return;
                }
            }
        }
    }

    /// Whether the block was halted to finish sequentially (contention, or
    /// a full memory).
    fn halted_early(&self) -> bool {
        self.contended.load(Ordering::Relaxed) || self.memory_full.load(Ordering::Relaxed)
    }

    /// Sizes the scheduler's claims for `workers` workers (up to 16
    /// consecutive transactions, while every worker still gets 16 claims
    /// of the block); without it, workers claim one index at a time, as in
    /// the paper.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.scheduler
            .set_claim_size(claim_size(self.txns.len(), workers));
        self
    }

    /// Whether contention may halt the block to finish it sequentially
    /// (on by default).
    pub fn with_contention_fallback(mut self, enabled: bool) -> Self {
        self.contention_fallback = enabled;
        self
    }

    /// Whether the worker that runs [`run_worker_waking`](Self::run_worker_waking)
    /// keeps the other workers asleep while the block's start looks serial
    /// (off by default). Waking a sleeping thread costs its waker
    /// microseconds, and a helper that wakes into a chain only runs ahead
    /// on stale reads; held, a chain reaches the in-order streak's window
    /// (16 transactions when held, `engine/src/parallel/streak.rs`: the
    /// first worker executed them alone, in order, with exact reads) and
    /// halts before anyone else was woken. A block whose start is
    /// independent wakes them after its second transaction. Worth it where
    /// serial blocks are expected (the executor holds them after a block
    /// that halted as serial): a block whose first transactions are long
    /// gets its helpers that much later.
    pub fn with_helpers_held(mut self, hold: bool) -> Self {
        self.hold_helpers = hold;
        self
    }

    /// Whether the block was halted as serial: contention, or a serial
    /// in-order streak.
    pub(crate) fn contended(&self) -> bool {
        self.contended.load(Ordering::Relaxed)
    }

    /// Counts a conflict (an abort or a suspension) and halts the block when
    /// conflicts are so frequent that the block is essentially sequential:
    /// at least [`MIN_CONFLICTS`] of them, and one for every four
    /// transactions started (a fully dependent block on two workers sees one
    /// for every two or three; a parallel one, a handful per thousand). A dependent block then costs little more than
    /// sequential execution instead of executing most transactions twice.
    fn note_conflict(&self) {
        let conflicts = self.conflicts.fetch_add(1, Ordering::Relaxed) + 1;
        if self.contention_fallback
            && conflicts >= MIN_CONFLICTS
            && conflicts * 4 >= self.scheduler.execution_progress()
        {
            self.halt_for_contention();
        }
    }

    /// Halts the block to finish it sequentially (see [`Self::finish`]).
    fn halt_for_contention(&self) {
        self.contended.store(true, Ordering::Relaxed);
        self.scheduler.halt();
    }

    /// Stops the block with an error every worker gives up on.
    fn stop(&self, error: BlockError) {
        self.abort.lock().get_or_insert(error);
        self.scheduler.halt();
    }

    /// Executes one incarnation; returns its validation task if the worker
    /// should run it next.
    fn try_execute(
        &self,
        version: Version,
        buffers: &mut WorkerBuffers<'_, VM::Key, VM::Value>,
    ) -> Option<Task> {
        let Version {
            txn_idx,
            incarnation,
        } = version;
        let in_streak = match buffers.streak.step(txn_idx, incarnation) {
            Step::Extends => true,
            Step::Outside => false,
            Step::EndsSerial if self.contention_fallback => {
                // Another worker has just run past a serial start, on reads
                // the chain makes stale: finish from the streak instead.
                self.halt_for_contention();
                return None;
            }
            Step::EndsSerial => false,
        };
        loop {
            buffers.reads.clear();
            buffers.writes.clear();
            buffers.counters.executions += 1;
            let mut view = ParallelView {
                txn_idx,
                memory: &self.memory,
                storage: self.storage,
                reads: &mut buffers.reads,
                writes: &mut buffers.writes,
                blocked_on: None,
                storage_error: None,
            };
            let result = catch_unwind(AssertUnwindSafe(|| {
                self.vm.execute(&self.txns[txn_idx], &mut view)
            }));
            if let Some(error) = view.storage_error.take() {
                self.stop(BlockError::Storage { txn_idx, error });
                return None;
            }
            if let Some(blocking) = view.blocked_on {
                buffers.streak.close();
                buffers.counters.dependency_waits += 1;
                if self
                    .scheduler
                    .add_dependency(txn_idx, blocking, &mut buffers.claim)
                {
                    self.note_conflict();
                    return None;
                }
                // The blocking transaction finished meanwhile: run again.
                continue;
            }
            let result = match result {
                Ok(Ok(_)) if buffers.writes.overflowed() => IncarnationResult::DeltaOverflow,
                Ok(Ok(output)) => IncarnationResult::Output(output),
                Ok(Err(VmError::Fatal(message))) => {
                    IncarnationResult::Failed(BlockError::TxnFailed { txn_idx, message })
                }
                Ok(Err(VmError::Suspended(_))) => IncarnationResult::Failed(BlockError::Internal(
                    format!("transaction {txn_idx} suspended without a cause"),
                )),
                Err(payload) => IncarnationResult::Failed(BlockError::TxnPanicked {
                    txn_idx,
                    message: panic_message(payload.as_ref()),
                }),
            };
            // Only an applied incarnation publishes its writes; a reverted or
            // failed one publishes nothing, so what an earlier incarnation
            // wrote is removed.
            let applied = matches!(result, IncarnationResult::Output(_));
            if !applied {
                buffers.writes.clear();
            }
            let streak_depth = if in_streak {
                buffers
                    .streak
                    .depth_of(buffers.reads.iter().map(|read| read.origin.writer()))
            } else {
                None
            };
            let Ok(wrote_new_location) = self.memory.record(
                txn_idx,
                incarnation,
                &mut buffers.reads,
                buffers.writes.drain(),
                &mut buffers.reservation,
            ) else {
                // Partly recorded and never finished: the validated prefix
                // ends below it, and the rest runs sequentially.
                self.memory_full.store(true, Ordering::Relaxed);
                self.scheduler.halt();
                return None;
            };
            *self.results[txn_idx].lock() = Some(result);
            let next =
                self.scheduler
                    .finish_execution(version, wrote_new_location, &mut buffers.claim);
            if let Some(depth) = streak_depth {
                if buffers.streak.extend(depth) && self.contention_fallback {
                    // The worker loop drops `next` once it sees the halt.
                    self.halt_for_contention();
                }
            }
            return next;
        }
    }

    /// Validates one incarnation's read set; aborts it if it is stale.
    fn validate(
        &self,
        version: Version,
        buffers: &mut WorkerBuffers<'_, VM::Key, VM::Value>,
    ) -> Option<Task> {
        buffers.counters.validations += 1;
        let valid = match self
            .memory
            .validate_read_set(version.txn_idx, |key| self.storage.get(key))
        {
            Ok(valid) => valid,
            Err(error) => {
                self.stop(BlockError::Storage {
                    txn_idx: version.txn_idx,
                    error,
                });
                return None;
            }
        };
        let aborted = !valid && self.scheduler.try_validation_abort(version);
        if aborted {
            buffers.counters.validation_failures += 1;
            self.memory.convert_writes_to_estimates(version.txn_idx);
            self.note_conflict();
        }
        self.scheduler
            .finish_validation(version.txn_idx, aborted, &mut buffers.claim)
    }

    /// The block's output, once every worker has returned.
    ///
    /// Normally every transaction's last incarnation is final and the
    /// workers have materialized the final values. Two cases finish the
    /// block sequentially from some index `k` on, over the state the exact
    /// prefix `0..k` left in the memory:
    /// - a transaction's delta overflowed against what earlier transactions
    ///   wrote (it must be reverted, and later ones may have read its
    ///   writes): `k` is that transaction;
    /// - the block was halted for contention: `k` is the end of the prefix
    ///   whose incarnations are executed and still validate, so no validated
    ///   work is redone.
    pub fn finish(self) -> Result<VmBlockOutput<VM>, BlockError> {
        self.finish_recycling().0
    }

    /// [`finish`](Self::finish), and the block's buffers for the next block
    /// ([`with_buffers`](Self::with_buffers)).
    #[allow(clippy::type_complexity)]
    pub fn finish_recycling(
        mut self,
    ) -> (
        Result<VmBlockOutput<VM>, BlockError>,
        BlockBuffers<VM::Key, VM::Value, VM::Output>,
    ) {
        let mut sequential = self.sequential.take();
        let output = self.output(&mut sequential);
        let touched = self.counters.lock().execution_reach;
        let buffers = BlockBuffers {
            memory: self.memory,
            scheduler: self.scheduler,
            results: self.results,
            touched,
            sequential,
            chunks: self.chunks,
        };
        (output, buffers)
    }

    /// The block's output; a sequential part runs in the tables of
    /// `sequential`, and leaves them there.
    fn output(
        &self,
        sequential: &mut Option<Written<VM::Key, VM::Value>>,
    ) -> Result<VmBlockOutput<VM>, BlockError> {
        if let Some(error) = self.abort.lock().take() {
            return Err(error);
        }
        let block_size = self.txns.len();
        let mut reason = if self.memory_full.load(Ordering::Relaxed) {
            FallbackReason::MemoryFull
        } else if self.halted_early() {
            FallbackReason::Contention
        } else {
            FallbackReason::DeltaOverflow
        };
        let (exact_until, final_values) = if self.halted_early() {
            (self.validated_prefix()?, None)
        } else {
            let mut first_overflow: Option<TxnIndex> = None;
            let mut count = 0;
            for slot in &self.chunks {
                let chunk = slot.lock();
                if !chunk.materialized {
                    return Err(BlockError::Internal(
                        "a chunk of final values was not materialized".to_owned(),
                    ));
                }
                first_overflow = earliest(first_overflow, chunk.first_overflow);
                count += chunk.values.len();
            }
            match first_overflow {
                None => {
                    let mut values = Vec::with_capacity(count);
                    for slot in &self.chunks {
                        values.append(&mut slot.lock().values);
                    }
                    (block_size, Some(values))
                }
                Some(first) => (first, None),
            }
        };
        // The prefix's own deltas may overflow too.
        let prefix_values = match final_values {
            Some(values) => Ok(values),
            None => self.materialize_prefix(exact_until),
        };
        let (exact_until, prefix_values) =
            match prefix_values {
                Ok(values) => (exact_until, values),
                Err(Some(first_overflow)) => match self.materialize_prefix(first_overflow) {
                    Ok(values) => {
                        reason = FallbackReason::DeltaOverflow;
                        (first_overflow, values)
                    }
                    Err(_) => {
                        return Err(BlockError::Internal(
                            "delta overflow below the first overflow".to_owned(),
                        ))
                    }
                },
                Err(None) => {
                    return Err(self.abort.lock().take().unwrap_or_else(|| {
                        BlockError::Internal("materialization failed".to_owned())
                    }))
                }
            };

        let mut outcomes = Vec::with_capacity(block_size);
        for (txn_idx, slot) in self.results.iter().enumerate().take(exact_until) {
            match slot.lock().take() {
                Some(IncarnationResult::Output(output)) => {
                    outcomes.push(TxnOutcome::Applied(output))
                }
                Some(IncarnationResult::DeltaOverflow) => outcomes.push(TxnOutcome::DeltaOverflow),
                Some(IncarnationResult::Failed(error)) => return Err(error),
                None => {
                    return Err(BlockError::Internal(format!(
                        "transaction {txn_idx} has no result after the block finished"
                    )))
                }
            }
        }

        let counters = *self.counters.lock();
        let mut stats = ExecutionStats {
            txns: block_size,
            executions: counters.executions,
            validations: counters.validations,
            validation_failures: counters.validation_failures,
            dependency_waits: counters.dependency_waits,
            parallel_from: Some(0),
            memory_bytes: self.table_bytes(),
            ..ExecutionStats::default()
        };
        if exact_until == block_size {
            return Ok(BlockOutput {
                outcomes,
                final_values: prefix_values,
                stats,
            });
        }

        stats.sequential_fallback_from = Some(exact_until);
        stats.fallback_reason = Some(reason);
        stats.executions += (block_size - exact_until) as u64;
        tracing::debug!(
            from = exact_until,
            txns = block_size,
            %reason,
            "Block-STM hands the rest of the block to the sequential executor"
        );
        // The sequential run starts from the prefix's final values, as if
        // it had written them itself: reads find them where they find its
        // own writes, and a location written again moves to its new place
        // in block order.
        let (outcomes, final_values) = run_to_end(
            self.vm,
            &self.txns[exact_until..],
            exact_until,
            self.storage,
            prefix_values,
            outcomes,
            sequential,
        )?;
        Ok(BlockOutput {
            outcomes,
            final_values,
            stats,
        })
    }

    /// What the block's tables hold ([`ExecutionStats::memory_bytes`]).
    fn table_bytes(&self) -> usize {
        let chunks: usize = self
            .chunks
            .iter()
            .map(|slot| slot.lock().values.capacity() * size_of::<(VM::Key, VM::Value)>())
            .sum();
        self.memory.table_bytes()
            + self.scheduler.table_bytes()
            + self.results.capacity() * size_of::<ResultSlot<VM::Output>>()
            + self.chunks.capacity() * size_of::<ChunkSlot<VM::Key, VM::Value>>()
            + chunks
    }

    /// The final values after the prefix `0..end`; `Err(Some(k))` if the
    /// delta of transaction `k < end` overflowed, `Err(None)` after a storage
    /// error (left in `abort`).
    fn materialize_prefix(&self, end: TxnIndex) -> Result<FinalValues<VM>, Option<TxnIndex>> {
        match self.memory.materialize(end, |key| self.storage.get(key)) {
            Ok(values) => match values.first_overflow {
                None => Ok(values.values),
                Some(first) => Err(Some(first)),
            },
            Err(error) => {
                self.stop(storage_error_at(end, error));
                Err(None)
            }
        }
    }

    /// The longest prefix of transactions whose recorded incarnation is
    /// executed and still validates against the prefix below it: exactly
    /// what sequential execution gives them. Runs after the workers stopped.
    fn validated_prefix(&self) -> Result<TxnIndex, BlockError> {
        let in_order = self.counters.lock().in_order;
        for txn_idx in 0..self.txns.len() {
            let (_, status) = self.scheduler.status(txn_idx);
            if status != TxnStatus::Executed {
                return Ok(txn_idx);
            }
            // A worker's in-order streak validates by construction.
            if txn_idx < in_order {
                continue;
            }
            let valid = self
                .memory
                .validate_read_set(txn_idx, |key| self.storage.get(key))
                .map_err(|error| BlockError::Storage { txn_idx, error })?;
            if !valid {
                return Ok(txn_idx);
            }
        }
        Ok(self.txns.len())
    }
}

/// How many consecutive transactions a worker claims at once: up to
/// [`MAX_CLAIM`], while every worker still gets at least [`CLAIMS_PER_WORKER`]
/// runs, so that the block's end stays balanced and a long transaction holds
/// few others back.
pub fn claim_size(block_size: usize, workers: usize) -> usize {
    (block_size / (workers.max(1) * CLAIMS_PER_WORKER)).clamp(1, MAX_CLAIM)
}

/// The longest run of transactions a worker claims.
const MAX_CLAIM: usize = 16;

/// The fewest runs per worker a block is cut into.
const CLAIMS_PER_WORKER: usize = 16;

/// The lower of two optional indices.
fn earliest(a: Option<TxnIndex>, b: Option<TxnIndex>) -> Option<TxnIndex> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn storage_error_at(txn_idx: TxnIndex, error: StorageError) -> BlockError {
    BlockError::Storage {
        txn_idx: txn_idx.saturating_sub(1),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vm::ChainVm;
    use crate::EmptyStorage;

    /// `len` transactions, the first `linked` of them a chain.
    fn chain(len: u32, linked: u32) -> Vec<(u32, bool)> {
        (0..len).map(|i| (i, i < linked)).collect()
    }

    fn next_execution<S: BaseStorage<u32, u64>>(
        block: &ParallelBlock<'_, ChainVm, S>,
        claim: &mut Claim,
    ) -> Version {
        match block.scheduler.next_task(claim) {
            Some(Task::Execute(version)) => version,
            other => panic!("expected an execution, got {other:?}"),
        }
    }

    fn final_value(output: &VmBlockOutput<ChainVm>, key: u32) -> Option<u64> {
        output
            .final_values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| *value)
    }

    /// Worker A takes transaction 0 and worker B transaction 1; they run
    /// them (B first if `b_first`), and the block halts for contention
    /// before anyone validates.
    fn run_two_then_halt<S: BaseStorage<u32, u64>>(
        block: &ParallelBlock<'_, ChainVm, S>,
        b_first: bool,
    ) {
        let wake = || {};
        let mut a = block.worker_buffers(&wake);
        let mut b = block.worker_buffers(&wake);
        let first = next_execution(block, &mut a.claim);
        let second = next_execution(block, &mut b.claim);
        assert_eq!((first.txn_idx, second.txn_idx), (0, 1));
        if b_first {
            let _ = block.try_execute(second, &mut b);
            let _ = block.try_execute(first, &mut a);
        } else {
            let _ = block.try_execute(first, &mut a);
            let _ = block.try_execute(second, &mut b);
        }
        block.halt_for_contention();
        block.report(&a);
        block.report(&b);
    }

    #[test]
    fn a_halted_block_validates_what_lies_beyond_the_in_order_streak() {
        // B runs transaction 1 before A runs transaction 0, so B read key 0
        // before it was written. A's streak (transaction 0) needs no
        // validation; B's stale transaction 1 must fail it and run again
        // sequentially.
        let txns = chain(3, 3);
        let storage = EmptyStorage;
        let block = ParallelBlock::new(&ChainVm, &txns, &storage);
        run_two_then_halt(&block, true);
        assert_eq!(block.validated_prefix(), Ok(1));
        let output = block.finish().unwrap();
        assert_eq!(output.stats.sequential_fallback_from, Some(1));
        assert_eq!(
            output.stats.fallback_reason,
            Some(FallbackReason::Contention)
        );
        let values: Vec<_> = (0..3).map(|key| final_value(&output, key)).collect();
        assert_eq!(values, [Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn a_halted_block_whose_prefix_overflows_hands_over_for_the_overflow() {
        // The counter both transactions add to is full in storage: the
        // halted block's validated prefix overflows at transaction 0, so
        // the sequential executor takes over there, for that reason.
        let txns = chain(3, 0);
        let storage = std::collections::HashMap::from([(u32::MAX, u64::MAX)]);
        let block = ParallelBlock::new(&ChainVm, &txns, &storage);
        run_two_then_halt(&block, false);
        assert_eq!(block.validated_prefix(), Ok(2));
        let output = block.finish().unwrap();
        assert_eq!(output.stats.sequential_fallback_from, Some(0));
        assert_eq!(
            output.stats.fallback_reason,
            Some(FallbackReason::DeltaOverflow)
        );
        assert!(output
            .outcomes
            .iter()
            .all(|outcome| *outcome == TxnOutcome::DeltaOverflow));
    }

    /// Runs `txns` on one thread through `run_worker_waking`; returns the
    /// number of transactions the worker had finished when it called
    /// `wake` (`None`: never), and the output.
    fn run_alone(txns: &[(u32, bool)], held: bool) -> (Option<usize>, VmBlockOutput<ChainVm>) {
        let storage = EmptyStorage;
        let block = ParallelBlock::new(&ChainVm, txns, &storage)
            .with_workers(2)
            .with_helpers_held(held);
        let woken_at = std::cell::Cell::new(None);
        block.run_worker_waking(&|| {
            let finished = block.results.iter().filter(|r| r.lock().is_some());
            woken_at.set(Some(finished.count()));
        });
        (woken_at.get(), block.finish().unwrap())
    }

    #[test]
    fn held_helpers_sleep_through_a_serial_start_and_wake_after_an_independent_one() {
        // Held, a chain halts at the short window without waking anyone.
        let (woken, output) = run_alone(&chain(1_000, 1_000), true);
        assert_eq!(woken, None);
        assert_eq!(
            output.stats.sequential_fallback_from,
            Some(MIN_SERIAL_STREAK)
        );
        assert_eq!(output.stats.executions, 1_000);
        assert_eq!(final_value(&output, 999), Some(1_000));
        // Not held, the helpers are woken before the first transaction, and
        // a worker left alone halts the chain at the long window.
        let (woken, output) = run_alone(&chain(1_000, 1_000), false);
        assert_eq!(woken, Some(0));
        assert_eq!(output.stats.sequential_fallback_from, Some(SERIAL_WINDOW));
        assert_eq!(final_value(&output, 999), Some(1_000));
        // Held, a block whose chain stops early wakes them once its streak
        // stops looking serial: a chain of 10 is three quarters of 13, not
        // of 14.
        let (woken, output) = run_alone(&chain(1_000, 10), true);
        assert_eq!(woken, Some(14));
        assert_eq!(output.stats.sequential_fallback_from, None);
        // And a chain of 13 is three quarters of 16 (and of 17), so it halts
        // at the short window while it still looks serial.
        let (woken, output) = run_alone(&chain(1_000, 13), true);
        assert_eq!(woken, None);
        assert_eq!(
            output.stats.sequential_fallback_from,
            Some(MIN_SERIAL_STREAK)
        );
        let (woken, output) = run_alone(&chain(1_000, 11), true);
        assert_eq!(woken, Some(15));
        assert_eq!(output.stats.sequential_fallback_from, None);
    }
}
