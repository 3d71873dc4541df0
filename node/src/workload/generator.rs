//! Signed transaction streams with different conflict patterns.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::accounts::DevMultiSig;
use super::{user_assets, DevAccounts};
use crate::chain::constants::{MIN_TX_FEE, NATIVE_ASSET, TX_VERSION};
use crate::chain::{Payload, Transaction, TransferOutput, TxBody};
use crate::crypto::{Hash, PublicKey};

/// A conflict pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Transfers between random pairs: few conflicts.
    Uniform,
    /// Every transfer pays one hot account: all credits hit one location
    /// (as deltas, so they should not conflict).
    Hot,
    /// Each transfer spends what the previous one received: a fully
    /// sequential dependency chain.
    Chain,
    /// Transfers, multi-asset transfers, burns and multisig set-ups.
    Mixed,
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Workload::Uniform => "uniform",
            Workload::Hot => "hot",
            Workload::Chain => "chain",
            Workload::Mixed => "mixed",
        })
    }
}

/// A devnet's block at `topoheight`, as `parex devnet` makes it on a
/// devnet of `seed`: its miner (the accounts take turns) and `txs`
/// transactions of `workload` ([`generate_block_txs`] at a seed of its
/// own). Needs at least two accounts.
pub fn devnet_block(
    workload: Workload,
    accounts: &mut DevAccounts,
    txs: usize,
    seed: u64,
    topoheight: u64,
) -> (PublicKey, Vec<Transaction>) {
    let block_seed = seed ^ topoheight.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let txs = generate_block_txs(workload, accounts, txs, block_seed);
    let miner = accounts.public_key((topoheight % accounts.len() as u64) as usize);
    (miner, txs)
}

/// `txs` signed transactions of `workload`, valid in order on a chain where
/// `accounts`' nonces and multisig set-ups are current; updates them as if
/// every transaction applied. Deterministic in `seed`. Needs at least two
/// accounts (returns nothing otherwise).
pub fn generate_block_txs(
    workload: Workload,
    accounts: &mut DevAccounts,
    txs: usize,
    seed: u64,
) -> Vec<Transaction> {
    if accounts.len() < 2 {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut gen = Generator {
        accounts,
        rng: &mut rng,
    };
    let unsigned: Vec<Unsigned> = match workload {
        Workload::Uniform => (0..txs).map(|_| gen.uniform()).collect(),
        Workload::Hot => (0..txs).map(|_| gen.hot()).collect(),
        Workload::Chain => gen.chain(txs),
        Workload::Mixed => (0..txs).map(|_| gen.mixed()).collect(),
    };
    // Generated in order (nonces and multisig set-ups follow the block),
    // signed in parallel: a signature costs about as much as the node's
    // check of it, and ed25519's are deterministic, so the block is the
    // same on any number of threads.
    let accounts = &*accounts;
    unsigned
        .into_par_iter()
        .map(|unsigned| unsigned.sign(accounts))
        .collect()
}

/// A generated transaction before its signatures: its body, its source and
/// the accounts that co-sign it.
struct Unsigned {
    body: TxBody,
    source: usize,
    cosigners: Vec<usize>,
}

impl Unsigned {
    fn sign(self, accounts: &DevAccounts) -> Transaction {
        let cosigners: Vec<_> = self
            .cosigners
            .iter()
            .map(|index| accounts.key(*index))
            .collect();
        self.body.sign(accounts.key(self.source), &cosigners)
    }
}

struct Generator<'a> {
    accounts: &'a mut DevAccounts,
    rng: &'a mut ChaCha8Rng,
}

impl Generator<'_> {
    fn account(&mut self) -> usize {
        self.rng.random_range(0..self.accounts.len())
    }

    fn other_than(&mut self, excluded: usize) -> usize {
        // Uniform over the other accounts: draw from n-1 and skip `excluded`.
        let pick = self.rng.random_range(0..self.accounts.len() - 1);
        if pick >= excluded {
            pick + 1
        } else {
            pick
        }
    }

    fn amount(&mut self) -> u64 {
        self.rng.random_range(1..=10_000)
    }

    fn output(&mut self, asset: Hash, amount: u64, destination: usize) -> TransferOutput {
        TransferOutput {
            asset,
            amount,
            destination: self.accounts.public_key(destination),
            extra_data: None,
        }
    }

    fn uniform(&mut self) -> Unsigned {
        let source = self.account();
        let destination = self.other_than(source);
        let amount = self.amount();
        let output = self.output(NATIVE_ASSET, amount, destination);
        self.unsigned(source, Payload::Transfers(vec![output]))
    }

    fn hot(&mut self) -> Unsigned {
        let source = self.other_than(0);
        let amount = self.amount();
        let output = self.output(NATIVE_ASSET, amount, 0);
        self.unsigned(source, Payload::Transfers(vec![output]))
    }

    fn chain(&mut self, txs: usize) -> Vec<Unsigned> {
        let n = self.accounts.len();
        let start = self.account();
        // Each hop forwards what it received minus its fee, so the amount
        // shrinks to 1_000 at the last hop. Saturating: no block holds the
        // 1.8 × 10^16 hops that overflow it, but a caller may ask for them.
        let mut amount = (txs as u64)
            .saturating_mul(MIN_TX_FEE)
            .saturating_add(1_000);
        (0..txs)
            .map(|hop| {
                let source = (start + hop) % n;
                let output = self.output(NATIVE_ASSET, amount, (source + 1) % n);
                amount = amount.saturating_sub(MIN_TX_FEE);
                self.unsigned(source, Payload::Transfers(vec![output]))
            })
            .collect()
    }

    fn mixed(&mut self) -> Unsigned {
        let source = self.account();
        let roll = self.rng.random_range(0..100);
        let payload = match roll {
            0..55 => {
                let destination = self.other_than(source);
                let amount = self.amount();
                Payload::Transfers(vec![self.output(NATIVE_ASSET, amount, destination)])
            }
            55..75 => self.multi_asset_transfer(source),
            75..87 => {
                let asset = self.asset();
                Payload::Burn {
                    asset,
                    amount: self.amount(),
                }
            }
            _ if self.accounts.len() >= 4 => {
                let (payload, setup) = self.multisig_setup(source);
                let tx = self.unsigned(source, payload);
                self.accounts.set_multisig(source, setup);
                return tx;
            }
            _ => {
                let destination = self.other_than(source);
                Payload::Transfers(vec![self.output(NATIVE_ASSET, 1, destination)])
            }
        };
        self.unsigned(source, payload)
    }

    fn asset(&mut self) -> Hash {
        let assets = user_assets();
        match self.rng.random_range(0..=assets.len()) {
            0 => NATIVE_ASSET,
            index => assets[index - 1],
        }
    }

    fn multi_asset_transfer(&mut self, source: usize) -> Payload {
        let count = self.rng.random_range(2..=4);
        let outputs = (0..count)
            .map(|_| {
                let destination = self.other_than(source);
                let (asset, amount) = (self.asset(), self.amount());
                let mut output = self.output(asset, amount, destination);
                if self.rng.random_bool(0.25) {
                    output.extra_data = Some(self.rng.random::<[u8; 32]>().to_vec());
                }
                output
            })
            .collect();
        Payload::Transfers(outputs)
    }

    /// Sets up a multisig on an account without one, and removes an existing
    /// one, so that accounts move in and out of needing co-signatures.
    fn multisig_setup(&mut self, source: usize) -> (Payload, Option<DevMultiSig>) {
        if self.accounts.multisig(source).is_some() {
            let payload = Payload::MultiSig {
                threshold: 0,
                participants: Vec::new(),
            };
            return (payload, None);
        }
        let count = self.rng.random_range(2..=3);
        let mut participants = Vec::with_capacity(count);
        while participants.len() < count {
            let candidate = self.other_than(source);
            if !participants.contains(&candidate) {
                participants.push(candidate);
            }
        }
        let threshold = self.rng.random_range(1..=2);
        let payload = Payload::MultiSig {
            threshold,
            participants: participants
                .iter()
                .map(|index| self.accounts.public_key(*index))
                .collect(),
        };
        let setup = DevMultiSig {
            threshold,
            participants,
        };
        (payload, Some(setup))
    }

    /// A transaction to sign with the source's key and, if it has a
    /// multisig set-up, its first `threshold` participants, taking the
    /// source's next nonce.
    fn unsigned(&mut self, source: usize, payload: Payload) -> Unsigned {
        let fee = MIN_TX_FEE + self.rng.random_range(0..100);
        let body = TxBody {
            version: TX_VERSION,
            source: self.accounts.public_key(source),
            nonce: self.accounts.next_nonce(source),
            fee,
            payload,
        };
        let cosigners = self
            .accounts
            .multisig(source)
            .map(|multisig| {
                // Fewer than the threshold when the set-up names keys the
                // devnet does not hold: the chain then orphans the
                // transaction, as it should.
                multisig
                    .participants
                    .iter()
                    .take(usize::from(multisig.threshold))
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        Unsigned {
            body,
            source,
            cosigners,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Encode;

    /// Blocks of every workload from 50 fresh devnet accounts,
    /// generated on a pool of `threads`, as bytes.
    fn generated_on(threads: usize) -> Vec<Vec<u8>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut accounts = DevAccounts::new(50, 9);
            [
                Workload::Mixed,
                Workload::Uniform,
                Workload::Hot,
                Workload::Chain,
                Workload::Mixed,
            ]
            .into_iter()
            .zip(0..)
            .flat_map(|(workload, seed)| generate_block_txs(workload, &mut accounts, 200, seed))
            .map(|tx| tx.to_bytes())
            .collect()
        })
    }

    #[test]
    fn generated_blocks_do_not_depend_on_the_signing_threads() {
        // Transactions are generated in order and signed in parallel; the
        // blocks (multisig set-ups and their co-signatures included) must
        // be the same on one thread as on several.
        let one = generated_on(1);
        assert_eq!(one.len(), 1000);
        assert_eq!(one, generated_on(4));
    }
}
