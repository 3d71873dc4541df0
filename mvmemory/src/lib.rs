//! Block-STM multi-version memory.
//!
//! For every state location, [`MvMemory`] holds the version each transaction
//! of the current block last wrote there, keyed by transaction index, with
//! the incarnation that wrote it. A read by transaction `j` sees the highest
//! version written by a transaction `i < j`:
//! - a full value, recorded in the read set as `(i, incarnation)`;
//! - an ESTIMATE, left by an aborted incarnation of `i`: the read reports a
//!   dependency on `i` and the reader waits for `i`'s next incarnation;
//! - deltas (blind additions): applied in transaction order to the value
//!   below them, or to the base storage's value, and recorded by value;
//! - nothing: the read falls through to the base storage.
//!
//! Validation re-reads every recorded read and answers whether the same
//! version (or value) would still be seen.
//!
//! Delta writers of one location never conflict with each other; only a read
//! of the location depends on them. A delta that overflows is skipped when
//! reads resolve it, and reported by [`MvMemory::materialize`]: the
//! transaction that wrote it must be reverted, which the engine does by
//! finishing the block sequentially from that transaction on.
//!
//! ```
//! use parex_mvmemory::{MvMemory, MvRead, ReadOrigin, WriteOp};
//!
//! let memory: MvMemory<&str, u64> = MvMemory::new(3);
//! // The location slots of this (single) worker for this block.
//! let mut slots = memory.reservation();
//! // Transaction 0 sets a balance; transaction 1 adds a fee to an accumulator.
//! memory.record(0, 0, &mut Vec::new(), [("alice", WriteOp::Value(10))], &mut slots).unwrap();
//! memory.record(1, 0, &mut Vec::new(), [("fees", WriteOp::Delta(2))], &mut slots).unwrap();
//!
//! // Transaction 2 sees transaction 0's version of "alice".
//! assert_eq!(
//!     memory.read(&"alice", 2, None),
//!     MvRead::Value(Some(10), ReadOrigin::Version(0, 0)),
//! );
//! // "fees" holds only a delta: resolving it needs the base value.
//! assert_eq!(memory.read(&"fees", 2, None), MvRead::NeedsBase);
//! assert_eq!(
//!     memory.read(&"fees", 2, Some(&Some(5))),
//!     MvRead::Value(Some(7), ReadOrigin::Resolved(Some(7), 1)),
//! );
//! // Transaction 0 is aborted: transaction 2 must wait for it.
//! memory.convert_writes_to_estimates(0);
//! assert_eq!(memory.read(&"alice", 2, None), MvRead::Dependency(0));
//! ```

#![deny(missing_docs)]

mod locations;
mod memory;
mod read_set;
mod types;
mod versions;

pub use locations::{MemoryFull, Reservation};
pub use memory::{FinalValues, MvMemory, MvRead, WriteOp, DEFAULT_LOCATIONS_PER_TXN};
pub use read_set::{ReadDescriptor, ReadOrigin};
pub use types::{Delta, Incarnation, Key, TxnIndex, Value};
