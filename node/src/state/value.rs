//! State values, and how engine deltas apply to them.

use parex_engine::{Delta, Value};

use crate::chain::constants::MAX_MULTISIG_PARTICIPANTS;
use crate::chain::{verify_multisig_shape, TxError};
use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::crypto::PublicKey;
use crate::state::StateKind;

/// An account's multisig configuration; threshold 0 means none (a deleted
/// configuration stays a version in history).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiSigConfig {
    /// Co-signatures every transaction of the account needs.
    pub threshold: u8,
    /// Who may co-sign.
    pub participants: Vec<PublicKey>,
}

impl MultiSigConfig {
    /// Whether the account needs co-signatures at all.
    pub fn is_active(&self) -> bool {
        self.threshold > 0
    }

    /// How many of `signers` are participants. Signers are distinct (the
    /// signature check refuses duplicates).
    pub fn approvals(&self, signers: &[PublicKey]) -> usize {
        signers
            .iter()
            .filter(|signer| self.participants.contains(signer))
            .count()
    }
}

/// The value at a [`StateKey`](super::StateKey).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateValue {
    /// Balances, supplies, burned totals and the gas fee: the only values
    /// deltas apply to.
    Amount(u64),
    /// A nonce.
    Nonce(u64),
    /// A multisig configuration.
    MultiSig(MultiSigConfig),
    /// A registered asset.
    Asset,
}

/// Why a value that decodes cannot be the one stored at its key: storage
/// refuses it as corrupt.
#[derive(Debug, thiserror::Error)]
pub enum UnfitValue {
    /// Not the kind of value a key of its kind holds: a balance that held
    /// a nonce would turn every credit to it into a silent revert
    /// ([`Value::apply_delta`] refuses it).
    #[error("{0:?}, not a value of its kind")]
    WrongKind(StateValue),
    /// A multisig configuration no payload could have written (one
    /// participant listed twice, or a threshold of 0 with participants or
    /// above their count; too many participants do not decode, and that
    /// the account is not among them needs its key): it would lock its
    /// account or stall a signer.
    #[error("an invalid multisig configuration: {0}")]
    MultiSig(TxError),
}

impl StateValue {
    /// Checks a value read back from storage at a key of `kind`: it must
    /// be [the kind that key holds](Self::fits), and a multisig
    /// configuration must keep the rules of the payload that wrote it.
    pub fn check_stored(&self, kind: StateKind) -> Result<(), UnfitValue> {
        if !self.fits(kind) {
            return Err(UnfitValue::WrongKind(self.clone()));
        }
        match self {
            StateValue::MultiSig(config) => {
                verify_multisig_shape(config.threshold, &config.participants)
                    .map_err(UnfitValue::MultiSig)
            }
            _ => Ok(()),
        }
    }

    /// Whether this is the kind of value a key of `kind` holds: amounts
    /// for balances, supplies, burned totals and the gas fee, and one kind
    /// each for the rest.
    pub fn fits(&self, kind: StateKind) -> bool {
        matches!(
            (self, kind),
            (
                StateValue::Amount(_),
                StateKind::Balance | StateKind::Supply | StateKind::Burned | StateKind::GasFee
            ) | (StateValue::Nonce(_), StateKind::Nonce)
                | (StateValue::MultiSig(_), StateKind::MultiSig)
                | (StateValue::Asset, StateKind::Asset)
        )
    }
}

impl Value for StateValue {
    fn apply_delta(current: Option<&Self>, delta: Delta) -> Option<Self> {
        let current = match current {
            None => 0,
            Some(StateValue::Amount(amount)) => *amount,
            // A delta on a non-amount is a VM bug; refusing it reverts the
            // transaction instead of corrupting the location.
            Some(_) => return None,
        };
        let sum = i128::from(current).checked_add(delta)?;
        u64::try_from(sum).ok().map(StateValue::Amount)
    }
}

impl MultiSigConfig {
    /// Encodes a configuration from its parts (the multisig payload shares
    /// this encoding).
    pub fn encode_parts(writer: &mut Writer, threshold: u8, participants: &[PublicKey]) {
        writer.u8(threshold);
        writer.len_u16(participants.len());
        participants.iter().for_each(|key| key.encode(writer));
    }
}

impl Encode for MultiSigConfig {
    fn encode(&self, writer: &mut Writer) {
        Self::encode_parts(writer, self.threshold, &self.participants);
    }
}

impl Decode for MultiSigConfig {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let threshold = reader.u8("multisig threshold")?;
        let count = reader.len_u16("multisig participants", MAX_MULTISIG_PARTICIPANTS)?;
        let participants = (0..count)
            .map(|_| PublicKey::decode(reader))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            threshold,
            participants,
        })
    }
}

const TAG_AMOUNT: u8 = 0;
const TAG_NONCE: u8 = 1;
const TAG_MULTISIG: u8 = 2;
const TAG_ASSET: u8 = 3;

impl Encode for StateValue {
    fn encode(&self, writer: &mut Writer) {
        match self {
            StateValue::Amount(amount) => {
                writer.u8(TAG_AMOUNT);
                writer.u64(*amount);
            }
            StateValue::Nonce(nonce) => {
                writer.u8(TAG_NONCE);
                writer.u64(*nonce);
            }
            StateValue::MultiSig(config) => {
                writer.u8(TAG_MULTISIG);
                config.encode(writer);
            }
            StateValue::Asset => writer.u8(TAG_ASSET),
        }
    }
}

impl Decode for StateValue {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match reader.u8("state value")? {
            TAG_AMOUNT => StateValue::Amount(reader.u64("amount")?),
            TAG_NONCE => StateValue::Nonce(reader.u64("nonce")?),
            TAG_MULTISIG => StateValue::MultiSig(MultiSigConfig::decode(reader)?),
            TAG_ASSET => StateValue::Asset,
            tag => {
                return Err(DecodeError::InvalidTag {
                    field: "state value",
                    tag,
                })
            }
        })
    }
}
