//! Signed transactions and their hashes.

use super::constants::MAX_MULTISIG_PARTICIPANTS;
use super::Payload;
use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::crypto::{hash, Hash, KeyPair, PublicKey, Signature};

/// What the sender (and co-signers) sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxBody {
    /// Must be [`TX_VERSION`](super::constants::TX_VERSION).
    pub version: u8,
    /// The paying account.
    pub source: PublicKey,
    /// Must equal the source's nonce when the transaction runs.
    pub nonce: u64,
    /// Native units paid for inclusion.
    pub fee: u64,
    /// What the transaction does.
    pub payload: Payload,
}

/// A co-signature of a multisig participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerSignature {
    /// The participant.
    pub signer: PublicKey,
    /// Its signature of the body's signing hash.
    pub signature: Signature,
}

/// A transaction as it travels and is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The signed content.
    pub body: TxBody,
    /// The source's signature of [`TxBody::signing_hash`].
    pub signature: Signature,
    /// Participant co-signatures, needed when the source has a multisig
    /// configuration.
    pub multisig: Vec<SignerSignature>,
}

impl TxBody {
    /// The hash every signature of the transaction signs.
    pub fn signing_hash(&self) -> Hash {
        hash(&self.to_bytes())
    }

    /// Signs the body as `source`, co-signed by `cosigners`.
    pub fn sign(self, source: &KeyPair, cosigners: &[&KeyPair]) -> Transaction {
        let message = self.signing_hash();
        let multisig = cosigners
            .iter()
            .map(|key| SignerSignature {
                signer: key.public_key(),
                signature: key.sign(message.as_bytes()),
            })
            .collect();
        Transaction {
            signature: source.sign(message.as_bytes()),
            body: self,
            multisig,
        }
    }
}

impl Transaction {
    /// The transaction's identifier: the hash of its whole encoding.
    pub fn hash(&self) -> Hash {
        hash(&self.to_bytes())
    }
}

impl Encode for TxBody {
    fn encode(&self, writer: &mut Writer) {
        writer.u8(self.version);
        self.source.encode(writer);
        writer.u64(self.nonce);
        writer.u64(self.fee);
        self.payload.encode(writer);
    }
}

impl Decode for TxBody {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            version: reader.u8("version")?,
            source: PublicKey::decode(reader)?,
            nonce: reader.u64("nonce")?,
            fee: reader.u64("fee")?,
            payload: Payload::decode(reader)?,
        })
    }
}

impl Encode for Transaction {
    fn encode(&self, writer: &mut Writer) {
        self.body.encode(writer);
        self.signature.encode(writer);
        writer.len_u16(self.multisig.len());
        for cosig in &self.multisig {
            cosig.signer.encode(writer);
            cosig.signature.encode(writer);
        }
    }
}

impl Decode for Transaction {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let body = TxBody::decode(reader)?;
        let signature = Signature::decode(reader)?;
        let count = reader.len_u16("multisig signatures", MAX_MULTISIG_PARTICIPANTS)?;
        let multisig = (0..count)
            .map(|_| {
                Ok(SignerSignature {
                    signer: PublicKey::decode(reader)?,
                    signature: Signature::decode(reader)?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Self {
            body,
            signature,
            multisig,
        })
    }
}
