//! One block under parallel execution: the shared state and the worker loop.
//!
//! [`ParallelBlock`] can be driven by any threads: the executor's pool runs
//! [`ParallelBlock::run_worker`] on each of its workers, the loom tests on
//! model-checked threads. After every worker has returned,
//! [`ParallelBlock::finish`] turns the multi-version memory into the block's
//! output.

use std::panic::{catch_unwind, AssertUnwindSafe};

use parex_mvmemory::{FinalValues, MvMemory, ReadDescriptor};
use parex_scheduler::{Scheduler, Task, Version};
use parex_sync::{CachePadded, Mutex};

use crate::executor::VmBlockOutput;
use crate::parallel::view::ParallelView;
use crate::sequential::{panic_message, SequentialRun};
use crate::write_set::WriteSet;
use crate::{
    BaseStorage, BlockError, BlockOutput, ExecutionStats, StorageError, TxnIndex, TxnOutcome, Vm,
    VmError,
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
type ResultSlot<O> = CachePadded<Mutex<Option<IncarnationResult<O>>>>;

/// Counters one worker keeps to itself and adds to the block's at the end,
/// so that counting costs no shared write on the hot path.
#[derive(Debug, Default, Clone, Copy)]
struct WorkerCounters {
    executions: u64,
    validations: u64,
    validation_failures: u64,
    dependency_waits: u64,
}

/// Buffers a worker reuses from task to task.
struct WorkerBuffers<K, V> {
    reads: Vec<ReadDescriptor<K, V>>,
    writes: WriteSet<K, V>,
    counters: WorkerCounters,
}

/// The shared state of one block executed in parallel.
pub struct ParallelBlock<'a, VM: Vm, S> {
    vm: &'a VM,
    txns: &'a [VM::Txn],
    storage: &'a S,
    memory: MvMemory<VM::Key, VM::Value>,
    scheduler: Scheduler,
    results: Box<[ResultSlot<VM::Output>]>,
    /// The first error that stops the whole block (storage, engine bug).
    abort: Mutex<Option<BlockError>>,
    counters: Mutex<WorkerCounters>,
}

impl<'a, VM, S> ParallelBlock<'a, VM, S>
where
    VM: Vm,
    S: BaseStorage<VM::Key, VM::Value>,
{
    /// Prepares `txns` for execution on `storage`.
    pub fn new(vm: &'a VM, txns: &'a [VM::Txn], storage: &'a S) -> Self {
        Self {
            vm,
            txns,
            storage,
            memory: MvMemory::new(txns.len()),
            scheduler: Scheduler::new(txns.len()),
            results: (0..txns.len())
                .map(|_| CachePadded::new(Mutex::new(None)))
                .collect(),
            abort: Mutex::new(None),
            counters: Mutex::new(WorkerCounters::default()),
        }
    }

    /// Takes tasks from the scheduler and runs them until the block is done.
    /// Call it from every worker thread; it never unwinds.
    pub fn run_worker(&self) {
        let mut buffers = WorkerBuffers {
            reads: Vec::new(),
            writes: WriteSet::default(),
            counters: WorkerCounters::default(),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| self.worker_loop(&mut buffers)));
        if let Err(payload) = outcome {
            self.stop(BlockError::Internal(format!(
                "worker panicked: {}",
                panic_message(payload.as_ref())
            )));
        }
        let mut counters = self.counters.lock();
        counters.executions += buffers.counters.executions;
        counters.validations += buffers.counters.validations;
        counters.validation_failures += buffers.counters.validation_failures;
        counters.dependency_waits += buffers.counters.dependency_waits;
    }

    fn worker_loop(&self, buffers: &mut WorkerBuffers<VM::Key, VM::Value>) {
        let mut task = self.scheduler.next_task();
        while let Some(current) = task {
            task = match current {
                Task::Execute(version) => self.try_execute(version, buffers),
                Task::Validate(version) => self.validate(version, buffers),
            };
            if task.is_none() {
                task = self.scheduler.next_task();
            } else if self.scheduler.done() {
                // Halted: a follow-up task is dropped with the rest.
                break;
            }
        }
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
        buffers: &mut WorkerBuffers<VM::Key, VM::Value>,
    ) -> Option<Task> {
        let Version {
            txn_idx,
            incarnation,
        } = version;
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
                buffers.counters.dependency_waits += 1;
                if self.scheduler.add_dependency(txn_idx, blocking) {
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
            let wrote_new_location = self.memory.record(
                txn_idx,
                incarnation,
                &mut buffers.reads,
                buffers.writes.drain(),
            );
            *self.results[txn_idx].lock() = Some(result);
            return self.scheduler.finish_execution(version, wrote_new_location);
        }
    }

    /// Validates one incarnation's read set; aborts it if it is stale.
    fn validate(
        &self,
        version: Version,
        buffers: &mut WorkerBuffers<VM::Key, VM::Value>,
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
        }
        self.scheduler.finish_validation(version.txn_idx, aborted)
    }

    /// The block's output, once every worker has returned.
    ///
    /// If a transaction's delta overflowed against what earlier transactions
    /// wrote, the transactions from it on are executed again sequentially
    /// (the overflowing one must be reverted, and later ones may have read
    /// its writes); everything below it is final as it is.
    pub fn finish(self) -> Result<VmBlockOutput<VM>, BlockError> {
        if let Some(error) = self.abort.into_inner() {
            return Err(error);
        }
        let block_size = self.txns.len();
        let storage = self.storage;
        let FinalValues {
            values: final_values,
            first_overflow,
        } = self
            .memory
            .materialize(block_size, |key| storage.get(key))
            .map_err(|error| storage_error_at(block_size, error))?;
        let exact_until = first_overflow.unwrap_or(block_size);

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

        let counters = self.counters.into_inner();
        let mut stats = ExecutionStats {
            txns: block_size,
            executions: counters.executions,
            validations: counters.validations,
            validation_failures: counters.validation_failures,
            dependency_waits: counters.dependency_waits,
            ..ExecutionStats::default()
        };

        if exact_until == block_size {
            return Ok(BlockOutput {
                outcomes,
                final_values,
                stats,
            });
        }

        // Sequential from the first overflow on, over the exact prefix.
        stats.sequential_fallback_from = Some(exact_until);
        stats.executions += (block_size - exact_until) as u64;
        let prefix = PrefixStorage {
            memory: &self.memory,
            end: exact_until,
            storage,
        };
        let mut run = SequentialRun::new(block_size - exact_until);
        run.execute(self.vm, &self.txns[exact_until..], exact_until, &prefix)?;
        outcomes.append(&mut run.outcomes);
        let mut final_values = self
            .memory
            .materialize(exact_until, |key| storage.get(key))
            .map_err(|error| storage_error_at(exact_until, error))?
            .values;
        final_values.retain(|(key, _)| !run.written.contains_key(key));
        final_values.extend(run.written);
        final_values.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(BlockOutput {
            outcomes,
            final_values,
            stats,
        })
    }
}

fn storage_error_at(txn_idx: TxnIndex, error: StorageError) -> BlockError {
    BlockError::Storage {
        txn_idx: txn_idx.saturating_sub(1),
        error,
    }
}

/// The state after the first `end` transactions of the block: their versions
/// in the multi-version memory over the base storage.
struct PrefixStorage<'a, K, V, S> {
    memory: &'a MvMemory<K, V>,
    end: TxnIndex,
    storage: &'a S,
}

impl<K, V, S> BaseStorage<K, V> for PrefixStorage<'_, K, V, S>
where
    K: crate::Key,
    V: crate::Value,
    S: BaseStorage<K, V>,
{
    fn get(&self, key: &K) -> Result<Option<V>, StorageError> {
        match self
            .memory
            .value_below(key, self.end, |key| self.storage.get(key))?
        {
            Some(materialized) => Ok(materialized.value),
            None => self.storage.get(key),
        }
    }
}
