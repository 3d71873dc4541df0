//! RocksDB storage: restarts, and directories that are not ours.

mod common;

use common::*;
use parex_node::blockchain::Blockchain;
use parex_node::chain::constants::NATIVE_ASSET;
use parex_node::storage::{RocksStorage, StorageError};
use parex_node::workload::{
    devnet_genesis, generate_block_txs, in_memory_chain, DevAccounts, Workload,
};

#[test]
fn restart_resumes_with_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut accounts = DevAccounts::new(32, 11);
    let mut reference = in_memory_chain(&accounts, sequential()).unwrap();
    let mut blocks = Vec::new();
    {
        let storage = RocksStorage::open_or_create(dir.path()).unwrap();
        let mut chain =
            Blockchain::create(storage, &devnet_genesis(&accounts), vec![], parallel()).unwrap();
        for height in 1..=5 {
            let txs = generate_block_txs(Workload::Mixed, &mut accounts, 24, height);
            let block = chain.build_block(miner().public_key(), height, txs);
            blocks.push(block.clone());
            chain.add_new_block(block).unwrap();
        }
    }
    let storage = RocksStorage::open(dir.path()).unwrap();
    let mut resumed_accounts = DevAccounts::new(32, 11);
    resumed_accounts.sync(&storage).unwrap();
    let mut chain = Blockchain::open(storage, parallel()).unwrap();
    for block in blocks {
        reference.add_new_block(block).unwrap();
    }
    assert_eq!(chain.tip(), reference.tip());
    for index in 0..32 {
        let key = accounts.public_key(index);
        assert_eq!(
            balance(&chain, key, NATIVE_ASSET),
            balance(&reference, key, NATIVE_ASSET)
        );
    }
    let txs = generate_block_txs(Workload::Mixed, &mut resumed_accounts, 24, 6);
    let block = chain.build_block(miner().public_key(), 6, txs);
    let resumed = chain.add_new_block(block.clone()).unwrap();
    let expected = reference.add_new_block(block).unwrap();
    assert_eq!(resumed.orphaned(), 0);
    assert_eq!(resumed.commitment, expected.commitment);
}

#[test]
fn a_foreign_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a database").unwrap();
    assert!(matches!(
        RocksStorage::open_or_create(dir.path()),
        Err(StorageError::Foreign { .. })
    ));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing was written"
    );
}

#[test]
fn a_foreign_rocksdb_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = rocksdb::DB::open_default(dir.path()).unwrap();
        db.put(b"key", b"value").unwrap();
    }
    let error = RocksStorage::open_or_create(dir.path()).unwrap_err();
    assert!(matches!(error, StorageError::Foreign { .. }), "{error}");
}

#[test]
fn a_missing_database_is_not_created_by_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent");
    assert!(matches!(
        RocksStorage::open(&path),
        Err(StorageError::Missing(_))
    ));
    assert!(!path.exists());
}
