//! Workloads and the measurement harness of Parex's benchmarks.
//!
//! [`workload`] builds blocks of synthetic transfers with the access pattern
//! of the node's transfers (nonce and balance of the sender, a credit to the
//! receiver, optionally a fee into one accumulator) at a chosen contention
//! and cost. [`harness`] runs a sequential and a parallel executor
//! alternately on the same block, checks that they agree, and reports
//! medians, their ratio and what the engine saw; [`machine`] measures the
//! cross-core latency each comparison ran under.

#![deny(missing_docs)]

pub mod calibrate;
pub mod harness;
pub mod machine;
pub mod matrix;
pub mod workload;
