//! The state commitment: a hash chain over every block's effect.

use crate::codec::Encode;
use crate::crypto::Hash;
use crate::state::{StateKey, StateValue};

const DOMAIN: &[u8] = b"parex-state-commitment/1";

/// `blake3(DOMAIN ‖ previous ‖ topoheight ‖ block hash ‖ count ‖ (key ‖
/// value)*)` over the block's final writes sorted by key. Key and value
/// encodings are self-delimiting, so the byte string is unambiguous; it
/// depends only on the block and the state, never on the executor.
pub fn next_commitment(
    previous: &Hash,
    topoheight: u64,
    block_hash: &Hash,
    writes: &[(StateKey, StateValue)],
) -> Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(DOMAIN);
    hasher.update(previous.as_bytes());
    hasher.update(&topoheight.to_be_bytes());
    hasher.update(block_hash.as_bytes());
    hasher.update(&(writes.len() as u64).to_be_bytes());
    for (key, value) in writes {
        hasher.update(&key.to_bytes());
        hasher.update(&value.to_bytes());
    }
    Hash(*hasher.finalize().as_bytes())
}
