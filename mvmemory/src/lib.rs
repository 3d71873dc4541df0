//! Block-STM multi-version memory.

#![deny(missing_docs)]

mod types;

pub use types::{Delta, Incarnation, Key, TxnIndex, Value};
