//! The rules a transaction must pass whatever the state: its shape and its
//! signatures. A block with one transaction failing them is invalid.

use rayon::prelude::*;

use super::constants::{
    MAX_EXTRA_DATA_SIZE, MAX_MULTISIG_PARTICIPANTS, MAX_TRANSFER_OUTPUTS, MIN_TX_FEE, TX_VERSION,
};
use super::{Payload, Transaction};
use crate::crypto::PublicKey;

/// Why a transaction is invalid in any state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Unknown transaction version.
    #[error("unsupported transaction version {0}")]
    UnsupportedVersion(u8),
    /// The fee is under [`MIN_TX_FEE`].
    #[error("fee {fee} is below the minimum {MIN_TX_FEE}")]
    FeeTooLow {
        /// The fee paid.
        fee: u64,
    },
    /// A `Transfers` payload without outputs.
    #[error("a transfer needs at least one output")]
    NoOutputs,
    /// More than [`MAX_TRANSFER_OUTPUTS`] outputs.
    #[error("{0} transfer outputs, at most {MAX_TRANSFER_OUTPUTS} allowed")]
    TooManyOutputs(usize),
    /// Extra data over [`MAX_EXTRA_DATA_SIZE`].
    #[error(
        "output {index} carries {len} bytes of extra data, at most {MAX_EXTRA_DATA_SIZE} allowed"
    )]
    ExtraDataTooLarge {
        /// The output.
        index: usize,
        /// Its extra data's size.
        len: usize,
    },
    /// A transfer or burn of nothing.
    #[error("amount of output {0} is zero")]
    ZeroAmount(usize),
    /// A transfer to the sender itself.
    #[error("output {0} sends to the sender itself")]
    SelfTransfer(usize),
    /// The amounts and fee of one asset do not fit a `u64`.
    #[error("amounts and fee overflow")]
    AmountOverflow,
    /// Threshold 0 with participants, which would sign nothing.
    #[error("multisig threshold 0 is only valid without participants (deletion)")]
    ZeroThreshold,
    /// More required signatures than participants.
    #[error("multisig threshold {threshold} exceeds its {participants} participants")]
    ThresholdTooHigh {
        /// The threshold.
        threshold: u8,
        /// The participant count.
        participants: usize,
    },
    /// Over [`MAX_MULTISIG_PARTICIPANTS`] participants.
    #[error("{0} multisig participants, at most {MAX_MULTISIG_PARTICIPANTS} allowed")]
    TooManyParticipants(usize),
    /// A participant listed twice.
    #[error("multisig participant {0} listed twice")]
    DuplicateParticipant(PublicKey),
    /// The sender listed as its own participant.
    #[error("the sender cannot be its own multisig participant")]
    SourceIsParticipant,
    /// The source's signature does not verify.
    #[error("invalid source signature")]
    InvalidSignature,
    /// A co-signature does not verify.
    #[error("invalid co-signature of {0}")]
    InvalidCosignature(PublicKey),
    /// Two co-signatures by one signer.
    #[error("{0} co-signed twice")]
    DuplicateCosigner(PublicKey),
    /// More co-signatures than a multisig configuration can have
    /// participants: a block holding it could not be decoded again.
    #[error("{0} co-signatures, at most {MAX_MULTISIG_PARTICIPANTS} allowed")]
    TooManyCosignatures(usize),
}

/// Checks the transaction's shape: version, fee, sizes, amounts, and a
/// well-formed multisig payload.
pub fn verify_tx_structure(tx: &Transaction) -> Result<(), TxError> {
    let body = &tx.body;
    if body.version != TX_VERSION {
        return Err(TxError::UnsupportedVersion(body.version));
    }
    if body.fee < MIN_TX_FEE {
        return Err(TxError::FeeTooLow { fee: body.fee });
    }
    // The decoder's own limit: a transaction the chain accepted must read
    // back from the bytes it stored, on this node and on its peers.
    if tx.multisig.len() > MAX_MULTISIG_PARTICIPANTS {
        return Err(TxError::TooManyCosignatures(tx.multisig.len()));
    }
    match &body.payload {
        Payload::Transfers(outputs) => {
            if outputs.is_empty() {
                return Err(TxError::NoOutputs);
            }
            if outputs.len() > MAX_TRANSFER_OUTPUTS {
                return Err(TxError::TooManyOutputs(outputs.len()));
            }
            for (index, output) in outputs.iter().enumerate() {
                let extra = output.extra_data.as_ref().map_or(0, Vec::len);
                if extra > MAX_EXTRA_DATA_SIZE {
                    return Err(TxError::ExtraDataTooLarge { index, len: extra });
                }
                if output.amount == 0 {
                    return Err(TxError::ZeroAmount(index));
                }
                if output.destination == body.source {
                    return Err(TxError::SelfTransfer(index));
                }
            }
            spent_per_asset(tx).map(drop)
        }
        Payload::Burn { amount, .. } => {
            if *amount == 0 {
                return Err(TxError::ZeroAmount(0));
            }
            spent_per_asset(tx).map(drop)
        }
        Payload::MultiSig {
            threshold,
            participants,
        } => verify_multisig_setup(&body.source, *threshold, participants),
    }
}

fn verify_multisig_setup(
    source: &PublicKey,
    threshold: u8,
    participants: &[PublicKey],
) -> Result<(), TxError> {
    verify_multisig_shape(threshold, participants)?;
    if participants.contains(source) {
        return Err(TxError::SourceIsParticipant);
    }
    Ok(())
}

/// The rules of a multisig configuration that need no account: at most
/// [`MAX_MULTISIG_PARTICIPANTS`], threshold 0 only without participants
/// (a deletion), at most as many required as there are participants,
/// each listed once. A stored configuration must keep them too.
pub(crate) fn verify_multisig_shape(
    threshold: u8,
    participants: &[PublicKey],
) -> Result<(), TxError> {
    if participants.len() > MAX_MULTISIG_PARTICIPANTS {
        return Err(TxError::TooManyParticipants(participants.len()));
    }
    if threshold == 0 && !participants.is_empty() {
        return Err(TxError::ZeroThreshold);
    }
    if usize::from(threshold) > participants.len() {
        return Err(TxError::ThresholdTooHigh {
            threshold,
            participants: participants.len(),
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    match participants
        .iter()
        .find(|participant| !seen.insert(*participant))
    {
        Some(twice) => Err(TxError::DuplicateParticipant(*twice)),
        None => Ok(()),
    }
}

/// What the transaction takes from the sender, per asset, fee included,
/// sorted by asset; an error if a sum overflows.
pub fn spent_per_asset(
    tx: &Transaction,
) -> Result<std::collections::BTreeMap<crate::crypto::Hash, u64>, TxError> {
    let mut spent = std::collections::BTreeMap::new();
    let mut add = |asset, amount: u64| -> Result<(), TxError> {
        let total: &mut u64 = spent.entry(asset).or_default();
        *total = total.checked_add(amount).ok_or(TxError::AmountOverflow)?;
        Ok(())
    };
    add(super::constants::NATIVE_ASSET, tx.body.fee)?;
    match &tx.body.payload {
        Payload::Transfers(outputs) => {
            for output in outputs {
                add(output.asset, output.amount)?;
            }
        }
        Payload::Burn { asset, amount } => add(*asset, *amount)?,
        Payload::MultiSig { .. } => {}
    }
    Ok(spent)
}

/// Verifies every signature of `tx`; returns the co-signers, whose
/// signatures all verified. Whether they satisfy the source's multisig
/// configuration is a question of state, answered by the VM.
pub fn verify_tx_signatures(tx: &Transaction) -> Result<Vec<PublicKey>, TxError> {
    let message = tx.body.signing_hash();
    if !tx.body.source.verify(message.as_bytes(), &tx.signature) {
        return Err(TxError::InvalidSignature);
    }
    let mut signers = Vec::with_capacity(tx.multisig.len());
    for cosig in &tx.multisig {
        if signers.contains(&cosig.signer) {
            return Err(TxError::DuplicateCosigner(cosig.signer));
        }
        if !cosig.signer.verify(message.as_bytes(), &cosig.signature) {
            return Err(TxError::InvalidCosignature(cosig.signer));
        }
        signers.push(cosig.signer);
    }
    Ok(signers)
}

/// Checks every transaction of a block, structure and signatures, in
/// parallel; the first failing transaction (lowest index) is reported, so the
/// error does not depend on thread timing.
pub fn verify_block_txs(txs: &[Transaction]) -> Result<Vec<Vec<PublicKey>>, (usize, TxError)> {
    let results: Vec<Result<Vec<PublicKey>, TxError>> = txs
        .par_iter()
        .map(|tx| {
            verify_tx_structure(tx)?;
            verify_tx_signatures(tx)
        })
        .collect();
    results
        .into_iter()
        .enumerate()
        .map(|(index, result)| result.map_err(|error| (index, error)))
        .collect()
}
