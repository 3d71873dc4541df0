//! Parex's executors: Block-STM parallel execution and its sequential
//! baseline, behind one [`Executor`] interface, generic over the [`Vm`].
//!
//! A chain implements [`Vm`] (how one transaction reads and writes the
//! state) and [`BaseStorage`] (the state before the block), and hands a
//! block to an executor. [`ParallelExecutor`] runs it speculatively on a pool
//! of worker threads over a multi-version memory, validating every read and
//! re-executing on conflict; [`SequentialExecutor`] runs it one transaction
//! after another. By default the parallel executor starts every block
//! sequentially and hands the rest to Block-STM only once its transactions
//! prove expensive enough to gain from it ([`StartPolicy`]); on a few
//! cores, cheap transactions run faster one after another. Both return the same [`BlockOutput`]: each transaction's
//! [`TxnOutcome`] in block order, and the final value of every location the
//! block wrote, in the order of the transactions that last wrote them.
//!
//! # Example: a transfer VM, executed both ways
//!
//! ```
//! use std::collections::HashMap;
//! use parex_engine::*;
//!
//! /// Moves `amount` from one account to another, and pays a fee of 1 into
//! /// an accumulator without reading it (a delta: it never conflicts).
//! struct Transfer { from: u32, to: u32, amount: u64 }
//! const FEES: u32 = u32::MAX;
//!
//! struct TransferVm;
//! impl Vm for TransferVm {
//!     type Txn = Transfer;
//!     type Key = u32;
//!     type Value = u64;
//!     type Output = bool; // whether the transfer was paid
//!
//!     fn execute<V: TxnView<u32, u64>>(&self, tx: &Transfer, view: &mut V) -> Result<bool, VmError> {
//!         let balance = view.read(&tx.from)?.unwrap_or(0);
//!         let Some(left) = balance.checked_sub(tx.amount + 1) else { return Ok(false) };
//!         view.write(tx.from, left);
//!         view.add_delta(tx.to, i128::from(tx.amount));
//!         view.add_delta(FEES, 1);
//!         Ok(true)
//!     }
//! }
//!
//! let genesis: HashMap<u32, u64> = (0..100).map(|account| (account, 1_000)).collect();
//! let block: Vec<Transfer> = (0..1_000)
//!     .map(|i| Transfer { from: i % 100, to: (i * 7 + 3) % 100, amount: 10 })
//!     .collect();
//!
//! let sequential = SequentialExecutor::new().execute(&TransferVm, &block, &genesis)?;
//! let parallel = ParallelExecutor::new(4)?.execute(&TransferVm, &block, &genesis)?;
//! assert_eq!(parallel.effect(), sequential.effect());
//! assert!(parallel.final_values.contains(&(FEES, 1_000)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees
//! - Determinism: the output depends only on the VM, the block and the base
//!   storage, never on the thread count or the interleaving.
//! - A panic or [`VmError::Fatal`] of a speculative incarnation is retried;
//!   one that sequential execution also hits fails the block with a
//!   [`BlockError`] naming the transaction, identically for every executor.
//! - An executor survives any block: nothing hangs, nothing stays poisoned.

#![deny(missing_docs)]

pub mod analysis;
mod error;
mod executor;
mod kept_buffers;
mod output;
mod parallel;
mod sequential;
mod storage;
#[cfg(test)]
mod test_vm;
mod vm;
pub mod write_set;

pub use error::{BlockError, EngineError};
pub use executor::{Executor, VmBlockOutput};
pub use output::{BlockOutput, ExecutionStats, FallbackReason, TxnOutcome};
pub use parallel::{
    available_threads, BlockBuffers, ParallelBlock, ParallelExecutor, StartPolicy,
    AT_ONCE_MAX_TXNS, DEFAULT_MIN_TXNS_PER_WORKER, MAX_THREADS,
};
pub use parex_mvmemory::Incarnation;
pub use sequential::SequentialExecutor;
pub use storage::{BaseStorage, EmptyStorage, StorageError};
pub use vm::{Delta, Key, Suspend, TxnIndex, TxnView, Value, Vm, VmError};
