//! Shared helpers of the node's integration tests.
#![allow(dead_code)]

use parex_node::blockchain::{BlockSummary, Blockchain, BlockchainError, ExecutionConfig};
use parex_node::chain::constants::{MIN_TX_FEE, NATIVE_ASSET, TX_VERSION};
use parex_node::chain::{Payload, Transaction, TransferOutput, TxBody};
use parex_node::crypto::{Hash, KeyPair, PublicKey};
use parex_node::state::{StateKey, StateValue};
use parex_node::storage::{MemoryStorage, Storage};
use parex_node::workload::{in_memory_chain, DevAccounts};

/// Every block sequential.
pub fn sequential() -> ExecutionConfig {
    ExecutionConfig {
        parallel_execution_enabled: false,
        ..ExecutionConfig::default()
    }
}

/// Every block on the parallel path, run by Block-STM whatever its size.
pub fn parallel() -> ExecutionConfig {
    ExecutionConfig {
        parallel_execution_enabled: true,
        min_txs_for_parallel: 0,
        min_txs_per_worker: 0,
        execution_threads: 4,
        ..ExecutionConfig::default()
    }
}

/// Both configurations, named.
pub fn both() -> [(&'static str, ExecutionConfig); 2] {
    [("sequential", sequential()), ("parallel", parallel())]
}

/// A miner outside the funded accounts, so rewards never disturb their
/// balances.
pub fn miner() -> KeyPair {
    KeyPair::from_seed([0xAA; 32])
}

/// A devnet chain of `count` accounts in memory.
pub fn chain(count: usize, config: ExecutionConfig) -> (Blockchain<MemoryStorage>, DevAccounts) {
    let accounts = DevAccounts::new(count, 42);
    let chain = in_memory_chain(&accounts, config).expect("genesis");
    (chain, accounts)
}

/// A transaction body from account `from` with its next nonce.
pub fn body(accounts: &mut DevAccounts, from: usize, payload: Payload) -> TxBody {
    TxBody {
        version: TX_VERSION,
        source: accounts.public_key(from),
        nonce: accounts.next_nonce(from),
        fee: MIN_TX_FEE,
        payload,
    }
}

/// An output of `amount` native units to `to`.
pub fn output(to: PublicKey, amount: u64) -> TransferOutput {
    TransferOutput {
        asset: NATIVE_ASSET,
        amount,
        destination: to,
        extra_data: None,
    }
}

/// A signed native transfer.
pub fn transfer(accounts: &mut DevAccounts, from: usize, to: usize, amount: u64) -> Transaction {
    let to = accounts.public_key(to);
    let body = body(accounts, from, Payload::Transfers(vec![output(to, amount)]));
    body.sign(accounts.key(from), &[])
}

/// Applies a block of `txs` mined by [`miner`].
pub fn apply<S: Storage>(
    chain: &mut Blockchain<S>,
    txs: Vec<Transaction>,
) -> Result<BlockSummary, BlockchainError> {
    let block = chain.build_block(miner().public_key(), 0, txs);
    chain.add_new_block(block)
}

/// The current value at `key`.
pub fn state<S: Storage>(chain: &Blockchain<S>, key: StateKey) -> Option<StateValue> {
    chain.storage().read().unwrap().get_state(&key).unwrap()
}

/// An account's balance of `asset`.
pub fn balance<S: Storage>(chain: &Blockchain<S>, account: PublicKey, asset: Hash) -> u64 {
    match state(chain, StateKey::Balance { account, asset }) {
        Some(StateValue::Amount(amount)) => amount,
        None => 0,
        other => panic!("balance holds {other:?}"),
    }
}

/// An account's nonce.
pub fn nonce<S: Storage>(chain: &Blockchain<S>, account: PublicKey) -> u64 {
    match state(chain, StateKey::Nonce(account)) {
        Some(StateValue::Nonce(nonce)) => nonce,
        None => 0,
        other => panic!("nonce holds {other:?}"),
    }
}

/// The RocksDB database at `path`, opened raw with every column family: how
/// a test damages what the node stored, as a failing disk or another
/// program could.
pub fn raw_db(path: &std::path::Path) -> rocksdb::DB {
    let families = rocksdb::DB::list_cf(&rocksdb::Options::default(), path).unwrap();
    rocksdb::DB::open_cf(&rocksdb::Options::default(), path, &families).unwrap()
}

/// The first entry of column family `cf` of a [`raw_db`] whose value
/// `skip` does not refuse, as (key, value).
pub fn first_entry(
    db: &rocksdb::DB,
    cf: &str,
    skip: impl Fn(&[u8]) -> bool,
) -> (Box<[u8]>, Box<[u8]>) {
    db.iterator_cf(db.cf_handle(cf).unwrap(), rocksdb::IteratorMode::Start)
        .map(Result::unwrap)
        .find(|(_, value)| !skip(value))
        .unwrap()
}
