//! The chain's transaction semantics as a Parex [`Vm`](parex_engine::Vm).
//!
//! A block runs as `[Reward, User.., FeePayout]`: the reward is minted first
//! and the accrued gas fee paid last by synthetic transactions that the
//! engine executes like any other, so both execution paths order them the
//! same way by construction.

mod chain_vm;
mod outcome;
mod reads;
mod user_tx;

pub use chain_vm::{ChainTxn, ChainVm, VerifiedTx};
pub use outcome::{OrphanReason, TxResult};
