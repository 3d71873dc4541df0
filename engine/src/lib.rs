//! Parex's executors: Block-STM parallel execution and its sequential
//! baseline, behind one [`Executor`] interface, generic over the [`Vm`].

#![deny(missing_docs)]

mod error;
mod executor;
mod output;
mod parallel;
mod sequential;
mod storage;
mod vm;
pub mod write_set;

pub use error::{BlockError, EngineError};
pub use executor::{Executor, VmBlockOutput};
pub use output::{BlockOutput, ExecutionStats, TxnOutcome};
pub use parallel::{ParallelBlock, ParallelExecutor};
pub use parex_mvmemory::Incarnation;
pub use sequential::SequentialExecutor;
pub use storage::{BaseStorage, EmptyStorage, StorageError};
pub use vm::{Delta, Key, Suspend, TxnIndex, TxnView, Value, Vm, VmError};
