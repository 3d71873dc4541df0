//! Parex reference node: a TOS/XELIS-style account chain (plaintext
//! balances) whose blocks run on the Parex executors.

#![deny(missing_docs)]

pub mod audit;
pub mod blockchain;
pub mod chain;
pub mod cli;
pub mod codec;
pub mod config;
pub mod crypto;
pub mod replay;
pub mod state;
pub mod storage;
pub mod vm;
pub mod workload;
