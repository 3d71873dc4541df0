//! Blocks: a header that commits to an ordered list of transactions.

use super::constants::{BLOCK_VERSION, MAX_BLOCK_TXS};
use super::Transaction;
use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::crypto::{hash, Hash, PublicKey};

/// What a block's hash covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHeader {
    /// Must be [`BLOCK_VERSION`].
    pub version: u8,
    /// The block's position: one block per topoheight, genesis at 0.
    pub topoheight: u64,
    /// The hash of the block at `topoheight - 1`.
    pub previous: Hash,
    /// Milliseconds since the Unix epoch, as claimed by the miner.
    pub timestamp_ms: u64,
    /// Receives the block reward and the block's gas fee.
    pub miner: PublicKey,
    /// [`Block::txs_root`] of the transactions.
    pub txs_root: Hash,
}

/// A header and its transactions, in execution order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions.
    pub txs: Vec<Transaction>,
}

impl Block {
    /// A block whose header commits to `txs`.
    pub fn new(
        topoheight: u64,
        previous: Hash,
        timestamp_ms: u64,
        miner: PublicKey,
        txs: Vec<Transaction>,
    ) -> Self {
        let header = BlockHeader {
            version: BLOCK_VERSION,
            topoheight,
            previous,
            timestamp_ms,
            miner,
            txs_root: Self::txs_root(&txs),
        };
        Self { header, txs }
    }

    /// The hash of the concatenated transaction hashes: it fixes their
    /// content and order.
    pub fn txs_root(txs: &[Transaction]) -> Hash {
        Self::root_of(txs.iter().map(Transaction::hash))
    }

    /// [`Self::txs_root`] from already computed transaction hashes.
    pub fn root_of(hashes: impl IntoIterator<Item = Hash>) -> Hash {
        let mut hasher = blake3::Hasher::new();
        for hash in hashes {
            hasher.update(hash.as_bytes());
        }
        Hash(*hasher.finalize().as_bytes())
    }

    /// The block's identifier: the hash of its header.
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }
}

impl BlockHeader {
    /// The hash of the encoded header.
    pub fn hash(&self) -> Hash {
        hash(&self.to_bytes())
    }
}

impl Encode for BlockHeader {
    fn encode(&self, writer: &mut Writer) {
        writer.u8(self.version);
        writer.u64(self.topoheight);
        self.previous.encode(writer);
        writer.u64(self.timestamp_ms);
        self.miner.encode(writer);
        self.txs_root.encode(writer);
    }
}

impl Decode for BlockHeader {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            version: reader.u8("block version")?,
            topoheight: reader.u64("topoheight")?,
            previous: Hash::decode(reader)?,
            timestamp_ms: reader.u64("timestamp")?,
            miner: PublicKey::decode(reader)?,
            txs_root: Hash::decode(reader)?,
        })
    }
}

impl Encode for Block {
    fn encode(&self, writer: &mut Writer) {
        self.header.encode(writer);
        writer.len_u32(self.txs.len());
        self.txs.iter().for_each(|tx| tx.encode(writer));
    }
}

impl Decode for Block {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = BlockHeader::decode(reader)?;
        // Every transaction takes over 100 bytes: a count the input cannot
        // hold is refused before the vector is sized from it.
        let max = MAX_BLOCK_TXS.min(reader.remaining() / 100);
        let count = reader.len_u32("block transactions", max)?;
        let txs = (0..count)
            .map(|_| Transaction::decode(reader))
            .collect::<Result<_, _>>()?;
        Ok(Self { header, txs })
    }
}
