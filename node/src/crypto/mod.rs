//! Hashes, keys and signatures.

mod address;
mod hash;
mod keys;

pub use address::AddressError;
pub use hash::{hash, Hash};
pub use keys::{KeyPair, PublicKey, Signature};
