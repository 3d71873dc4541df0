//! Whole-state invariants.

mod supply;

pub use supply::{check_supply, AssetSupply, SupplyError};
