//! Synthetic accounts, genesis and signed transactions, for the devnet and
//! for benchmarks.

mod accounts;
mod generator;
mod genesis;

pub use accounts::DevAccounts;
pub use generator::{devnet_block, generate_block_txs, Workload};
pub use genesis::{
    devnet_genesis, in_memory_chain, user_assets, MAX_DEVNET_ACCOUNTS, NATIVE_PER_ACCOUNT,
    USER_ASSET_PER_ACCOUNT,
};
