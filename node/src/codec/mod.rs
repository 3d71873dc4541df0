//! The canonical binary encoding of everything the chain hashes or stores.
//!
//! Integers are big-endian so that encoded keys sort like the numbers they
//! hold (RocksDB iterates versioned keys by topoheight that way). Every length
//! is bounded before anything is allocated, and a decode must consume its
//! input exactly: one value has one encoding.

mod error;
mod reader;
mod writer;

pub use error::DecodeError;
pub use reader::Reader;
pub use writer::Writer;

/// A value with a canonical encoding.
pub trait Encode {
    /// Appends the encoding of `self` to `writer`.
    fn encode(&self, writer: &mut Writer);

    /// The encoding of `self`.
    fn to_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        self.encode(&mut writer);
        writer.into_bytes()
    }
}

/// A value that can be read back from its canonical encoding.
pub trait Decode: Sized {
    /// Reads one value from `reader`.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Reads one value that must span all of `bytes`.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::decode(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}
