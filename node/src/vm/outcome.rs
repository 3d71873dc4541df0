//! What a transaction did.

use std::fmt;

use crate::crypto::Hash;

/// A VM output: one per engine transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxResult {
    /// The block reward was minted to the miner.
    Reward {
        /// Native units minted.
        amount: u64,
    },
    /// A user transaction applied.
    Applied,
    /// A user transaction failed the chain's rules and changed nothing.
    Orphaned(OrphanReason),
    /// The block's gas fee was paid to the miner.
    FeePayout {
        /// Native units paid.
        amount: u64,
    },
}

/// Why a user transaction was orphaned: rules that depend on the state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrphanReason {
    /// The nonce is not the account's current one.
    #[error("nonce {got}, expected {expected}")]
    InvalidNonce {
        /// The account's nonce.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// Too few valid participant co-signatures.
    #[error("multisig needs {threshold} participant signatures, got {approvals}")]
    MultiSigThreshold {
        /// The account's threshold.
        threshold: u8,
        /// Valid participant co-signatures.
        approvals: usize,
    },
    /// The asset is not registered.
    #[error("unknown asset {0}")]
    UnknownAsset(Hash),
    /// The sender's balance does not cover amounts and fee.
    #[error("insufficient balance of {asset}: needs {needed}, has {available}")]
    InsufficientBalance {
        /// The asset.
        asset: Hash,
        /// Amounts plus fee.
        needed: u64,
        /// The balance.
        available: u64,
    },
    /// A sum does not fit a `u64`.
    #[error("arithmetic overflow")]
    Overflow,
}

impl TxResult {
    /// Whether a user transaction was orphaned.
    pub fn is_orphaned(&self) -> bool {
        matches!(self, TxResult::Orphaned(_))
    }
}

impl fmt::Display for TxResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxResult::Reward { amount } => write!(f, "reward: {amount}"),
            TxResult::Applied => f.write_str("applied"),
            TxResult::Orphaned(reason) => write!(f, "orphaned: {reason}"),
            TxResult::FeePayout { amount } => write!(f, "gas fee paid: {amount}"),
        }
    }
}
