//! State locations.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::crypto::{Hash, PublicKey};

/// One location of the chain state. The derived order is the order of a
/// block's final writes, hence of the commitment: never reorder variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateKey {
    /// An account's balance of an asset.
    Balance {
        /// The account.
        account: PublicKey,
        /// The asset.
        asset: Hash,
    },
    /// The nonce the account's next transaction must carry.
    Nonce(PublicKey),
    /// The account's multisig configuration.
    MultiSig(PublicKey),
    /// Present when the asset is registered.
    Asset(Hash),
    /// Units of the asset ever minted (genesis and rewards).
    Supply(Hash),
    /// Units of the asset ever burned (burns and the burned part of fees).
    Burned(Hash),
    /// The fees the current block accrued for its miner. Every block starts
    /// it from zero; its stored versions are the gas fee of each block.
    GasFee,
}

/// The kind of a [`StateKey`]: one pair of column families each in RocksDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StateKind {
    /// [`StateKey::Balance`].
    Balance,
    /// [`StateKey::Nonce`].
    Nonce,
    /// [`StateKey::MultiSig`].
    MultiSig,
    /// [`StateKey::Asset`].
    Asset,
    /// [`StateKey::Supply`].
    Supply,
    /// [`StateKey::Burned`].
    Burned,
    /// [`StateKey::GasFee`].
    GasFee,
}

impl StateKind {
    /// Every kind, in key order.
    pub const ALL: [StateKind; 7] = [
        StateKind::Balance,
        StateKind::Nonce,
        StateKind::MultiSig,
        StateKind::Asset,
        StateKind::Supply,
        StateKind::Burned,
        StateKind::GasFee,
    ];

    /// A short lowercase name (column family names derive from it).
    pub fn name(self) -> &'static str {
        match self {
            StateKind::Balance => "balances",
            StateKind::Nonce => "nonces",
            StateKind::MultiSig => "multisig",
            StateKind::Asset => "assets",
            StateKind::Supply => "supply",
            StateKind::Burned => "burned",
            StateKind::GasFee => "gas_fee",
        }
    }

    fn tag(self) -> u8 {
        self as u8
    }
}

impl StateKey {
    /// The key's kind.
    pub fn kind(&self) -> StateKind {
        match self {
            StateKey::Balance { .. } => StateKind::Balance,
            StateKey::Nonce(_) => StateKind::Nonce,
            StateKey::MultiSig(_) => StateKind::MultiSig,
            StateKey::Asset(_) => StateKind::Asset,
            StateKey::Supply(_) => StateKind::Supply,
            StateKey::Burned(_) => StateKind::Burned,
            StateKey::GasFee => StateKind::GasFee,
        }
    }

    /// Whether the location restarts from nothing in every block, whatever
    /// is stored.
    pub fn is_per_block(&self) -> bool {
        matches!(self, StateKey::GasFee)
    }

    /// The key's bytes within its kind: `account‖asset`, `account`, `asset`
    /// or nothing.
    pub fn encode_body(&self, writer: &mut Writer) {
        match self {
            StateKey::Balance { account, asset } => {
                account.encode(writer);
                asset.encode(writer);
            }
            StateKey::Nonce(account) | StateKey::MultiSig(account) => account.encode(writer),
            StateKey::Asset(asset) | StateKey::Supply(asset) | StateKey::Burned(asset) => {
                asset.encode(writer)
            }
            StateKey::GasFee => {}
        }
    }

    /// [`Self::encode_body`] as bytes.
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        self.encode_body(&mut writer);
        writer.into_bytes()
    }

    /// Reads a key of `kind` from its body bytes.
    pub fn decode_body(kind: StateKind, reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match kind {
            StateKind::Balance => StateKey::Balance {
                account: PublicKey::decode(reader)?,
                asset: Hash::decode(reader)?,
            },
            StateKind::Nonce => StateKey::Nonce(PublicKey::decode(reader)?),
            StateKind::MultiSig => StateKey::MultiSig(PublicKey::decode(reader)?),
            StateKind::Asset => StateKey::Asset(Hash::decode(reader)?),
            StateKind::Supply => StateKey::Supply(Hash::decode(reader)?),
            StateKind::Burned => StateKey::Burned(Hash::decode(reader)?),
            StateKind::GasFee => StateKey::GasFee,
        })
    }
}

impl Encode for StateKey {
    fn encode(&self, writer: &mut Writer) {
        writer.u8(self.kind().tag());
        self.encode_body(writer);
    }
}

impl Decode for StateKey {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = reader.u8("state kind")?;
        let kind = StateKind::ALL
            .into_iter()
            .find(|kind| kind.tag() == tag)
            .ok_or(DecodeError::InvalidTag {
                field: "state kind",
                tag,
            })?;
        Self::decode_body(kind, reader)
    }
}
