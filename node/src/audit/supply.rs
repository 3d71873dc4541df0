//! No unit is created or lost: per asset, balances plus burned equal the
//! minted supply, and the native supply is genesis plus one reward a block.

use std::collections::BTreeMap;

use crate::blockchain::stored_genesis;
use crate::chain::constants::{BLOCK_REWARD, NATIVE_ASSET};
use crate::crypto::Hash;
use crate::state::{StateKey, StateKind, StateValue};
use crate::storage::{Storage, StorageError};

/// One asset's books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetSupply {
    /// The asset.
    pub asset: Hash,
    /// Sum of all balances.
    pub balances: u128,
    /// Units burned.
    pub burned: u128,
    /// Units minted (the stored supply).
    pub supply: u128,
    /// Units genesis plus rewards should have minted.
    pub expected_supply: u128,
}

impl AssetSupply {
    /// Whether the books balance.
    pub fn holds(&self) -> bool {
        self.balances + self.burned == self.supply && self.supply == self.expected_supply
    }
}

/// The supply check failed to run (a failed check is a report whose
/// [`AssetSupply::holds`] is false).
#[derive(Debug, thiserror::Error)]
pub enum SupplyError {
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The genesis spec is missing or invalid.
    #[error("cannot read genesis: {0}")]
    Genesis(String),
}

/// Per registered asset, sorted: balances, burned, supply, and what the
/// supply should be.
pub fn check_supply<S: Storage>(storage: &S) -> Result<Vec<AssetSupply>, SupplyError> {
    let genesis =
        stored_genesis(storage).map_err(|error| SupplyError::Genesis(error.to_string()))?;
    let tip = storage.tip()?.map_or(0, |tip| tip.topoheight);
    let mut books: BTreeMap<Hash, AssetSupply> = BTreeMap::new();
    for (key, _) in storage.state_entries(StateKind::Asset)? {
        if let StateKey::Asset(asset) = key {
            books.insert(
                asset,
                AssetSupply {
                    asset,
                    balances: 0,
                    burned: 0,
                    supply: 0,
                    expected_supply: 0,
                },
            );
        }
    }
    for allocation in &genesis.allocations {
        if let Some(book) = books.get_mut(&allocation.asset) {
            book.expected_supply += u128::from(allocation.amount);
        }
    }
    if let Some(native) = books.get_mut(&NATIVE_ASSET) {
        native.expected_supply += u128::from(BLOCK_REWARD) * u128::from(tip);
    }
    for kind in [StateKind::Balance, StateKind::Burned, StateKind::Supply] {
        for (key, value) in storage.state_entries(kind)? {
            let StateValue::Amount(amount) = value else {
                continue;
            };
            let (asset, field): (Hash, fn(&mut AssetSupply) -> &mut u128) = match key {
                StateKey::Balance { asset, .. } => (asset, |book| &mut book.balances),
                StateKey::Burned(asset) => (asset, |book| &mut book.burned),
                StateKey::Supply(asset) => (asset, |book| &mut book.supply),
                _ => continue,
            };
            if let Some(book) = books.get_mut(&asset) {
                *field(book) += u128::from(amount);
            }
        }
    }
    Ok(books.into_values().collect())
}
