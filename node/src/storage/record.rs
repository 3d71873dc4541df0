//! What the storage keeps per block.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::crypto::Hash;
use crate::state::{StateKey, StateValue};

/// The last committed block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    /// Its topoheight.
    pub topoheight: u64,
    /// Its hash.
    pub hash: Hash,
    /// The state commitment after it.
    pub commitment: Hash,
}

impl ChainTip {
    /// The topoheight of the block after this one; `None` at `u64::MAX`,
    /// where no block can follow.
    pub fn next_topoheight(&self) -> Option<u64> {
        self.topoheight.checked_add(1)
    }
}

/// A stored block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    /// The block's hash.
    pub hash: Hash,
    /// The state commitment after it.
    pub commitment: Hash,
    /// The encoded [`Block`](crate::chain::Block).
    pub block_bytes: Vec<u8>,
}

/// One block's whole effect, written atomically.
#[derive(Debug, Clone)]
pub struct BlockCommit {
    /// The new tip.
    pub tip: ChainTip,
    /// The encoded block.
    pub block_bytes: Vec<u8>,
    /// The transactions the index by hash should name this block for:
    /// hash and encoding (see [`Storage::transaction`](super::Storage::transaction)).
    pub transactions: Vec<(Hash, Vec<u8>)>,
    /// The block's final writes, sorted by key.
    pub writes: Vec<(StateKey, StateValue)>,
    /// Metadata written in the same batch (genesis spec, devnet parameters).
    pub meta: Vec<(String, Vec<u8>)>,
}

impl Encode for ChainTip {
    fn encode(&self, writer: &mut Writer) {
        writer.u64(self.topoheight);
        self.hash.encode(writer);
        self.commitment.encode(writer);
    }
}

impl Decode for ChainTip {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            topoheight: reader.u64("tip topoheight")?,
            hash: Hash::decode(reader)?,
            commitment: Hash::decode(reader)?,
        })
    }
}

impl Encode for BlockRecord {
    fn encode(&self, writer: &mut Writer) {
        self.hash.encode(writer);
        self.commitment.encode(writer);
        writer.bytes(&self.block_bytes);
    }
}

impl Decode for BlockRecord {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let hash = Hash::decode(reader)?;
        let commitment = Hash::decode(reader)?;
        let block_bytes = reader.take(reader.remaining(), "block")?.to_vec();
        Ok(Self {
            hash,
            commitment,
            block_bytes,
        })
    }
}
