//! The chain's data model: transactions, blocks, genesis, and the rules that
//! need no state.

mod block;
pub mod constants;
mod genesis;
mod payload;
mod transaction;
mod validation;

pub use block::{Block, BlockHeader};
pub use genesis::GenesisError;
pub use genesis::{Allocation, GenesisSpec, MAX_GENESIS_ENTRIES, MAX_NETWORK_NAME_BYTES};
pub use payload::{Payload, TransferOutput};
pub use transaction::{SignerSignature, Transaction, TxBody};
pub(crate) use validation::verify_multisig_shape;
pub use validation::{
    spent_per_asset, verify_block_txs, verify_tx_signatures, verify_tx_structure, TxError,
};
