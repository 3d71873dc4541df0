//! Human-readable account addresses: `parex1` + hex key + hex checksum.
//!
//! The 4-byte blake3 checksum catches typos the way bech32's does, without
//! another dependency; plain 64-digit hex keys are accepted as well.

use std::fmt::Write as _;
use std::str::FromStr;

use super::{hash, PublicKey};

const PREFIX: &str = "parex1";
const CHECKSUM_LEN: usize = 4;

/// A string that is neither an address nor a hex public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not hex of the right length.
    #[error("'{0}' is not an address (parex1…) or a 64-digit hex public key")]
    Malformed(String),
    /// The checksum does not match the key.
    #[error("address '{0}' has a wrong checksum (typo?)")]
    Checksum(String),
}

impl PublicKey {
    /// The account's address.
    pub fn to_address(&self) -> String {
        let mut out = String::with_capacity(PREFIX.len() + 2 * (32 + CHECKSUM_LEN));
        out.push_str(PREFIX);
        for byte in self.0.iter().chain(&checksum(self)) {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }
}

fn checksum(key: &PublicKey) -> [u8; CHECKSUM_LEN] {
    let digest = hash(&key.0);
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&digest.0[..CHECKSUM_LEN]);
    out
}

impl FromStr for PublicKey {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || AddressError::Malformed(s.to_owned());
        let (body, has_checksum) = match s.strip_prefix(PREFIX) {
            Some(body) => (body, true),
            None => (s, false),
        };
        let bytes = hex::decode(body).map_err(|_| malformed())?;
        let expected_len = if has_checksum { 32 + CHECKSUM_LEN } else { 32 };
        if bytes.len() != expected_len {
            return Err(malformed());
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[..32]);
        let key = PublicKey(key);
        if has_checksum && bytes[32..] != checksum(&key) {
            return Err(AddressError::Checksum(s.to_owned()));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_round_trips_and_catches_typos() {
        let key = PublicKey([7; 32]);
        let address = key.to_address();
        assert_eq!(address.parse::<PublicKey>().unwrap(), key);
        assert_eq!(key.to_string().parse::<PublicKey>().unwrap(), key);
        let mut typo = address.clone().into_bytes();
        typo[10] = if typo[10] == b'0' { b'1' } else { b'0' };
        let typo = String::from_utf8(typo).unwrap();
        assert!(matches!(
            typo.parse::<PublicKey>(),
            Err(AddressError::Checksum(_))
        ));
        assert!(matches!(
            "xyz".parse::<PublicKey>(),
            Err(AddressError::Malformed(_))
        ));
    }
}
