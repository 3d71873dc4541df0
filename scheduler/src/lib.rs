//! The Block-STM collaborative scheduler.
//!
//! Workers share two counters, `execution_idx` and `validation_idx`, and
//! repeatedly take the lower-indexed of the two kinds of task: execute the
//! next transaction, or validate the read set of the next executed one. A
//! validation that fails aborts the incarnation, which is re-executed and
//! lowers `validation_idx` so that every later transaction is validated again
//! (a *validation wave*). A transaction that reads an ESTIMATE is suspended
//! until the transaction it depends on finishes executing.
//!
//! [`Scheduler`] is the whole state machine, in one file, in the order a
//! transaction goes through it. Every atomic and lock comes from
//! `parex-sync`, so the loom tests check this very code.
//!
//! ```
//! use parex_scheduler::{Claim, Scheduler, Task};
//!
//! // One worker, three independent transactions, claimed two at a time.
//! let mut scheduler = Scheduler::new(3);
//! scheduler.set_claim_size(2);
//! let mut claim = Claim::new();
//! let mut task = scheduler.next_task(&mut claim);
//! let mut executed = Vec::new();
//! while let Some(current) = task.take() {
//!     task = match current {
//!         Task::Execute(version) => {
//!             executed.push(version.txn_idx);
//!             scheduler.finish_execution(version, false, &mut claim)
//!         }
//!         Task::Validate(version) => {
//!             scheduler.finish_validation(version.txn_idx, false, &mut claim)
//!         }
//!     };
//!     if task.is_none() {
//!         task = scheduler.next_task(&mut claim);
//!     }
//! }
//! assert_eq!(executed, vec![0, 1, 2]);
//! assert!(scheduler.done());
//! ```

#![deny(missing_docs)]

mod scheduler;
mod status;

pub use parex_mvmemory::{Incarnation, TxnIndex};
pub use scheduler::{Claim, Scheduler, Task, Version};
pub use status::TxnStatus;
