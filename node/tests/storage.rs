//! RocksDB storage: restarts, directories that are not ours, and corrupt entries.

mod common;

use common::*;
use parex_engine::TxnOutcome;
use parex_node::blockchain::{
    Blockchain, BlockchainError, ExecutionConfig, ExecutionPath, GENESIS_META,
};
use parex_node::chain::constants::NATIVE_ASSET;
use parex_node::chain::Transaction;
use parex_node::chain::{GenesisError, GenesisSpec, MAX_NETWORK_NAME_BYTES};
use parex_node::codec::{Decode, Encode};
use parex_node::crypto::Hash;
use parex_node::replay::replay_chain;
use parex_node::state::{MultiSigConfig, StateKey, StateKind, StateValue};
use parex_node::storage::{
    BlockCommit, BlockRecord, ChainTip, MemoryStorage, RocksStorage, Storage, StorageError,
};
use parex_node::vm::TxResult;
use parex_node::workload::{
    devnet_genesis, generate_block_txs, in_memory_chain, DevAccounts, Workload, NATIVE_PER_ACCOUNT,
};

/// A devnet chain of `accounts` on RocksDB in `path` (created), with
/// `blocks` uniform blocks of `txs` transactions each applied (seeds 1, 2,
/// …).
fn rocks_chain(
    path: &std::path::Path,
    accounts: &mut DevAccounts,
    blocks: u64,
    txs: usize,
) -> Blockchain<RocksStorage> {
    let storage = RocksStorage::open_or_create(path).unwrap();
    let mut chain =
        Blockchain::create(storage, &devnet_genesis(accounts), vec![], parallel()).unwrap();
    for seed in 1..=blocks {
        let txs = generate_block_txs(Workload::Uniform, accounts, txs, seed);
        let block = chain.build_block(miner().public_key(), seed, txs);
        chain.add_new_block(block).unwrap();
    }
    chain
}

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

/// Every file of `dir` with its bytes, but RocksDB's diagnostic logs
/// (`LOG`, `LOG.old.*`), which every opening writes.
fn files(dir: &std::path::Path) -> std::collections::BTreeMap<std::ffi::OsString, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with("LOG"))
        .map(|entry| (entry.file_name(), std::fs::read(entry.path()).unwrap()))
        .collect()
}

/// A chain whose files were damaged (a truncated table, a garbled
/// `CURRENT`, a lost manifest) is corrupt, not "not a Parex node
/// database", to every opening, and none of them writes a byte.
#[test]
fn a_damaged_chain_is_corrupt_and_left_as_it_is() {
    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage); 3] = [
        ("a truncated table", |dir| {
            let table = std::fs::read_dir(dir)
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "sst"))
                .max_by_key(|path| std::fs::metadata(path).unwrap().len())
                .unwrap();
            let file = std::fs::OpenOptions::new().write(true).open(table).unwrap();
            file.set_len(100).unwrap();
        }),
        ("a garbled CURRENT", |dir| {
            std::fs::write(dir.join("CURRENT"), "garbage\n").unwrap();
        }),
        ("a lost manifest", |dir| {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("MANIFEST-")
                {
                    std::fs::remove_file(path).unwrap();
                }
            }
        }),
    ];
    for (damage, apply) in damages {
        let dir = tempfile::tempdir().unwrap();
        drop(rocks_chain(dir.path(), &mut DevAccounts::new(8, 5), 2, 8));
        // Tables on disk, so that one can be truncated.
        {
            let db = raw_db(dir.path());
            for name in rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap() {
                db.flush_cf(db.cf_handle(&name).unwrap()).unwrap();
            }
        }
        apply(dir.path());
        let before = files(dir.path());
        for error in [
            RocksStorage::open(dir.path()).unwrap_err(),
            RocksStorage::open_or_create(dir.path()).unwrap_err(),
            RocksStorage::open_read_only(dir.path()).unwrap_err(),
        ] {
            assert!(
                matches!(&error, StorageError::Corrupt(reason) if reason.contains("cannot be opened")),
                "{damage}: {error}"
            );
        }
        let after = files(dir.path());
        let changed: Vec<_> = before
            .keys()
            .chain(after.keys())
            .filter(|name| before.get(*name) != after.get(*name))
            .collect();
        assert!(changed.is_empty(), "{damage}: {changed:?} changed");
    }
}

/// A directory that cannot be created is named with the OS's reason.
#[test]
fn a_directory_that_cannot_be_created_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let error = RocksStorage::open_or_create(&file.join("chain")).unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error}");
    assert!(error.to_string().starts_with("cannot access "), "{error}");
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

/// While a chain is open for writing, a second writer is refused as in
/// use, and readers open it beside the writer: each sees the blocks
/// committed before it opened, and none can commit.
#[test]
fn a_chain_in_use_is_refused_to_writers_and_open_to_readers() {
    let dir = tempfile::tempdir().unwrap();
    let mut accounts = DevAccounts::new(16, 3);
    let mut chain = rocks_chain(dir.path(), &mut accounts, 2, 8);
    for error in [
        RocksStorage::open(dir.path()).unwrap_err(),
        RocksStorage::open_or_create(dir.path()).unwrap_err(),
    ] {
        assert!(matches!(error, StorageError::InUse(_)), "{error}");
        assert!(error.to_string().contains("in use by another process"));
    }

    let early = RocksStorage::open_read_only(dir.path()).unwrap();
    let at_two = chain.tip();
    assert_eq!(early.tip().unwrap(), Some(at_two));
    let txs = generate_block_txs(Workload::Uniform, &mut accounts, 8, 3);
    let block = chain.build_block(miner().public_key(), 3, txs);
    chain.add_new_block(block.clone()).unwrap();
    assert_eq!(early.tip().unwrap(), Some(at_two));
    let late = RocksStorage::open_read_only(dir.path()).unwrap();
    assert_eq!(late.tip().unwrap(), Some(chain.tip()));

    // A reader's commit fails and writes nothing.
    let mut reader = Blockchain::open(early, parallel()).unwrap();
    let error = reader.add_new_block(block).unwrap_err();
    assert!(error.to_string().contains("read only"), "{error}");
    assert_eq!(reader.tip(), at_two);
    let at_three = chain.tip();
    drop(chain);
    assert_eq!(
        RocksStorage::open(dir.path()).unwrap().tip().unwrap(),
        Some(at_three),
        "the writer's lock went with it, readers hold none"
    );
}

/// Overwrites every stored version in column family `family` with `value`.
fn overwrite_every_version(path: &std::path::Path, family: &str, value: &[u8]) {
    let db = raw_db(path);
    let versions = db.cf_handle(family).unwrap();
    let keys: Vec<_> = db
        .iterator_cf(versions, rocksdb::IteratorMode::Start)
        .map(|item| item.unwrap().0)
        .collect();
    assert!(!keys.is_empty(), "{family} holds nothing");
    for key in keys {
        db.put_cf(versions, key, value).unwrap();
    }
}

/// A chain of 16 devnet accounts with one block applied, damaged by
/// `damage`: the next block fails on both paths with an error containing
/// `expected`, and nothing of it reaches the disk.
fn the_next_block_fails_clearly(
    damage: impl FnOnce(&std::path::Path, &DevAccounts),
    expected: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut accounts = DevAccounts::new(16, 5);
    rocks_chain(dir.path(), &mut accounts, 1, 16);
    damage(dir.path(), &accounts);
    let txs = generate_block_txs(Workload::Uniform, &mut accounts, 16, 2);
    for (name, config) in both() {
        let storage = RocksStorage::open(dir.path()).unwrap();
        let mut chain = Blockchain::open(storage, config).unwrap();
        let tip = chain.tip();
        let block = chain.build_block(miner().public_key(), 2, txs.clone());
        let error = chain.add_new_block(block).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(expected), "{name}: {message}");
        assert_eq!(chain.tip(), tip, "{name}");
        drop(chain);
        // Nothing of the refused block reached the disk.
        let storage = RocksStorage::open(dir.path()).unwrap();
        assert_eq!(
            Blockchain::open(storage, parallel()).unwrap().tip(),
            tip,
            "{name}"
        );
    }
}

#[test]
fn a_corrupt_record_fails_the_block_clearly_and_commits_nothing() {
    the_next_block_fails_clearly(
        |path, _| overwrite_every_version(path, "versioned_balances", &[0xFF]),
        "corrupt database entry Balance",
    );
}

/// A value of the wrong kind decodes, but a credit to it would revert
/// silently (deltas apply to amounts only): every block's burned fees
/// would vanish. It is corrupt.
#[test]
fn a_value_of_the_wrong_kind_fails_the_block_clearly() {
    the_next_block_fails_clearly(
        |path, _| {
            let nonce = StateValue::Nonce(7).to_bytes();
            overwrite_every_version(path, "versioned_burned", &nonce);
        },
        "not a value of its kind",
    );
}

/// A stored multisig configuration no valid payload could have written
/// (here a threshold over its participants) would lock its account: it is
/// corrupt.
#[test]
fn a_malformed_multisig_configuration_fails_the_block_clearly() {
    the_next_block_fails_clearly(
        |path, accounts| {
            let config = StateValue::MultiSig(MultiSigConfig {
                threshold: 3,
                participants: vec![accounts.public_key(1)],
            })
            .to_bytes();
            let db = raw_db(path);
            for index in 0..accounts.len() {
                let account = accounts.public_key(index).0;
                let versioned = [&1u64.to_be_bytes()[..], &account].concat();
                db.put_cf(
                    db.cf_handle("versioned_multisig").unwrap(),
                    versioned,
                    &config,
                )
                .unwrap();
                db.put_cf(
                    db.cf_handle("multisig").unwrap(),
                    account,
                    1u64.to_be_bytes(),
                )
                .unwrap();
            }
        },
        "invalid multisig configuration: multisig threshold 3 exceeds its 1 participants",
    );
}

#[test]
fn a_corrupt_tip_refuses_to_open_and_is_left_as_found() {
    let dir = tempfile::tempdir().unwrap();
    rocks_chain(dir.path(), &mut DevAccounts::new(4, 5), 0, 0);
    {
        let db = raw_db(dir.path());
        db.put_cf(db.cf_handle("meta").unwrap(), "tip", [1, 2, 3])
            .unwrap();
    }
    for _ in 0..2 {
        let storage = RocksStorage::open(dir.path()).unwrap();
        let error = Blockchain::open(storage, parallel()).unwrap_err();
        assert!(
            error.to_string().contains("corrupt database entry tip"),
            "{error}"
        );
    }
    let db = raw_db(dir.path());
    let tip = db.get_cf(db.cf_handle("meta").unwrap(), "tip").unwrap();
    assert_eq!(tip.as_deref(), Some(&[1u8, 2, 3][..]));
}

/// A genesis spec its own decoder refuses (here a network name over 256
/// bytes) would make a chain that can never be opened again: `create`
/// refuses it and writes nothing.
#[test]
fn a_genesis_that_would_not_read_back_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = DevAccounts::new(4, 5);
    let mut genesis = devnet_genesis(&accounts);
    genesis.network = "n".repeat(MAX_NETWORK_NAME_BYTES + 1);
    assert!(GenesisSpec::from_bytes(&genesis.to_bytes()).is_err());
    let storage = RocksStorage::open_or_create(dir.path()).unwrap();
    let error = Blockchain::create(storage, &genesis, vec![], parallel()).unwrap_err();
    assert!(
        matches!(
            error,
            BlockchainError::Genesis(GenesisError::NetworkNameTooLong(257))
        ),
        "{error}"
    );
    let storage = RocksStorage::open(dir.path()).unwrap();
    assert_eq!(storage.tip().unwrap(), None);
    assert_eq!(storage.meta(GENESIS_META).unwrap(), None);

    genesis.network = "n".repeat(MAX_NETWORK_NAME_BYTES);
    let chain = Blockchain::create(storage, &genesis, vec![], parallel()).unwrap();
    assert_eq!(chain.tip().topoheight, 0);
}

/// A tip record that decodes but does not name the last stored block is
/// refused: trusted, the next block would overwrite stored blocks and
/// versions (a tip at `u64::MAX` wraps to genesis). Each wrong tip is left
/// as found.
#[test]
fn a_tip_that_names_another_block_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let good = rocks_chain(dir.path(), &mut DevAccounts::new(8, 5), 2, 8).tip();
    let genesis = RocksStorage::open(dir.path())
        .unwrap()
        .block(0)
        .unwrap()
        .unwrap();
    let wrong = [
        (
            ChainTip {
                topoheight: u64::MAX,
                ..good
            },
            "no block is stored there",
        ),
        (
            ChainTip {
                topoheight: good.topoheight + 1,
                ..good
            },
            "no block is stored there",
        ),
        (
            ChainTip {
                topoheight: 0,
                hash: genesis.hash,
                commitment: genesis.commitment,
            },
            "block 1 is stored above it",
        ),
        (
            ChainTip {
                hash: genesis.hash,
                ..good
            },
            "the block stored there is",
        ),
        (
            ChainTip {
                commitment: genesis.commitment,
                ..good
            },
            "its commitment is",
        ),
    ];
    let put_tip = |tip: &ChainTip| {
        let db = raw_db(dir.path());
        db.put_cf(db.cf_handle("meta").unwrap(), "tip", tip.to_bytes())
            .unwrap();
    };
    for (tip, reason) in wrong {
        put_tip(&tip);
        let storage = RocksStorage::open(dir.path()).unwrap();
        let error = Blockchain::open(storage, parallel()).unwrap_err();
        assert!(error.to_string().contains(reason), "{tip:?}: {error}");
        assert_eq!(
            RocksStorage::open(dir.path()).unwrap().tip().unwrap(),
            Some(tip)
        );
    }
    put_tip(&good);
    let chain = Blockchain::open(RocksStorage::open(dir.path()).unwrap(), parallel()).unwrap();
    assert_eq!(chain.tip(), good);
}

/// A memory storage whose next commit fails when told to.
struct FailingCommit {
    inner: MemoryStorage,
    fail_next: bool,
}

impl Storage for FailingCommit {
    fn tip(&self) -> Result<Option<ChainTip>, StorageError> {
        self.inner.tip()
    }
    fn get_state(&self, key: &StateKey) -> Result<Option<StateValue>, StorageError> {
        self.inner.get_state(key)
    }
    fn state_entries(&self, kind: StateKind) -> Result<Vec<(StateKey, StateValue)>, StorageError> {
        self.inner.state_entries(kind)
    }
    fn block(&self, topoheight: u64) -> Result<Option<BlockRecord>, StorageError> {
        self.inner.block(topoheight)
    }
    fn transaction(&self, hash: &Hash) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        self.inner.transaction(hash)
    }
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.meta(key)
    }
    fn commit(&mut self, commit: &BlockCommit) -> Result<(), StorageError> {
        if std::mem::take(&mut self.fail_next) {
            return Err(StorageError::Corrupt("the test refused this commit".into()));
        }
        self.inner.commit(commit)
    }
}

/// A block refused at its commit leaves the chain as it was, and what
/// `adaptive_execution` learned too: the same block applied next is the
/// first of its size again, and runs on the parallel path, which is tried
/// first.
#[test]
fn a_refused_commit_leaves_the_path_choice_as_it_was() {
    let config = ExecutionConfig {
        adaptive_execution: true,
        ..parallel()
    };
    let mut accounts = DevAccounts::new(16, 5);
    let storage = FailingCommit {
        inner: MemoryStorage::new(),
        fail_next: false,
    };
    let mut chain =
        Blockchain::create(storage, &devnet_genesis(&accounts), vec![], config).unwrap();
    let txs = generate_block_txs(Workload::Uniform, &mut accounts, 16, 1);
    chain.storage().write().unwrap().fail_next = true;
    let tip = chain.tip();
    let error = apply(&mut chain, txs.clone()).unwrap_err();
    assert!(error.to_string().contains("the test refused"), "{error}");
    assert_eq!(chain.tip(), tip);
    let summary = apply(&mut chain, txs).unwrap();
    assert_eq!(summary.path, ExecutionPath::Parallel);
}

/// `parex verify` replays the stored blocks; one whose record names
/// another hash than its bytes have is corrupt, even where its commitment
/// still matches.
#[test]
fn replay_refuses_a_block_stored_under_another_hash() {
    let dir = tempfile::tempdir().unwrap();
    rocks_chain(dir.path(), &mut DevAccounts::new(8, 5), 2, 8);
    let report = replay_chain(&RocksStorage::open(dir.path()).unwrap(), 2).unwrap();
    assert!(report.mismatches.is_empty());
    {
        let db = raw_db(dir.path());
        let blocks = db.cf_handle("blocks").unwrap();
        let mut record = db.get_cf(blocks, 1u64.to_be_bytes()).unwrap().unwrap();
        record[..32].fill(0);
        db.put_cf(blocks, 1u64.to_be_bytes(), record).unwrap();
    }
    let error = replay_chain(&RocksStorage::open(dir.path()).unwrap(), 2).unwrap_err();
    assert!(
        error.to_string().contains("block 1 is stored as"),
        "{error}"
    );
}

/// `parex verify` also compares what storage holds at the tip with the
/// replay: a balance that lost its last updates, a lost nonce and a lost
/// index entry are each reported, though every block's commitment, which
/// covers the writes as the block record states them, still matches.
#[test]
fn replay_reports_stored_state_the_blocks_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    let mut accounts = DevAccounts::new(8, 5);
    let mut chain = rocks_chain(dir.path(), &mut accounts, 2, 8);
    // Included twice: the copy is orphaned by the nonce the first spent.
    let twice = transfer(&mut accounts, 0, 1, 5);
    apply(&mut chain, vec![twice.clone()]).unwrap();
    assert_eq!(
        apply(&mut chain, vec![twice.clone()]).unwrap().orphaned(),
        1
    );
    drop(chain);
    let report = replay_chain(&RocksStorage::open(dir.path()).unwrap(), 2).unwrap();
    assert!(report.all_match(), "{report:?}");
    let locations = report.locations;
    assert!(locations > 8, "{locations}");
    let (balance, nonce, tx) = {
        let db = raw_db(dir.path());
        // Back to the genesis version: its later updates are lost.
        let (balance, _) = first_entry(&db, "balances", |at| at == 0u64.to_be_bytes());
        let balances = db.cf_handle("balances").unwrap();
        db.put_cf(balances, &balance, 0u64.to_be_bytes()).unwrap();
        let (nonce, _) = first_entry(&db, "nonces", |_| false);
        db.delete_cf(db.cf_handle("nonces").unwrap(), &nonce)
            .unwrap();
        let tx = twice.hash();
        db.delete_cf(db.cf_handle("transactions").unwrap(), tx.as_bytes())
            .unwrap();
        (balance, nonce, tx)
    };
    let report = replay_chain(&RocksStorage::open(dir.path()).unwrap(), 2).unwrap();
    assert!(!report.all_match());
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    assert_eq!(report.locations, locations);
    let [balance_mismatch, nonce_mismatch] = &report.state_mismatches[..] else {
        panic!("{:?}", report.state_mismatches);
    };
    assert_eq!(balance_mismatch.key.body_bytes(), balance.to_vec());
    assert!(matches!(
        (&balance_mismatch.stored, &balance_mismatch.replayed),
        (Some(StateValue::Amount(stored)), Some(StateValue::Amount(replayed))) if stored != replayed
    ));
    assert_eq!(nonce_mismatch.key.body_bytes(), nonce.to_vec());
    assert_eq!(nonce_mismatch.stored, None);
    assert!(matches!(
        nonce_mismatch.replayed,
        Some(StateValue::Nonce(_))
    ));
    let [index_mismatch] = &report.index_mismatches[..] else {
        panic!("{:?}", report.index_mismatches);
    };
    // Once, though the blocks include it twice.
    assert_eq!(index_mismatch.hash, tx);
    assert_eq!(
        (index_mismatch.stored, index_mismatch.replayed.is_some()),
        (None, true)
    );
    // Bytes differ only between two entries.
    assert!(!index_mismatch.other_bytes);
}

/// The index by hash names the block that applied a transaction, or, if
/// none did, the first that included it: including it again does not move
/// it, whether it applied before (its spent nonce orphans the copy) or not
/// (the copy may then apply, and the index follows it).
fn the_index_names_where_a_transaction_applied<S: Storage>(
    mut chain: Blockchain<S>,
    mut accounts: DevAccounts,
) {
    let applied = |summary: &parex_node::blockchain::BlockSummary| {
        summary
            .outcomes
            .iter()
            .map(|outcome| matches!(outcome, TxnOutcome::Applied(TxResult::Applied)))
            .collect::<Vec<_>>()
    };
    let index = |chain: &Blockchain<S>, tx: &Transaction| {
        let storage = chain.storage().read().unwrap();
        storage.transaction(&tx.hash()).unwrap().map(|(at, _)| at)
    };
    let first = transfer(&mut accounts, 0, 1, 5);
    // More than account 2 holds, once the fee is counted.
    let short = transfer(&mut accounts, 2, 3, NATIVE_PER_ACCOUNT);
    let summary = apply(&mut chain, vec![first.clone(), short.clone()]).unwrap();
    assert_eq!(applied(&summary), [true, false]);
    assert_eq!(index(&chain, &first), Some(1));
    assert_eq!(index(&chain, &short), Some(1));

    let funding = transfer(&mut accounts, 1, 2, 1_000_000);
    let summary = apply(&mut chain, vec![first.clone(), funding]).unwrap();
    assert_eq!(applied(&summary), [false, true]);
    assert_eq!(index(&chain, &first), Some(1), "a replay moved the index");

    let summary = apply(&mut chain, vec![short.clone()]).unwrap();
    assert_eq!(applied(&summary), [true]);
    assert_eq!(index(&chain, &short), Some(3));
    let summary = apply(&mut chain, vec![short.clone()]).unwrap();
    assert_eq!(applied(&summary), [false]);
    assert_eq!(index(&chain, &short), Some(3));
}

#[test]
fn the_transaction_index_names_where_a_transaction_applied() {
    let accounts = DevAccounts::new(4, 5);
    the_index_names_where_a_transaction_applied(
        in_memory_chain(&accounts, sequential()).unwrap(),
        accounts.clone(),
    );
    let dir = tempfile::tempdir().unwrap();
    let chain = rocks_chain(dir.path(), &mut accounts.clone(), 0, 0);
    the_index_names_where_a_transaction_applied(chain, accounts);
}

/// A commit of an empty block at `topoheight`, writing one value.
fn bare_commit(topoheight: u64, amount: u64) -> BlockCommit {
    BlockCommit {
        tip: ChainTip {
            topoheight,
            hash: Hash([topoheight as u8; 32]),
            commitment: Hash::ZERO,
        },
        block_bytes: vec![topoheight as u8],
        transactions: vec![],
        writes: vec![(StateKey::Burned(NATIVE_ASSET), StateValue::Amount(amount))],
        meta: vec![],
    }
}

/// Commits that do not extend the tip, refused by `storage` with nothing
/// written: none but genesis on an empty store, and none but the next
/// topoheight after a tip.
fn refuses_commits_that_do_not_extend_the_tip(storage: &mut impl Storage) {
    let burned = StateKey::Burned(NATIVE_ASSET);
    let refused = |storage: &mut dyn Storage, topoheight: u64, tip: Option<u64>| {
        let error = storage.commit(&bare_commit(topoheight, 99)).unwrap_err();
        assert!(
            matches!(error, StorageError::NotNext { topoheight: t, tip: ref s } if t == topoheight && *s == tip),
            "{error}"
        );
    };
    refused(storage, 1, None);
    assert_eq!(storage.tip().unwrap(), None);
    assert_eq!(storage.get_state(&burned).unwrap(), None);
    storage.commit(&bare_commit(0, 1)).unwrap();
    let genesis = storage.block(0).unwrap();
    for topoheight in [0, 2, u64::MAX] {
        refused(storage, topoheight, Some(0));
    }
    assert_eq!(storage.tip().unwrap().map(|tip| tip.topoheight), Some(0));
    assert_eq!(
        storage.get_state(&burned).unwrap(),
        Some(StateValue::Amount(1))
    );
    assert_eq!(storage.block(0).unwrap(), genesis);
    storage.commit(&bare_commit(1, 2)).unwrap();
    assert_eq!(storage.tip().unwrap().map(|tip| tip.topoheight), Some(1));
    assert_eq!(
        storage.get_state(&burned).unwrap(),
        Some(StateValue::Amount(2))
    );
    assert!(storage.block(2).unwrap().is_none());
}

#[test]
fn both_storages_refuse_a_commit_that_does_not_extend_the_tip() {
    refuses_commits_that_do_not_extend_the_tip(&mut MemoryStorage::default());
    let dir = tempfile::tempdir().unwrap();
    refuses_commits_that_do_not_extend_the_tip(
        &mut RocksStorage::open_or_create(dir.path()).unwrap(),
    );
}
