//! The devnet's genesis: every account funded in every asset.

use super::DevAccounts;
use crate::blockchain::{Blockchain, BlockchainError, ExecutionConfig};
use crate::chain::constants::NATIVE_ASSET;
use crate::chain::{Allocation, GenesisSpec};
use crate::crypto::{hash, Hash};
use crate::storage::MemoryStorage;

/// Native units each account starts with.
pub const NATIVE_PER_ACCOUNT: u64 = 10_000_000_000_000;
/// Units of each user asset each account starts with.
pub const USER_ASSET_PER_ACCOUNT: u64 = 100_000_000_000;

/// The most accounts a devnet has. Genesis mints [`NATIVE_PER_ACCOUNT`]
/// to each, and the native supply must fit a `u64` with room for block
/// rewards: past 1,844,674 accounts genesis fails, after the devnet has
/// created its database. 10^6 accounts leave 8.4 × 10^18 units, billions
/// of blocks' rewards, and their 3 × 10^6 allocations stay under what a
/// stored genesis spec may hold (10^7).
pub const MAX_DEVNET_ACCOUNTS: u32 = 1_000_000;

const _: () = assert!((MAX_DEVNET_ACCOUNTS as u64)
    .checked_mul(NATIVE_PER_ACCOUNT)
    .is_some());

/// The devnet's user assets.
pub fn user_assets() -> Vec<Hash> {
    ["parex-devnet-asset-1", "parex-devnet-asset-2"]
        .iter()
        .map(|name| hash(name.as_bytes()))
        .collect()
}

/// The devnet genesis for `accounts`.
pub fn devnet_genesis(accounts: &DevAccounts) -> GenesisSpec {
    let assets = user_assets();
    let mut allocations = Vec::with_capacity(accounts.len() * (1 + assets.len()));
    for index in 0..accounts.len() {
        let account = accounts.public_key(index);
        allocations.push(Allocation {
            account,
            asset: NATIVE_ASSET,
            amount: NATIVE_PER_ACCOUNT,
        });
        for asset in &assets {
            allocations.push(Allocation {
                account,
                asset: *asset,
                amount: USER_ASSET_PER_ACCOUNT,
            });
        }
    }
    GenesisSpec {
        network: "parex-devnet".to_owned(),
        timestamp_ms: 0,
        assets,
        allocations,
    }
}

/// A fresh in-memory chain at the devnet genesis of `accounts`.
pub fn in_memory_chain(
    accounts: &DevAccounts,
    config: ExecutionConfig,
) -> Result<Blockchain<MemoryStorage>, BlockchainError> {
    Blockchain::create(
        MemoryStorage::new(),
        &devnet_genesis(accounts),
        Vec::new(),
        config,
    )
}
