//! What a transaction does.

use super::constants::{MAX_EXTRA_DATA_SIZE, MAX_TRANSFER_OUTPUTS};
use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::crypto::{Hash, PublicKey};
use crate::state::MultiSigConfig;

/// One output of a `Transfers` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOutput {
    /// The asset sent.
    pub asset: Hash,
    /// Atomic units sent.
    pub amount: u64,
    /// The receiving account.
    pub destination: PublicKey,
    /// Opaque data for the receiver, at most
    /// [`MAX_EXTRA_DATA_SIZE`] bytes.
    pub extra_data: Option<Vec<u8>>,
}

/// A transaction's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Sends assets to other accounts.
    Transfers(Vec<TransferOutput>),
    /// Destroys `amount` of `asset` from the sender's balance.
    Burn {
        /// The asset burned.
        asset: Hash,
        /// Atomic units burned.
        amount: u64,
    },
    /// Sets the sender's multisig configuration; threshold 0 with no
    /// participants removes it.
    MultiSig {
        /// Participant signatures every later transaction needs.
        threshold: u8,
        /// The accounts allowed to co-sign.
        participants: Vec<PublicKey>,
    },
}

const TAG_TRANSFERS: u8 = 0;
const TAG_BURN: u8 = 1;
const TAG_MULTISIG: u8 = 2;

impl Encode for TransferOutput {
    fn encode(&self, writer: &mut Writer) {
        self.asset.encode(writer);
        writer.u64(self.amount);
        self.destination.encode(writer);
        match &self.extra_data {
            None => writer.bool(false),
            Some(data) => {
                writer.bool(true);
                writer.len_u16(data.len());
                writer.bytes(data);
            }
        }
    }
}

impl Decode for TransferOutput {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let asset = Hash::decode(reader)?;
        let amount = reader.u64("amount")?;
        let destination = PublicKey::decode(reader)?;
        let extra_data = if reader.bool("extra data flag")? {
            let len = reader.len_u16("extra data", MAX_EXTRA_DATA_SIZE)?;
            Some(reader.take(len, "extra data")?.to_vec())
        } else {
            None
        };
        Ok(Self {
            asset,
            amount,
            destination,
            extra_data,
        })
    }
}

impl Encode for Payload {
    fn encode(&self, writer: &mut Writer) {
        match self {
            Payload::Transfers(outputs) => {
                writer.u8(TAG_TRANSFERS);
                // u16 although at most 255 are valid: 0 and 256 must stay
                // representable so that they are refused by the rules, with
                // their own error, rather than silently wrapped.
                writer.len_u16(outputs.len());
                outputs.iter().for_each(|output| output.encode(writer));
            }
            Payload::Burn { asset, amount } => {
                writer.u8(TAG_BURN);
                asset.encode(writer);
                writer.u64(*amount);
            }
            Payload::MultiSig {
                threshold,
                participants,
            } => {
                writer.u8(TAG_MULTISIG);
                MultiSigConfig::encode_parts(writer, *threshold, participants);
            }
        }
    }
}

impl Decode for Payload {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.u8("payload")? {
            TAG_TRANSFERS => {
                let count = reader.len_u16("transfer outputs", MAX_TRANSFER_OUTPUTS)?;
                let outputs = (0..count)
                    .map(|_| TransferOutput::decode(reader))
                    .collect::<Result<_, _>>()?;
                Ok(Payload::Transfers(outputs))
            }
            TAG_BURN => Ok(Payload::Burn {
                asset: Hash::decode(reader)?,
                amount: reader.u64("burn amount")?,
            }),
            TAG_MULTISIG => {
                let MultiSigConfig {
                    threshold,
                    participants,
                } = MultiSigConfig::decode(reader)?;
                Ok(Payload::MultiSig {
                    threshold,
                    participants,
                })
            }
            tag => Err(DecodeError::InvalidTag {
                field: "payload",
                tag,
            }),
        }
    }
}
