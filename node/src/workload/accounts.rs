//! Accounts whose keys derive from a seed, with what the generator must
//! remember to sign valid transactions: nonces and multisig set-ups.

use crate::crypto::{KeyPair, PublicKey};
use crate::state::{StateKey, StateValue};
use crate::storage::{Storage, StorageError};

/// A multisig set-up, as indices into the accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevMultiSig {
    /// Co-signatures needed.
    pub threshold: u8,
    /// Participant indices.
    pub participants: Vec<usize>,
}

/// Seed-derived accounts and their expected nonces.
#[derive(Debug, Clone)]
pub struct DevAccounts {
    keys: Vec<KeyPair>,
    nonces: Vec<u64>,
    multisig: Vec<Option<DevMultiSig>>,
}

impl DevAccounts {
    /// `count` accounts derived from `seed`, all at nonce 0.
    pub fn new(count: usize, seed: u64) -> Self {
        let keys = (0..count).map(|index| derive_key(seed, index)).collect();
        Self {
            keys,
            nonces: vec![0; count],
            multisig: vec![None; count],
        }
    }

    /// How many accounts.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Account `index`'s key.
    pub fn key(&self, index: usize) -> &KeyPair {
        &self.keys[index]
    }

    /// Account `index`'s public key.
    pub fn public_key(&self, index: usize) -> PublicKey {
        self.keys[index].public_key()
    }

    /// Takes account `index`'s next nonce. An account synced at nonce
    /// `u64::MAX` stays there: the chain orphans its transaction (its
    /// nonce cannot advance), so the chain's nonce stays there too.
    pub fn next_nonce(&mut self, index: usize) -> u64 {
        let nonce = self.nonces[index];
        self.nonces[index] = nonce.saturating_add(1);
        nonce
    }

    /// Account `index`'s multisig set-up.
    pub fn multisig(&self, index: usize) -> Option<&DevMultiSig> {
        self.multisig[index].as_ref()
    }

    /// Records a multisig set-up (or its removal) the generator just signed.
    pub fn set_multisig(&mut self, index: usize, multisig: Option<DevMultiSig>) {
        self.multisig[index] = multisig;
    }

    /// Reloads nonces and multisig set-ups from the chain: after a restart,
    /// or after transactions the generator expected to apply were orphaned.
    pub fn sync<S: Storage>(&mut self, storage: &S) -> Result<(), StorageError> {
        let index_of: std::collections::HashMap<PublicKey, usize> = self
            .keys
            .iter()
            .enumerate()
            .map(|(index, key)| (key.public_key(), index))
            .collect();
        for index in 0..self.keys.len() {
            let account = self.public_key(index);
            self.nonces[index] = match storage.get_state(&StateKey::Nonce(account))? {
                Some(StateValue::Nonce(nonce)) => nonce,
                _ => 0,
            };
            self.multisig[index] = match storage.get_state(&StateKey::MultiSig(account))? {
                Some(StateValue::MultiSig(config)) if config.is_active() => Some(DevMultiSig {
                    threshold: config.threshold,
                    participants: config
                        .participants
                        .iter()
                        .filter_map(|key| index_of.get(key).copied())
                        .collect(),
                }),
                _ => None,
            };
        }
        Ok(())
    }
}

/// Account `index` of the devnet with `seed`.
pub fn derive_key(seed: u64, index: usize) -> KeyPair {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"parex-devnet-account");
    hasher.update(&seed.to_be_bytes());
    hasher.update(&(index as u64).to_be_bytes());
    KeyPair::from_seed(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exhausted_nonce_stays_exhausted() {
        let mut accounts = DevAccounts::new(2, 0);
        accounts.nonces[0] = u64::MAX;
        assert_eq!(accounts.next_nonce(0), u64::MAX);
        assert_eq!(accounts.next_nonce(0), u64::MAX);
        assert_eq!(accounts.next_nonce(1), 0);
    }
}
