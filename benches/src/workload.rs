//! Synthetic transfer blocks.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use parex_engine::{TxnView, Vm, VmError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A state location of the benchmark chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BenchKey {
    /// An account's balance.
    Balance(u32),
    /// An account's next nonce.
    Nonce(u32),
    /// The block's fee accumulator.
    Fees,
}

/// A transfer, with optional fee and extra work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchTxn {
    /// The sender.
    pub from: u32,
    /// The receiver.
    pub to: u32,
    /// The amount moved.
    pub amount: u64,
    /// The sender's nonce this transaction must carry.
    pub nonce: u64,
    /// Paid into [`BenchKey::Fees`] when non-zero.
    pub fee: u64,
    /// Rounds of deterministic computation before the transfer (stands for
    /// a contract call or a proof check).
    pub work_rounds: u32,
}

/// The result of a benchmark transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchOutput {
    /// The transfer was applied; carries the work's digest.
    Applied(u64),
    /// Wrong nonce.
    BadNonce,
    /// The sender could not pay.
    InsufficientBalance,
}

/// Executes [`BenchTxn`]s.
#[derive(Debug, Default, Clone, Copy)]
pub struct BenchVm;

/// Rounds of [`work`] that take about 20 µs (3.6 ns a round) on the 2-core
/// development machines.
pub const HEAVY_ROUNDS: u32 = 5_500;

/// Deterministic computation the optimizer cannot remove: a splitmix64
/// chain.
pub fn work(seed: u64, rounds: u32) -> u64 {
    let mut x = seed;
    for _ in 0..rounds {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= z ^ (z >> 31);
    }
    std::hint::black_box(x)
}

impl Vm for BenchVm {
    type Txn = BenchTxn;
    type Key = BenchKey;
    type Value = u64;
    type Output = BenchOutput;

    fn execute<V: TxnView<BenchKey, u64>>(
        &self,
        txn: &BenchTxn,
        view: &mut V,
    ) -> Result<BenchOutput, VmError> {
        let nonce = view.read(&BenchKey::Nonce(txn.from))?.unwrap_or(0);
        if nonce != txn.nonce {
            return Ok(BenchOutput::BadNonce);
        }
        let balance = view.read(&BenchKey::Balance(txn.from))?.unwrap_or(0);
        let Some(left) = txn
            .amount
            .checked_add(txn.fee)
            .and_then(|cost| balance.checked_sub(cost))
        else {
            return Ok(BenchOutput::InsufficientBalance);
        };
        let digest = if txn.work_rounds > 0 {
            work(u64::from(txn.from) ^ nonce, txn.work_rounds)
        } else {
            0
        };
        view.write(BenchKey::Nonce(txn.from), nonce + 1);
        view.write(BenchKey::Balance(txn.from), left);
        view.add_delta(BenchKey::Balance(txn.to), i128::from(txn.amount));
        if txn.fee > 0 {
            view.add_delta(BenchKey::Fees, i128::from(txn.fee));
        }
        Ok(BenchOutput::Applied(digest))
    }
}

/// The kind of block to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    /// Native-speed transfers between random accounts (about 0.12 µs each).
    Transfer,
    /// Transfers that each do about 20 µs of computation first.
    Heavy,
    /// Transfers that also pay a fee into one accumulator.
    HotFee,
    /// Each transaction spends what the previous one received.
    Chain,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 4] = [
        Workload::Transfer,
        Workload::Heavy,
        Workload::HotFee,
        Workload::Chain,
    ];

    /// The workload's name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Transfer => "transfer",
            Workload::Heavy => "heavy",
            Workload::HotFee => "hot-fee",
            Workload::Chain => "chain",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| format!("unknown workload {s:?} (transfer, heavy, hot-fee, chain)"))
    }
}

/// A block and the state it starts from.
#[derive(Debug, Clone)]
pub struct BenchBlock {
    /// The transactions.
    pub txns: Vec<BenchTxn>,
    /// The state before the block.
    pub genesis: HashMap<BenchKey, u64, ahash::RandomState>,
}

/// Builds a block of `txns` transactions over `accounts` accounts.
pub fn block(workload: Workload, txns: usize, accounts: usize, seed: u64) -> BenchBlock {
    let accounts = accounts.max(2) as u32;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut genesis = HashMap::with_hasher(ahash::RandomState::new());
    let mut next_nonce = vec![0u64; accounts as usize];
    let funded = |account: u32| workload != Workload::Chain || account == 0;
    for account in 0..accounts {
        if funded(account) {
            genesis.insert(BenchKey::Balance(account), 1_000_000_000_000);
        }
    }
    let txns = (0..txns)
        .map(|i| {
            let (from, to) = match workload {
                Workload::Chain => {
                    let from = i as u32 % accounts;
                    (from, (from + 1) % accounts)
                }
                _ => {
                    let from = rng.random_range(0..accounts);
                    let offset = rng.random_range(1..accounts);
                    (from, (from + offset) % accounts)
                }
            };
            let nonce = next_nonce[from as usize];
            next_nonce[from as usize] += 1;
            BenchTxn {
                from,
                to,
                // In a chain, each receiver forwards what it got, less the fee.
                amount: if workload == Workload::Chain {
                    1_000_000_000 - i as u64
                } else {
                    rng.random_range(1..1_000)
                },
                nonce,
                fee: u64::from(matches!(workload, Workload::HotFee | Workload::Chain)),
                work_rounds: if workload == Workload::Heavy {
                    HEAVY_ROUNDS
                } else {
                    0
                },
            }
        })
        .collect();
    BenchBlock { txns, genesis }
}
