//! Consensus constants. Changing any of them forks the chain.

use crate::crypto::Hash;

/// The only transaction version.
pub const TX_VERSION: u8 = 1;
/// The only block version.
pub const BLOCK_VERSION: u8 = 1;
/// The native asset: fees and block rewards are paid in it.
pub const NATIVE_ASSET: Hash = Hash::ZERO;
/// Outputs of one `Transfers` payload.
pub const MAX_TRANSFER_OUTPUTS: usize = 255;
/// Bytes of extra data on one transfer output.
pub const MAX_EXTRA_DATA_SIZE: usize = 1024;
/// Participants of one multisig configuration.
pub const MAX_MULTISIG_PARTICIPANTS: usize = 255;
/// The smallest fee a transaction may pay, in atomic native units.
pub const MIN_TX_FEE: u64 = 1_000;
/// The share of every fee that is burned, in percent; the rest is the block's
/// gas fee, paid to its miner.
pub const FEE_BURN_PERCENT: u64 = 30;
/// Native units minted to a block's miner before its transactions run.
pub const BLOCK_REWARD: u64 = 1_000_000_000;
/// Transactions in one block.
pub const MAX_BLOCK_TXS: usize = 65_535;
/// Encoded size of one transaction.
pub const MAX_TX_SIZE: usize = 300_000;
/// Encoded size of one block.
pub const MAX_BLOCK_SIZE: usize = 64 * 1024 * 1024;

/// The burned part of `fee`; the remainder goes to the miner.
pub fn burned_part(fee: u64) -> u64 {
    // u128 so that no fee can overflow the multiplication; the quotient is at
    // most `fee`, so it fits back.
    let burned = u128::from(fee) * u128::from(FEE_BURN_PERCENT) / 100;
    u64::try_from(burned).unwrap_or(fee)
}
