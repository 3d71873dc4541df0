//! The state at topoheight 0.

use std::collections::BTreeMap;

use super::constants::{BLOCK_VERSION, NATIVE_ASSET};
use super::BlockHeader;
use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::crypto::{hash, Hash, PublicKey};
use crate::state::{StateKey, StateValue};

/// Funds an account holds at genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// The funded account.
    pub account: PublicKey,
    /// The asset.
    pub asset: Hash,
    /// Atomic units.
    pub amount: u64,
}

/// Everything genesis defines: the registered assets and the initial
/// balances. The genesis block's `txs_root` is the hash of this spec, so the
/// genesis hash identifies the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisSpec {
    /// A name for humans; part of the chain's identity.
    pub network: String,
    /// The genesis block's timestamp.
    pub timestamp_ms: u64,
    /// User assets; the native asset is always registered.
    pub assets: Vec<Hash>,
    /// Initial balances.
    pub allocations: Vec<Allocation>,
}

/// A spec that does not define a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// An allocation of an asset that is not registered.
    #[error("genesis allocates unregistered asset {0}")]
    UnknownAsset(Hash),
    /// The same (account, asset) allocated twice.
    #[error("genesis allocates {asset} to {account} twice")]
    DuplicateAllocation {
        /// The account.
        account: PublicKey,
        /// The asset.
        asset: Hash,
    },
    /// An asset's total supply does not fit a `u64`.
    #[error("genesis supply of {0} overflows")]
    SupplyOverflow(Hash),
    /// A network name longer than [`MAX_NETWORK_NAME_BYTES`].
    #[error("network name of {0} bytes, at most {MAX_NETWORK_NAME_BYTES} allowed")]
    NetworkNameTooLong(usize),
    /// More allocations than [`MAX_GENESIS_ENTRIES`].
    #[error("{0} genesis allocations, at most {MAX_GENESIS_ENTRIES} allowed")]
    TooManyAllocations(usize),
}

/// The longest network name, in bytes.
pub const MAX_NETWORK_NAME_BYTES: usize = 256;

/// The most allocations a genesis spec may have.
pub const MAX_GENESIS_ENTRIES: usize = 10_000_000;

impl GenesisSpec {
    /// The genesis block's header.
    pub fn header(&self) -> BlockHeader {
        BlockHeader {
            version: BLOCK_VERSION,
            topoheight: 0,
            previous: Hash::ZERO,
            timestamp_ms: self.timestamp_ms,
            miner: PublicKey([0; 32]),
            txs_root: hash(&self.to_bytes()),
        }
    }

    /// The state genesis writes, sorted by key. Refuses a spec that its
    /// decoder would refuse: a chain created from it could never be opened
    /// again.
    pub fn state_writes(&self) -> Result<Vec<(StateKey, StateValue)>, GenesisError> {
        if self.network.len() > MAX_NETWORK_NAME_BYTES {
            return Err(GenesisError::NetworkNameTooLong(self.network.len()));
        }
        if self.allocations.len() > MAX_GENESIS_ENTRIES {
            return Err(GenesisError::TooManyAllocations(self.allocations.len()));
        }
        let mut writes = BTreeMap::new();
        let mut supply: BTreeMap<Hash, u64> = BTreeMap::new();
        for asset in std::iter::once(&NATIVE_ASSET).chain(&self.assets) {
            writes.insert(StateKey::Asset(*asset), StateValue::Asset);
            supply.insert(*asset, 0);
        }
        for allocation in &self.allocations {
            let Some(total) = supply.get_mut(&allocation.asset) else {
                return Err(GenesisError::UnknownAsset(allocation.asset));
            };
            *total = total
                .checked_add(allocation.amount)
                .ok_or(GenesisError::SupplyOverflow(allocation.asset))?;
            let key = StateKey::Balance {
                account: allocation.account,
                asset: allocation.asset,
            };
            if writes
                .insert(key, StateValue::Amount(allocation.amount))
                .is_some()
            {
                return Err(GenesisError::DuplicateAllocation {
                    account: allocation.account,
                    asset: allocation.asset,
                });
            }
        }
        for (asset, total) in supply {
            writes.insert(StateKey::Supply(asset), StateValue::Amount(total));
        }
        Ok(writes.into_iter().collect())
    }
}

impl Encode for GenesisSpec {
    fn encode(&self, writer: &mut Writer) {
        writer.len_u16(self.network.len());
        writer.bytes(self.network.as_bytes());
        writer.u64(self.timestamp_ms);
        writer.len_u32(self.assets.len());
        self.assets.iter().for_each(|asset| asset.encode(writer));
        writer.len_u32(self.allocations.len());
        for allocation in &self.allocations {
            allocation.account.encode(writer);
            allocation.asset.encode(writer);
            writer.u64(allocation.amount);
        }
    }
}

impl Decode for GenesisSpec {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = reader.len_u16("network name", MAX_NETWORK_NAME_BYTES)?;
        let network =
            String::from_utf8(reader.take(len, "network name")?.to_vec()).map_err(|error| {
                DecodeError::Invalid {
                    field: "network name",
                    reason: error.to_string(),
                }
            })?;
        let timestamp_ms = reader.u64("genesis timestamp")?;
        let count = reader.len_u32("genesis assets", reader.remaining() / 32)?;
        let assets = (0..count)
            .map(|_| Hash::decode(reader))
            .collect::<Result<_, _>>()?;
        let count = reader.len_u32(
            "genesis allocations",
            MAX_GENESIS_ENTRIES.min(reader.remaining() / 72),
        )?;
        let allocations = (0..count)
            .map(|_| {
                Ok(Allocation {
                    account: PublicKey::decode(reader)?,
                    asset: Hash::decode(reader)?,
                    amount: reader.u64("allocation amount")?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Self {
            network,
            timestamp_ms,
            assets,
            allocations,
        })
    }
}
